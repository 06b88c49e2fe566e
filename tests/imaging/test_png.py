"""The parallel PNG writer: every decoder reads back exactly the pixels written."""

from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from alphacut.imaging import png
from alphacut.imaging.png import write_png

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk, after checking each chunk's CRC."""
    assert data[:8] == png.SIGNATURE
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


@pytest.mark.parametrize("shape, mode", [
    ((1, 1), "L"), ((37, 53), "L"), ((9, 7, 2), "LA"), ((31, 17, 3), "RGB"),
    ((23, 41, 4), "RGBA"), ((1, 300, 4), "RGBA"), ((300, 1, 3), "RGB"),
])
def test_every_mode_reads_back_exactly(shape: tuple[int, ...], mode: str) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = write_png(pixels)
    image = Image.open(io.BytesIO(data))
    assert image.mode == mode and image.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(image), pixels)
    assert [kind for kind, _ in _chunks(data)] == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_strips_deflated_apart_join_into_one_valid_stream(
        threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big enough for several strips: the joined stream's Adler-32 and every CRC hold,
    and Pillow, OpenCV (libpng) and plain zlib all read the same pixels."""
    deflated = []
    real_deflate = png._deflate

    def counted(strip: np.ndarray, *args: object, **kwargs: object) -> bytes:
        deflated.append(strip.shape[0])
        return real_deflate(strip, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(png, "_deflate", counted)
    pixels = np.random.default_rng(threads).integers(0, 256, (1200, 700, 4), dtype=np.uint8)
    pixels[350:820] = 0  # runs compress differently from noise: a strip ends inside them
    with ThreadPoolExecutor(threads) as pool:
        data = write_png(pixels, threads=threads, pool=pool)
    assert len(deflated) == min(threads, 3)  # 3.4 MB of rows: strips of at least 1 MB
    assert sum(deflated) == 1200
    raw = zlib.decompress(b"".join(body for kind, body in _chunks(data) if kind == b"IDAT"))
    assert len(raw) == 1200 * (700 * 4 + 1)  # and zlib checked the Adler-32
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(cv2.cvtColor(opencv, cv2.COLOR_BGRA2RGBA), pixels)


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("strategy", ["default", "rle", "huffman", "filtered"])
def test_every_level_and_strategy_joins_strips_validly(level: int, strategy: str) -> None:
    from alphacut.imaging.encode import PNG_STRATEGIES

    pixels = np.random.default_rng(level).integers(0, 256, (900, 600, 3), dtype=np.uint8)
    pixels[:, 200:400] = 17
    data = write_png(pixels, level, PNG_STRATEGIES[strategy], threads=2)
    (header,) = [body for kind, body in _chunks(data) if kind == b"IDAT"][:1]
    assert (header[0] * 256 + header[1]) % 31 == 0  # a valid zlib header
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_a_stream_longer_than_a_chunk_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """PNG chunks hold at most 2**31 - 1 bytes: a longer stream goes into several IDATs."""
    monkeypatch.setattr(png, "MAX_CHUNK", 1000)
    pixels = np.random.default_rng(7).integers(0, 256, (300, 200, 4), dtype=np.uint8)
    data = write_png(pixels)
    idat = [body for kind, body in _chunks(data) if kind == b"IDAT"]
    assert len(idat) > 200 and max(len(body) for body in idat) == 1000
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_a_photo_compresses_about_as_well_as_pillow() -> None:
    """The speed does not come from bigger files: within 10% of Pillow's own PNG
    (adaptive filters, level 6, rembg's choice) on a real photo with transparency."""
    photo = np.asarray(Image.open(FIXTURES / "horse_on_grass.jpg").convert("RGB"))
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, : photo.shape[1] // 2] = 0  # half cut away, as in a cut-out
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    ours = write_png(rgba)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(ours))), rgba)
    assert len(ours) <= 1.10 * len(buffer.getvalue())


def test_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_png(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="channels"):
        write_png(np.zeros((4, 4, 5), np.uint8))
