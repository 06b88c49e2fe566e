"""Edge refinement and colour decontamination at full resolution.

The model sees the photo at about 320 px; brought back to full size, its mask's
edge is a blur several pixels wide that does not follow the photo's own edges.
Around that edge (the *band*, where the mask is neither surely subject nor
surely background) we look, in a window around each pixel, at the mean colour
of the sure subject, F, and of the sure background, B. The pixel's own colour I
then says where it sits between the two: solving the compositing equation
``I = a F + (1 - a) B`` along the line from B to F gives
``a = (I - B)·(F - B) / |F - B|²``. Where F and B differ, that colour estimate
decides; where they look alike it says nothing, and the model's alpha stays.
This is the local colour model of Bayesian and closed-form matting, reduced to
its closed-form core so that it costs a few box filters (see docs/quality.md
for what was measured against guided filtering and mask clean-up alone).

The same equation decontaminates the colours: a semi-transparent edge pixel of
a photo is a mix of subject and old background; a cut-out should carry the
subject's colour there, or the old background shows as a halo on a new one.

Alphas are float32 arrays in [0, 1]; colours are the 8-bit H x W x 3 image. Only
the band's pixels are computed (a few per cent of an image), and the window means
are taken on a grid coarser by about a quarter of the window, so a 2 MP image
costs tens of milliseconds, not hundreds.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Floats = np.ndarray

SURE = 0.95
"""Alpha at or above which a pixel is sure subject (and at or below 1 - SURE, background)."""
LEVEL = (0.15, 0.45)
"""The model's alpha mapped linearly so that LEVEL[0] -> 0 and LEVEL[1] -> 1 (measured:
u2netp's min-max normalised output under-segments, and its edge ramp is too wide)."""
FINISH = (0.05, 0.95)
"""After the colour estimate, the same kind of ramp: near-sure values become sure."""
COLOUR_CONTRAST = 0.1
"""|F - B| (in [0, 1] RGB) at which the colour estimate is fully trusted."""
SPECK_FRACTION = 0.1
"""Subject islands smaller than this fraction of the largest one are dropped."""


def level(alpha: Floats, low: float, high: float) -> Floats:
    """Map ``low`` -> 0 and ``high`` -> 1 linearly, clipped to [0, 1]."""
    out: Floats = np.clip((alpha - low) * (1.0 / (high - low)), 0.0, 1.0)
    return out


def refine_edges(rgb: np.ndarray, alpha: Floats, radius: int) -> Floats:
    """The model's (upscaled) alpha made to follow the photo's edges.

    ``radius`` is the window of the colour means (see :func:`window_radius`).
    In effect ``level(estimate(level(alpha, *LEVEL)), *FINISH)``, where only the
    band's pixels get an estimate and every other pixel ends at 0 or 1.
    """
    low, high = LEVEL
    # The band is LEVEL's ramp (a wider one, reaching edges the model put further
    # off, measured worse on the dev set: the colour estimate is noisy in texture).
    sure_bg, sure_fg = low + (1.0 - SURE) * (high - low), low + SURE * (high - low)
    fg_mask = alpha >= sure_fg
    out = fg_mask.astype(np.float32)
    rows, cols = _pixels(cv2.inRange(alpha, sure_bg, sure_fg))
    if not rows.size:
        return out
    fg, has_fg = window_means(rgb, fg_mask, radius, rows, cols)
    bg, has_bg = window_means(rgb, alpha <= sure_bg, radius, rows, cols)
    start = level(alpha[rows, cols], low, high)
    pixels = rgb[rows, cols].astype(np.float32) * (1.0 / 255.0)
    line = fg - bg
    length2 = np.einsum("ij,ij->i", line, line)
    estimate = np.clip(np.einsum("ij,ij->i", pixels - bg, line) / (length2 + 1e-6), 0, 1)
    trust = np.minimum(length2 * (1.0 / COLOUR_CONTRAST**2), 1.0) * (has_fg & has_bg)
    out[rows, cols] = level(trust * estimate + (1.0 - trust) * start, *FINISH)
    return out


def _pixels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a uint8 mask's nonzero pixels (faster than ``np.nonzero``)."""
    found = cv2.findNonZero(mask)
    if found is None:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    points = found.reshape(-1, 2)
    return points[:, 1], points[:, 0]


def window_means(rgb: np.ndarray, where: np.ndarray, radius: int, rows: np.ndarray,
                 cols: np.ndarray) -> tuple[Floats, np.ndarray]:
    """At the pixels ``(rows, cols)``: the mean colour (in [0, 1]) of the ``where``
    pixels in the (2 radius + 1)-square window around each, and whether it had any.

    Computed on a grid ``step`` = radius // 4 times coarser (area averages), where
    the window is ``radius / step`` cells: the same means, at a fraction of the cost.
    """
    step = max(1, radius // 4)
    mask = where.view(np.uint8) if where.dtype == np.bool_ else where.astype(np.uint8)
    weight: np.ndarray = mask.astype(np.float32)
    weighted: np.ndarray = cv2.bitwise_and(rgb, rgb, mask=mask)
    if step > 1:
        size = (math.ceil(rgb.shape[1] / step), math.ceil(rgb.shape[0] / step))
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
        weighted = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    cells = max(1, round(radius / step))
    window = (2 * cells + 1, 2 * cells + 1)
    count = cv2.boxFilter(weight, -1, window, normalize=False, borderType=cv2.BORDER_REFLECT)
    total = cv2.boxFilter(weighted.astype(np.float32), -1, window, normalize=False,
                          borderType=cv2.BORDER_REFLECT)
    ys = np.minimum(rows // step, count.shape[0] - 1)
    xs = np.minimum(cols // step, count.shape[1] - 1)
    found = count[ys, xs]
    means: Floats = total[ys, xs] / (np.maximum(found, 1e-6)[:, None] * 255.0)
    present: np.ndarray = found > 0.5 / step**2
    return means, present


def drop_specks(alpha: Floats, threshold: float = 0.5,
                fraction: float = SPECK_FRACTION) -> Floats:
    """Zero subject islands (alpha >= ``threshold``) smaller than ``fraction`` of the
    largest one: stray blobs. Meant for the model-size mask (cheap there)."""
    solid = (alpha >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 2:
        return alpha
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= fraction * areas.max()
    dropped = ~keep[labels] & (solid > 0)
    if not dropped.any():
        return alpha
    # Their soft surroundings go too, unless they touch a kept island.
    kernel = np.ones((3, 3), np.uint8)
    near_dropped = cv2.dilate(dropped.astype(np.uint8), kernel) > 0
    near_kept = cv2.dilate((keep[labels] & (solid > 0)).astype(np.uint8), kernel) > 0
    out: Floats = np.where(near_dropped & ~near_kept, 0.0, alpha).astype(alpha.dtype)
    return out


def decontaminate(rgb: np.ndarray, alpha: Floats, radius: int) -> np.ndarray:
    """Colours of semi-transparent pixels with the old background taken out.

    Each soft pixel's background colour B is the window mean of the sure
    background around it; solving ``I = a F + (1 - a) B`` for F keeps the
    pixel's own detail. Pixels with no sure background in reach, opaque and
    fully transparent pixels are left as they are. (Measured on synthetic
    composites with known colours: this beats blending towards the local
    subject colour and blur-fusion estimation; see docs/quality.md.)
    """
    out = rgb.copy()
    rows, cols = _pixels(cv2.inRange(alpha, 1e-6, 1.0 - 1e-6))
    if not rows.size:
        return out
    bg, has_bg = window_means(rgb, alpha <= 1.0 - SURE, radius, rows, cols)
    rows, cols, bg = rows[has_bg], cols[has_bg], bg[has_bg]
    a = alpha[rows, cols][:, None]
    pixels = rgb[rows, cols].astype(np.float32) * (1.0 / 255.0)
    colour = np.clip((pixels - (1.0 - a) * bg) / np.maximum(a, 0.05), 0.0, 1.0)
    out[rows, cols] = (colour * 255.0 + 0.5).astype(np.uint8)
    return out


def window_radius(full_size: tuple[int, int], model_size: tuple[int, int],
                  times: float = 2.0) -> int:
    """``times`` the upscale factor (the upscaled edge blur is about as wide), at least 2.

    Refinement measured best at 2x; decontamination at 8x (its sure background
    lies beyond the refined edge).
    """
    factor = max(full_size[0] / model_size[0], full_size[1] / model_size[1])
    return max(2, round(times * factor))
