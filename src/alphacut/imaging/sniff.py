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
    OutputTooLarge,
    OutputTooTall,
    OutputTooWide,
    UnsupportedExtension,
)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_SIDE = 10000
DEFAULT_MAX_OUTPUT_PIXELS = 100_000_000
PNG_MAX_HEAD_BYTES = 8 * 2**20  # metadata before the first IDAT chunk
_ORIENTATION = 0x0112
_TURNED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height

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
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS


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


def check_output(width: int, height: int, limits: Limits) -> None:
    """The result's sides and pixel count, before any pixel work."""
    if width > limits.max_side:
        raise OutputTooWide(width, limits.max_side)
    if height > limits.max_side:
        raise OutputTooTall(height, limits.max_side)
    if width * height > limits.max_output_pixels:
        raise OutputTooLarge(width, height, limits.max_output_pixels)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """The size once the EXIF orientation is applied, from the metadata read with the
    header (a PNG's eXIf after the pixels is not seen here: the engine checks again)."""
    raw = image.info.get("exif")
    if raw:
        exif = Image.Exif()
        try:
            exif.load(raw)
        except (OSError, ValueError, SyntaxError, EOFError, struct.error):
            return image.size
        if exif.get(_ORIENTATION) in _TURNED:
            return image.height, image.width
    return image.size


def open_header(data: bytes, kind: str, limits: Limits | None = None) -> Image.Image:
    """Open lazily: only the header is read here, no pixel data."""
    try:
        return _READERS[kind](io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow's WebP reader runs its own pixel-count check while opening: answer
        # with the contract's side message, from the sizes the header states.
        size = webp_size(data) if kind == "webp" else None
        if size is not None:
            check_dimensions(*size, limits or Limits())
        raise CorruptImage("the header states an impossible size") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise CorruptImage(str(exc) or type(exc).__name__) from exc


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas a WebP header states (VP8X, lossless VP8L or lossy VP8), or None."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return (1 + int.from_bytes(data[24:27], "little"),
                1 + int.from_bytes(data[27:30], "little"))
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    return None


def probe(data: bytes, limits: Limits) -> tuple[Probe, Image.Image]:
    """Check size, signature and header dimensions; return the lazily opened image."""
    check_size(len(data), limits)
    kind = sniff_kind(data[:32])
    if kind is None:
        raise InvalidSignature()
    if kind == "png" and data.find(b"IDAT", 0, PNG_MAX_HEAD_BYTES) < 0:
        # Pillow walks the chunks before the pixels one by one, in Python: millions of
        # tiny ones would cost seconds. Real files put their pixels far sooner.
        raise CorruptImage(f"no image data in the first {PNG_MAX_HEAD_BYTES // 2**20} MB")
    stated = webp_size(data) if kind == "webp" else None
    if stated is not None:
        # Pillow's WebP reader starts a decoder while opening: the sides come first.
        check_dimensions(*stated, limits)
    image = open_header(data, kind, limits)
    check_dimensions(image.width, image.height, limits)
    return Probe(kind, image.width, image.height), image
