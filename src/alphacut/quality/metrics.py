"""Matting and segmentation quality metrics: pure functions on alpha arrays.

Every metric takes a prediction and a ground truth of the same (height, width)
shape. Alphas may be given as float in [0, 1], as 8-bit (0..255) or as bool;
:func:`to_unit` says exactly how each is read. Boundaries are 1-pixel internal
morphological gradients (mask minus its 3x3 erosion); the image frame is not a
boundary, so a subject cut by the frame is not penalised there. Tolerances use
square (Chebyshev) neighbourhoods: "within t px" means at most t pixels away
along each axis.

SAD, MSE and the gradient error are the matting benchmarks' metrics (Rhemann et al.,
CVPR 2009; the Deep Image Matting evaluation code), computed over the whole image:
our data sets have no trimap, so they compare methods with each other, not with
published (trimap-restricted) numbers.

:func:`edge_colour_error` also looks at colour: how the cut-out looks when it is
composited on a contrasting background (docs/quality.md defines it in full).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Array = npt.NDArray[Any]
Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

STEPS = 256
"""Thresholds of a precision/recall curve: alpha >= k/255 for k in 0..255."""
F_BETA2 = 0.3
"""beta^2 of the salient-object F-measure: precision weighs more than recall."""
BOUNDARY_TOLERANCE = 0.008
"""Default boundary tolerance, as a fraction of the image diagonal."""
EDGE_BAND = 0.01
"""Default half-width of the edge band, as a fraction of the image diagonal."""
TRUE_BACKGROUND = 0.05
"""Ground-truth alpha below which an input pixel shows pure background."""
TRUE_FOREGROUND = 0.95
"""Ground-truth alpha at or above which an input pixel shows pure subject colour."""
MID_GREY = (128.0, 128.0, 128.0)
"""The contrasting colour when the ground truth has no background pixel."""
GRADIENT_SIGMA = 1.4
"""sigma of the Gaussian derivative filters of the gradient error (Rhemann et al.)."""


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall at each of the :data:`STEPS` thresholds, ascending."""

    precision: Floats
    recall: Floats


def to_unit(alpha: Array) -> Floats:
    """float64 alpha in [0, 1]: uint8 is divided by 255, bool is 0/1, floats are kept."""
    array = np.asarray(alpha)
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    unit = array.astype(np.float64)
    if unit.size and (unit.min() < 0.0 or unit.max() > 1.0):
        raise ValueError("float alpha must lie in [0, 1]; pass 8-bit alpha as uint8")
    return unit


def _pair(pred: Array, gt: Array) -> tuple[Floats, Floats]:
    p, g = to_unit(pred), to_unit(gt)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"need two 2-D alphas of one shape, got {p.shape} and {g.shape}")
    return p, g


def mae(pred: Array, gt: Array) -> float:
    """Mean absolute error of the alphas."""
    p, g = _pair(pred, gt)
    return float(np.abs(p - g).mean())


def iou(pred: Array, gt: Array, threshold: float = 0.5) -> float:
    """Intersection over union of (alpha >= threshold); two empty masks agree (1.0)."""
    p, g = _pair(pred, gt)
    a, b = p >= threshold, g >= threshold
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def sad(pred: Array, gt: Array) -> float:
    """Sum of absolute differences of the alphas, in thousands (the papers' unit)."""
    p, g = _pair(pred, gt)
    return float(np.abs(p - g).sum() / 1000.0)


def mse(pred: Array, gt: Array) -> float:
    """Mean squared error of the alphas."""
    p, g = _pair(pred, gt)
    return float(np.square(p - g).mean())


# --- gradient error ------------------------------------------------------------------


@functools.cache
def _gaussian_derivative(sigma: float) -> tuple[Floats, Floats]:
    """The separable parts of the reference code's x-derivative kernel
    ``hx[i, j] = G(i) G'(j)``, scaled so that sum(hx^2) = 1: (column part, row part).

    The half-size is where the Gaussian, scaled by sqrt(2 pi) sigma, falls to 1%
    (4 px at sigma 1.4), as in the reference code.
    """
    epsilon = 1e-2
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma
                                                       * epsilon)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-u**2 / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    dgauss = -u * gauss / sigma**2
    norm = math.sqrt(float((gauss**2).sum() * (dgauss**2).sum()))
    return gauss, dgauss / norm


def gradient_magnitude(alpha: Floats, sigma: float = GRADIENT_SIGMA) -> Floats:
    """|grad alpha| by Gaussian derivative filters (convolution, replicated borders)."""
    smooth, derive = _gaussian_derivative(sigma)
    # Separable, so 4 one-dimensional passes instead of two 9x9 ones; convolve1d flips
    # the kernel as the reference code's convolution does (the sign cancels in |grad|).
    gx = ndimage.convolve1d(ndimage.convolve1d(alpha, smooth, axis=0, mode="nearest"),
                            derive, axis=1, mode="nearest")
    gy = ndimage.convolve1d(ndimage.convolve1d(alpha, smooth, axis=1, mode="nearest"),
                            derive, axis=0, mode="nearest")
    magnitude: Floats = np.hypot(gx, gy)
    return magnitude


def gradient_error(pred: Array, gt: Array, sigma: float = GRADIENT_SIGMA) -> float:
    """Sum over the image of (|grad pred| - |grad gt|)^2, in thousands: where a soft edge
    is made hard, or a hard one blurred, the gradients differ."""
    p, g = _pair(pred, gt)
    difference = gradient_magnitude(p, sigma) - gradient_magnitude(g, sigma)
    return float(np.square(difference).sum() / 1000.0)


# --- morphology ------------------------------------------------------------------


def _window_any(mask: Mask, radius: int, axis: int) -> Mask:
    """True where any pixel within ``radius`` along ``axis`` is True (outside = False).

    A sparse table: spans double each pass, so a window costs log2(2r+1) passes.
    """
    if radius == 0:
        return mask
    moved = np.moveaxis(mask, axis, -1)
    length, width = moved.shape[-1], 2 * radius + 1
    table = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(radius, radius)])
    span = 1
    while span * 2 <= width:
        table = table[..., :-span] | table[..., span:]
        span *= 2
    # table[i] covers [i, i + span); two overlapping spans cover the whole window.
    covered = table[..., :length] | table[..., width - span : width - span + length]
    return np.moveaxis(covered, -1, axis)


def dilate(mask: Mask, radius: int) -> Mask:
    """Dilation by a (2r+1) x (2r+1) square; pixels outside the image count as False."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return _window_any(_window_any(mask, radius, 0), radius, 1)


def erode(mask: Mask, radius: int) -> Mask:
    """Erosion by a square; pixels outside the image count as True (no frame edge)."""
    return ~dilate(~mask, radius)


def boundary(mask: Mask) -> Mask:
    """The 1-pixel internal morphological gradient: mask pixels with any of their
    8 neighbours outside the mask."""
    return mask & ~erode(mask, 1)


def diagonal_px(shape: tuple[int, ...], fraction: float) -> int:
    """``fraction`` of the image diagonal in whole pixels (rounded up, at least 1)."""
    height, width = shape[:2]
    return max(1, math.ceil(fraction * math.hypot(height, width)))


# --- boundary and edge metrics ------------------------------------------------------


def boundary_f_measure(
    pred: Array, gt: Array, tolerance: int | None = None, threshold: float = 0.5
) -> float:
    """F1 of boundary pixels matched within ``tolerance`` px.

    The default tolerance is 0.8% of the diagonal (rounded up). No boundary on
    either side scores 1.0; a boundary on one side only scores 0.0.
    """
    p, g = _pair(pred, gt)
    tol = diagonal_px(p.shape, BOUNDARY_TOLERANCE) if tolerance is None else tolerance
    pb, gb = boundary(p >= threshold), boundary(g >= threshold)
    n_pred, n_gt = int(pb.sum()), int(gb.sum())
    if n_pred == 0 or n_gt == 0:
        return 1.0 if n_pred == n_gt else 0.0
    precision = int((pb & dilate(gb, tol)).sum()) / n_pred
    recall = int((gb & dilate(pb, tol)).sum()) / n_gt
    return _f_beta(precision, recall, 1.0)


def edge_band_mae(pred: Array, gt: Array, band: int | None = None) -> float:
    """MAE inside the band of ``band`` px around the ground-truth boundary.

    The default half-width is 1% of the diagonal (rounded up). This is where
    matting quality shows; whole-image MAE is dominated by easy flat areas.
    NaN when the ground truth has no boundary (all subject or all background).
    """
    p, g = _pair(pred, gt)
    zone = edge_band(g, band)
    if not zone.any():
        return math.nan
    return float(np.abs(p[zone] - g[zone]).mean())


def edge_band(gt: Array, band: int | None = None) -> Mask:
    """Pixels within ``band`` px of the ground truth's boundary (default: 1% of the
    diagonal, rounded up); the zone of :func:`edge_band_mae` and :func:`edge_colour_error`."""
    g = to_unit(gt)
    width = diagonal_px(g.shape, EDGE_BAND) if band is None else band
    return dilate(boundary(g >= 0.5), width)


# --- colour at the edges ------------------------------------------------------------------


def _rgb(image: Array, shape: tuple[int, ...], what: str) -> Floats:
    rgb = np.asarray(image)
    if rgb.shape != (*shape, 3):
        raise ValueError(f"{what} must be (height, width, 3) matching the alpha {shape}, "
                         f"got {rgb.shape}")
    return rgb.astype(np.float64)


def contrasting_colour(image: Array, gt: Array) -> Floats:
    """255 minus the mean RGB of the input's true-background pixels (gt alpha < 0.05);
    mid-grey when there are none."""
    g = to_unit(gt)
    background = _rgb(image, g.shape, "image")[g < TRUE_BACKGROUND]
    if background.size == 0:
        return np.asarray(MID_GREY)
    mean: Floats = background.mean(axis=0)
    return 255.0 - mean


def reference_foreground(image: Array, gt: Array) -> Floats | None:
    """Every pixel's subject colour: the input RGB of the nearest pixel (Euclidean) whose
    ground-truth alpha is at least 0.95. None when no pixel is that opaque."""
    g = to_unit(gt)
    rgb = _rgb(image, g.shape, "image")
    opaque = g >= TRUE_FOREGROUND
    if not opaque.any():
        return None
    # For each pixel, the indices of the nearest zero of the input: the nearest opaque pixel.
    rows, cols = ndimage.distance_transform_edt(~opaque, return_distances=False,
                                                return_indices=True)
    found: Floats = rgb[rows, cols]
    return found


def edge_colour_error(
    pred_alpha: Array, pred_rgb: Array, image: Array, gt: Array, band: int | None = None
) -> float:
    """Mean |C_pred - C_ref| / 255 over the 3 channels and the edge band.

    Both composites are on K, the :func:`contrasting_colour`:
    ``C_ref = gt * F_ref + (1 - gt) * K`` with F_ref the :func:`reference_foreground`, and
    ``C_pred = alpha * F_pred + (1 - alpha) * K`` with F_pred the cut-out's own RGB (what a
    client composites). Background colour left in the edges, or a wrong alpha, shows up as
    a difference. NaN when the ground truth has no boundary or no opaque pixel.
    """
    p, g = _pair(pred_alpha, gt)
    zone = edge_band(g, band)
    reference = reference_foreground(image, g)
    if reference is None or not zone.any():
        return math.nan
    colour = _rgb(pred_rgb, g.shape, "pred_rgb")[zone]
    key = contrasting_colour(image, g)
    a, t = p[zone][:, np.newaxis], g[zone][:, np.newaxis]
    predicted = a * colour + (1.0 - a) * key
    expected = t * reference[zone] + (1.0 - t) * key
    return float(np.abs(predicted - expected).mean() / 255.0)


# --- F-measure over thresholds ---------------------------------------------------------


def pr_curve(pred: Array, gt: Array) -> PRCurve:
    """Precision and recall of (alpha >= k/255) against (gt >= 0.5) for k in 0..255.

    Nothing predicted counts as precision 0; an empty ground truth as recall 0.
    """
    p, g = _pair(pred, gt)
    levels = np.rint(p * (STEPS - 1)).astype(np.intp).ravel()
    truth = (g >= 0.5).ravel()
    # counts[k] = pixels at level k; reversed cumsum = pixels at level >= k.
    fg = np.bincount(levels[truth], minlength=STEPS)[::-1].cumsum()[::-1]
    bg = np.bincount(levels[~truth], minlength=STEPS)[::-1].cumsum()[::-1]
    tp = fg.astype(np.float64)
    precision = tp / np.maximum(fg + bg, 1)
    recall = tp / max(int(truth.sum()), 1)
    return PRCurve(precision, recall)


def _f_beta(precision: float, recall: float, beta2: float) -> float:
    denominator = beta2 * precision + recall
    return 0.0 if denominator == 0 else (1 + beta2) * precision * recall / denominator


def best_f(curve: PRCurve, beta2: float = F_BETA2) -> float:
    """The largest F-beta along a precision/recall curve."""
    p, r = curve.precision, curve.recall
    denominator = beta2 * p + r
    scores = np.divide((1 + beta2) * p * r, denominator,
                       out=np.zeros_like(p), where=denominator > 0)
    return float(scores.max())


def max_f_measure(pred: Array, gt: Array, beta2: float = F_BETA2) -> float:
    """Max F-beta (beta^2 = 0.3 by default) over 256 thresholds, for one image."""
    return best_f(pr_curve(pred, gt), beta2)


def mean_curve(curves: Sequence[PRCurve]) -> PRCurve:
    """Average precision/recall curves over images (the data-set max F uses this)."""
    if not curves:
        raise ValueError("no curves to average")
    return PRCurve(
        np.mean([c.precision for c in curves], axis=0),
        np.mean([c.recall for c in curves], axis=0),
    )
