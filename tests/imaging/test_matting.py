"""Edge refinement and decontamination on synthetic images whose answer is known."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alphacut import Engine
from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.imaging import matting
from tests.conftest import FIXTURES

RED = (220, 30, 30)
BLUE = (30, 40, 200)


def two_colours(edge: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """Red left of column ``edge``, blue from it on (H x W x 3, uint8)."""
    width, height = size
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:, :edge] = RED
    rgb[:, edge:] = BLUE
    return rgb


def ramp(centre: float, half_width: float, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """A model-like blurry alpha: 1 on the left, falling linearly around ``centre``."""
    width, height = size
    x = np.arange(width, dtype=np.float32)
    row = np.clip(0.5 - (x - centre) / (2 * half_width), 0, 1)
    return np.tile(row, (height, 1)).astype(np.float32)


def crossing(alpha: np.ndarray) -> float:
    """Column where the middle row's alpha crosses 0.5 (linear interpolation)."""
    row = alpha[alpha.shape[0] // 2]
    i = int(np.argmax(row < 0.5))
    return i - 1 + (row[i - 1] - 0.5) / (row[i - 1] - row[i])


def test_refined_edge_moves_to_the_photos_edge() -> None:
    # The model's blurry edge, levelled, crosses 0.5 near x=41; the photo's edge is at
    # x=38, inside the model's unsure band: the colour evidence wins.
    rgb = two_colours(38)
    model = ramp(36, 12)
    levelled = matting.level(model, *matting.LEVEL)
    assert abs(crossing(levelled) - 38) > 2.5
    refined = matting.refine_edges(rgb, model, radius=6)
    assert refined.dtype == np.uint8
    assert abs(crossing(refined / 255) - 38) <= 1.0
    # Away from the edge the answer is sure: fully subject and fully background.
    assert (refined[:, :30] == 255).all() and (refined[:, 50:] == 0).all()


def test_without_colour_contrast_the_models_edge_stays() -> None:
    grey = np.full((64, 96, 3), 128, np.uint8)
    model = ramp(44, 8)
    refined = matting.refine_edges(grey, model, radius=6)
    expected = matting.level(matting.level(model, *matting.LEVEL), *matting.FINISH)
    np.testing.assert_allclose(refined / 255, expected, atol=0.5 / 255 + 1e-6)


def test_a_soft_photo_edge_gives_a_soft_alpha() -> None:
    # A 9-px colour ramp in the photo: alpha follows it rather than snapping to 0/1.
    width = 96
    t = np.clip((np.arange(width) - 36) / 8, 0, 1)[None, :, None]
    rgb = ((1 - t) * np.array(RED) + t * np.array(BLUE)).astype(np.uint8)
    rgb = np.repeat(rgb, 64, axis=0)
    refined = matting.refine_edges(rgb, ramp(36, 12), radius=8)
    row = refined[32] / 255
    assert 0.3 < row[40] < 0.7
    assert row[:34].min() == 1 and row[46:].max() == 0


def test_feather_ramps_a_hard_edge_over_its_radius_and_keeps_the_rest() -> None:
    hard = np.zeros((64, 200), np.uint8)
    hard[:, 100:] = 255
    assert matting.feather(hard, 0) is hard
    soft = matting.feather(hard, 10)
    row = soft[32].astype(int)
    assert (np.diff(row) >= 0).all()  # still one edge, rising
    ramp = np.flatnonzero((row > 0) & (row < 255))
    assert ramp.min() >= 89 and ramp.max() <= 111  # within the radius of the edge
    assert row[100] in range(110, 146)  # the edge stays where it was (half-way)
    assert (row[:85] == 0).all() and (row[116:] == 255).all()


def test_drop_specks_removes_small_islands_only() -> None:
    alpha = np.zeros((100, 100), np.float32)
    alpha[10:60, 10:60] = 1.0   # the subject: 2500 px
    alpha[80:85, 80:85] = 1.0   # a speck: 25 px (1%)
    alpha[70:90, 10:30] = 1.0   # a second part: 400 px (16%)
    alpha[79:86, 79:86] = np.maximum(alpha[79:86, 79:86], 0.3)  # the speck's soft rim
    cleaned = matting.drop_specks(alpha)
    assert cleaned[82, 82] == 0 and cleaned[79, 79] == 0
    assert (cleaned[10:60, 10:60] == 1).all() and (cleaned[70:90, 10:30] == 1).all()
    single = np.zeros((50, 50), np.float32)
    single[5:8, 5:8] = 1.0
    assert matting.drop_specks(single) is single  # one island is always kept


def test_decontaminate_recovers_the_subjects_colour() -> None:
    # Red subject over green, mixed over a 12-px ramp: raw edge pixels are muddy.
    width = 96
    alpha_row = np.clip((60 - np.arange(width)) / 12, 0, 1).astype(np.float32)
    alpha = np.tile(alpha_row, (64, 1))
    green = np.array((40, 180, 60), np.float32)
    red = np.array(RED, np.float32)
    mixed = alpha[..., None] * red + (1 - alpha[..., None]) * green
    rgb = (mixed + 0.5).astype(np.uint8)
    alpha8 = (alpha * 255 + 0.5).astype(np.uint8)
    cleaned = matting.decontaminate(rgb, alpha8, radius=16)
    soft = (alpha > 0.1) & (alpha < 1)
    before = np.abs(rgb[soft].astype(float) - red).mean()
    after = np.abs(cleaned[soft].astype(float) - red).mean()
    assert before > 40 and after < 6
    # Opaque and transparent pixels are untouched.
    untouched = (alpha8 == 0) | (alpha8 == 255)
    assert (cleaned[untouched] == rgb[untouched]).all()


def test_decontaminate_leaves_pixels_with_no_background_in_reach() -> None:
    rgb = np.full((40, 40, 3), 90, np.uint8)
    alpha = np.full((40, 40), 128, np.uint8)  # all soft, no sure background anywhere
    assert (matting.decontaminate(rgb, alpha, radius=4) == rgb).all()


def test_window_radius_scales_with_the_upscale_factor() -> None:
    assert matting.window_radius((320, 320), (320, 320)) == 2
    assert matting.window_radius((1728, 1152), (320, 320)) == 11
    assert matting.window_radius((1728, 1152), (320, 320), times=8.0) == 43


def test_decontaminate_on_photo_composites_with_known_colours() -> None:
    """The measure behind the default (docs/quality.md): a photo composited over another
    through a soft mask, so the true subject colour of every edge pixel is known."""
    from PIL import ImageFilter

    def load(name: str, folder: str = "images") -> Image.Image:
        return Image.open(FIXTURES / folder / f"{name}.{'png' if folder == 'gt' else 'jpg'}")

    size = (480, 360)
    errors = []
    for subject, shape, background in (("coffee", "horse_on_grass", "chelsea"),
                                       ("astronaut", "coffee", "rocket")):
        fg = np.asarray(load(subject).convert("RGB").resize(size), np.float32)
        bg = np.asarray(load(background).convert("RGB").resize(size), np.float32)
        soft_mask = load(shape, "gt").convert("L").resize(size).filter(
            ImageFilter.GaussianBlur(3))
        alpha = np.asarray(soft_mask, np.float32) / 255
        a = alpha[..., None]
        rgb = (a * fg + (1 - a) * bg + 0.5).astype(np.uint8)
        cleaned = matting.decontaminate(
            rgb, (alpha * 255 + 0.5).astype(np.uint8),
            matting.window_radius(size, (320, 320), times=8.0))
        soft = (alpha > 0.02) & (alpha < 0.98)
        # What the soft pixels add to a composite on any new background: alpha x colour.
        errors.append([np.abs(a * (out.astype(np.float32) - fg))[soft].mean()
                       for out in (rgb, cleaned)])
    before, after = np.mean(errors, axis=0)
    assert after < 0.8 * before


def exact_means(rgb: np.ndarray, mask: np.ndarray, radius: int, rows: np.ndarray,
                cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: the mean colour of the mask's pixels in each (2r+1)-square window."""
    means, present = [], []
    for y, x in zip(rows, cols, strict=True):
        window = (slice(max(0, y - radius), y + radius + 1),
                  slice(max(0, x - radius), x + radius + 1))
        picked = rgb[window][mask[window] > 0]
        present.append(len(picked) > 0)
        means.append(picked.mean(axis=0) / 255 if len(picked) else np.zeros(3))
    return np.array(means), np.array(present)


def test_window_means_match_brute_force_even_on_sparse_masks() -> None:
    """The coarse grid is an approximation of the exact window mean: close on smooth
    colours (the window snaps to the grid), and never biased by sparse masks."""
    rng = np.random.default_rng(7)
    height, width = 600, 700
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 120)],
                   axis=-1).astype(np.uint8)
    # Solid regions (what the sure masks are) at every grid, and sparse dots where the
    # cells are big (where 8-bit cell means would round the dots away).
    blobs = np.where(np.hypot(yy - 300, xx - 330) < 180, 255, 0).astype(np.uint8)
    for radius, density in ((5, None), (23, None), (43, 0.01), (150, 0.003)):
        mask = blobs if density is None else np.where(
            rng.random((height, width)) < density, 255, 0).astype(np.uint8)
        rows = rng.integers(60, height - 60, 40)
        cols = rng.integers(60, width - 60, 40)
        got, has = matting.window_means(rgb, mask, radius, rows, cols)
        want, want_has = exact_means(rgb, mask, radius, rows, cols)
        both = has & want_has
        assert (has == want_has).mean() > 0.9 and both.sum() >= 8
        # A gradient of 255 levels over the image: a window off by up to step-1 px
        # moves the mean by under 255 * step / width levels; sparse cells add nothing.
        step = max(1, radius // 4)
        assert np.abs(got[both] - want[both]).max() < (step + 2) / width + 0.01, radius
        # The uniform third channel is exact: no rounding towards black.
        assert np.abs(got[both, 2] - 120 / 255).max() < 0.002, radius


def test_refinement_on_an_image_smaller_than_the_model_input(engine: Engine) -> None:
    small = Image.open(FIXTURES / "images" / "horse_on_grass.jpg").resize((160, 120))
    data = io.BytesIO()
    small.save(data, "PNG")
    result = engine.remove(data.getvalue(), RemovalOptions(format=OutputFormat.PNG))
    alpha = np.asarray(Image.open(io.BytesIO(result.content)).getchannel("A")) > 127
    truth = np.asarray(Image.open(FIXTURES / "gt" / "horse_on_grass.png").convert("L")
                       .resize((160, 120))) > 127
    assert (alpha & truth).sum() / (alpha | truth).sum() > 0.85


def test_decontamination_never_changes_the_alpha(engine: Engine) -> None:
    data = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
    alphas = []
    for decontaminate in (False, True):
        options = RemovalOptions(format=OutputFormat.PNG, refine=False,
                                 decontaminate=decontaminate)
        result = engine.remove(data, options)
        alphas.append(np.asarray(Image.open(io.BytesIO(result.content)).getchannel("A")))
    assert (alphas[0] == alphas[1]).all()


def test_resizing_and_rotating_a_cutout_bring_back_no_background() -> None:
    """Colour is resized and rotated with its alpha (premultiplied): a red subject cut
    from green keeps red edges at any size and angle."""
    from alphacut.imaging.compose import compose

    rgb = np.zeros((80, 120, 3), np.uint8)
    rgb[:] = (0, 200, 0)
    rgb[:, :60] = (220, 0, 0)
    alpha = np.zeros((80, 120), np.uint8)
    alpha[:, :60] = 255
    for options in (RemovalOptions(format=OutputFormat.PNG, width=30),
                    RemovalOptions(format=OutputFormat.PNG, width=300),
                    RemovalOptions(format=OutputFormat.PNG, angle=30)):
        out = compose(rgb, alpha, options).pixels.astype(int)
        visible = out[..., 3] > 8
        assert (out[visible, 1] < 40).all(), options  # no green anywhere it shows
        assert (out[visible, 0] > 150).all(), options
    on_blue = compose(rgb, alpha, RemovalOptions(
        format=OutputFormat.JPEG, width=30, bg_color=(0, 0, 255, 255))).pixels.astype(int)
    assert (on_blue[..., 1] < 40).all()  # subject red, background blue, no green between
