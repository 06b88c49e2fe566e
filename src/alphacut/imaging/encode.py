"""Encode the result. Settings trade speed against size; defaults are measured
(see docs/engine.md and ``make bench``)."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from PIL import Image

from alphacut.domain.options import OutputFormat


@dataclass(frozen=True)
class EncodeSettings:
    webp_quality: int = 90
    webp_method: int = 2
    jpeg_quality: int = 92
    png_compress_level: int = 1
    png_strategy: str = "rle"


# zlib strategies. RLE after PNG's adaptive row filters is the sweet spot for photos:
# files as small as zlib level 6, at level 1's speed (measured in docs/engine.md).
PNG_STRATEGIES = {"default": zlib.Z_DEFAULT_STRATEGY, "filtered": zlib.Z_FILTERED,
                  "rle": zlib.Z_RLE, "huffman": zlib.Z_HUFFMAN_ONLY}


def encode(image: Image.Image, fmt: OutputFormat, settings: EncodeSettings) -> bytes:
    buffer = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(buffer, "PNG", compress_level=settings.png_compress_level,
                   compress_type=PNG_STRATEGIES[settings.png_strategy])
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
