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
PRECISE_STEP = 8
"""Grid cells at least this wide are averaged in 16 bits (below, 8 bits lose at most
half a level of a cell mean, and the masks here are solid regions, not sparse dots)."""
SPECK_FRACTION = 0.1
"""Subject islands smaller than this fraction of the largest one are dropped."""


def level(alpha: Floats, low: float, high: float) -> Floats:
    """Map ``low`` -> 0 and ``high`` -> 1 linearly, clipped to [0, 1]."""
    out: Floats = np.clip((alpha - low) * (1.0 / (high - low)), 0.0, 1.0)
    return out


def refine_edges(rgb: np.ndarray, alpha: Floats, radius: int) -> np.ndarray:
    """The model's (upscaled) alpha made to follow the photo's edges, as 8-bit alpha.

    ``radius`` is the window of the colour means (see :func:`window_radius`).
    In effect ``level(estimate(level(alpha, *LEVEL)), *FINISH)``, where only the
    band's pixels get an estimate and every other pixel ends at 0 or 255.
    """
    low, high = LEVEL
    # The band is LEVEL's ramp (a wider one, reaching edges the model put further
    # off, measured worse on the dev set: the colour estimate is noisy in texture).
    sure_bg, sure_fg = low + (1.0 - SURE) * (high - low), low + SURE * (high - low)
    out = cv2.inRange(alpha, sure_fg, np.inf)  # 255 where sure subject, else 0
    rows, cols = _pixels(cv2.inRange(alpha, sure_bg, sure_fg))
    if not rows.size:
        return out
    fg, has_fg = window_means(rgb, out, radius, rows, cols)
    bg, has_bg = window_means(rgb, cv2.inRange(alpha, -np.inf, sure_bg), radius, rows, cols)
    start = level(alpha[rows, cols], low, high)
    pixels = rgb[rows, cols].astype(np.float32) * (1.0 / 255.0)
    line = fg - bg
    length2 = np.einsum("ij,ij->i", line, line)
    estimate = np.clip(np.einsum("ij,ij->i", pixels - bg, line) / (length2 + 1e-6), 0, 1)
    trust = np.minimum(length2 * (1.0 / COLOUR_CONTRAST**2), 1.0) * (has_fg & has_bg)
    refined = level(trust * estimate + (1.0 - trust) * start, *FINISH)
    out[rows, cols] = (refined * 255.0 + 0.5).astype(np.uint8)
    return out


def _pixels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a uint8 mask's nonzero pixels (faster than ``np.nonzero``)."""
    found = cv2.findNonZero(mask)
    if found is None:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    points = found.reshape(-1, 2)
    return points[:, 1], points[:, 0]


def window_means(rgb: np.ndarray, mask: np.ndarray, radius: int, rows: np.ndarray,
                 cols: np.ndarray) -> tuple[Floats, np.ndarray]:
    """At the pixels ``(rows, cols)``: the mean colour (in [0, 1]) of the pixels where
    the uint8 ``mask`` is 255, in the (2 radius + 1)-square window around each, and
    whether the window had any.

    Computed only over the box the windows reach, on a grid ``step`` = radius // 4
    times coarser (area averages of step x step cells, 16-bit from PRECISE_STEP on;
    a last partial row or column of cells is left out), where the window is
    ``round(radius / step)`` cells each side of the pixel's own cell: close to the
    exact means (the window snaps to the grid, up to ``step - 1`` px off centre), at
    a fraction of the cost.
    """
    step = max(1, radius // 4)
    cells = max(1, round(radius / step))
    # Only the part of the image the windows reach (whole cells, a cell to spare on
    # each side for the pixel's own cell), aligned to the grid.
    reach = (cells + 2) * step
    top = max(0, int(rows.min()) - reach) // step * step
    left = max(0, int(cols.min()) - reach) // step * step
    bottom = min(mask.shape[0], int(rows.max()) + reach + 1)
    right = min(mask.shape[1], int(cols.max()) + reach + 1)
    rgb, mask = rgb[top:bottom, left:right], mask[top:bottom, left:right]
    rows, cols = rows - top, cols - left
    weighted = cv2.bitwise_and(rgb, rgb, mask=mask)
    weight = mask
    per_pixel, per_level = 255.0, 1.0  # weight units of one pixel; colour units of one level
    if step > 1:
        height, width = mask.shape[0] // step, mask.shape[1] // step
        if height == 0 or width == 0:
            step, cells = 1, radius
        else:
            size = (width, height)
            crop = (slice(0, height * step), slice(0, width * step))
            weight, weighted = mask[crop], weighted[crop]
            if step >= PRECISE_STEP:
                # 16-bit (x257), so a big cell's mean keeps its fraction: the 8-bit mean
                # of a cell with a few masked pixels rounds to 0 or 1 and skews the ratio.
                weight = np.multiply(weight, np.uint16(257), dtype=np.uint16)
                weighted = np.multiply(weighted, np.uint16(257), dtype=np.uint16)
                per_pixel, per_level = 65535.0, 257.0
            weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
            weighted = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    window = (2 * cells + 1, 2 * cells + 1)
    count = cv2.boxFilter(weight.astype(np.float32) * (1.0 / per_pixel), -1, window,
                          normalize=False, borderType=cv2.BORDER_REFLECT)
    total = cv2.boxFilter(weighted.astype(np.float32) * (1.0 / per_level), -1, window,
                          normalize=False, borderType=cv2.BORDER_REFLECT)
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


def decontaminate(rgb: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """Colours of semi-transparent pixels with the old background taken out.

    ``alpha`` is 8-bit. Each soft pixel's background colour B is the window mean of
    the sure background around it; solving ``I = a F + (1 - a) B`` for F keeps the
    pixel's own detail. Pixels with no sure background in reach, opaque and
    fully transparent pixels are left as they are. (Measured on synthetic
    composites with known colours: this beats blending towards the local
    subject colour and blur-fusion estimation; see docs/quality.md.)
    """
    out = rgb.copy()
    rows, cols = _pixels(cv2.inRange(alpha, 1, 254))
    if not rows.size:
        return out
    sure_bg = cv2.inRange(alpha, 0, int((1.0 - SURE) * 255))
    bg, has_bg = window_means(rgb, sure_bg, radius, rows, cols)
    rows, cols, bg = rows[has_bg], cols[has_bg], bg[has_bg]
    a = alpha[rows, cols][:, None].astype(np.float32) * (1.0 / 255.0)
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


FEATHER_FULL_SCALE = 24  # px: wider radii are blurred on a smaller copy


def feather(alpha: np.ndarray, radius: int) -> np.ndarray:
    """A uint8 alpha whose edges fall off over about ``radius`` px on each side.

    Three box blurs, each a third of the ramp wide: close to a Gaussian, exact on flat
    areas (fully opaque and fully clear areas wider than the radius keep 255 and 0, the
    image's borders included), and a cost per pixel that does not grow with the radius.
    0 gives the alpha back unchanged."""
    if radius <= 0:
        return alpha
    if radius > FEATHER_FULL_SCALE:
        # A wide falloff is smooth: blur a smaller copy and bring it back, so time and
        # OpenCV's row buffers (box x width) stay bounded whatever the radius.
        height, width = alpha.shape
        scale = radius / FEATHER_FULL_SCALE
        small = (max(1, round(width / scale)), max(1, round(height / scale)))
        shrunk = cv2.resize(alpha, small, interpolation=cv2.INTER_AREA)
        return cv2.resize(feather(shrunk, FEATHER_FULL_SCALE), (width, height),
                          interpolation=cv2.INTER_LINEAR)
    box = max(1, round(2 * radius / 3)) | 1
    for _ in range(3):
        alpha = cv2.blur(alpha, (box, box), borderType=cv2.BORDER_REPLICATE)
    return alpha


# --- soft edges: refinement that keeps hair and fur soft (docs/quality.md) ------------

SOFT_BAND = (0.05, 0.95)
"""Raw (upscaled) model alpha between these is re-estimated from colour; beyond them the
model is taken as sure (the windows' sure background and subject). (0.02, 0.98) measured
a little worse on both dev sets and is 45% more pixels.)"""
SOFT_START = (0.05, 0.6)
"""Where colour says nothing, the model's alpha levelled gently (0.05 -> 0, 0.6 -> 1:
u2netp under-segments, see docs/quality.md, but a fringe keeps a ramp)."""
SOFT_TIMES = 6.0
"""Window radius of the soft estimate, in upscale factors (matting.window_radius's
``times``): it must reach past the band, which is several model pixels wide."""
SOFT_CONTRAST = 0.1
"""|F - B| (RGB in [0, 1]) from which the colour estimate is fully trusted."""
LINE_TOLERANCE = 0.5
"""Distance of a pixel's colour from the B-F line, as a fraction of |F - B|, at which
trust falls to exp(-1)."""
SURE_CELL = 128
"""A grid cell of the window means counts when at least this share (of 255) of its pixels
are sure, weighted by that share (so band colours hardly leak into F and B)."""
HARDNESS = 0.25
"""Default blend: 1 = refine_edges (hard edges), 0 = soft_edges. 0.25 is the knee of the
trade-off curve between binary masks and true mattes (REPORT.md)."""


def refine_soft(rgb: np.ndarray, alpha: Floats, hard_radius: int, soft_radius: int,
                hardness: float = HARDNESS) -> np.ndarray:
    """The model's (upscaled, raw) alpha refined against the photo, as 8-bit alpha.

    ``hardness`` 1 is :func:`refine_edges` (window ``hard_radius``, ``window_radius(...)``)
    exactly. Below 1, the pixels whose raw alpha lies in SOFT_BAND get
    ``hardness x hard + (1 - hardness) x soft`` (:func:`band_alphas`, window
    ``soft_radius``, ``window_radius(..., SOFT_TIMES)``); the others end at 0 or 255
    (at or above SOFT_BAND[1]: 255), where both agree.
    """
    if hardness >= 1.0:
        return refine_edges(rgb, alpha, hard_radius)
    low, high = SOFT_BAND
    out = cv2.inRange(alpha, high, np.inf)  # 255 where sure subject, else 0
    rows, cols = _pixels(cv2.inRange(alpha, low, high))
    if not rows.size:
        return out
    soft, hard = band_alphas(rgb, alpha, soft_radius, rows, cols, hard=hardness > 0.0)
    mixed = soft if hard is None else hardness * hard + (1.0 - hardness) * soft
    out[rows, cols] = (mixed * 255.0 + 0.5).astype(np.uint8)
    return out


def band_alphas(rgb: np.ndarray, alpha: Floats, radius: int, rows: np.ndarray,
                cols: np.ndarray, hard: bool = True) -> tuple[Floats, Floats | None]:
    """At the band pixels ``(rows, cols)``: the soft alpha and (when ``hard``) the hard
    one, float32 in [0, 1], from one colour estimate.

    ``estimate`` is the pixel's colour projected on the line from B to F, the window
    means of the sure background and subject (:func:`sure_means`); ``trust`` grows with
    |F - B| (full from SOFT_CONTRAST) and falls with the colour's distance from that line
    (LINE_TOLERANCE). Soft: ``trust x estimate + (1 - trust) x level(alpha, *SOFT_START)``.
    Hard: what :func:`refine_edges` does with it, ``level(trust x estimate + (1 - trust)
    x level(alpha, *LEVEL), *FINISH)``, and 0 or 1 outside LEVEL's band (measured: the
    same scores as refine_edges on both dev sets, at no extra window means).
    """
    flat = rows * alpha.shape[1] + cols
    fg, has_fg, bg, has_bg = sure_means(rgb, alpha, radius, rows, cols)
    raw = np.take(alpha.reshape(-1), flat)
    pixels = np.take(rgb.reshape(-1, 3), flat, axis=0).astype(np.float32) * (1.0 / 255.0)
    line = fg - bg
    length2 = np.einsum("ij,ij->i", line, line) + 1e-6
    relative = pixels - bg
    along = np.einsum("ij,ij->i", relative, line) / length2
    # Squared distance from the B-F line over |F - B|^2 (Pythagoras).
    off_line2 = np.maximum(np.einsum("ij,ij->i", relative, relative) / length2 - along * along,
                           0.0)
    trust = (np.minimum(length2 * (1.0 / SOFT_CONTRAST**2), 1.0) * (has_fg & has_bg)
             * np.exp(off_line2 * (-1.0 / LINE_TOLERANCE**2)))
    estimate = trust * np.clip(along, 0.0, 1.0)
    soft: Floats = (estimate + (1.0 - trust) * level(raw, *SOFT_START)).astype(np.float32)
    if not hard:
        return soft, None
    low, high = LEVEL
    sure_bg, sure_fg = low + (1.0 - SURE) * (high - low), low + SURE * (high - low)
    levelled = level(estimate + (1.0 - trust) * level(raw, low, high), *FINISH)
    sharp: Floats = np.where(raw >= sure_fg, 1.0, np.where(raw <= sure_bg, 0.0, levelled))
    return soft, sharp.astype(np.float32)


def sure_means(rgb: np.ndarray, alpha: Floats, radius: int, rows: np.ndarray,
               cols: np.ndarray) -> tuple[Floats, np.ndarray, Floats, np.ndarray]:
    """At the pixels ``(rows, cols)``: the mean colour (in [0, 1]) of the sure subject and
    of the sure background (raw alpha beyond SOFT_BAND) in the (2 radius + 1)-square
    window around each, and whether the window had any: ``(fg, has_fg, bg, has_bg)``.

    Like :func:`window_means`, on a grid ``step`` = radius // 4 coarser, over the box the
    windows reach; unlike it, the photo is averaged once for both (one INTER_AREA pass,
    not one per mask), a cell counts in proportion to its sure share when that share is
    at least SURE_CELL / 255 (a mixed cell's mean colour is then mostly its sure
    pixels'), and the means are divided out on the grid before they are looked up.
    """
    low, high = SOFT_BAND
    step = max(1, radius // 4)
    cells = max(1, round(radius / step))
    reach = (cells + 2) * step
    top = max(0, int(rows.min()) - reach) // step * step
    left = max(0, int(cols.min()) - reach) // step * step
    bottom = min(alpha.shape[0], int(rows.max()) + reach + 1)
    right = min(alpha.shape[1], int(cols.max()) + reach + 1)
    height, width = (bottom - top) // step, (right - left) // step
    if height == 0 or width == 0:
        step, cells = 1, radius
        height, width = bottom - top, right - left
    crop = (slice(top, top + height * step), slice(left, left + width * step))
    near = alpha[crop]
    masks = (cv2.inRange(near, high, np.inf), cv2.inRange(near, -np.inf, low))
    colour = rgb[crop]
    if step > 1:
        size = (width, height)
        colour = cv2.resize(colour, size, interpolation=cv2.INTER_AREA)
        masks = (cv2.resize(masks[0], size, interpolation=cv2.INTER_AREA),
                 cv2.resize(masks[1], size, interpolation=cv2.INTER_AREA))
    colour = colour.astype(np.float32) * (1.0 / 255.0)
    window = (2 * cells + 1, 2 * cells + 1)
    cell = (np.minimum((rows - top) // step, height - 1) * width
            + np.minimum((cols - left) // step, width - 1))
    found: list[tuple[Floats, np.ndarray]] = []
    for mask in masks:
        weight = np.where(mask >= SURE_CELL, mask * (1.0 / 255.0), 0.0).astype(np.float32)
        count = cv2.boxFilter(weight, -1, window, normalize=False,
                              borderType=cv2.BORDER_REFLECT)
        total = cv2.boxFilter(colour * weight[..., None], -1, window, normalize=False,
                              borderType=cv2.BORDER_REFLECT)
        means = total / np.maximum(count, 1e-6)[..., None]
        found.append((np.take(means.reshape(-1, 3), cell, axis=0),
                      np.take(count.reshape(-1), cell) > 0.5))
    (fg, has_fg), (bg, has_bg) = found
    return fg, has_fg, bg, has_bg


# --- uncertainty ------------------------------------------------------------------------

UNSURE_SCALE = 0.06
"""Soft-band mass at which the score reaches 1 - exp(-1) = 0.63."""


def uncertainty(small: Floats) -> float:
    """How unsure the model is about this image, in [0, 1] (0 = confident).

    ``small`` is the model's output (alpha in [0, 1] at model size, after
    drop_specks). The score is the mean of 4 a (1 - a) over the image (the soft-band
    mass: 1 where the model says 0.5, 0 where it says 0 or 1), mapped to [0, 1) by
    ``1 - exp(-mass / UNSURE_SCALE)``. It ranks images by their error (Spearman 0.72
    against per-image MAE over both dev sets pooled, REPORT.md) for the price of one pass
    over the 320 x 320 output (tens of microseconds).
    """
    mass = float(np.mean(4.0 * small * (1.0 - small)))
    return float(1.0 - np.exp(-mass / UNSURE_SCALE))
