"""Decode any mode a user sends into RGB plus the input's own alpha (if it has any).

An animation (GIF, WebP, APNG, AVIF sequence) or a multi-page TIFF gives its first
frame; a HEIF collection its primary image. No other frame is decoded."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from alphacut.errors import CorruptImage

_ORIENTATION = 0x0112
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WIDE_GRAY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# RuntimeError: libheif's (through pi_heif) and libavif's refusals; ArithmeticError:
# Pillow's AVIF reader divides by a sequence's timescale, which a file may give as 0;
# TypeError: Pillow's TIFF reader seeks to strip offsets a file may type as text.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, RuntimeError, ArithmeticError,
                  TypeError)


@dataclass
class Decoded:
    rgb: Image.Image
    """Mode RGB, orientation applied."""
    alpha: Image.Image | None
    """Mode L when the input carried transparency, else None."""


def decode(image: Image.Image) -> Decoded:
    """Load pixels (the first frame only), apply EXIF orientation, and normalise the mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow's notes on damaged metadata (a TIFF's tags, EXIF): nothing to act on.
        warnings.simplefilter("ignore", UserWarning)
        try:
            _first_frame(image)
            image.load()
            orientation = image.getexif().get(_ORIENTATION, 1)
        except _DECODE_ERRORS as exc:
            raise CorruptImage(str(exc).strip() or type(exc).__name__) from exc
    # Only a tagged image is transposed; in place otherwise would still copy the pixels.
    if orientation != 1:
        image = ImageOps.exif_transpose(image) or image
    return _split_mode(image)


def _first_frame(image: Image.Image) -> None:
    """Back to frame 0 if a caller moved on (an opened file is there already). A HEIF
    file's frame is its primary image, which need not be its first: it stays."""
    if image.format != "HEIF" and image.tell() != 0:
        image.seek(0)


def _split_mode(image: Image.Image) -> Decoded:
    mode = image.mode
    if mode in ("P", "L", "RGB") and "transparency" in image.info:
        # A GIF's or PNG's transparent palette index, or a PNG's tRNS colour.
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
        image = _to_rgb(image)
    return Decoded(image, None)


def _to_rgb(image: Image.Image) -> Image.Image:
    """CMYK, YCbCr, 1, L, P... to RGB; a mode Pillow cannot convert (a TIFF's LAB, say)
    is an image we cannot read."""
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise CorruptImage(f"unsupported colour mode {image.mode}") from exc


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey: scale to 8 bits by the range the format implies."""
    values = np.asarray(image, dtype=np.float64)
    top = 1.0 if image.mode == "F" and values.max(initial=0.0) <= 1.0 else 65535.0
    if image.mode == "I" and values.max(initial=0.0) <= 255:
        top = 255.0
    gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
