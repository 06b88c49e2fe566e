"""Encode the result. Settings trade speed against size; defaults are measured
(see docs/engine.md and ``make bench``)."""

from __future__ import annotations

import io
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
    """Strips one PNG is deflated in at once, at most (given a pool to deflate them in)."""


PNG_STRATEGIES = {"default": zlib.Z_DEFAULT_STRATEGY, "filtered": zlib.Z_FILTERED,
                  "rle": zlib.Z_RLE, "huffman": zlib.Z_HUFFMAN_ONLY}


def encode(pixels: np.ndarray, fmt: OutputFormat, settings: EncodeSettings,
           pool: Executor | None = None) -> bytes:
    """``pixels``: uint8, ``(height, width)`` grey or ``(height, width, 3 | 4)`` RGB(A).
    ``pool``: where PNG strips may be deflated at once (see ``png.write_png``)."""
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
    elif fmt is OutputFormat.JPEG:
        image.save(buffer, "JPEG", quality=settings.jpeg_quality)
    else:
        image.save(buffer, "BMP")
    return buffer.getvalue()
