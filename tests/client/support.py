"""Helpers for the live-server tests of the SDK and its command line."""

from __future__ import annotations

import io
import re
import time

import httpx
from PIL import Image

from tests.conftest import fixture_bytes


def rmbg_requests(base: str, status: int) -> int:
    """How many ``/rmbg`` requests the server has answered with ``status`` (from /metrics)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    found = re.search(
        rf'^alphacut_requests_total\{{route="/rmbg",status="{status}"\}} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def settle(base: str, timeout: float = 30) -> None:
    """Wait until the server has finished every request (one a client walked away from
    included): nothing in flight, and the request counters still for a moment."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics", timeout=30).text
        counts = "".join(re.findall(r'^alphacut_requests_total\{route="/rmbg".*$', text, re.M))
        idle = re.search(r"^alphacut_in_flight 0\.0$", text, re.M) is not None
        if idle and counts == last:
            return
        last = counts
        time.sleep(0.3)
    raise TimeoutError("the server did not settle")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def big_png(width: int = 1200, height: int = 850) -> bytes:
    """A photo upscaled and stored without compression: a PNG of about 3 MB."""
    photo = Image.open(io.BytesIO(fixture_bytes("chelsea"))).convert("RGB")
    buffer = io.BytesIO()
    photo.resize((width, height)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()
