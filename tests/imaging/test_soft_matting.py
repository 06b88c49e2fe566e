"""The soft refinement (``matting.refine_soft``) and the uncertainty score: pixel tests on
synthetic photos and model ramps."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from alphacut.imaging import matting
from tests.imaging.test_matting import BLUE, RED, ramp, two_colours


def test_hardness_one_is_refine_edges() -> None:
    rgb, model = two_colours(38), ramp(36, 12)
    np.testing.assert_array_equal(matting.refine_soft(rgb, model, 6, 18, hardness=1.0),
                                  matting.refine_edges(rgb, model, 6))


def test_a_hard_photo_edge_gives_a_step_where_the_photo_has_it() -> None:
    # The window (radius 18) reaches past the model's band (about 14 px) on both sides.
    rgb, model = two_colours(40), ramp(36, 8)
    soft = matting.refine_soft(rgb, model, 6, 18, hardness=0.0)
    row = soft[32].astype(int)
    assert (row[:40] == 255).all() and (row[40:] == 0).all()


def test_a_soft_photo_edge_keeps_a_soft_alpha() -> None:
    # A 16-px colour ramp (a fringe): alpha follows it instead of snapping to 0/1.
    t = np.clip((np.arange(96) - 30) / 16, 0, 1)[None, :, None]
    rgb = np.repeat(((1 - t) * np.array(RED) + t * np.array(BLUE)).astype(np.uint8), 64, axis=0)
    soft = matting.refine_soft(rgb, ramp(38, 14), 8, 24, hardness=0.0)[32] / 255
    expected = 1 - t[0, :, 0]
    inside = (np.arange(96) > 30) & (np.arange(96) < 46)
    assert np.abs(soft[inside] - expected[inside]).max() < 0.08
    assert 0.3 < soft[38] < 0.7


def test_without_colour_contrast_the_gently_levelled_model_stays() -> None:
    grey = np.full((64, 96, 3), 128, np.uint8)
    model = ramp(44, 8)
    soft = matting.refine_soft(grey, model, 6, 18, hardness=0.0) / 255
    band = (model >= matting.SOFT_BAND[0]) & (model <= matting.SOFT_BAND[1])
    levelled = matting.level(model, *matting.SOFT_START)
    np.testing.assert_allclose(soft[band], levelled[band], atol=1 / 255)
    assert (soft[model > matting.SOFT_BAND[1]] == 1).all()
    assert (soft[model < matting.SOFT_BAND[0]] == 0).all()


def test_the_shared_hard_estimate_is_refine_edges_on_a_clean_edge() -> None:
    rgb, model = two_colours(38), ramp(36, 8)
    shared = matting.refine_soft(rgb, model, 6, 18, 0.9999).astype(int)
    np.testing.assert_allclose(shared, matting.refine_edges(rgb, model, 6), atol=1)


def test_blend_lies_between_its_ends() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    model = ramp(44, 20)
    hard = matting.refine_soft(rgb, model, 6, 18, 0.9999).astype(int)  # the shared-means hard end
    soft = matting.refine_soft(rgb, model, 6, 18, 0.0).astype(int)
    half = matting.refine_soft(rgb, model, 6, 18, 0.5).astype(int)
    assert (half >= np.minimum(hard, soft) - 1).all() and (half <= np.maximum(hard, soft) + 1).all()


def test_sure_means_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)
    alpha = ramp(60, 30, (120, 80))
    rows, cols = np.nonzero((alpha > matting.SOFT_BAND[0]) & (alpha < matting.SOFT_BAND[1]))
    fg, has_fg, bg, has_bg = matting.sure_means(rgb, alpha, 4, rows, cols)  # step 1: exact
    for k in range(0, rows.size, 97):
        y, x = rows[k], cols[k]
        if not (4 <= y < 76 and 4 <= x < 116):
            continue  # the grid reflects at the image border; brute force would truncate
        win = (slice(max(0, y - 4), y + 5), slice(max(0, x - 4), x + 5))
        sure = alpha[win] >= matting.SOFT_BAND[1]
        unsure = alpha[win] <= matting.SOFT_BAND[0]
        for means, has, where in ((fg, has_fg, sure), (bg, has_bg, unsure)):
            if where.any():
                np.testing.assert_allclose(means[k], rgb[win][where].mean(axis=0) / 255,
                                           atol=1e-4)
            assert has[k] == where.any()


def test_uncertainty_is_zero_when_sure_and_grows_with_doubt() -> None:
    sure = np.zeros((320, 320), np.float32)
    sure[100:200, 100:200] = 1
    assert matting.uncertainty(sure) == 0.0
    blurred = ndimage.gaussian_filter(sure, 3)
    very = ndimage.gaussian_filter(sure, 12)
    unsure = matting.uncertainty(np.full_like(sure, 0.5))
    assert 0 < matting.uncertainty(blurred) < matting.uncertainty(very) < unsure < 1


# --- metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [23, 75])
def test_sure_means_on_the_coarse_grid_stay_close_to_brute_force(radius: int) -> None:
    """The radii production uses (6x the upscale factor: step = radius // 4 > 1): the
    coarse grid and the sure-share weighting of mixed cells, against exact window
    means, on a smooth gradient photo where a window off by a cell moves the mean little."""
    height, width = 400, 500
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 120)],
                   axis=-1).astype(np.uint8)
    alpha = ramp(250, 40, (width, height))
    rows, cols = np.nonzero((alpha > matting.SOFT_BAND[0]) & (alpha < matting.SOFT_BAND[1]))
    keep = (rows >= radius) & (rows < height - radius)
    rows, cols = rows[keep][::53], cols[keep][::53]
    fg, has_fg, bg, has_bg = matting.sure_means(rgb, alpha, radius, rows, cols)
    step = max(1, radius // 4)
    checked = 0
    for k, (y, x) in enumerate(zip(rows, cols, strict=True)):
        win = (slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1))
        for means, has, where in ((fg, has_fg, alpha[win] >= matting.SOFT_BAND[1]),
                                  (bg, has_bg, alpha[win] <= matting.SOFT_BAND[0])):
            if has[k] and where.sum() > 4 * step * step:
                want = rgb[win][where].mean(axis=0) / 255
                # A window off by up to a cell on a 255-level gradient (measured: 0.0065
                # at radius 23, 0.022 at 75).
                assert np.abs(means[k] - want).max() < (step + 2) / width + 0.005
                assert abs(means[k][2] - 120 / 255) < 0.002  # uniform: exact
                checked += 1
    assert checked >= 10
