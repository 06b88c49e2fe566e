"""Encode the result. Settings trade speed against size; defaults are measured
(see docs/engine.md and ``make bench``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from alphacut.domain.options import OutputFormat


@dataclass(frozen=True)
class EncodeSettings:
    webp_quality: int = 90
    webp_method: int = 2
    jpeg_quality: int = 92
    png_compress_level: int = 1


def encode(image: Image.Image, fmt: OutputFormat, settings: EncodeSettings) -> bytes:
    buffer = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(buffer, "PNG", compress_level=settings.png_compress_level)
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
