"""Client and AsyncClient against a real server on loopback, with the real model."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphacut.cli.main import cli
from alphacut.client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    BillingCycles,
    Box,
    Client,
    ErrorDetail,
    NetworkError,
    ProgressEvent,
    RateLimitError,
    RemovalResult,
    RetryPolicy,
)
from tests.client.support import big_png, decode, rmbg_requests
from tests.conftest import FIXTURES, fixture_bytes
from tests.web.conftest import Served, free_port

Serve = Callable[..., AbstractContextManager[Served]]
CAT = FIXTURES / "images" / "chelsea.jpg"  # 451 x 300
CAT_BYTES = fixture_bytes("chelsea")


@pytest.fixture
def sdk(server: str, api_key: str) -> Iterator[Client]:
    with Client(server, api_key, retries=None) as client:
        yield client


# --- every input kind ---------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


INPUTS: dict[str, Callable[[], Any]] = {
    "path": lambda: str(CAT),  # str or Path: the same code (see test_core)
    "bytes": lambda: CAT_BYTES,
    "file object": lambda: CAT.open("rb"),
    "base64": lambda: {"base64": _b64(CAT_BYTES)},
    "base64 data URL": lambda: {"base64": f"data:image/jpeg;base64,{_b64(CAT_BYTES)}"},
}


@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_kind(sdk: Client, kind: str) -> None:
    given = INPUTS[kind]()
    base64_mode = "base64" in kind  # base64 in, base64 out; the others give a temp file
    result = sdk.remove_background(given, format="png", w=64, return_base64=base64_mode)
    if hasattr(given, "close"):
        given.close()
    image = decode(result.content)
    assert (image.format, image.mode, image.width) == ("PNG", "RGBA", 64)
    assert (result.width, result.height) == image.size
    assert result.media_type == "image/png" and result.request_id
    if base64_mode:
        assert result.path is None and result.base64_image is not None
        prefix, _, data = result.base64_image.partition(",")
        assert prefix == "data:image/png;base64" and base64.b64decode(data) == result.content
    else:
        assert result.path is not None and result.path.suffix == ".png"
        assert result.path.read_bytes() == result.content
        result.cleanup()
        assert not result.path.exists()


# --- every option ------------------------------------------------------------------------


def _alpha(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"))


def _check_default(result: RemovalResult, image: Image.Image) -> None:
    assert (result.media_type, image.format, image.mode, image.size) == (
        "image/webp", "WEBP", "RGBA", (451, 300))
    assert result.path is not None and result.path.suffix == ".webp"
    alpha = _alpha(image)
    assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.1  # a real cut-out


def _check_mask(result: RemovalResult, image: Image.Image) -> None:
    assert (image.format, image.mode, image.size) == ("PNG", "L", (100, 67))
    values = np.asarray(image)
    assert (values == 0).mean() > 0.1 and (values == 255).mean() > 0.1


def _check_red_jpeg(result: RemovalResult, image: Image.Image) -> None:
    assert (result.media_type, image.format, image.mode) == ("image/jpeg", "JPEG", "RGB")
    assert result.path is not None and result.path.suffix == ".jpg"
    rgb = np.asarray(image).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    assert red.mean() > 0.1  # the background became red


def _check_translucent_bg(result: RemovalResult, image: Image.Image) -> None:
    alpha = _alpha(image)
    assert alpha.min() >= 120 and (abs(alpha.astype(int) - 128) <= 2).mean() > 0.1


def _size(width: int, height: int) -> Callable[[RemovalResult, Image.Image], None]:
    def check(result: RemovalResult, image: Image.Image) -> None:
        assert image.size == (width, height) == (result.width, result.height)
    return check


def _bigger_than(width: int, height: int) -> Callable[[RemovalResult, Image.Image], None]:
    def check(result: RemovalResult, image: Image.Image) -> None:
        assert image.width > width and image.height > height
    return check


OPTIONS: dict[str, tuple[dict[str, Any], Callable[[RemovalResult, Image.Image], None]]] = {
    "defaults": ({}, _check_default),
    "format PNG, w": ({"format": "PNG", "w": 100}, _size(100, 67)),
    "w and h fit inside": ({"format": "png", "w": 120, "h": 50}, _size(75, 50)),
    "exact_resize": ({"format": "png", "w": 120, "h": 50, "exact_resize": True}, _size(120, 50)),
    "mask": ({"format": "png", "return_mask": True, "w": 100}, _check_mask),
    "bg_color, jpeg": ({"format": "jpeg", "bg_color": "#ff0000", "w": 100}, _check_red_jpeg),
    "bg_color with alpha": ({"format": "png", "bg_color": "#00ff0080", "w": 100},
                            _check_translucent_bg),
    "angle 90": ({"format": "png", "w": 100, "angle": 90}, _size(67, 100)),
    "angle 45, expand": ({"format": "png", "w": 100, "angle": 45}, _bigger_than(100, 67)),
    "angle 45, no expand": ({"format": "png", "w": 100, "angle": 45, "expand": False},
                            _size(100, 67)),
}


@pytest.mark.parametrize("name", OPTIONS)
def test_every_option(sdk: Client, name: str) -> None:
    options, check = OPTIONS[name]
    with sdk.remove_background(CAT, **options) as result:
        check(result, decode(result.content))


def test_crop_with_a_margin(sdk: Client) -> None:
    """The canvas is the subject's box (as reported without crop) plus 10 px each side,
    and the box reported with crop sits inside those margins."""
    with sdk.remove_background(CAT, format="png") as whole, \
            sdk.remove_background(CAT, format="png", crop=True, crop_margin="10px") as cropped:
        image = decode(cropped.content)
    subject = whole.foreground
    assert subject is not None and (subject.width, subject.height) != (451, 300)
    assert image.size == (subject.width + 20, subject.height + 20)
    assert (cropped.width, cropped.height) == image.size
    assert cropped.foreground == Box(10, 10, image.width - 20, image.height - 20)
    assert whole.model == "u2netp" and whole.uncertainty is not None
    assert 0.0 <= whole.uncertainty <= 1.0


def test_extension_fields_reach_the_server(sdk: Client) -> None:
    """refine/decontaminate off gives the plain mask (more half-transparent pixels than
    the server's refined default); an unknown model is the server's 400."""
    with sdk.remove_background(CAT, format="png", return_mask=True) as refined, \
            sdk.remove_background(CAT, format="png", return_mask=True, refine=False,
                                  decontaminate=False) as plain:
        soft = [((m > 12) & (m < 243)).mean()
                for m in (np.asarray(decode(r.content)) for r in (refined, plain))]
    assert soft[0] < soft[1]
    with pytest.raises(BadRequestError, match="no-such-model"):
        sdk.remove_background(CAT, model="no-such-model")


# --- progress -------------------------------------------------------------------------------


def _check_progress(events: list[ProgressEvent], direction: str, total: int) -> None:
    assert len(events) >= 2 and {e.direction for e in events} == {direction}
    loaded = [e.loaded for e in events]
    assert loaded == sorted(loaded) and loaded[-1] == total
    assert {e.total for e in events} == {total}
    assert events[0].progress is not None and events[0].progress < 1
    assert events[-1].progress == 1.0


@pytest.fixture(scope="module")
def three_megabytes() -> bytes:
    return big_png()


def test_progress_sync(sdk: Client, three_megabytes: bytes) -> None:
    uploads: list[ProgressEvent] = []
    downloads: list[ProgressEvent] = []
    # An uncompressed BMP answer is as big as the upload: both directions take many chunks.
    result = sdk.remove_background(three_megabytes, format="bmp", return_base64=True,
                                   on_upload_progress=uploads.append,
                                   on_download_progress=downloads.append)
    assert len(three_megabytes) > 3_000_000 and len(result.content) > 3_000_000
    assert uploads[-1].total is not None and uploads[-1].total > len(three_megabytes)
    _check_progress(uploads, "upload", uploads[-1].total)
    _check_progress(downloads, "download", len(result.content))


def test_progress_async(server: str, api_key: str, three_megabytes: bytes) -> None:
    uploads: list[ProgressEvent] = []
    downloads: list[ProgressEvent] = []

    async def go() -> RemovalResult:
        async with AsyncClient(server, api_key) as client:
            return await client.remove_background(
                three_megabytes, format="bmp", return_base64=True,
                on_upload_progress=uploads.append, on_download_progress=downloads.append)

    result = asyncio.run(go())
    assert uploads[-1].total is not None
    _check_progress(uploads, "upload", uploads[-1].total)
    _check_progress(downloads, "download", len(result.content))
    image = decode(result.content)
    assert (result.media_type, image.format, image.mode, image.size) == (
        "image/bmp", "BMP", "RGB", (1200, 850))


# --- errors ----------------------------------------------------------------------------------


def test_unknown_key_is_an_authentication_error(server: str) -> None:
    with Client(server, "ac_not-a-real-key") as client, \
            pytest.raises(AuthenticationError) as caught:
        client.remove_background(CAT_BYTES)
    assert (caught.value.status, caught.value.message) == (401, "invalid api key")
    assert caught.value.request_id


def test_async_errors_too(server: str) -> None:
    async def go() -> None:
        async with AsyncClient(server, "ac_not-a-real-key") as client:
            await client.remove_background(CAT_BYTES)

    with pytest.raises(AuthenticationError):
        asyncio.run(go())


def test_all_field_errors_together_and_no_retry_on_400(server: str, api_key: str) -> None:
    before = rmbg_requests(server, 400)
    with Client(server, api_key, retries=RetryPolicy(max_attempts=5, base_delay=0)) as client, \
            pytest.raises(BadRequestError) as caught:
        client.remove_background(CAT, format="gif", angle=500)
    assert caught.value.message == "Multiple validation errors"
    assert caught.value.details == [
        ErrorDetail("format", "Invalid format 'gif'. Allowed formats: PNG, JPEG, WEBP, BMP"),
        ErrorDetail("angle", "'angle' must be between -360 and 360 degrees, got: 500.0"),
    ]
    assert rmbg_requests(server, 400) == before + 1


def test_one_field_error(sdk: Client) -> None:
    with pytest.raises(BadRequestError) as caught:
        sdk.remove_background(CAT, return_mask=True, bg_color="red")
    assert caught.value.message == (
        "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other.")
    assert caught.value.details == []


def test_a_closed_port_is_a_network_error() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with Client(base, retries=RetryPolicy(max_attempts=2, base_delay=0.01)) as client, \
            pytest.raises(NetworkError) as caught:
        client.remove_background(CAT_BYTES)
    assert caught.value.retryable and base in str(caught.value)
    assert time.monotonic() - started < 5


# --- retries through a real rate limit ------------------------------------------------------


def test_rate_limited_then_retried_after_retry_after(served: Serve, tmp_path: Path) -> None:
    """One image per 2 s window: a 429 with Retry-After, raised without retries, waited
    out with them; then a batch of three through the same limit, none failing."""
    with served(rate_limit_user=1, rate_window_s=2) as s:
        user = s.accounts.create_user("limited@example.com", "Free", 100, verified=True)
        key = s.accounts.create_key(user.id).key
        # Windows are aligned to multiples of 2 s: not too close to the end of one, use its
        # one request with a cheap refused upload, so the next ones (milliseconds later) 429.
        if 2 - time.time() % 2 < 1:
            time.sleep(2 - time.time() % 2 + 0.05)
        cheap = httpx.post(f"{s.base}/rmbg", headers={"x-api-key": key}, timeout=30)
        assert cheap.status_code == 400
        with Client(s.base, key, retries=None) as impatient, \
                pytest.raises(RateLimitError) as caught:
            impatient.remove_background(CAT_BYTES, w=32)
        assert 1 <= (caught.value.retry_after or 0) <= 2
        assert caught.value.message == (
            "You're making requests too quickly, Please Upgrade or slow down.")
        patient = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=5)
        with Client(s.base, key, retries=patient) as client:
            result = client.remove_background(CAT_BYTES, format="png", w=32,
                                              return_base64=True)
        assert decode(result.content).width == 32
        assert result.rate_limit is not None
        assert (result.rate_limit.limit, result.rate_limit.remaining) == (1, 0)
        assert (rmbg_requests(s.base, 429), rmbg_requests(s.base, 200)) == (2, 1)

        # The batch command waits out the same limit instead of failing images.
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            (tmp_path / name).write_bytes(CAT_BYTES)
        batch = CliRunner().invoke(cli, [
            "client", "remove", str(tmp_path / "*.jpg"), "-o", str(tmp_path / "out"),
            "--width", "32", "--concurrency", "3", "--base-url", s.base, "--api-key", key])
        assert batch.exit_code == 0, batch.stderr
        assert "3 written, 0 skipped (exist), 0 failed" in batch.stderr
        assert rmbg_requests(s.base, 200) == 4 and rmbg_requests(s.base, 429) >= 4


# --- plan and usage ---------------------------------------------------------------------------


def _usage_served(server: str, api_key: str) -> None:
    reply = httpx.get(f"{server}/api/membership-usage", headers={"x-api-key": api_key})
    if reply.status_code == 404:
        pytest.skip("GET /api/membership-usage is not served yet: web/routes/usage.py "
                    "exists but create_app does not include its router")


def test_membership_usage(sdk: Client, server: str, api_key: str) -> None:
    _usage_served(server, api_key)
    before = sdk.membership_usage(expand_billing_cycle=True)
    sdk.remove_background(CAT_BYTES, w=32, return_base64=True)
    after = sdk.membership_usage(expand_billing_cycle=True)
    assert (after.membership, after.credits, after.prepaid_credits) == (
        "Premium-20000", 100_000, 0)
    assert (after.api_usage, after.app_usage) == (before.api_usage + 1, before.app_usage)
    cycle = after.billing_cycle
    assert cycle is not None and not cycle.stripe_billing_synced
    assert cycle.used_included_credits == cycle.app_usage + cycle.api_usage >= 1
    assert cycle.remaining_included_credits == 100_000 - cycle.used_included_credits
    assert sdk.membership_usage().billing_cycle is None
    cycles = sdk.membership_usage(list_billing_cycles=True)
    assert isinstance(cycles, BillingCycles)
    assert cycles[0].period_start_unix == cycle.period_start_unix
    assert cycles[0].api_usage == cycle.api_usage
