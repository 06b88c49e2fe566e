"""Every mode a user sends becomes RGB plus the input's own alpha."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alphacut.errors import CorruptImage
from alphacut.imaging.decode import decode
from alphacut.imaging.sniff import Limits, probe
from tests.conftest import encoded


def decoded_from(image: Image.Image, fmt: str = "PNG", **params: object):  # type: ignore[no-untyped-def]
    _, header = probe(encoded(image, fmt, **params), Limits())
    return decode(header)


@pytest.mark.parametrize("mode", ["L", "RGB", "1", "P"])
def test_opaque_modes(mode: str) -> None:
    result = decoded_from(Image.new("RGB", (5, 4), (200, 100, 50)).convert(mode))
    assert result.rgb.mode == "RGB" and result.rgb.size == (5, 4)
    assert result.alpha is None


def test_rgba_keeps_its_alpha() -> None:
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    image.putpixel((0, 0), (255, 0, 0, 0))
    result = decoded_from(image)
    assert result.alpha is not None
    assert result.alpha.getpixel((0, 0)) == 0 and result.alpha.getpixel((3, 3)) == 255


def test_opaque_rgba_has_no_alpha_to_keep() -> None:
    assert decoded_from(Image.new("RGBA", (4, 4), (1, 2, 3, 255))).alpha is None


def test_la_and_palette_transparency() -> None:
    la = Image.new("LA", (4, 4), (128, 255))
    la.putpixel((1, 1), (128, 0))
    assert decoded_from(la).alpha.getpixel((1, 1)) == 0  # type: ignore[union-attr]
    palette = Image.new("P", (4, 4), 1)
    palette.putpixel((2, 2), 0)
    result = decoded_from(palette, transparency=0)
    assert result.alpha is not None and result.alpha.getpixel((2, 2)) == 0


def test_cmyk_jpeg() -> None:
    result = decoded_from(Image.new("CMYK", (6, 6), (0, 255, 255, 0)), "JPEG")
    r, g, b = result.rgb.getpixel((3, 3))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    values = np.full((4, 4), 32768, dtype=np.uint16)
    image = Image.fromarray(values)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    _, header = probe(buffer.getvalue(), Limits())
    assert header.mode.startswith("I")
    assert decode(header).rgb.getpixel((0, 0)) == (128, 128, 128)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    result = decoded_from(image, "JPEG", exif=exif.tobytes(), quality=95)
    assert result.rgb.size == (20, 40)
    assert result.rgb.getpixel((10, 5))[0] > 200  # type: ignore[index]


def test_truncated_pixels_are_a_corrupt_image() -> None:
    data = encoded(Image.effect_noise((256, 256), 50).convert("RGB"), "PNG")
    _, header = probe(data[: len(data) // 2], Limits())
    with pytest.raises(CorruptImage) as caught:
        decode(header)
    assert caught.value.status == 400
