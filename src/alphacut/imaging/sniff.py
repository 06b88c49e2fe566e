"""Tell the image kind by its signature and refuse what is too big, before decoding.

Security order: emptiness, byte size, signature (and whether this surface takes the
kind), then the header's dimensions. Only after all of them pass is a single pixel
decoded, so a decompression bomb (a small file that claims a huge canvas) is refused
from its header alone.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath

from pi_heif import HeifImageFile  # type: ignore[import-untyped]
from PIL import (
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

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
SNIFF_BYTES = 256
"""What the signature is read from (an ISO-BMFF ``ftyp`` box lists its brands there)."""
_ORIENTATION = 0x0112
_TURNED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height

# The format's own reader, called directly: it parses only the header, and it skips
# Pillow's pixel-count heuristic, so our side limit decides (with the exact message).
_READERS: dict[str, type[ImageFile.ImageFile]] = {
    "png": PngImagePlugin.PngImageFile,
    "jpeg": JpegImagePlugin.JpegImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
    "gif": GifImagePlugin.GifImageFile,
    "tiff": TiffImagePlugin.TiffImageFile,
    "avif": AvifImagePlugin.AvifImageFile,
    "heif": HeifImageFile,  # pi_heif's: libheif parses the boxes, decodes nothing yet
}
ALL_KINDS = frozenset(_READERS)
"""Every kind alphacut reads: the remove.bg API, ``alphacut remove`` and the library."""
RMBG_KINDS = frozenset({"png", "jpeg", "webp", "bmp"})
"""The RemBG contract's kinds (``POST /rmbg``): anything else is an invalid signature."""

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm",
                          b"hevs", b"mif1", b"msf1", b"mif2", b"miaf"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_VIDEO_BRANDS = {b"qt  ": "mov", b"M4A ": "m4a", b"crx ": "cr3", b"jxl ": "jxl"}
_MAX_BOXES = 65536  # in one container; libheif's own limit on a box's children
# What other files look like, for messages only ("Expected jpeg/png, received mp4").
_OTHER_SIGNATURES = (
    (b"%PDF-", "pdf"), (b"PK\x03\x04", "zip"), (b"\x1f\x8b", "gzip"), (b"Rar!", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x00\x00\x00\x0cJXL ", "jxl"), (b"\xff\x0a", "jxl"),
    (b"\x00\x00\x00\x0cjP  ", "jp2"), (b"\xff\x4f\xff\x51", "j2k"), (b"8BPS", "psd"),
    (b"\x00\x00\x01\x00", "ico"), (b"\x1a\x45\xdf\xa3", "webm"), (b"OggS", "ogg"),
    (b"fLaC", "flac"), (b"ID3", "mp3"), (b"\x7fELF", "elf"), (b"MZ", "exe"),
    (b"\xef\xbb\xbf<", "xml"), (b"<?xml", "xml"), (b"<svg", "svg"), (b"<!DOCTYPE html", "html"),
    (b"<html", "html"),
)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    kinds: frozenset[str] = ALL_KINDS
    """The kinds this surface takes; another is refused as an invalid signature."""


@dataclass(frozen=True)
class Probe:
    kind: str
    width: int
    height: int


def sniff_kind(head: bytes) -> str | None:
    """The image kind from the first bytes (:data:`SNIFF_BYTES` of them tell every kind):
    png, jpeg, webp, bmp, gif, tiff, heif, avif, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    return _isobmff_kind(_brands(head))


def _brands(head: bytes) -> tuple[bytes, ...]:
    """An ISO-BMFF ``ftyp`` box's major brand, then its compatible brands; () if none."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return ()
    end = min(int.from_bytes(head[:4], "big"), len(head))
    compatible = [head[at:at + 4] for at in range(16, end - 3, 4)]
    return (head[8:12], *compatible)


def _isobmff_kind(brands: tuple[bytes, ...]) -> str | None:
    """HEIF or AVIF by the brands. The major brand decides when it names a codec; a
    structural one (``mif1``, ``msf1``) is also AVIF's, so then the compatible brands do."""
    if not brands:
        return None
    major, listed = brands[0], set(brands)
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIF_BRANDS - {b"mif1", b"msf1", b"mif2", b"miaf"}:
        return "heif"
    if listed & _AVIF_BRANDS:
        return "avif"
    if listed & _HEIF_BRANDS:
        return "heif"
    return None


def describe_kind(data: bytes) -> str:
    """What the bytes look like, for messages: an image kind, another known format
    (pdf, mp4, mov, zip, svg...), "empty" or "unknown"."""
    if not data:
        return "empty"
    head = data[:SNIFF_BYTES]
    kind = sniff_kind(head)
    if kind is not None:
        return kind
    brands = _brands(head)
    if brands:
        return _VIDEO_BRANDS.get(brands[0], "mp4")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return head[8:12].decode("latin-1").strip().lower() or "riff"  # avi, wave...
    stripped = head.lstrip()
    return next((name for signature, name in _OTHER_SIGNATURES
                 if head.startswith(signature) or stripped.startswith(signature)), "unknown")


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
    if isinstance(image, TiffImagePlugin.TiffImageFile):  # its own tag, read with IFD 0
        turned = image.tag_v2.get(_ORIENTATION) in _TURNED
        return (image.height, image.width) if turned else image.size
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
        with warnings.catch_warnings():
            # Pillow's notes on damaged metadata (a TIFF's tags, say): nothing to act on;
            # its pixel-count warning (a GIF frame past the screen grows the canvas): our
            # side limit follows at once.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _READERS[kind](io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow's WebP and GIF readers run their own pixel-count check while opening:
        # answer with the contract's side message where the header's sizes are known.
        size = webp_size(data) if kind == "webp" else None
        if size is not None:
            check_dimensions(*size, limits or Limits())
        raise CorruptImage("the header states an impossible size") from exc
    # RuntimeError: libheif's (through pi_heif) and libavif's refusals; TypeError: the
    # TIFF reader's, on tags typed otherwise than their meaning.
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError, TypeError,
            struct.error) as exc:
        raise CorruptImage(str(exc).strip() or type(exc).__name__) from exc


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


def isobmff_size(data: bytes) -> tuple[int, int] | None:
    """The largest width and height any ``ispe`` box of a HEIF/AVIF file states, or None.

    Every image item (the primary, a grid and its tiles, thumbnails, alpha) declares its
    coded size in an ``ispe`` property, and libheif and libavif refuse a coded stream
    larger than it. The primary's size after cropping (``clap``) and rotation can be far
    smaller than what is decoded, so every item's coded size is what the limit sees."""
    sizes = [
        struct.unpack(">II", data[start + 4:start + 12])
        for start, end in _boxes_at(data, (b"meta", b"iprp", b"ipco", b"ispe"))
        if end - start >= 12
    ]
    if not sizes:
        return None
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _boxes_at(data: bytes, path: tuple[bytes, ...]) -> Iterator[tuple[int, int]]:
    """(start, end) of each box's body along ``path`` of box types from the top level."""
    spans = [(0, len(data))]
    for depth, wanted in enumerate(path):
        skip = 4 if depth > 0 and path[depth - 1] == b"meta" else 0  # meta is a FullBox
        spans = [(start, end) for outer_start, outer_end in spans
                 for kind, start, end in _boxes(data, outer_start + skip, outer_end)
                 if kind == wanted]
    yield from spans


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Each box between ``start`` and ``end``: (type, body start, body end); stops at
    the first box whose size does not fit."""
    at = start
    for _ in range(_MAX_BOXES):
        if at + 8 > end:
            return
        size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        body = at + 8
        if size == 1 and at + 16 <= end:  # a 64-bit size follows the type
            size, body = int.from_bytes(data[at + 8:at + 16], "big"), at + 16
        elif size == 0:  # to the end of the enclosing box
            size = end - at
        if size < body - at or at + size > end:
            return
        yield kind, body, at + size
        at += size
    raise CorruptImage(f"more than {_MAX_BOXES} boxes in one container")


def _stated_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """The sizes a header states, where opening it would start a decoder (WebP) or where
    what is decoded can be larger than what is shown (HEIF, AVIF)."""
    if kind == "webp":
        return webp_size(data)
    if kind in ("heif", "avif"):
        size = isobmff_size(data)
        if size is None:
            raise CorruptImage("no image size (ispe) in the header")
        return size
    return None


def probe(data: bytes, limits: Limits) -> tuple[Probe, Image.Image]:
    """Check size, signature and header dimensions; return the lazily opened image."""
    check_size(len(data), limits)
    kind = sniff_kind(data[:SNIFF_BYTES])
    if kind is None or kind not in limits.kinds:
        refused = InvalidSignature()
        refused.received = describe_kind(data)
        raise refused
    if kind == "png" and data.find(b"IDAT", 0, PNG_MAX_HEAD_BYTES) < 0:
        # Pillow walks the chunks before the pixels one by one, in Python: millions of
        # tiny ones would cost seconds. Real files put their pixels far sooner.
        raise CorruptImage(f"no image data in the first {PNG_MAX_HEAD_BYTES // 2**20} MB")
    stated = _stated_size(data, kind)
    if stated is not None:
        check_dimensions(*stated, limits)
    image = open_header(data, kind, limits)
    check_dimensions(image.width, image.height, limits)
    return Probe(kind, image.width, image.height), image
