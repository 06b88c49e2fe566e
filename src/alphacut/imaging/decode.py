"""Decode any mode a user sends into RGB plus the input's own alpha (if it has any)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from alphacut.errors import CorruptImage

_ORIENTATION = 0x0112
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WIDE_GRAY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass
class Decoded:
    rgb: Image.Image
    """Mode RGB, orientation applied."""
    alpha: Image.Image | None
    """Mode L when the input carried transparency, else None."""


def decode(image: Image.Image) -> Decoded:
    """Load pixels, apply EXIF orientation, and normalise the mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise CorruptImage(str(exc) or type(exc).__name__) from exc
    # Only a tagged image is transposed; in place otherwise would still copy the pixels.
    if image.getexif().get(_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image) or image
    return _split_mode(image)


def _split_mode(image: Image.Image) -> Decoded:
    mode = image.mode
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _WIDE_GRAY:
        return Decoded(_wide_gray_to_rgb(image), None)
    if mode in _ALPHA_MODES:
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        alpha = rgba.getchannel("A")
        rgb = rgba.convert("RGB")
        low, _ = alpha.getextrema()
        return Decoded(rgb, None if low == 255 else alpha)
    if mode != "RGB":
        image = image.convert("RGB")
    return Decoded(image, None)


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey: scale to 8 bits by the range the format implies."""
    values = np.asarray(image, dtype=np.float64)
    top = 1.0 if image.mode == "F" and values.max(initial=0.0) <= 1.0 else 65535.0
    if image.mode == "I" and values.max(initial=0.0) <= 255:
        top = 255.0
    gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
