"""The standing adversarial suite (hardening): generated hostile form fields and images,
and a bounded load smoke with a slow client mixed in. Zero 5xx; every refusal is one of
the contract's messages, in the contract's shape."""

from __future__ import annotations

import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from alphacut.domain.options import options_of
from tests.conftest import FIXTURES, encoded
from tests.web.conftest import Account, Served
from tests.web.test_server_limits import open_upload, part_head

FIELDS = [spec.form.name for _, spec in options_of()] + ["return_base64", "image2", "x"]
# What a refusal may say: the contract's messages (numbers and names vary).
REFUSALS = re.compile("|".join([
    r"'[a-z_]+' must be (an integer|a number|a boolean|at least|at most|between).*",
    r"Invalid format '.*'\. Allowed formats: PNG, JPEG, WEBP, BMP",
    r"Invalid color format '.*'\. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA",
    r"Cannot use 'mask=true' together with 'bg_color'\. Choose one or the other\.",
    r"Multiple validation errors",
    r"Unknown model '.*'.*", r"Model '.*' is not installed on this server\..*",
    r"The image could not be decoded: .*",
    r"(Image|Output) (width|height) \(\d+px\) exceeds the maximum allowed (width|height) "
    r"of \d+px\.",
    r"Output size \(\d+x\d+ = \d+px\) exceeds the maximum allowed of \d+px\.",
    r"File does not appear to be a valid image \(invalid file signature\)",
    r"Uploaded file is empty \(0 bytes\)\.",
    r"'[a-z_0-9]+' was sent more than once; send each field once\.",
    r"Form field '.*' is too large\.",
    # the layout fields (remove.bg's text forms)
    r"'(crop_margin|roi|position|scale)' .*", r"Each 'crop_margin' is at most .*",
    r"The roi (is empty|goes past the image's bounds).*",
]), re.DOTALL)


def small_png() -> bytes:
    return encoded(Image.new("RGB", (12, 9), (200, 40, 40)), "PNG")


def assert_contract_answer(reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text
    if reply.status_code == 200:
        assert reply.headers["content-type"].startswith("image/")
        return
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["status"] == 400 and REFUSALS.fullmatch(body["error"]), body


field_values = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[+-]?[0-9]{1,25}", fullmatch=True),
    st.from_regex(r"[+-]?[0-9]{0,4}\.[0-9]{0,4}(e[+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["true", "false", "yes", "0", "1", "", "png", "jpeg", "webp", "bmp",
                     "#fff", "#00ff0080", "red", "u2netp", "u2net", "nan", "-inf",
                     "10000", "10001", "0", "-1", "360", "361", " 7 ", "١٢", "1_0"]),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6))
def test_generated_form_fields_never_break_the_server(server: str,
                                                      fields: dict[str, str]) -> None:
    fields.setdefault("w", "32")  # keep the image work small
    reply = httpx.post(f"{server}/rmbg", files={"image": ("a.png", small_png())},
                       data=fields, timeout=60)
    assert_contract_answer(reply)


def _seeds() -> dict[str, bytes]:
    base = Image.new("RGB", (40, 30), (10, 200, 90))
    return {
        "png": encoded(base, "PNG"), "jpeg": encoded(base, "JPEG"),
        "webp": encoded(base, "WEBP"), "webp-lossless": encoded(base, "WEBP", lossless=True),
        "bmp": encoded(base, "BMP"), "png-1bit": encoded(base.convert("1"), "PNG"),
        "png-palette": encoded(base.convert("P"), "PNG", transparency=0),
        "png-la": encoded(base.convert("LA"), "PNG"),
        "png-16bit": encoded(base.convert("I;16"), "PNG"),
        "jpeg-cmyk": encoded(base.convert("CMYK"), "JPEG"),
        "png-huge-text": _png_with_text(base, 2_000_000),
        "jpeg-huge-exif": encoded(base, "JPEG", exif=b"Exif\0\0" + bytes(60_000)),
    }


def _new_kinds() -> dict[str, bytes]:
    """The kinds beyond the contract's four (the remove.bg API's, the CLI's): /rmbg refuses
    them by their signature, the remove.bg API decodes them."""
    base = Image.new("RGB", (40, 30), (10, 200, 90))
    frames = [Image.new("RGB", (40, 30), c) for c in ((200, 30, 30), (30, 30, 200))]
    heic = FIXTURES / "images" / "formats"
    return {
        "gif": encoded(base, "GIF"),
        "gif-animated": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "gif-transparent": encoded(base.convert("P"), "GIF", transparency=0),
        "tiff": encoded(base, "TIFF"), "tiff-lzw": encoded(base, "TIFF", compression="tiff_lzw"),
        "tiff-16bit": encoded(base.convert("I;16"), "TIFF"),
        "tiff-pages": encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "avif": encoded(base, "AVIF"), "avif-alpha": encoded(base.convert("RGBA"), "AVIF"),
        "heif": (heic / "tiny.heic").read_bytes(),
        "heif-10bit-alpha": (heic / "tiny-10bit-alpha.heic").read_bytes(),
    }


def _png_with_text(image: Image.Image, size: int) -> bytes:
    data = encoded(image, "PNG")
    chunk = b"tEXt" + b"comment\0" + b"x" * size
    text = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data[:33] + text + data[33:]  # after IHDR


NEW_KINDS = _new_kinds()
SEEDS = _seeds() | NEW_KINDS


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SEEDS)), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
       truncate=st.booleans())
def test_generated_hostile_images_never_break_the_server(
        server: str, kind: str, cut: float, flips: list[tuple[int, int]],
        truncate: bool) -> None:
    """Truncated files and headers with lying bytes (sizes, chunk lengths, markers)."""
    data = bytearray(SEEDS[kind])
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    if truncate:
        data = data[: max(1, int(len(data) * cut))]
    reply = httpx.post(f"{server}/rmbg", files={"image": ("i", bytes(data))},
                       data={"w": "32"}, timeout=60)
    assert_contract_answer(reply)


@pytest.mark.parametrize("kind", sorted(NEW_KINDS))
def test_rmbg_refuses_every_new_kind_by_its_signature(server: str, kind: str) -> None:
    reply = httpx.post(f"{server}/rmbg", files={"image": ("i", NEW_KINDS[kind])}, timeout=60)
    assert (reply.status_code, reply.json()) == (400, {
        "error": "File does not appear to be a valid image (invalid file signature)",
        "status": 400})


# What the remove.bg API may answer a hostile image with (its codes for an image's faults).
REMOVEBG_REFUSALS = {"invalid_file_type", "failed_to_read_image", "resolution_too_high",
                     "unknown_foreground"}


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(NEW_KINDS)), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=4),
       truncate=st.booleans())
def test_generated_hostile_images_of_every_new_kind_never_break_the_removebg_api(
        server: str, account: Account, kind: str, cut: float, flips: list[tuple[int, int]],
        truncate: bool) -> None:
    """HEIF, AVIF, TIFF and GIF, truncated or with lying bytes, through the surface that
    decodes them: an image, or one of remove.bg's codes for a faulty image."""
    data = bytearray(NEW_KINDS[kind])
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    if truncate:
        data = data[: max(1, int(len(data) * cut))]
    reply = httpx.post(f"{server}/v1.0/removebg", headers={"X-Api-Key": account.key},
                       files={"image_file": ("i", bytes(data))}, data={"size": "preview"},
                       timeout=60)
    assert reply.status_code in (200, 400), reply.text
    if reply.status_code == 200:
        assert reply.headers["content-type"].startswith("image/")
    else:
        assert {e["code"] for e in reply.json()["errors"]} <= REMOVEBG_REFUSALS, reply.text


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "bmp"])
def test_a_bomb_of_every_format_is_refused_from_its_header(server: str, fmt: str) -> None:
    base = bytearray(encoded(Image.new("RGB", (40, 30)), fmt.upper()))
    if fmt == "png":
        bomb = bytearray(base)
        bomb[16:24] = struct.pack(">II", 60000, 60000)
        bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(bomb[12:29])))
    elif fmt == "jpeg":
        sof = base.index(b"\xff\xc0")
        bomb = bytearray(base)
        bomb[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    elif fmt == "webp":
        bomb = bytearray(encoded(Image.new("RGBA", (40, 30), (1, 2, 3, 4)), "WEBP"))
        bomb[24:27] = (59999).to_bytes(3, "little")
        bomb[27:30] = (59999).to_bytes(3, "little")
    else:
        bomb = bytearray(base)
        bomb[18:26] = struct.pack("<ii", 60000, 60000)
    reply = httpx.post(f"{server}/rmbg", files={"image": ("b", bytes(bomb))}, timeout=60)
    assert (reply.status_code, reply.json()) == (400, {
        "error": "Image width (60000px) exceeds the maximum allowed width of 10000px.",
        "status": 400})


def test_load_smoke_with_a_slow_client_mixed_in(
    served: Callable[..., AbstractContextManager[Served]],
) -> None:
    """About 200 small images at concurrency 8 while one client trickles its upload:
    every image answers 200, and the trickle is cut off (408), not kept."""
    image = small_png()
    with served(upload_first_byte_timeout_s=1, upload_min_bytes_per_s=500) as s:
        user = s.accounts.create_user("load@example.com", "Premium-20000", 1000, True)
        key = s.accounts.create_key(user.id).key
        stop = threading.Event()

        def trickle() -> int:
            sock = open_upload(s.base, 100_000, part_head("slow.png"))
            try:
                while not stop.is_set():
                    try:
                        sock.sendall(b"x")
                    except OSError:
                        break
                    time.sleep(0.05)
                sock.settimeout(30)
                head = sock.recv(64)
                return int(head.split()[1]) if head else 0
            except (TimeoutError, OSError):
                return 0
            finally:
                sock.close()

        with httpx.Client(base_url=s.base, timeout=60) as client, ThreadPoolExecutor(9) as pool:
            slow = pool.submit(trickle)
            codes = list(pool.map(lambda _: client.post(
                "/rmbg", headers={"x-api-key": key}, files={"image": ("a.png", image)},
                data={"w": "16"}).status_code, range(200)))
            stop.set()
            assert slow.result() == 408
        assert codes == [200] * 200
        assert s.accounts.user(user.id).included_credits == 1000
        after = httpx.get(f"{s.base}/api/membership-usage", headers={"x-api-key": key}).json()
        assert after["api_usage"] == 200
