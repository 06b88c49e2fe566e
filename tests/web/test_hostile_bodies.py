"""Client mistakes that used to answer 500 (and log a traceback): each gets the
contract's 4xx now (hardening, medium 5)."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from PIL import Image

NO_IMAGE = {"error": "No image file provided. Please include an 'image' field in your form "
                     "data.", "status": 400}


def webp_claiming(width: int, height: int) -> bytes:
    """A real WebP whose VP8X header claims another canvas (Pillow's own bomb check fires
    while opening it)."""
    out = io.BytesIO()
    Image.new("RGBA", (37, 21), (1, 2, 3, 4)).save(out, "WEBP")
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def post_raw(server: str, content_type: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{server}/rmbg", content=body, headers={"content-type": content_type},
                      timeout=30)


def part(boundary: bytes, extra_header: bytes = b"") -> bytes:
    return (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"image\"; "
            b"filename=\"a.png\"\r\n" + extra_header + b"\r\n\x89PNG\r\n\x1a\n\r\n--"
            + boundary + b"--\r\n")


def test_a_webp_header_over_pillow_s_bomb_limit_gets_the_side_message(server: str) -> None:
    reply = httpx.post(f"{server}/rmbg", files={"image": ("b.webp", webp_claiming(16384, 20))})
    assert (reply.status_code, reply.json()) == (400, {
        "error": "Image width (16384px) exceeds the maximum allowed width of 10000px.",
        "status": 400})
    tall = httpx.post(f"{server}/rmbg", files={"image": ("b.webp", webp_claiming(9000, 16000))})
    assert tall.json()["error"] == ("Image height (16000px) exceeds the maximum allowed height "
                                    "of 10000px.")


@pytest.mark.parametrize(("content_type", "body"), [
    ("multipart/form-data; boundary=Other", part(b"Sent")),
    ("multipart/form-data; boundary=" + "b" * 300, part(b"b" * 300)),
    ("multipart/form-data; boundary=B", part(b"B", b"X-Long: " + b"a" * 20_000 + b"\r\n")),
    ("multipart/form-data; boundary=B", b"not multipart at all" * 10),
], ids=["other-boundary", "long-boundary", "long-part-header", "garbage"])
def test_a_body_that_is_not_its_multipart_has_no_image(
    server: str, content_type: str, body: bytes, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        reply = post_raw(server, content_type, body)
    assert (reply.status_code, reply.json()) == (400, NO_IMAGE)
    assert "Traceback" not in caplog.text
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_a_repeated_field_is_refused_by_name(server: str) -> None:
    image = ("c.png", b"\x89PNG\r\n\x1a\n")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    files = [("image", ("a.png", png.getvalue())), ("w", (None, "10")), ("w", (None, "20"))]
    reply = httpx.post(f"{server}/rmbg", files=files)
    assert (reply.status_code, reply.json()) == (400, {
        "error": "'w' was sent more than once; send each field once.", "status": 400})
    twice = httpx.post(f"{server}/rmbg", files=[("image", ("a.png", png.getvalue())),
                                               ("image", image)])
    assert twice.json()["error"] == "'image' was sent more than once; send each field once."


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("w", "1_000", "'w' must be an integer, got: '1_000'"),
    ("h", "١٢", "'h' must be an integer, got: '١٢'"),
    ("w", "9" * 5000, "'w' must be at most 10000, got: 1000000000000000000"),
    ("angle", "1_0", "'angle' must be a number, got: '1_0'"),
    ("angle", "inf", "'angle' must be a number, got: 'inf'"),
])
def test_numbers_are_plain_ascii_decimals(server: str, field: str, raw: str,
                                          message: str) -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    reply = httpx.post(f"{server}/rmbg", files={"image": ("a.png", png.getvalue())},
                       data={field: raw})
    assert (reply.status_code, reply.json()) == (400, {"error": message, "status": 400})
