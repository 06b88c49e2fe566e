"""POST /v1.0/removebg and GET /v1.0/account over real HTTP: every field, every error code,
the answers' headers and JSON, and the ledger (one credit per delivered image, none on any
error)."""

from __future__ import annotations

import base64
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from PIL import Image

from alphacut.web.removebg_upload import base64_limit
from tests.conftest import fixture_bytes, png_claiming
from tests.web.conftest import Served

PHOTO = fixture_bytes("horse_on_grass")
PHOTO_SIZE = Image.open(io.BytesIO(PHOTO)).size


@pytest.fixture(scope="module")
def api(served: Callable[..., Any]) -> Iterator[Served]:
    with served() as s:
        yield s


@pytest.fixture(scope="module")
def key(api: Served) -> str:
    user = api.accounts.create_user("rbg@example.com", "Premium-20000", 100_000, verified=True)
    return api.accounts.create_key(user.id).key


def post(api: Served, key: str | None, *, files: dict[str, Any] | None = None,
         data: dict[str, str] | None = None, json: dict[str, Any] | None = None,
         content: bytes | None = None, headers: dict[str, str] | None = None
         ) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent["X-Api-Key"] = key
    if files is None and data is None and json is None and content is None:
        files = {"image_file": ("photo.jpg", PHOTO)}
    return httpx.post(f"{api.base}/v1.0/removebg", files=files, data=data, json=json,
                      content=content, headers=sent, timeout=60)


def errors_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("application/json")
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


def codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in errors_of(response)]


def image_of(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def balance(api: Served, key: str) -> int:
    body = httpx.get(f"{api.base}/v1.0/account", headers={"X-Api-Key": key}).json()
    total: int = body["data"]["attributes"]["credits"]["total"]
    return total


def foreground(response: httpx.Response) -> tuple[int, int, int, int]:
    h = response.headers
    return (int(h["X-Foreground-Left"]), int(h["X-Foreground-Top"]),
            int(h["X-Foreground-Width"]), int(h["X-Foreground-Height"]))


# --- answers ---------------------------------------------------------------------------


def test_a_file_gives_a_preview_png_with_remove_bgs_headers(api: Served, key: str) -> None:
    before = balance(api, key)
    response = post(api, key)
    image = image_of(response)
    assert response.headers["content-type"] == "image/png"
    assert image.mode == "RGBA" and image.width * image.height <= 250_000
    assert abs(image.width / image.height - PHOTO_SIZE[0] / PHOTO_SIZE[1]) < 0.01
    h = response.headers
    assert (int(h["X-Width"]), int(h["X-Height"])) == image.size
    assert h["X-Credits-Charged"] == "1" and h["X-Type"] == "other"
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(h)
    left, top, width, height = foreground(response)
    alpha = np.asarray(image.getchannel("A"))
    ys, xs = np.nonzero(alpha >= 13)
    assert (left, top) == (xs.min(), ys.min())
    assert (left + width, top + height) == (xs.max() + 1, ys.max() + 1)
    assert balance(api, key) == before - 1


def test_json_answer_carries_the_image_and_the_subjects_box(api: Served, key: str) -> None:
    response = post(api, key, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()["data"]
    image = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert image.size == (int(response.headers["X-Width"]), int(response.headers["X-Height"]))
    assert (data["foreground_left"], data["foreground_top"], data["foreground_width"],
            data["foreground_height"]) == foreground(response)


@pytest.mark.parametrize(("size", "most"), [("full", None), ("4k", None), ("auto", None),
                                            ("hd", 4_000_000), ("medium", 1_500_000),
                                            ("regular", 250_000), ("small", 250_000)])
def test_sizes(api: Served, key: str, size: str, most: int | None) -> None:
    image = image_of(post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                          data={"size": size}))
    if most is None or PHOTO_SIZE[0] * PHOTO_SIZE[1] <= most:
        assert image.size == PHOTO_SIZE
    else:
        assert image.width * image.height <= most


def test_base64_in_json_with_crop_and_margin(api: Served, key: str) -> None:
    body = {"image_file_b64": base64.b64encode(PHOTO).decode(), "size": "full",
            "crop": True, "crop_margin": "10px"}
    response = post(api, key, json=body, headers={"Accept": "application/json"})
    data = response.json()["data"]
    image = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert (data["foreground_left"], data["foreground_top"]) == (10, 10)
    assert image.size == (data["foreground_width"] + 20, data["foreground_height"] + 20)


def test_crop_margin_in_percent_and_four_values(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"size": "full", "crop": "true", "crop_margin": "0 10% 20px 0"})
    image = image_of(response)
    left, top, width, height = foreground(response)
    assert (left, top) == (0, 0)
    assert image.size == (width + round(width * 0.1), height + 20)


def test_base64_in_a_urlencoded_form_survives_plus_slash_and_padding(api: Served,
                                                                      key: str) -> None:
    encoded = base64.b64encode(PHOTO).decode()
    assert "+" in encoded or "/" in encoded
    response = post(api, key, content=urlencode({"image_file_b64": encoded}).encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert image_of(response).mode == "RGBA"


def test_scale_centres_the_subject_at_that_share_of_the_canvas(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"size": "full", "scale": "50%"})
    image = image_of(response)
    assert image.size == PHOTO_SIZE
    left, top, width, height = foreground(response)
    assert abs(max(width / image.width, height / image.height) - 0.5) < 0.02
    assert abs(left - (image.width - width) / 2) <= 2
    assert abs(top - (image.height - height) / 2) <= 2


def test_position_moves_the_subject_to_a_corner(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"size": "full", "position": "0% 100%"})
    image = image_of(response)
    left, top, _, height = foreground(response)
    assert left == 0 and top + height == image.height


def test_channels_alpha_gives_the_matte(api: Served, key: str) -> None:
    image = image_of(post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                          data={"channels": "alpha"}))
    assert image.mode == "L"


def test_bg_color_without_hash_gives_an_opaque_jpeg(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"bg_color": "81d4fa", "crop": "true", "crop_margin": "20px"})
    assert response.headers["content-type"] == "image/jpeg"
    pixels = np.asarray(image_of(response).convert("RGB")).astype(int)
    assert np.abs(pixels[2, 2] - (0x81, 0xD4, 0xFA)).max() <= 6


def test_format_png_with_a_colour_stays_png(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"bg_color": "green", "format": "png"})
    assert response.headers["content-type"] == "image/png"


def test_zip_holds_the_colour_jpeg_and_the_alpha_png(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data={"format": "zip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        color = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert color.mode == "RGB" and alpha.mode == "L" and color.size == alpha.size
    assert color.size == (int(response.headers["X-Width"]), int(response.headers["X-Height"]))


@pytest.mark.parametrize(("fmt", "media"), [("webp", "image/webp"), ("avif", "image/avif"),
                                             ("jpg", "image/jpeg")])
def test_other_formats(api: Served, key: str, fmt: str, media: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data={"format": fmt})
    assert response.headers["content-type"] == media
    assert image_of(response).size == (int(response.headers["X-Width"]),
                                       int(response.headers["X-Height"]))


def test_background_image_covers_the_canvas(api: Served, key: str) -> None:
    backdrop = io.BytesIO()
    Image.new("RGB", (50, 40), (200, 30, 40)).save(backdrop, "PNG")
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO),
                                     "bg_image_file": ("bg.png", backdrop.getvalue())})
    assert response.headers["content-type"] == "image/jpeg"
    pixels = np.asarray(image_of(response).convert("RGB")).astype(int)
    assert np.abs(pixels[1, 1] - (200, 30, 40)).max() <= 8


def test_shadow_falls_below_the_subject(api: Served, key: str) -> None:
    plain = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                 data={"size": "full", "crop": "true", "crop_margin": "0 0 60px 0"})
    shadowed = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"size": "full", "crop": "true", "crop_margin": "0 0 60px 0",
                          "add_shadow": "true"})
    _, top, _, height = foreground(shadowed)
    bottom = top + height
    a_plain = np.asarray(image_of(plain).getchannel("A")).astype(int)
    a_shadow = np.asarray(image_of(shadowed).getchannel("A")).astype(int)
    assert a_plain[bottom + 5:].max() == 0
    assert a_shadow[bottom + 2:bottom + 20].max() > 30  # a shadow below the subject
    assert (a_shadow[:top + height // 3] == a_plain[:top + height // 3]).all()  # none above


def test_type_is_reported_and_type_level_none_leaves_it_out(api: Served, key: str) -> None:
    car = post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data={"type": "car"})
    assert car.headers["X-Type"] == "car"
    hidden = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                  data={"type_level": "none"})
    assert hidden.status_code == 200 and "X-Type" not in hidden.headers


def test_semitransparency_false_leaves_no_partial_alpha(api: Served, key: str) -> None:
    def alpha_values(semitransparency: str) -> set[int]:
        image = image_of(post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                              data={"size": "full", "semitransparency": semitransparency}))
        return set(np.unique(np.asarray(image.getchannel("A"))).tolist())

    assert len(alpha_values("true") - {0, 255}) > 10  # the control: soft edges by default
    assert alpha_values("false") <= {0, 255}


def test_the_api_remove_bg_host_header_is_fine(api: Served, key: str) -> None:
    assert post(api, key, headers={"Host": "api.remove.bg"}).status_code == 200


# --- refusals: remove.bg's codes, nothing charged --------------------------------------


def test_no_key_and_a_wrong_key_are_403_auth_failed(api: Served, key: str) -> None:
    missing = post(api, None)
    assert missing.status_code == 403
    assert errors_of(missing)[0] | {"detail": ""} == {
        "title": "Missing API Key", "code": "auth_failed", "detail": ""}
    wrong = post(api, "not-a-key")
    assert wrong.status_code == 403
    assert errors_of(wrong)[0]["title"] == "API Key invalid"
    assert httpx.get(f"{api.base}/v1.0/account").status_code == 403


@pytest.mark.parametrize(("data", "code", "title"), [
    ({"size": "huge"}, "invalid_size", "Invalid value for parameter 'size'"),
    ({"channels": "rgb"}, "invalid_channels", "Invalid value for parameter 'channels'"),
    ({"bg_color": "nocolour"}, "invalid_bg_color", "Invalid bg_color parameter given"),
    ({"crop_margin": "600px"}, "invalid_crop_margin", "Invalid crop_margin parameter given"),
    ({"crop_margin": "1px 2px 3px"}, "invalid_crop_margin",
     "Invalid crop_margin parameter given"),
    ({"format": "gif"}, "invalid_format", "Invalid format parameter given"),
    ({"position": "left"}, "invalid_position", "Invalid position parameter given"),
    ({"roi": "1 2 3"}, "invalid_roi", "Invalid roi parameter given"),
    ({"scale": "5%"}, "invalid_scale", "Invalid scale parameter given"),
    ({"semitransparency": "maybe"}, "invalid_semitransparency",
     "Invalid semitransparency parameter given"),
    ({"roi": "0 0 200% 50%"}, "roi_exceeds_bounds", "ROI exceeds image bounds"),
    ({"roi": "50% 0% 10% 100%"}, "roi_region_empty", "ROI region is empty"),
    ({"type": "boat"}, "invalid_type", "Invalid type parameter given"),
])
def test_field_errors(api: Served, key: str, data: dict[str, str], code: str,
                      title: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data=data)
    assert response.status_code == 400
    (error,) = errors_of(response)
    assert (error["code"], error["title"]) == (code, title)
    assert error["detail"]


def test_every_bad_field_is_listed(api: Served, key: str) -> None:
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"size": "x", "scale": "x", "position": "x"})
    assert sorted(codes(response)) == ["invalid_position", "invalid_scale", "invalid_size"]


def test_sources(api: Served, key: str) -> None:
    b64 = base64.b64encode(PHOTO).decode()
    missing = post(api, key, data={"size": "preview"})
    assert (missing.status_code, codes(missing)) == (400, ["missing_source"])
    assert errors_of(missing)[0]["title"] == "No image given"
    both = post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data={"image_file_b64": b64})
    assert codes(both) == ["multiple_sources"]
    backgrounds = post(api, key, json={"image_file_b64": b64, "bg_color": "red",
                                       "bg_image_url": "http://example.com/x.png"})
    assert codes(backgrounds) == ["multiple_bg_sources"]
    empty = post(api, key, content=b"", headers={"Content-Type": "application/json"})
    assert (empty.status_code, codes(empty)) == (400, ["invalid_request"])


@pytest.mark.parametrize(("body", "detail"), [
    (b"{not json", "The body is not valid JSON."),
    (b"[1, 2]", "The JSON body must be an object."),
    (b'{"size": {"nested": 1}}', "'size' must be a string, a number or a boolean"),
    (b"[" * 100_000 + b"]" * 100_000, "The body is not valid JSON."),
], ids=["malformed", "array", "nested", "deep"])
def test_hostile_json_bodies_are_invalid_request(api: Served, key: str, body: bytes,
                                                 detail: str) -> None:
    before = balance(api, key)
    refused = post(api, key, content=body, headers={"Content-Type": "application/json"})
    assert (refused.status_code, codes(refused)) == (400, ["invalid_request"])
    assert detail in errors_of(refused)[0]["detail"]
    assert balance(api, key) == before


def test_an_unknown_content_type_is_invalid_request(api: Served, key: str) -> None:
    refused = post(api, key, content=b"image_file_b64=x",
                   headers={"Content-Type": "text/plain"})
    assert (refused.status_code, codes(refused)) == (400, ["invalid_request"])
    assert "Send multipart/form-data" in errors_of(refused)[0]["detail"]


@pytest.mark.parametrize(("content", "code"), [
    (b"just some text, not an image", "invalid_file_type"),
    (b"GIF89a" + b"\0" * 4, "failed_to_read_image"),
    (PHOTO[:300], "failed_to_read_image"),
])
def test_bad_images(api: Served, key: str, content: bytes, code: str) -> None:
    response = post(api, key, files={"image_file": ("x.jpg", content)})
    assert (response.status_code, codes(response)) == (400, [code])


def test_bad_base64_is_failed_to_read_image(api: Served, key: str) -> None:
    response = post(api, key, json={"image_file_b64": "%%%not base64%%%"})
    assert codes(response) == ["failed_to_read_image"]


def test_too_wide_is_resolution_too_high(api: Served, key: str) -> None:
    wide = io.BytesIO()
    Image.new("RGB", (10001, 2)).save(wide, "PNG")
    response = post(api, key, files={"image_file": ("w.png", wide.getvalue())})
    assert codes(response) == ["resolution_too_high"]


def test_no_subject_in_the_roi_is_unknown_foreground(api: Served, key: str) -> None:
    before = balance(api, key)
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO)},
                    data={"roi": "0px 0px 4px 4px"})
    assert codes(response) == ["unknown_foreground"]
    assert balance(api, key) == before


def test_a_url_source_while_fetching_is_off(api: Served, key: str) -> None:
    response = post(api, key, json={"image_url": "http://127.0.0.1:9/x.jpg"})
    assert codes(response) == ["invalid_image_url"]
    assert "ALPHACUT_URL_FETCH" in errors_of(response)[0]["detail"]


def test_errors_charge_nothing(api: Served, key: str) -> None:
    before = balance(api, key)
    post(api, key, data={"size": "preview"})
    post(api, key, files={"image_file": ("p.jpg", PHOTO)}, data={"scale": "x"})
    post(api, key, files={"image_file": ("x.jpg", b"nope")})
    post(api, "wrong")
    assert balance(api, key) == before


def test_used_up_credits_are_402_and_the_account_shows_them(api: Served) -> None:
    user = api.accounts.create_user("poor@example.com", "Free", 1, verified=True)
    api.accounts.add_prepaid(user.id, 1)
    poor = api.accounts.create_key(user.id).key
    account = httpx.get(f"{api.base}/v1.0/account", headers={"X-Api-Key": poor}).json()
    assert account == {"data": {"attributes": {
        "credits": {"total": 2, "subscription": 1, "payg": 1, "enterprise": 0},
        "api": {"free_calls": 0, "sizes": "all"}}}}
    assert post(api, poor).status_code == 200
    assert balance(api, poor) == 1
    assert post(api, poor).status_code == 200
    refused = post(api, poor)
    assert refused.status_code == 402
    assert errors_of(refused)[0]["title"] == "Insufficient credits"
    assert balance(api, poor) == 0


def test_rate_limit_is_429_with_retry_after(served: Callable[..., Any]) -> None:
    with served(rate_limit_user=1) as s:
        user = s.accounts.create_user("fast@example.com", "Premium-20000", 100, verified=True)
        fast = s.accounts.create_key(user.id).key
        assert post(s, fast).status_code == 200
        refused = post(s, fast)
        assert refused.status_code == 429
        assert codes(refused) == ["rate_limit_exceeded"]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_file_too_large(served: Callable[..., Any]) -> None:
    with served(max_upload_bytes=len(PHOTO) - 1) as s:
        user = s.accounts.create_user("big@example.com", "Premium-20000", 100, verified=True)
        big = s.accounts.create_key(user.id).key
        response = post(s, big)
        assert codes(response) == ["file_too_large"]
        b64 = post(s, big, json={"image_file_b64": base64.b64encode(PHOTO).decode()})
        assert codes(b64) == ["file_too_large"]


# --- image_url and bg_image_url, fetched from a local server ----------------------------


class _Files(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files_server() -> Iterator[str]:
    backdrop = io.BytesIO()
    Image.new("RGB", (30, 30), (10, 200, 10)).save(backdrop, "PNG")
    _Files.routes = {
        "/photo.bin": (200, {"Content-Type": "text/plain"}, PHOTO),  # the bytes decide
        "/bg.png": (200, {}, backdrop.getvalue()),
        "/moved": (302, {"Location": "http://169.254.169.254/latest"}, b""),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urls_are_fetched_when_allowed(served: Callable[..., Any], files_server: str) -> None:
    with served(url_fetch=True, url_fetch_allow="127.0.0.1") as s:
        user = s.accounts.create_user("url@example.com", "Premium-20000", 100, verified=True)
        k = s.accounts.create_key(user.id).key
        ok = post(s, k, json={"image_url": f"{files_server}/photo.bin",
                              "bg_image_url": f"{files_server}/bg.png"})
        pixels = np.asarray(image_of(ok).convert("RGB")).astype(int)
        assert np.abs(pixels[0, 0] - (10, 200, 10)).max() <= 8
        missing = post(s, k, data={"image_url": f"{files_server}/nothing.jpg"})
        assert codes(missing) == ["failed_image_download"]
        redirected = post(s, k, data={"image_url": f"{files_server}/moved"})
        assert codes(redirected) == ["invalid_image_url"]
        bad_bg = post(s, k, json={"image_url": f"{files_server}/photo.bin",
                                  "bg_image_url": f"{files_server}/nothing.png"})
        assert codes(bad_bg) == ["failed_bg_download"]
        private = post(s, k, data={"image_url": "http://10.0.0.1/x.jpg"})
        assert codes(private) == ["invalid_image_url"]


def test_urls_on_loopback_are_refused_unless_allowed(served: Callable[..., Any],
                                                     files_server: str) -> None:
    with served(url_fetch=True) as s:
        user = s.accounts.create_user("url2@example.com", "Premium-20000", 100, verified=True)
        k = s.accounts.create_key(user.id).key
        refused = post(s, k, data={"image_url": f"{files_server}/photo.bin"})
        assert codes(refused) == ["invalid_image_url"]
        assert balance(s, k) == 100


def test_both_endpoints_are_in_the_openapi_document_under_their_own_tag(api: Served) -> None:
    document = httpx.get(f"{api.base}/api/openapi").json()
    post_op = document["paths"]["/v1.0/removebg"]["post"]
    get_op = document["paths"]["/v1.0/account"]["get"]
    assert post_op["tags"] == get_op["tags"] == ["remove.bg"]
    bodies = post_op["requestBody"]["content"]
    assert set(bodies) == {"multipart/form-data", "application/x-www-form-urlencoded",
                           "application/json"}
    assert {"image_file", "bg_image_file", "crop_margin", "scale", "position", "roi",
            "channels", "add_shadow"} <= set(bodies["multipart/form-data"]["schema"]
                                             ["properties"])
    assert {"400", "402", "403", "429"} <= set(post_op["responses"])
    rmbg = document["paths"]["/rmbg"]["post"]
    assert "X-Foreground-Left" in rmbg["responses"]["200"]["headers"]
    assert "crop_margin" in rmbg["requestBody"]["content"]["multipart/form-data"][
        "schema"]["properties"]


# --- hostile bodies (review) ---------------------------------------------------------


def raw_request(base: str, head: bytes) -> bytes:
    import socket
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while not answer.endswith(b"}") and len(answer) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.parametrize("path", ["/v1.0/removebg", "/rmbg"])
def test_a_content_length_of_thousands_of_digits_is_no_500(api: Served, key: str,
                                                           path: str) -> None:
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: " + "0" * 4999 + "2\r\n\r\n{}")
    status = raw_request(api.base, head.encode()).split(b"\r\n", 1)[0]
    assert b" 400 " in status or b" 413 " in status, status


def test_long_values_are_refused_quickly_and_not_echoed(api: Served, key: str) -> None:
    b64 = base64.b64encode(PHOTO).decode()
    scale = post(api, key, json={"image_file_b64": b64, "scale": "1" * 60_000 + "x"})
    assert codes(scale) == ["invalid_scale"] and len(scale.content) < 2000
    huge = post(api, key, json={"image_file_b64": b64, "scale": "1" * 100_000})
    assert codes(huge) == ["invalid_request"] and len(huge.content) < 2000
    big = post(api, key, json={"image_file_b64": b64, "type": "x" * 70_000})
    assert big.status_code == 400 and len(big.content) < 2000
    named = post(api, key, json={"image_file_b64": b64, "bg_color": "y" * 5000})
    assert codes(named) == ["invalid_bg_color"] and len(named.content) < 2000


def test_repeats_empty_parts_and_broken_bodies(api: Served, key: str) -> None:
    b64 = base64.b64encode(PHOTO).decode()
    twice = post(api, key, content=b'{"image_file_b64": "%s", "size": "full", "size": "hd"}'
                 % b64.encode(), headers={"Content-Type": "application/json"})
    assert codes(twice) == ["invalid_size"] and "more than once" in errors_of(twice)[0][
        "detail"]
    # A browser's empty file input is no source: the URL is the one (and fetching is off).
    empty = post(api, key, files={"image_file": ("", b"")},
                 data={"image_url": "http://example.com/x.jpg"})
    assert codes(empty) == ["invalid_image_url"]
    broken = post(api, key, content=b"not multipart at all",
                  headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
    assert codes(broken) == ["missing_source"]
    # A bad field is reported before any URL is fetched.
    first = post(api, key, json={"image_url": "http://example.com/x.jpg", "size": "huge"})
    assert codes(first) == ["invalid_size"]


def test_402_carries_no_retry_after(api: Served) -> None:
    user = api.accounts.create_user("none@example.com", "Free", 0, verified=True)
    broke = api.accounts.create_key(user.id).key
    refused = post(api, broke)
    assert refused.status_code == 402 and "retry-after" not in refused.headers


def test_a_transparent_background_image_is_flattened_on_white(api: Served, key: str) -> None:
    backdrop = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 255, 0)).save(backdrop, "PNG")
    response = post(api, key, files={"image_file": ("p.jpg", PHOTO),
                                     "bg_image_file": ("bg.png", backdrop.getvalue())})
    pixels = np.asarray(image_of(response).convert("RGB")).astype(int)
    assert np.abs(pixels[1, 1] - (255, 255, 255)).max() <= 6


def test_a_crop_canvas_past_the_limits_is_refused_and_not_charged(
        served: Callable[..., Any]) -> None:
    with served(max_side_px=650) as s:
        user = s.accounts.create_user("crop@example.com", "Premium-20000", 10, verified=True)
        k = s.accounts.create_key(user.id).key
        refused = post(s, k, files={"image_file": ("p.jpg", PHOTO)},
                       data={"crop": "true", "crop_margin": "50%"})
        assert codes(refused) == ["resolution_too_high"]
        assert balance(s, k) == 10


@pytest.mark.parametrize("as_json", [True, False])
def test_base64_over_the_limit_quotes_the_upload_limit(
        served: Callable[..., Any], as_json: bool) -> None:
    """Past the base64 limit but within the body's room for other fields: the detail
    names the upload limit (1 MB here, floored), not the base64 limit's decoded size."""
    limit = 2 * 2**20 - 1
    with served(max_upload_bytes=limit) as s:
        user = s.accounts.create_user(f"q{as_json}@example.com", "Premium-20000", 10, True)
        k = s.accounts.create_key(user.id).key
        text = "A" * (base64_limit(limit) + 4)
        body = {"json": {"image_file_b64": text}} if as_json else {
            "data": {"image_file_b64": text}}
        response = post(s, k, **body)
        assert codes(response) == ["file_too_large"]
        assert errors_of(response)[0]["detail"] == "File exceeds limit of 1MB"
        assert balance(s, k) == 10


def test_base64_in_multipart_over_the_limit_is_file_too_large(
        served: Callable[..., Any]) -> None:
    with served(max_upload_bytes=len(PHOTO) - 1) as s:
        user = s.accounts.create_user("b64@example.com", "Premium-20000", 10, verified=True)
        k = s.accounts.create_key(user.id).key
        big = "\r\n".join(base64.b64encode(PHOTO * 2).decode()[i:i + 76]
                          for i in range(0, len(PHOTO) * 3, 76))
        response = post(s, k, files={"x": ("", b"")}, data={"image_file_b64": big})
        assert codes(response) == ["file_too_large"]


@pytest.mark.parametrize(("background", "code"), [
    (b"not an image at all", "invalid_file_type"),
    (png_claiming(60_000, 60_000), "resolution_too_high"),
    (b"", None),  # an empty part is no background: the cut-out stays transparent
], ids=["not-an-image", "header-bomb", "empty"])
def test_a_hostile_background_file_is_refused_before_any_work(
        api: Served, key: str, background: bytes, code: str | None) -> None:
    before = balance(api, key)
    reply = post(api, key, files={"image_file": ("p.jpg", PHOTO),
                                  "bg_image_file": ("bg.png", background)})
    if code is None:
        assert image_of(reply).mode == "RGBA"
        return
    assert (reply.status_code, codes(reply)) == (400, [code])
    assert balance(api, key) == before


def test_a_background_file_over_the_upload_limit_is_file_too_large(
        served: Callable[..., Any]) -> None:
    with served(max_upload_bytes=len(PHOTO) + 10) as s:
        user = s.accounts.create_user("bgbig@example.com", "Premium-20000", 10, True)
        k = s.accounts.create_key(user.id).key
        reply = post(s, k, files={"image_file": ("p.jpg", PHOTO),
                                  "bg_image_file": ("bg.jpg", PHOTO * 2)})
        assert codes(reply) == ["file_too_large"]
        assert balance(s, k) == 10
