"""Encode the result. Settings trade speed against size; defaults are measured
(see docs/engine.md, docs/formats.md and ``make bench``)."""

from __future__ import annotations

import io
import zipfile
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from alphacut.domain.options import OutputFormat
from alphacut.imaging.png import write_png


@dataclass(frozen=True)
class EncodeSettings:
    webp_quality: int = 90
    webp_method: int = 2
    jpeg_quality: int = 92
    png_compress_level: int = 3
    png_strategy: str = "default"
    png_filter: str = "up"
    threads: int = 1
    """Threads one encode uses at most: PNG strips deflated at once (given a pool to
    deflate them in), the AVIF encoder's threads."""
    avif_quality: int = 80
    """AVIF quality of colour and alpha, 0-100 (docs/formats.md: at 2 MP, smaller and
    closer to the original than WebP at its defaults)."""
    avif_speed: int = 9
    """AVIF effort, 0 (slow, small) to 10 (fast); 9 and 10 are the same in aom 3.14, 8
    is 11% smaller and 3 times slower."""


PNG_STRATEGIES = {"default": zlib.Z_DEFAULT_STRATEGY, "filtered": zlib.Z_FILTERED,
                  "rle": zlib.Z_RLE, "huffman": zlib.Z_HUFFMAN_ONLY}
ZIP_COLOR = "color.jpg"
ZIP_ALPHA = "alpha.png"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the same bytes every time


def encode(pixels: np.ndarray, fmt: OutputFormat, settings: EncodeSettings,
           pool: Executor | None = None) -> bytes:
    """``pixels``: uint8, ``(height, width)`` grey or ``(height, width, 3 | 4)`` RGB(A).
    ``pool``: where PNG strips may be deflated at once (see ``png.write_png``).

    ZIP (remove.bg's): the colour as ``color.jpg`` and the alpha as ``alpha.png``; give it
    RGBA whose colour is kept under transparent pixels (a grey mask is both members)."""
    if fmt is OutputFormat.ZIP:
        return _zip(pixels, settings, pool)
    strategy = PNG_STRATEGIES[settings.png_strategy]
    if fmt is OutputFormat.PNG and settings.png_filter == "up":
        return write_png(pixels, settings.png_compress_level, strategy, settings.threads, pool)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if fmt is OutputFormat.PNG:
        # Pillow's adaptive row filters: a little smaller, several times slower.
        image.save(buffer, "PNG", compress_level=settings.png_compress_level,
                   compress_type=strategy)
    elif fmt is OutputFormat.WEBP:
        image.save(
            buffer, "WEBP", quality=settings.webp_quality, method=settings.webp_method,
            alpha_quality=100,
        )
    elif fmt is OutputFormat.AVIF:
        image.save(buffer, "AVIF", quality=settings.avif_quality, speed=settings.avif_speed,
                   max_threads=max(1, settings.threads))
    elif fmt is OutputFormat.JPEG:
        image.save(buffer, "JPEG", quality=settings.jpeg_quality)
    else:
        image.save(buffer, "BMP")
    return buffer.getvalue()


def _zip(pixels: np.ndarray, settings: EncodeSettings, pool: Executor | None) -> bytes:
    """A zip of the colour (an opaque RGB JPEG) and the matte (a grey PNG, white = the
    subject). Stored, not deflated: both members are compressed already."""
    if pixels.ndim == 2:
        color, alpha = np.dstack([pixels] * 3), pixels
    elif pixels.shape[2] == 4:
        color, alpha = pixels[..., :3], pixels[..., 3]
    else:
        color, alpha = pixels[..., :3], np.full(pixels.shape[:2], 255, np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(color)).save(jpeg, "JPEG",
                                                      quality=settings.jpeg_quality)
    matte = write_png(np.ascontiguousarray(alpha), settings.png_compress_level,
                      PNG_STRATEGIES[settings.png_strategy], settings.threads, pool)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in ((ZIP_COLOR, jpeg.getvalue()), (ZIP_ALPHA, matte)):
            archive.writestr(_member(name), content)
    return buffer.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, on every platform: the same bytes everywhere
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    return info
