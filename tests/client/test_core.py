"""The SDK's I/O-free core: inputs, the form, replies, config and the retry strategy."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from python_multipart import MultipartParser

import alphacut.client
from alphacut.client import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    BillingCycle,
    Box,
    CycleUsage,
    ErrorDetail,
    NetworkError,
    NetworkTimeoutError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
    UnexpectedResponseError,
    _base,
)
from alphacut.client._env import DEFAULT_BASE_URL, parse_dotenv, resolve_config
from alphacut.client._io import read_input
from tests.conftest import fixture_bytes

JPEG = fixture_bytes("chelsea")
SRC = Path(__file__).resolve().parents[2] / "src"


def test_importable_without_the_servers_dependencies() -> None:
    """httpx and the stdlib suffice: numpy, onnxruntime, Pillow, pydantic, click, tqdm
    and the server's own modules are never imported."""
    code = ("import sys\n"
            "for name in ('numpy', 'onnxruntime', 'PIL', 'pydantic', 'fastapi', 'click',"
            " 'tqdm'):\n"
            "    sys.modules[name] = None\n"
            "from alphacut.client import Client, AsyncClient\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('alphacut')"
            " and m != 'alphacut' and not m.startswith('alphacut.client'))\n"
            "assert not loaded, loaded\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=SRC, check=False)
    assert run.returncode == 0, run.stderr


def test_public_surface_is_pinned() -> None:
    assert sorted(alphacut.client.__all__) == [
        "AlphacutClientError", "ApiError", "AsyncClient", "AuthenticationError",
        "BadRequestError", "BillingCycle", "BillingCycles", "Box", "Client", "CycleUsage",
        "ErrorDetail", "ImageInput", "MembershipUsage", "NetworkError", "NetworkTimeoutError",
        "NotFoundError", "PermissionDeniedError", "ProgressCallback", "ProgressEvent",
        "RateLimit", "RateLimitError", "RemovalResult", "RequestTimeoutError", "RetryPolicy",
        "ServerError", "ServiceUnavailableError", "UnexpectedResponseError",
    ]


# --- inputs ----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("given", [
    {"base64": _b64(JPEG)},
    {"base64": f"data:image/jpeg;base64,{_b64(JPEG)}"},
    {"base64": "data:image/png;base64," + _b64(JPEG).rstrip("=")},  # lying prefix, no padding
    {"base64": "\n".join(_b64(JPEG)[i:i + 76] for i in range(0, len(_b64(JPEG)), 76))},
])
def test_base64_inputs(given: dict[str, str]) -> None:
    upload = read_input(given)
    assert (upload.data, upload.filename, upload.content_type) == (
        JPEG, "image.jpg", "image/jpeg")


def test_path_bytes_and_file_inputs(tmp_path: Path) -> None:
    path = tmp_path / "cat photo.jpeg"
    path.write_bytes(JPEG)
    assert read_input(str(path)).filename == "cat photo.jpeg"
    assert read_input(path).data == JPEG
    assert read_input(bytearray(JPEG)).filename == "image.jpg"
    with path.open("rb") as handle:
        assert read_input(handle).filename == "cat photo.jpeg"
    assert read_input(io.BytesIO(JPEG)).filename == "image.jpg"


@pytest.mark.parametrize(("given", "error"), [
    (12, TypeError), ({"b64": "x"}, TypeError), ({"base64": "not base64!"}, ValueError),
    (io.StringIO("text"), TypeError),
])
def test_bad_inputs(given: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_input(given)  # type: ignore[arg-type]


def test_unknown_bytes_are_named_png_like_the_node_client() -> None:
    assert _base.upload_of(b"hello").filename == "image.png"


# --- the form ---------------------------------------------------------------------------


def _parse(body: _base.MultipartBody) -> dict[str, bytes]:
    """The parts of a body, read back with the server's own multipart parser."""
    parts: dict[str, bytes] = {}
    names: list[str] = []

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value = data[start:end].decode()
        if value.startswith("form-data"):
            names.append(value.split('name="')[1].split('"')[0])
            parts[names[-1]] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[names[-1]] += data[start:end]

    parser = MultipartParser(body.boundary, {"on_header_value": on_header_value,
                                             "on_part_data": on_part_data})
    for chunk in body.chunks(size=1000):
        parser.write(chunk)
    parser.finalize()
    return parts


def test_defaults_are_sent_like_the_node_client() -> None:
    request = _base.removal_request(_base.upload_of(JPEG), _base.RemoveParams(), "key")
    assert request.body is not None
    parts = _parse(request.body)
    assert parts.pop("image") == JPEG
    assert parts == {"exact_resize": b"false", "w": b"0", "h": b"0", "mask": b"false",
                     "return_base64": b"false", "expand": b"true"}
    headers = request.all_headers
    assert headers["x-api-key"] == "key"
    assert headers["content-length"] == str(request.body.length)
    assert headers["content-type"] == f"multipart/form-data; boundary={request.body.boundary}"


def test_every_option_is_a_form_field() -> None:
    params = _base.RemoveParams(format="PNG", return_base64=True, return_mask=True, w=10, h=20,
                                exact_resize=True, angle=-12.5, expand=False, bg_color="red")
    parts = _parse(_base.encode_multipart(params.form_fields(), _base.upload_of(JPEG)))
    del parts["image"]
    assert parts == {"exact_resize": b"true", "w": b"10", "h": b"20", "mask": b"true",
                     "return_base64": b"true", "expand": b"false", "angle": b"-12.5",
                     "bg_color": b"red", "format": b"PNG"}


def test_extension_fields_are_sent_only_when_given() -> None:
    params = _base.RemoveParams(model="u2netp", refine=False, decontaminate=True, tta=False)
    parts = _parse(_base.encode_multipart(params.form_fields(), _base.upload_of(JPEG)))
    assert {k: parts[k] for k in ("model", "refine", "decontaminate", "tta")} == {
        "model": b"u2netp", "refine": b"false", "decontaminate": b"true", "tta": b"false"}
    plain = _parse(_base.encode_multipart(_base.RemoveParams().form_fields(),
                                          _base.upload_of(JPEG)))
    assert not {"model", "refine", "decontaminate", "tta"} & set(plain)


def test_no_key_means_no_key_header() -> None:
    request = _base.removal_request(_base.upload_of(JPEG), _base.RemoveParams(), None)
    assert "x-api-key" not in request.all_headers


def test_file_names_are_escaped() -> None:
    body = _base.encode_multipart([], _base.upload_of(JPEG, 'a"b\r\n.jpg'))
    assert b'filename="a%22b%0D%0A.jpg"' in body.head


def test_body_chunks_add_up() -> None:
    body = _base.encode_multipart([("w", "1")], _base.upload_of(JPEG))
    chunks = list(body.chunks())
    assert b"".join(chunks) == body.head + JPEG + body.tail
    assert max(len(c) for c in chunks) <= _base.CHUNK_SIZE


@pytest.mark.parametrize(("kwargs", "params"), [
    ({}, {}),
    ({"year": 2025, "month": 3}, {"year": "2025", "month": "3"}),
    ({"period_start_unix": 1740441600, "expand_billing_cycle": True},
     {"periodStartUnix": "1740441600", "expand": "billing_cycle"}),
    ({"year": 2025, "list_billing_cycles": True}, {"listBillingCycles": "true"}),
])
def test_usage_query(kwargs: dict[str, object], params: dict[str, str]) -> None:
    arguments: dict[str, object] = {"year": None, "month": None, "period_start_unix": None,
                                    "expand_billing_cycle": False,
                                    "list_billing_cycles": False} | kwargs
    request = _base.usage_request("k", **arguments)  # type: ignore[arg-type]
    assert (request.method, request.path, request.params) == (
        "GET", "/api/membership-usage", params)


# --- replies ---------------------------------------------------------------------------


def _reply(status: int, body: bytes, **headers: str) -> _base.Reply:
    return _base.Reply(status, httpx.Headers(headers), body)


def test_image_reply() -> None:
    reply = _reply(200, b"\x89PNG...", **{
        "content-type": "image/png", "x-width": "10", "x-height": "20", "x-request-id": "abc",
        "x-ratelimit-limit": "60", "x-ratelimit-remaining": "59", "x-ratelimit-reset": "1700"})
    result = _base.removal_result(reply, return_base64=True)
    assert (result.media_type, result.width, result.height, result.request_id) == (
        "image/png", 10, 20, "abc")
    assert result.rate_limit == RateLimit(60, 59, 1700)
    assert result.base64_image == "data:image/png;base64," + _b64(b"\x89PNG...")
    assert result.path is None
    assert result.foreground is None  # no subject, or a plain RemBG server


def test_the_subjects_box() -> None:
    reply = _reply(200, b"\x89PNG...", **{
        "content-type": "image/png", "x-foreground-top": "7", "x-foreground-left": "3",
        "x-foreground-width": "40", "x-foreground-height": "50"})
    assert _base.removal_result(reply, return_base64=True).foreground == Box(3, 7, 40, 50)


def test_layout_fields_are_sent_only_when_given() -> None:
    params = _base.RemoveParams(roi="0 0 50% 100%", crop=True, crop_margin="10px 5%",
                                scale="80%", position="center", add_shadow=False,
                                shadow_opacity=70, shadow_softness=0, semitransparency=False)
    parts = _parse(_base.encode_multipart(params.form_fields(), _base.upload_of(JPEG)))
    layout = {"roi": b"0 0 50% 100%", "crop": b"true", "crop_margin": b"10px 5%",
              "scale": b"80%", "position": b"center", "add_shadow": b"false",
              "shadow_opacity": b"70", "shadow_softness": b"0", "semitransparency": b"false"}
    assert {k: parts[k] for k in layout} == layout
    plain = _parse(_base.encode_multipart(_base.RemoveParams().form_fields(),
                                          _base.upload_of(JPEG)))
    assert not set(layout) & set(plain)


def test_a_reply_that_is_not_an_image() -> None:
    with pytest.raises(UnexpectedResponseError):
        _base.removal_result(_reply(200, b"<html>", **{"content-type": "text/html"}),
                             return_base64=False)


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequestError), (401, AuthenticationError), (429, RateLimitError),
    (500, ServerError), (502, ServerError), (503, ServiceUnavailableError), (418, ApiError),
])
def test_error_classes(status: int, kind: type[ApiError]) -> None:
    error = _base.api_error(_reply(status, b'{"error": "nope", "status": %d}' % status))
    assert type(error) is kind
    assert (error.status, error.message, error.details) == (status, "nope", [])


def test_error_details_and_headers() -> None:
    body = (b'{"error": "Multiple validation errors", "status": 400, "details": ['
            b'{"field": "w", "message": "bad w"}, {"field": "angle", "message": "bad angle"}]}')
    error = _base.api_error(_reply(400, body, **{"x-request-id": "r1"}))
    assert error.details == [ErrorDetail("w", "bad w"), ErrorDetail("angle", "bad angle")]
    assert str(error) == "400 Multiple validation errors: w: bad w; angle: bad angle"
    assert error.request_id == "r1"


def test_error_without_json() -> None:
    error = _base.api_error(_reply(502, b"<html>Bad Gateway</html>"))
    assert (type(error), error.message) == (ServerError, "<html>Bad Gateway</html>")
    assert _base.api_error(_reply(500, b"")).message == "HTTP 500"


def test_retry_after_seconds_and_dates() -> None:
    assert _base.retry_after(httpx.Headers({"retry-after": "7"})) == 7
    date = formatdate(1_000_030, usegmt=True)
    assert _base.retry_after(httpx.Headers({"retry-after": date}), now=1_000_000) == 30
    assert _base.retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert _base.retry_after(httpx.Headers()) is None


CONTRACT_EXAMPLE = b"""{
  "membership": "Premium-20000", "credits": 18500, "prepaidCredits": 2000,
  "app_usage": 8500, "api_usage": 10000,
  "billingCycle": {
    "periodStartUnix": 1740441600, "periodEndUnix": 1743033599, "appUsage": 4200,
    "apiUsage": 5100, "includedCredits": 18500, "prepaidCredits": 2000,
    "usedIncludedCredits": 9300, "remainingIncludedCredits": 9200, "stripeBillingSynced": true
  }
}"""


def test_membership_usage_from_the_contracts_example() -> None:
    usage = _base.membership_usage(_reply(200, CONTRACT_EXAMPLE))
    assert (usage.membership, usage.credits, usage.prepaid_credits, usage.app_usage,
            usage.api_usage) == ("Premium-20000", 18500, 2000, 8500, 10000)
    assert usage.billing_cycle == BillingCycle(1740441600, 1743033599, 4200, 5100, 18500, 2000,
                                               9300, 9200, True)
    assert usage.raw["credits"] == 18500


def test_billing_cycles() -> None:
    body = (b'{"billingCycles": [{"periodStartUnix": 20, "periodEndUnix": 29, "appUsage": 1,'
            b' "apiUsage": 2}, {"periodStartUnix": 10, "periodEndUnix": 19, "appUsage": 0,'
            b' "apiUsage": 5}]}')
    cycles = _base.billing_cycles(_reply(200, body))
    assert list(cycles) == [CycleUsage(20, 29, 1, 2), CycleUsage(10, 19, 0, 5)]
    assert (len(cycles), cycles[1].api_usage) == (2, 5)


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"membership": "x"}'])
def test_usage_that_breaks_the_contract(body: bytes) -> None:
    with pytest.raises(UnexpectedResponseError):
        _base.membership_usage(_reply(200, body))


def test_network_errors() -> None:
    refused = _base.network_error(httpx.ConnectError("refused"), "http://x")
    assert (type(refused), refused.retryable) == (NetworkError, True)
    read = _base.network_error(httpx.ReadTimeout("slow"), "http://x")
    assert (type(read), read.retryable) == (NetworkTimeoutError, False)
    connect = _base.network_error(httpx.ConnectTimeout("slow"), "http://x")
    assert connect.retryable


# --- configuration ----------------------------------------------------------------------


DOTENV = """
# a comment
export ALPHACUT_API_KEY="from-dotenv"  # trailing comment
ALPHACUT_BASE_URL=http://dotenv:1/  # trailing comment
SINGLE='a "b" #c'
ESCAPED="line\\nnext \\"q\\" back\\\\slash"
not a line
EMPTY=
"""


def test_parse_dotenv() -> None:
    assert parse_dotenv(DOTENV) == {
        "ALPHACUT_API_KEY": "from-dotenv", "ALPHACUT_BASE_URL": "http://dotenv:1/",
        "SINGLE": 'a "b" #c', "ESCAPED": 'line\nnext "q" back\\slash', "EMPTY": ""}


def test_arguments_then_environment_then_dotenv() -> None:
    dotenv = {"ALPHACUT_API_KEY": "d-key", "ALPHACUT_BASE_URL": "http://d"}
    env = {"ALPHACUT_API_KEY": "e-key"}
    assert resolve_config(None, None, env, dotenv) == resolve_config(
        "http://d/", "e-key", {}, {})
    assert resolve_config("http://a", "a-key", env, dotenv).api_key == "a-key"
    assert resolve_config(None, None, {}, {}) == resolve_config(DEFAULT_BASE_URL, None, {}, {})


def test_dotenv_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(DOTENV)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALPHACUT_API_KEY", raising=False)
    monkeypatch.setenv("ALPHACUT_BASE_URL", "http://env:2")
    with alphacut.client.Client() as client:
        assert (client.base_url, client.api_key) == ("http://env:2", "from-dotenv")


# --- retries ------------------------------------------------------------------------------


def _api(status: int, retry_after: float | None = None) -> ApiError:
    return _base.api_error(_reply(status, b"{}", **(
        {"retry-after": str(retry_after)} if retry_after is not None else {})))


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1, max_delay=5, jitter=False)
    assert [policy.delay_before_retry(_api(503), n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_jitter_stays_between_half_and_all() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=2)
    delays = [policy.delay_before_retry(_api(503), 3) for _ in range(200)]
    assert all(d is not None and 4 <= d <= 8 for d in delays)
    assert len(set(delays)) > 100


def test_retry_after_wins_and_a_long_one_is_not_waited_for() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    delay = policy.delay_before_retry(_api(429, retry_after=2), 1)
    assert delay is not None and 2 <= delay <= 2.5
    assert policy.delay_before_retry(_api(429, retry_after=3600), 1) is None


@pytest.mark.parametrize("error", [
    _api(400), _api(401), _api(403), _api(404), _api(500), _api(502),
    NetworkTimeoutError("read timed out"), NetworkError("reset mid-answer"),
])
def test_what_is_never_retried(error: ApiError | NetworkError) -> None:
    assert RetryPolicy().delay_before_retry(error, 1) is None


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0)
    refused = NetworkError("refused", retryable=True)
    assert [policy.delay_before_retry(refused, n) for n in (1, 2, 3)] == [0, 0, None]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
