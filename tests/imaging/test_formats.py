"""The formats beyond the RemBG contract's four: HEIF, AVIF, TIFF and GIF in (first frame
of an animation), AVIF and remove.bg's ZIP out. /rmbg still takes only its four."""

from __future__ import annotations

import dataclasses
import io
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from alphacut.cli.files import expand_inputs, plan_jobs
from alphacut.domain.options import OutputFormat
from alphacut.errors import (
    AlphacutError,
    BadRequest,
    CorruptImage,
    ImageTooTall,
    ImageTooWide,
    InvalidSignature,
)
from alphacut.imaging.decode import Decoded, decode
from alphacut.imaging.encode import EncodeSettings, encode
from alphacut.imaging.sniff import (
    ALL_KINDS,
    RMBG_KINDS,
    Limits,
    describe_kind,
    isobmff_size,
    probe,
    sniff_kind,
)
from tests.conftest import FIXTURES, encoded

FORMATS = FIXTURES / "images" / "formats"
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (20, 60, 200)
RMBG = Limits(kinds=RMBG_KINDS)


def heic(name: str = "tiny") -> bytes:
    return (FORMATS / f"{name}.heic").read_bytes()


def flat(colour: tuple[int, ...], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGBA" if len(colour) == 4 else "RGB", size, colour)


def paletted(colour: tuple[int, int, int]) -> Image.Image:
    return flat(colour).convert("P", palette=Image.Palette.ADAPTIVE)


def animation(fmt: str, **params: object) -> bytes:
    """Three flat frames, red first."""
    first, *rest = (flat(c) for c in (RED, GREEN, BLUE))
    return encoded(first, fmt, save_all=True, append_images=rest, **params)


def decoded(data: bytes, limits: Limits | None = None) -> Decoded:
    _, header = probe(data, limits or Limits())
    return decode(header)


def grey(image: Image.Image, xy: tuple[int, int]) -> int:
    value = image.getpixel(xy)
    assert isinstance(value, int)
    return value


def near(pixel: object, expected: tuple[int, ...], tolerance: int) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    return struct.pack(">I", 16 + 4 * len(compatible)) + b"ftyp" + major + bytes(4) + b"".join(
        compatible)


SAMPLES: dict[str, Callable[[], bytes]] = {
    "gif": lambda: encoded(paletted(RED), "GIF"),
    "tiff": lambda: encoded(flat(RED), "TIFF"),
    "avif": lambda: encoded(flat(RED), "AVIF", quality=90),
    "heif": heic,
}


# --- kinds and sizes, from the header ----------------------------------------------


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_new_kind_is_sniffed_with_its_size(kind: str) -> None:
    found, image = probe(SAMPLES[kind](), Limits())
    expected = (64, 48) if kind == "heif" else (40, 30)
    assert (found.kind, (found.width, found.height), image.size) == (kind, expected, expected)


def test_every_kind_is_taken_by_default_and_rmbg_takes_its_four() -> None:
    assert Limits().kinds == ALL_KINDS == RMBG_KINDS | set(SAMPLES)
    assert sorted(RMBG_KINDS) == ["bmp", "jpeg", "png", "webp"]


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_rmbg_kinds_refuse_each_new_kind_as_an_invalid_signature(kind: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        probe(SAMPLES[kind](), RMBG)
    assert caught.value.message == (
        "File does not appear to be a valid image (invalid file signature)")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP"])
def test_rmbg_kinds_still_take_the_contracts_four(fmt: str) -> None:
    assert probe(encoded(flat(RED), fmt), RMBG)[0].kind == fmt.lower()


@pytest.mark.parametrize(("head", "kind"), [
    (b"GIF87a" + bytes(10), "gif"), (b"GIF89a" + bytes(10), "gif"),
    (b"II*\0" + bytes(10), "tiff"), (b"MM\0*" + bytes(10), "tiff"),
    (ftyp(b"heic", b"mif1", b"heic"), "heif"), (ftyp(b"heix", b"mif1"), "heif"),
    (ftyp(b"hevc", b"msf1"), "heif"), (ftyp(b"mif1", b"heic", b"miaf"), "heif"),
    (ftyp(b"mif1"), "heif"),
    (ftyp(b"avif", b"mif1", b"miaf"), "avif"), (ftyp(b"avis", b"msf1"), "avif"),
    (ftyp(b"mif1", b"avif", b"miaf"), "avif"), (ftyp(b"msf1", b"avis"), "avif"),
    (ftyp(b"isom", b"mp41"), None), (ftyp(b"qt  "), None), (b"GIF88a" + bytes(10), None),
])
def test_the_kind_comes_from_the_signature_and_the_brands(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


@pytest.mark.parametrize(("data", "name"), [
    (ftyp(b"isom", b"iso2", b"mp41") + bytes(64), "mp4"), (ftyp(b"qt  ") + bytes(8), "mov"),
    (b"%PDF-1.7\n" + bytes(40), "pdf"), (b"PK\x03\x04" + bytes(40), "zip"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg'/>", "svg"),
    (b"RIFF\0\0\0\0AVI LIST", "avi"), (b"\x00\x01\x02\x03 plain bytes", "unknown"),
    (b"", "empty"), (b"GIF89a" + bytes(10), "gif"), (b"\xff\xd8\xff\xe0", "jpeg"),
])
def test_describe_kind_names_what_was_sent(data: bytes, name: str) -> None:
    assert describe_kind(data) == name


def test_describe_kind_names_every_image_kind() -> None:
    assert {describe_kind(make()) for make in SAMPLES.values()} == set(SAMPLES)


# --- first frame, modes, alpha -----------------------------------------------------


@pytest.mark.parametrize(("fmt", "params", "tolerance"), [
    ("GIF", {}, 0), ("WEBP", {"lossless": True}, 0), ("PNG", {}, 0), ("TIFF", {}, 0),
    ("AVIF", {"quality": 95}, 4),
])
def test_an_animation_or_pages_give_the_first_frame(fmt: str, params: dict[str, object],
                                                     tolerance: int) -> None:
    data = animation(fmt, **params)
    _, header = probe(data, Limits())
    assert getattr(header, "n_frames", 1) == 3
    result = decode(header)
    assert result.rgb.size == (40, 30) and result.alpha is None
    assert near(result.rgb.getpixel((20, 15)), RED, tolerance)


def test_only_the_first_frame_is_read() -> None:
    """A GIF cut inside its third frame still gives its first."""
    data = animation("GIF")
    third = data.rindex(b"\x2c\x00\x00")  # the last image descriptor
    assert decoded(data[:third + 12]).rgb.getpixel((0, 0)) == RED


def test_a_frame_moved_to_by_a_caller_goes_back_to_the_first() -> None:
    _, header = probe(animation("GIF"), Limits())
    header.seek(2)
    assert decode(header).rgb.getpixel((0, 0)) == RED


def test_gif_palette_transparency_is_alpha() -> None:
    image = paletted(RED)
    image.putpixel((3, 4), 255)
    result = decoded(encoded(image, "GIF", transparency=255))
    assert result.alpha is not None
    assert result.alpha.getpixel((3, 4)) == 0 and result.alpha.getpixel((20, 15)) == 255
    assert result.rgb.getpixel((20, 15)) == RED


def test_an_opaque_gif_has_no_alpha() -> None:
    assert decoded(SAMPLES["gif"]()).alpha is None


def _tiff_16bit() -> Image.Image:
    return Image.fromarray(np.full((30, 40), 32768, dtype=np.uint16))


@pytest.mark.parametrize(("image", "rgb", "alpha"), [
    (_tiff_16bit(), (128, 128, 128), None),
    (flat(RED).convert("CMYK"), RED, None),
    (Image.new("LA", (40, 30), (90, 128)), (90, 90, 90), 128),
    (flat((*RED, 64)), RED, 64),
    (Image.new("1", (40, 30), 1), (255, 255, 255), None),
    (Image.new("F", (40, 30), 0.5), (128, 128, 128), None),
    (flat(RED).convert("YCbCr"), RED, None),
], ids=["I;16", "CMYK", "LA", "RGBA", "1", "F", "YCbCr"])
def test_tiff_modes(image: Image.Image, rgb: tuple[int, int, int], alpha: int | None) -> None:
    result = decoded(encoded(image, "TIFF"))
    assert near(result.rgb.getpixel((20, 15)), rgb, 3)
    assert (None if result.alpha is None else grey(result.alpha, (20, 15))) == alpha


def test_compressed_tiff() -> None:
    for compression in ("tiff_lzw", "tiff_deflate", "packbits", "jpeg"):
        assert near(decoded(encoded(flat(RED), "TIFF", compression=compression)).rgb
                    .getpixel((20, 15)), RED, 3)


def test_heic_decodes_its_subject_and_background() -> None:
    result = decoded(heic())
    assert result.rgb.size == (64, 48) and result.alpha is None
    assert near(result.rgb.getpixel((32, 24)), RED, 4)
    assert near(result.rgb.getpixel((4, 4)), BLUE, 4)


def test_ten_bit_heic_with_alpha() -> None:
    found, header = probe(heic("tiny-10bit-alpha"), Limits())
    assert (found.kind, found.width, found.height) == ("heif", 64, 48)
    assert header.info.get("bit_depth") == 10
    result = decode(header)
    assert result.rgb.mode == "RGB" and near(result.rgb.getpixel((32, 24)), RED, 4)
    assert result.alpha is not None
    assert result.alpha.getpixel((32, 24)) == 255 and result.alpha.getpixel((4, 4)) == 0


def test_avif_alpha_comes_through() -> None:
    image = flat((*RED, 255))
    image.paste((0, 0, 0, 0), (0, 0, 10, 30))
    result = decoded(encoded(image, "AVIF", quality=90))
    assert result.alpha is not None
    assert grey(result.alpha, (2, 15)) <= 3 and grey(result.alpha, (30, 15)) >= 252
    assert near(result.rgb.getpixel((30, 15)), RED, 4)


def test_an_avif_sequence_without_a_timescale_is_corrupt() -> None:
    """Pillow's reader divides by it (a ZeroDivisionError of its own)."""
    data = animation("AVIF").replace(b"mdhd", b"mdhx")
    with pytest.raises(CorruptImage):
        decoded(data)


# --- bombs: refused from the header's dimensions, before a pixel is decoded ---------


def _patched(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def _ispe_at(data: bytes) -> int:
    return data.index(b"ispe") + 8  # after the type and the FullBox's version and flags


def test_a_gif_claiming_a_huge_screen_is_refused() -> None:
    data = _patched(SAMPLES["gif"](), 6, "<HH", 60000, 30)
    with pytest.raises(ImageTooWide) as caught:
        probe(data, Limits())
    assert caught.value.message == (
        "Image width (60000px) exceeds the maximum allowed width of 10000px.")


def test_a_tiff_claiming_a_huge_page_is_refused() -> None:
    data = encoded(flat(RED), "TIFF")
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    entries = {struct.unpack_from("<H", data, ifd + 2 + 12 * i)[0]: ifd + 2 + 12 * i
               for i in range(count)}
    length = entries[257]  # ImageLength, a SHORT or a LONG
    (kind,) = struct.unpack_from("<H", data, length + 2)
    bomb = _patched(data, length + 8, "<H" if kind == 3 else "<I", 60000)
    with pytest.raises(ImageTooTall):
        probe(bomb, Limits())


@pytest.mark.parametrize("make", [heic, SAMPLES["avif"]], ids=["heif", "avif"])
def test_an_isobmff_claiming_a_huge_coded_size_is_refused(make: Callable[[], bytes]) -> None:
    """libheif would stop at its own limit (a gigapixel); ours is met first, from the
    ``ispe`` box, before libheif or libavif is called."""
    data = _patched(make(), _ispe_at(make()), ">II", 60000, 60000)
    with pytest.raises(ImageTooWide) as caught:
        probe(data, Limits())
    assert caught.value.message == (
        "Image width (60000px) exceeds the maximum allowed width of 10000px.")


def test_a_heic_decoding_more_than_it_shows_is_refused_by_its_coded_size() -> None:
    """A crop (``clap``) shows 64x48 of whatever is coded: the coded size counts."""
    data = _patched(heic(), _ispe_at(heic()), ">II", 64, 12000)
    assert isobmff_size(data) == (64, 12000)
    with pytest.raises(ImageTooTall):
        probe(data, Limits())


def test_a_heic_without_its_size_is_corrupt() -> None:
    data = heic().replace(b"ispe", b"ispx")
    with pytest.raises(CorruptImage):
        probe(data, Limits())


def test_the_largest_item_size_counts() -> None:
    data = heic()
    assert isobmff_size(data) == (64, 64)  # coded 64x64, cropped to 64x48 by clap


# --- out: AVIF and ZIP --------------------------------------------------------------

SETTINGS = EncodeSettings()


def cutout() -> np.ndarray:
    """RGBA whose colour under the transparent half is kept (green, not black)."""
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., :3] = GREEN
    rgba[:, 20:, :3] = RED
    rgba[:, 20:, 3] = 255
    rgba[:, 18:20, 3] = 128
    return rgba


def test_avif_keeps_alpha() -> None:
    pixels = cutout()
    back = np.asarray(Image.open(io.BytesIO(encode(pixels, OutputFormat.AVIF, SETTINGS))))
    assert back.shape == (30, 40, 4)
    assert np.abs(back[..., 3].astype(int) - pixels[..., 3]).max() <= 8
    assert near(tuple(int(v) for v in back[15, 30, :3]), RED, 6)


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 3)])
def test_avif_of_a_mask_or_an_opaque_result(shape: tuple[int, ...]) -> None:
    pixels = np.full(shape, 200, np.uint8)
    back = Image.open(io.BytesIO(encode(pixels, OutputFormat.AVIF, SETTINGS)))
    assert back.size == (40, 30)
    assert near(back.convert("RGB").getpixel((20, 15)), (200, 200, 200), 3)


def _members(data: bytes) -> dict[str, tuple[zipfile.ZipInfo, Image.Image]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: (info, Image.open(io.BytesIO(archive.read(info))))
                for info in archive.infolist()}


def test_zip_holds_the_colour_and_the_matte() -> None:
    pixels = cutout()
    data = encode(pixels, OutputFormat.ZIP, SETTINGS)
    members = _members(data)
    assert list(members) == ["color.jpg", "alpha.png"]
    (color_info, color), (alpha_info, alpha) = members["color.jpg"], members["alpha.png"]
    assert (color.format, color.mode, color.size) == ("JPEG", "RGB", (40, 30))
    assert (alpha.format, alpha.mode, alpha.size) == ("PNG", "L", (40, 30))
    assert np.array_equal(np.asarray(alpha), pixels[..., 3])
    assert near(color.getpixel((5, 15)), GREEN, 6)  # kept under transparency
    assert near(color.getpixel((35, 15)), RED, 6)
    for info in (color_info, alpha_info):
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)


def test_zip_bytes_are_the_same_for_the_same_pixels() -> None:
    first = encode(cutout(), OutputFormat.ZIP, SETTINGS)
    time.sleep(2.1)  # past a zip timestamp's 2 s resolution
    assert encode(cutout(), OutputFormat.ZIP, SETTINGS) == first


def test_zip_of_a_mask_is_the_mask_twice() -> None:
    mask = cutout()[..., 3].copy()
    members = _members(encode(mask, OutputFormat.ZIP, SETTINGS))
    color, alpha = members["color.jpg"][1], members["alpha.png"][1]
    assert color.mode == "RGB" and np.array_equal(np.asarray(alpha), mask)
    assert near(color.getpixel((35, 15)), (255, 255, 255), 3)
    assert near(color.getpixel((5, 15)), (0, 0, 0), 3)


def test_zip_of_an_opaque_result_has_a_white_matte() -> None:
    members = _members(encode(cutout()[..., :3].copy(), OutputFormat.ZIP, SETTINGS))
    assert np.asarray(members["alpha.png"][1]).min() == 255


# --- the CLI's inputs and outputs ---------------------------------------------------


def test_a_folder_walk_takes_every_kind(tmp_path: Path) -> None:
    names = ["a.heic", "b.HEIF", "c.avif", "d.tif", "e.tiff", "f.gif", "g.png", "h.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    found = [rel.name for _, rel in expand_inputs([str(tmp_path)])]
    assert found == names[:-1]


@pytest.mark.parametrize("fmt", [OutputFormat.AVIF, OutputFormat.ZIP])
def test_outputs_are_named_by_their_format(tmp_path: Path, fmt: OutputFormat) -> None:
    source = tmp_path / "photo.heic"
    jobs = plan_jobs([(source, Path("photo.heic"))], None, fmt.extension)
    assert jobs[0].target == tmp_path / f"photo.nobg.{fmt.value}"


# --- hostile files: our errors only, and quickly -------------------------------------

FUZZ_SEEDS = {
    "heif": heic(), "heif-10bit-alpha": heic("tiny-10bit-alpha"),
    "avif": SAMPLES["avif"](), "avif-alpha": encoded(flat((*RED, 100)), "AVIF"),
    "avif-sequence": animation("AVIF"),
    "tiff": SAMPLES["tiff"](), "tiff-lzw": encoded(flat(RED), "TIFF", compression="tiff_lzw"),
    "tiff-jpeg": encoded(flat(RED), "TIFF", compression="jpeg"),
    "tiff-16bit": encoded(_tiff_16bit(), "TIFF"), "tiff-pages": animation("TIFF"),
    "tiff-big-endian": b"MM\0*" + encoded(flat(RED), "TIFF")[4:],
    "gif": SAMPLES["gif"](), "gif-animated": animation("GIF"),
    "gif-transparent": encoded(paletted(RED), "GIF", transparency=0),
    "webp-animated": animation("WEBP"), "apng": animation("PNG"),
}


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(FUZZ_SEEDS)), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=6),
       truncate=st.booleans())
def test_hostile_files_of_every_new_kind_raise_only_our_errors(
        kind: str, cut: float, flips: list[tuple[int, int]], truncate: bool) -> None:
    """Truncated files and headers with lying bytes: decoded, or one of our errors."""
    data = bytearray(FUZZ_SEEDS[kind])
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    if truncate:
        data = data[: max(1, int(len(data) * cut))]
    started = time.perf_counter()
    try:
        decoded(bytes(data), dataclasses.replace(Limits(), max_side=4096))
    except AlphacutError as err:
        assert isinstance(err, BadRequest)
    assert time.perf_counter() - started < 5
