"""Edge colour error on tiny scenes whose scores can be worked out by hand.

The scene: an 8x8 image, a red subject in columns 0..2 (alpha 1), a half-covered
column 3 (alpha 0.5, its input colour half red, half blue) and a blue background
in columns 4..7. The ground truth's boundary (alpha >= 0.5) is column 3, so a
band of 1 px covers columns 2..4: 24 pixels, of which column 3 is the only soft
one. The true background is blue (0, 0, 200), so K = (255, 255, 55).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from alphacut.quality.metrics import (
    MID_GREY,
    contrasting_colour,
    edge_band,
    edge_colour_error,
    reference_foreground,
)

RED = np.array([200.0, 0.0, 0.0])
BLUE = np.array([0.0, 0.0, 200.0])
MIXED = (RED + BLUE) / 2


def scene() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((8, 8))
    gt[:, :3] = 1.0
    gt[:, 3] = 0.5
    image = np.empty((8, 8, 3))
    image[:, :3], image[:, 3], image[:, 4:] = RED, MIXED, BLUE
    return gt, image.astype(np.uint8)


def test_contrasting_colour_is_the_inverse_of_the_mean_background() -> None:
    gt, image = scene()
    np.testing.assert_array_equal(contrasting_colour(image, gt), [255, 255, 55])
    np.testing.assert_array_equal(contrasting_colour(image, np.ones((8, 8))), MID_GREY)


def test_reference_foreground_is_the_nearest_opaque_colour() -> None:
    gt = np.zeros((5, 7))
    gt[2, 0], gt[2, 6] = 1.0, 1.0
    image = np.zeros((5, 7, 3), np.uint8)
    image[2, 0], image[2, 6] = (10, 20, 30), (40, 50, 60)
    reference = reference_foreground(image, gt)
    assert reference is not None
    np.testing.assert_array_equal(reference[2, 2], [10, 20, 30])  # 2 px left, 4 px right
    np.testing.assert_array_equal(reference[0, 5], [40, 50, 60])  # sqrt(5) beats sqrt(29)
    assert reference_foreground(image, np.full((5, 7), 0.9)) is None


def test_true_foreground_colours_score_zero() -> None:
    gt, image = scene()
    clean = image.copy()
    clean[:, 3] = RED
    assert edge_colour_error(gt, clean, image, gt, band=1) == 0.0


def test_background_tinted_edges_score_worse_than_foreground_colours() -> None:
    gt, image = scene()
    # The input's own colours (what rembg returns): column 3 composites as 0.5 * MIXED
    # instead of 0.5 * RED, off by (50, 0, 50): 100/3 per pixel over 8 of 24 band pixels.
    assert edge_colour_error(gt, image, image, gt, band=1) == pytest.approx(100 / 3 / 255 / 3)
    clean = image.copy()
    clean[:, 3] = RED
    assert edge_colour_error(gt, clean, image, gt, band=1) < edge_colour_error(
        gt, image, image, gt, band=1)


def test_a_wrong_alpha_shows_against_the_contrasting_colour() -> None:
    gt, image = scene()
    pred = gt.copy()
    pred[:, 4] = 1.0  # one background column kept, in its blue
    # Column 4: C_pred = BLUE, C_ref = K = (255, 255, 55): off by (255, 255, 145).
    expected = (255 + 255 + 145) / 3 / 255 / 3
    clean = image.copy()
    clean[:, 3] = RED
    assert edge_colour_error(pred, clean, image, gt, band=1) == pytest.approx(expected)


def test_the_band_is_the_edge_mae_band() -> None:
    gt, _ = scene()
    assert edge_band(gt, 1)[:, 2:5].all() and not edge_band(gt, 1)[:, [0, 1, 5, 6, 7]].any()
    assert edge_band(gt).sum() == 8 * 3  # 1% of the 11.3 px diagonal rounds up to 1 px


def test_undefined_without_an_edge_or_a_solid_subject() -> None:
    _, image = scene()
    assert math.isnan(edge_colour_error(np.zeros((8, 8)), image, image, np.zeros((8, 8))))
    assert math.isnan(edge_colour_error(np.ones((8, 8)), image, image, np.full((8, 8), 0.6)))


def test_colour_arrays_must_match_the_alpha() -> None:
    gt, image = scene()
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        edge_colour_error(gt, image[:4], image, gt)
