"""Signature, size and dimension guards run before any pixel is decoded."""

from __future__ import annotations

import pytest
from PIL import Image

from alphacut.errors import (
    AlphacutError,
    EmptyFile,
    FileTooLarge,
    ImageTooTall,
    ImageTooWide,
    InvalidSignature,
    UnsupportedExtension,
)
from alphacut.imaging.sniff import RMBG_KINDS, Limits, check_extension, probe, sniff_kind
from tests.conftest import encoded, png_claiming

SMALL = Image.new("RGB", (8, 6), (10, 20, 30))


@pytest.mark.parametrize(("fmt", "kind"), [
    ("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"),
])
def test_kind_comes_from_the_signature(fmt: str, kind: str) -> None:
    found, image = probe(encoded(SMALL, fmt), Limits())
    assert (found.kind, found.width, found.height) == (kind, 8, 6)
    assert image.size == (8, 6)


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 40, b"MZ\x90\x00" * 20, b"hello world" * 5])
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidSignature) as caught:
        probe(data, Limits(kinds=RMBG_KINDS))
    assert caught.value.message == (
        "File does not appear to be a valid image (invalid file signature)")


def test_a_gif_is_not_one_of_the_rmbg_contracts_kinds() -> None:
    gif = encoded(SMALL, "GIF")
    assert sniff_kind(gif) == "gif"
    with pytest.raises(InvalidSignature):
        probe(gif, Limits(kinds=RMBG_KINDS))


def test_empty_file() -> None:
    with pytest.raises(EmptyFile) as caught:
        probe(b"", Limits())
    assert caught.value.message == "Uploaded file is empty (0 bytes)."


def test_size_limit_message_uses_the_real_size() -> None:
    size = int(55.2 * 1024 * 1024)
    with pytest.raises(FileTooLarge) as caught:
        probe(b"\x89PNG\r\n\x1a\n" + bytes(size - 8), Limits())
    assert caught.value.message == (
        "File size (55.2 MB) exceeds the maximum allowed size of 50 MB.")


def test_too_wide() -> None:
    with pytest.raises(ImageTooWide) as caught:
        probe(png_claiming(12000, 10), Limits())
    assert caught.value.message == (
        "Image width (12000px) exceeds the maximum allowed width of 10000px.")


def test_too_tall() -> None:
    with pytest.raises(ImageTooTall) as caught:
        probe(png_claiming(10, 15000), Limits())
    assert caught.value.message == (
        "Image height (15000px) exceeds the maximum allowed height of 10000px.")


def test_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(ImageTooWide):
        probe(png_claiming(60000, 60000), Limits())


def test_truncated_image_is_a_clear_400() -> None:
    data = encoded(Image.new("RGB", (64, 64)), "PNG")[:40]
    with pytest.raises(AlphacutError) as caught:
        _, image = probe(data, Limits())
        image.load()
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["a.png", "a.JPG", "a.jpeg", "x.webp", "y.bmp", "noext"])
def test_allowed_names(name: str) -> None:
    check_extension(name)


def test_extension_not_allowed() -> None:
    with pytest.raises(UnsupportedExtension) as caught:
        check_extension("virus.exe")
    assert caught.value.message == (
        "File type '.exe' is not supported. Allowed formats: webp, bmp, png, jpg, jpeg")
