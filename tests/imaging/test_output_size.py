"""The result's size is known before any pixel work: it must be Pillow's, to the pixel."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image

from alphacut.domain.options import RemovalOptions
from alphacut.errors import OutputTooLarge, OutputTooTall, OutputTooWide
from alphacut.imaging.sniff import Limits, check_output
from alphacut.imaging.transform import output_size, rotate, rotated_size

SIZES = [(1, 1), (2, 1), (7, 3), (64, 48), (33, 100), (101, 99)]
ANGLES = [0, 1, 30, 45, 89.5, 90, 135, 180, 200.25, 270, 300, 359.9, -45, -90, -360, 360]


@pytest.mark.parametrize(("size", "angle", "expand"),
                         list(itertools.product(SIZES, ANGLES, (True, False))))
def test_rotated_size_is_pillows(size: tuple[int, int], angle: float, expand: bool) -> None:
    rotated = rotate(Image.new("L", size), angle, expand)
    assert rotated_size(*size, angle, expand) == rotated.size


def test_output_size_resizes_then_rotates() -> None:
    assert output_size(1, 10000, RemovalOptions(width=10000)) == (10000, 100_000_000)
    square = RemovalOptions(width=10000, height=10000, exact_resize=True, angle=45)
    assert output_size(1, 1, square) == rotated_size(10000, 10000, 45, True)
    assert output_size(1, 1, square)[0] > 14000
    assert output_size(640, 480, RemovalOptions(width=320, angle=90)) == (240, 320)


def test_check_output_bounds_each_side_then_the_pixels() -> None:
    limits = Limits(max_side=100, max_output_pixels=5000)
    check_output(100, 50, limits)
    with pytest.raises(OutputTooWide, match=r"^Output width \(101px\) exceeds the maximum "
                                            r"allowed width of 100px\.$"):
        check_output(101, 1, limits)
    with pytest.raises(OutputTooTall, match=r"^Output height \(26667px\) exceeds the maximum "
                                            r"allowed height of 100px\.$"):
        check_output(4, 26667, limits)
    with pytest.raises(OutputTooLarge, match=r"^Output size \(100x51 = 5100px\) exceeds the "
                                             r"maximum allowed of 5000px\.$"):
        check_output(100, 51, limits)
