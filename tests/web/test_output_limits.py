"""Anonymous asks for huge results are refused with 400 before any pixel work
(hardening: the derived side, rotation and a pixel budget), and nothing is charged."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from PIL import Image

from tests.web.conftest import Served


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg_turned(width: int, height: int) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says: turn it a quarter."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def post(base: str, image: bytes, data: dict[str, str],
         headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", files={"image": ("i.png", image)}, data=data,
                      headers=headers or {}, timeout=60)


def test_a_derived_side_over_the_limit_is_refused(server: str) -> None:
    reply = post(server, png(1, 10000), {"w": "10000"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "Output height (100000000px) exceeds the maximum allowed "
                                     "height of 10000px.", "status": 400}


def test_a_rotation_that_grows_the_canvas_past_the_limit_is_refused(server: str) -> None:
    reply = post(server, png(1, 1), {"w": "10000", "h": "10000", "exact_resize": "true",
                                     "angle": "45"})
    assert reply.status_code == 400
    message = reply.json()["error"]
    assert message.startswith("Output width (1414") and message.endswith(
        "px) exceeds the maximum allowed width of 10000px.")
    # without growing the canvas the same ask fits
    fits = post(server, png(1, 1), {"w": "100", "h": "100", "exact_resize": "true",
                                    "angle": "45", "expand": "false"})
    assert fits.status_code == 200 and (fits.headers["x-width"], fits.headers["x-height"]) == (
        "100", "100")


def test_the_exif_orientation_counts(server: str) -> None:
    # stored 40 x 20, shown 20 x 40: 10000 wide makes it 20000 high, not 5000
    reply = post(server, jpeg_turned(40, 20), {"w": "10000"})
    assert reply.status_code == 400
    assert reply.json()["error"] == ("Output height (20000px) exceeds the maximum allowed "
                                     "height of 10000px.")


def test_field_errors_come_first_with_their_multi_error_answer(server: str) -> None:
    reply = post(server, png(1, 10000), {"w": "10000", "h": "abc", "angle": "999"})
    assert reply.status_code == 400
    assert reply.json()["error"] == "Multiple validation errors"


def test_the_pixel_budget_and_nothing_charged(
    served: Callable[..., AbstractContextManager[Served]],
) -> None:
    with served(max_output_pixels=5000) as s:
        user = s.accounts.create_user("budget@example.com", "Premium-20000", 0, True,
                                      prepaid=3)
        key = s.accounts.create_key(user.id).key
        reply = post(s.base, png(10, 10), {"w": "100", "h": "100", "exact_resize": "true"},
                     {"x-api-key": key})
        assert reply.status_code == 400
        assert reply.json() == {"error": "Output size (100x100 = 10000px) exceeds the maximum "
                                         "allowed of 5000px.", "status": 400}
        assert s.accounts.user(user.id).prepaid_credits == 3
        fits = post(s.base, png(10, 10), {"w": "70", "h": "70", "exact_resize": "true"},
                    {"x-api-key": key})
        assert fits.status_code == 200
        assert s.accounts.user(user.id).prepaid_credits == 2


def test_refusals_found_from_the_header_use_no_allowance(
    served: Callable[..., AbstractContextManager[Served]],
) -> None:
    """An oversized result and an absent model are refused before the anonymous daily
    allowance (of 1 here) is counted."""
    with served(anonymous_daily_limit=1) as s:
        assert post(s.base, png(1, 10000), {"w": "10000"}).status_code == 400
        absent = post(s.base, png(8, 8), {"model": "u2net"})
        assert absent.status_code == 400
        assert absent.json()["error"].startswith("Model 'u2net' is not installed")
        assert post(s.base, png(8, 8), {}).status_code == 200
        assert post(s.base, png(8, 8), {}).status_code == 429
