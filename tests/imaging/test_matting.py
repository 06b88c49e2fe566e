"""Edge refinement and decontamination on synthetic images whose answer is known."""

from __future__ import annotations

import numpy as np

from alphacut.imaging import matting

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
    from PIL import Image, ImageFilter

    from tests.conftest import FIXTURES

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
