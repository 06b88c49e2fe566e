"""Metrics on tiny synthetic alphas whose scores can be worked out by hand.

The shared scene: a 10x10 image with a 4x4 subject at rows 2..5, cols 2..5
(16 pixels; its 1-pixel boundary ring has 12).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from alphacut.quality.metrics import (
    PRCurve,
    best_f,
    boundary,
    boundary_f_measure,
    diagonal_px,
    dilate,
    edge_band_mae,
    erode,
    gradient_error,
    iou,
    mae,
    max_f_measure,
    mean_curve,
    mse,
    pr_curve,
    sad,
    to_unit,
)


def square(shift: int = 0) -> np.ndarray:
    alpha = np.zeros((10, 10))
    alpha[2:6, 2 + shift : 6 + shift] = 1.0
    return alpha


EMPTY = np.zeros((10, 10))
GT = square()
SHIFTED = square(shift=1)


def brute_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    height, width = mask.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + height, dx : dx + width]
    return out


def test_perfect_prediction_scores_perfectly() -> None:
    assert mae(GT, GT) == 0.0
    assert iou(GT, GT) == 1.0
    assert boundary_f_measure(GT, GT, tolerance=0) == 1.0
    assert max_f_measure(GT, GT) == pytest.approx(1.0)
    assert edge_band_mae(GT, GT) == 0.0


def test_prediction_shifted_by_one_column() -> None:
    assert mae(SHIFTED, GT) == pytest.approx(8 / 100)
    assert iou(SHIFTED, GT) == pytest.approx(12 / 20)
    # Exact match: the rings share their top and bottom rows at cols 3..5 (6 of 12).
    assert boundary_f_measure(SHIFTED, GT, tolerance=0) == pytest.approx(0.5)
    assert boundary_f_measure(SHIFTED, GT, tolerance=1) == 1.0


def test_empty_prediction() -> None:
    assert mae(EMPTY, GT) == pytest.approx(16 / 100)
    assert iou(EMPTY, GT) == 0.0
    assert boundary_f_measure(EMPTY, GT, tolerance=3) == 0.0
    # Only threshold 0 predicts anything: precision 0.16 at recall 1.
    assert max_f_measure(EMPTY, GT) == pytest.approx(1.3 * 0.16 / (0.3 * 0.16 + 1))


def test_two_empty_masks_agree() -> None:
    assert iou(EMPTY, EMPTY) == 1.0
    assert boundary_f_measure(EMPTY, EMPTY) == 1.0
    assert math.isnan(edge_band_mae(EMPTY, EMPTY))


def test_half_alpha_everywhere() -> None:
    half = np.full((10, 10), 0.5)
    assert mae(half, GT) == 0.5
    assert iou(half, GT) == pytest.approx(16 / 100)
    assert iou(half, GT, threshold=0.6) == 0.0


@pytest.mark.parametrize(("band", "expected"), [(0, 12 / 12), (1, 16 / 36)])
def test_edge_band_mae_counts_only_the_band(band: int, expected: float) -> None:
    # band 0: the 12 ring pixels, all missed; band 1: rows/cols 1..6 (36 px), 16 missed.
    assert edge_band_mae(EMPTY, GT, band=band) == pytest.approx(expected)


def test_eight_bit_and_bool_alphas_read_as_unit() -> None:
    assert mae((SHIFTED * 255).astype(np.uint8), GT.astype(bool)) == pytest.approx(0.08)
    np.testing.assert_array_equal(to_unit(np.array([[0, 255]], np.uint8)), [[0.0, 1.0]])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        mae(GT, GT[:5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mae(GT * 255, GT)


def test_boundary_is_the_inner_ring_and_ignores_the_frame() -> None:
    ring = boundary(GT >= 0.5)
    assert ring.sum() == 12 and not ring[3:5, 3:5].any()
    assert not boundary(np.ones((4, 4), bool)).any()
    assert erode(np.ones((3, 3), bool), 1).all()


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8])
def test_dilate_matches_brute_force(radius: int) -> None:
    mask = np.random.default_rng(radius).random((13, 17)) > 0.93
    np.testing.assert_array_equal(dilate(mask, radius), brute_dilate(mask, radius))


def test_dilate_wider_than_the_image() -> None:
    mask = np.array([[False, True, False]])
    assert dilate(mask, 5).all()


def test_pr_curve_ends() -> None:
    curve = pr_curve(SHIFTED, GT)
    assert curve.precision.shape == curve.recall.shape == (256,)
    assert (curve.precision[0], curve.recall[0]) == (pytest.approx(0.16), 1.0)
    assert (curve.precision[255], curve.recall[255]) == (pytest.approx(12 / 16), 12 / 16)


def test_mean_curve_averages_images() -> None:
    one = PRCurve(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    zero = PRCurve(np.array([0.0, 0.0]), np.array([0.0, 0.0]))
    averaged = mean_curve([one, zero])
    np.testing.assert_array_equal(averaged.precision, [0.5, 0.0])
    assert best_f(averaged) == pytest.approx(0.5)


def test_tolerance_scales_with_the_diagonal() -> None:
    assert diagonal_px((300, 400), 0.01) == 5
    assert diagonal_px((10, 10), 0.008) == 1


# --- matting metrics ------------------------------------------------------------------


def test_sad_and_mse() -> None:
    gt = np.zeros((10, 100), np.uint8)
    pred = np.full((10, 100), 0.5)
    assert sad(pred, gt) == pytest.approx(0.5)  # 1000 px x 0.5 / 1000
    assert mse(pred, gt) == pytest.approx(0.25)
    assert sad(SHIFTED, GT) == pytest.approx(8 / 1000)
    assert mse(SHIFTED, GT) == pytest.approx(8 / 100)


def test_gradient_error_matches_the_2d_kernel_of_the_reference_code() -> None:
    # The Deep Image Matting / alphamatting.com kernel, built as the reference code does.
    sigma = 1.4
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    u = np.arange(-half, half + 1)
    g = np.exp(-u**2 / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    hx = g[:, None] * (-u * g / sigma**2)[None, :]
    hx /= np.sqrt((hx**2).sum())
    rng = np.random.default_rng(0)
    a, b = rng.random((40, 50)), rng.random((40, 50))

    def magnitude(x: np.ndarray) -> np.ndarray:
        found: np.ndarray = np.hypot(ndimage.convolve(x, hx, mode="nearest"),
                                     ndimage.convolve(x, hx.T, mode="nearest"))
        return found

    expected = ((magnitude(a) - magnitude(b)) ** 2).sum() / 1000
    assert half == 4
    assert gradient_error(a, b) == pytest.approx(expected, rel=1e-9)
    assert gradient_error(a, a) == 0.0


def test_gradient_error_sees_a_hardened_soft_edge() -> None:
    ramp = np.tile(np.clip((np.arange(40) - 12) / 16, 0, 1), (20, 1))
    step = (ramp >= 0.5).astype(np.float64)
    assert gradient_error(step, ramp) > gradient_error(ramp * 0.98, ramp) > 0
    assert gradient_error((ramp * 255).round().astype(np.uint8), ramp) < 1e-4
