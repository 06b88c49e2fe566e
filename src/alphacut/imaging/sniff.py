"""Tell the image kind by its signature and refuse what is too big, before decoding.

Security order: emptiness, byte size, signature, then the header's dimensions.
Only after all four pass is a single pixel decoded, so a decompression bomb
(a small file that claims a huge canvas) is refused from its header alone.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import PurePath

from PIL import BmpImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from alphacut.errors import (
    ALLOWED_EXTENSIONS,
    CorruptImage,
    EmptyFile,
    FileTooLarge,
    ImageTooTall,
    ImageTooWide,
    InvalidSignature,
    UnsupportedExtension,
)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_SIDE = 10000

# The format's own reader, called directly: it parses only the header, and it skips
# Pillow's pixel-count heuristic, so our side limit decides (with the exact message).
_READERS: dict[str, type[ImageFile.ImageFile]] = {
    "png": PngImagePlugin.PngImageFile,
    "jpeg": JpegImagePlugin.JpegImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE


@dataclass(frozen=True)
class Probe:
    kind: str
    width: int
    height: int


def sniff_kind(head: bytes) -> str | None:
    """The image kind from the first bytes: png, jpeg, webp, bmp, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    return None


def check_extension(filename: str) -> None:
    """Refuse a file name whose extension is not an image one (no extension is accepted)."""
    suffix = PurePath(filename).suffix
    if suffix and suffix[1:].lower() not in ALLOWED_EXTENSIONS:
        raise UnsupportedExtension(suffix)


def check_size(size: int, limits: Limits) -> None:
    if size == 0:
        raise EmptyFile()
    if size > limits.max_bytes:
        raise FileTooLarge(size, limits.max_bytes)


def check_dimensions(width: int, height: int, limits: Limits) -> None:
    if width > limits.max_side:
        raise ImageTooWide(width, limits.max_side)
    if height > limits.max_side:
        raise ImageTooTall(height, limits.max_side)


def open_header(data: bytes, kind: str) -> Image.Image:
    """Open lazily: only the header is read here, no pixel data."""
    try:
        return _READERS[kind](io.BytesIO(data))
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise CorruptImage(str(exc) or type(exc).__name__) from exc


def probe(data: bytes, limits: Limits) -> tuple[Probe, Image.Image]:
    """Check size, signature and header dimensions; return the lazily opened image."""
    check_size(len(data), limits)
    kind = sniff_kind(data[:32])
    if kind is None:
        raise InvalidSignature()
    image = open_header(data, kind)
    check_dimensions(image.width, image.height, limits)
    return Probe(kind, image.width, image.height), image
