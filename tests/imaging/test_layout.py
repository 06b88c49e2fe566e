"""Subject box, region of interest, crop, scale, position and the contact shadow, on
synthetic images whose answer is known to the pixel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alphacut.domain.layout import Box, parse_margin, parse_position, parse_roi
from alphacut.imaging import layout, transform
from alphacut.imaging.layout import Placement

RED = (220, 30, 30)
GREEN = (0, 200, 0)
SIZE = (200, 100)
SUBJECT = Box(60, 20, 60, 50)


def scene(size: tuple[int, int] = SIZE, subject: Box = SUBJECT,
          speck: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A red opaque rectangle (and a 2x2 speck at (5, 5)) on a green background whose
    alpha is 0, the colour a matte leaves under transparent pixels."""
    width, height = size
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = GREEN
    alpha = np.zeros((height, width), np.uint8)
    area = (slice(subject.top, subject.bottom), slice(subject.left, subject.right))
    rgb[area] = RED
    alpha[area] = 255
    if speck:
        rgb[5:7, 5:7] = RED
        alpha[5:7, 5:7] = 255
    return rgb, alpha


def laid_out(crop: bool = False, margin: str | None = None, scale: float | None = None,
             position: str | None = None, subject: Box = SUBJECT, size: tuple[int, int] = SIZE,
             speck: bool = True) -> tuple[np.ndarray, np.ndarray, Placement]:
    rgb, alpha = scene(size, subject, speck)
    placement = layout.plan(
        *size, layout.subject_box(alpha), crop=crop,
        margin=None if margin is None else parse_margin(margin), scale=scale,
        position=None if position is None else parse_position(position))
    out_rgb, out_alpha = layout.place(rgb, alpha, placement)
    return out_rgb, out_alpha, placement


def assert_near(box: Box | None, expected: Box, tolerance: int = 1) -> None:
    """Resampled edges may move a measured edge by a pixel."""
    assert box is not None
    got = (box.left, box.top, box.right, box.bottom)
    want = (expected.left, expected.top, expected.right, expected.bottom)
    assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= tolerance, (box, expected)


# The subject's box


def test_subject_box_is_the_exact_rectangle_and_ignores_the_speck() -> None:
    _, alpha = scene()
    assert layout.subject_box(alpha) == SUBJECT


def test_subject_box_counts_alpha_from_5_percent() -> None:
    alpha = np.zeros((100, 200), np.uint8)
    alpha[20:70, 60:120] = layout.SUBJECT_ALPHA - 1
    assert layout.subject_box(alpha) is None
    alpha[30:40, 70:90] = layout.SUBJECT_ALPHA
    assert layout.subject_box(alpha) == Box(70, 30, 20, 10)


def test_the_largest_island_is_kept_however_small() -> None:
    _, alpha = scene(subject=Box(0, 0, 0, 0))
    assert layout.subject_box(alpha) == Box(5, 5, 2, 2)


def test_islands_above_the_speck_share_all_count() -> None:
    _, alpha = scene()
    alpha[80:84, 150:154] = 255  # 16 px: above 0.05 % of 20,000 (10 px)
    assert layout.subject_box(alpha) == Box(60, 20, 94, 64)


def test_subject_box_is_exact_on_a_coarse_grid() -> None:
    # 3001 x 2502: islands found on 3 x 3 px cells, edges not on the grid; a one-pixel
    # hair above the body must still count, a 40 x 40 speck (1,600 px < 0.05 %) not.
    alpha = np.zeros((2502, 3001), np.uint8)
    alpha[901:2000, 1201:2300] = 255
    alpha[700:901, 1750] = 40
    alpha[100:140, 100:140] = 255
    assert layout.subject_box(alpha) == Box(1201, 700, 1099, 1300)


# Region of interest


def test_clear_outside_keeps_only_the_region() -> None:
    _, alpha = scene()
    region = parse_roi("50 10 100 60").pixels(*SIZE)
    cleared = layout.clear_outside(alpha, region)
    assert cleared[10:60, 50:100].tolist() == alpha[10:60, 50:100].tolist()
    cleared[10:60, 50:100] = 0
    assert not cleared.any()
    assert layout.subject_box(layout.clear_outside(alpha, region)) == Box(60, 20, 40, 40)


# Crop and margins


@pytest.mark.parametrize(("margin", "canvas", "at"), [
    ("0", (60, 50), (0, 0)),
    ("10px", (80, 70), (10, 10)),
    ("10px 20px", (100, 70), (20, 10)),  # top/bottom, left/right
    ("1px 2px 3px 4px", (66, 54), (4, 1)),  # top, right, bottom, left
    ("10%", (72, 60), (6, 5)),  # of the subject's height (50) and width (60)
    ("10px 5%", (66, 70), (3, 10)),
])
def test_crop_with_margin(margin: str, canvas: tuple[int, int], at: tuple[int, int]) -> None:
    rgb, alpha = scene()
    out_rgb, out_alpha, placement = laid_out(crop=True, margin=margin)
    assert placement.canvas == canvas and placement.factor == 1
    assert out_alpha.shape == (canvas[1], canvas[0]) and out_rgb.shape == (*out_alpha.shape, 3)
    assert layout.subject_box(out_alpha) == Box(*at, 60, 50)
    # The whole image moves, pixel for pixel: the crop is a slice of the source.
    left, top = SUBJECT.left - at[0], SUBJECT.top - at[1]
    area = (slice(top, top + canvas[1]), slice(left, left + canvas[0]))
    assert np.array_equal(out_alpha, alpha[area]) and np.array_equal(out_rgb, rgb[area])
    assert out_rgb.flags.c_contiguous and out_alpha.flags.c_contiguous


def test_crop_margin_past_the_image_is_transparent() -> None:
    out_rgb, out_alpha, placement = laid_out(crop=True, margin="30px")
    assert placement.canvas == (120, 110)
    assert layout.subject_box(out_alpha) == Box(30, 30, 60, 50)
    # The source's first row lands on row 10; above it nothing reaches.
    assert not out_alpha[:10].any() and not out_rgb[:10].any()
    assert (out_rgb[10:30, 40] == GREEN).all()


def test_a_crop_is_never_the_identity() -> None:
    # The subject sits at its margins already (no shift), but the canvas shrinks.
    placement = laid_out(crop=True, margin="10px", subject=Box(10, 10, 60, 50))[2]
    assert (placement.dx, placement.dy) == (0, 0)
    assert placement.canvas == (80, 70) and not placement.identity


# Scale and position


def test_scale_sizes_the_subject_against_the_canvas_and_centres_it() -> None:
    # 40 x 40 in 200 x 100: height limits; 50 % of 100 = 50 px, so factor 1.25.
    _, alpha, placement = laid_out(scale=0.5, subject=Box(20, 8, 40, 40), speck=False)
    assert placement.canvas == SIZE and placement.factor == pytest.approx(1.25)
    assert_near(layout.subject_box(alpha), Box(75, 25, 50, 50))


def test_scale_with_crop_shrinks_the_subject_on_its_own_canvas() -> None:
    _, alpha, placement = laid_out(crop=True, margin="10px", scale=0.5,
                                   subject=Box(40, 10, 60, 80), speck=False)
    # Canvas 80 x 100; height limits: 50 px high, 37.5 wide, centred.
    assert placement.canvas == (80, 100)
    box = layout.subject_box(alpha)
    assert box is not None and abs(box.height - 50) <= 1 and abs(box.width - 37.5) <= 1
    assert abs((box.left + box.right) / 2 - 40) <= 1 and abs((box.top + box.bottom) / 2 - 50) <= 1


@pytest.mark.parametrize(("position", "expected"), [
    ("0% 0%", Box(0, 0, 50, 50)),
    ("100% 100%", Box(150, 50, 50, 50)),
    ("0% 100%", Box(0, 50, 50, 50)),
    ("50% 100%", Box(75, 50, 50, 50)),
])
def test_position_puts_the_scaled_box_in_the_room_left(position: str, expected: Box) -> None:
    _, alpha, _ = laid_out(scale=0.5, position=position, subject=Box(20, 8, 40, 40), speck=False)
    assert_near(layout.subject_box(alpha), expected)


def test_position_original_with_scale_keeps_the_box_centre() -> None:
    _, alpha, _ = laid_out(scale=0.5, position="original", subject=Box(20, 8, 40, 40), speck=False)
    assert_near(layout.subject_box(alpha), Box(15, 3, 50, 50))  # centre (40, 28) stays


def test_position_without_scale_moves_the_image_exactly() -> None:
    rgb, alpha = scene()
    out_rgb, out_alpha, placement = laid_out(position="100% 0%")
    assert placement.factor == 1 and (placement.dx, placement.dy) == (80, -20)
    assert np.array_equal(out_alpha[:80, 80:], alpha[20:, :120])
    assert np.array_equal(out_rgb[:80, 80:], rgb[20:, :120])
    assert not out_alpha[80:].any() and not out_alpha[:, :80].any()


def test_position_with_crop_shares_out_the_margins() -> None:
    # 20 px of room each way; the position, not the margins' split, decides.
    _, alpha, placement = laid_out(crop=True, margin="0 0 20px 20px", position="0% 100%")
    assert placement.canvas == (80, 70)
    assert layout.subject_box(alpha) == Box(0, 20, 60, 50)  # the margins had (20, 0)


@pytest.mark.parametrize("position", [None, "original"])
def test_position_original_without_scale_changes_nothing(position: str | None) -> None:
    rgb, alpha = scene()
    out_rgb, out_alpha, placement = laid_out(position=position)
    assert placement.identity
    assert np.array_equal(out_rgb, rgb) and np.array_equal(out_alpha, alpha)


def test_no_subject_changes_nothing() -> None:
    placement = layout.plan(200, 100, None, crop=True, margin=parse_margin("10px"), scale=0.5,
                            position=parse_position("0% 0%"))
    assert placement.identity and placement.canvas == SIZE


# Resampling


def soft_scene() -> tuple[np.ndarray, np.ndarray]:
    """A red disc with an anti-aliased edge on green (alpha 0), as a matte leaves it."""
    rgb, alpha = scene(speck=False)
    alpha[:] = 0
    cv2.circle(alpha, (100, 50), 40, 255, -1, lineType=cv2.LINE_AA)
    rgb[:] = GREEN
    rgb[alpha > 0] = RED
    return rgb, alpha


def test_scaling_never_brings_the_background_into_the_edges() -> None:
    rgb, alpha = soft_scene()
    out_rgb, out_alpha = layout.place(rgb, alpha, Placement((74, 37), 0.37))
    seen = out_alpha > 0
    assert seen.sum() > 500
    red, green = out_rgb[..., 0].astype(int), out_rgb[..., 1].astype(int)
    assert (green[seen] <= red[seen]).all()
    # From 5 % up, red through and through (below, 8-bit premultiplied colour may be 0).
    visible = out_alpha >= layout.SUBJECT_ALPHA
    assert (red[visible] > green[visible] + 100).all()
    # Opaque inside stays exactly the subject's colour.
    inside = cv2.erode((out_alpha == 255).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert inside.sum() > 300
    assert (out_rgb[inside] == RED).all()


def test_only_the_part_that_lands_on_the_canvas_is_resized(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, alpha = scene((4000, 3000), Box(2000, 1500, 100, 100), speck=False)
    shapes: list[tuple[int, ...]] = []

    def spy(part_rgb: np.ndarray, part_alpha: np.ndarray) -> np.ndarray:
        shapes.append(part_alpha.shape)
        return transform.rgba(part_rgb, part_alpha)

    monkeypatch.setattr("alphacut.imaging.layout.rgba", spy)
    placement = layout.plan(4000, 3000, layout.subject_box(alpha), crop=True,
                            margin=parse_margin("10px"), scale=0.8, position=None)
    out_rgb, out_alpha = layout.place(rgb, alpha, placement)
    assert out_alpha.shape == (120, 120)
    assert len(shapes) == 1 and max(shapes[0]) < 160
    assert_near(layout.subject_box(out_alpha), Box(12, 12, 96, 96))
    assert out_rgb.flags.c_contiguous and out_alpha.flags.c_contiguous


# Contact shadow


def standing(size: tuple[int, int] = (200, 160)) -> np.ndarray:
    """The scene's subject on a taller canvas, room below its bottom row (69)."""
    return scene(size)[1]


def test_contact_shadow_lies_below_the_subject() -> None:
    shadow = layout.contact_shadow(standing(), 60, 6)
    assert shadow.dtype == np.uint8 and shadow.shape == (160, 200)
    assert not shadow[:SUBJECT.top + 1].any()  # nothing at or above the top row
    assert not shadow[:SUBJECT.top + SUBJECT.height // 2].any()
    assert (shadow[SUBJECT.bottom, SUBJECT.left:SUBJECT.right] > 0).all()
    assert abs(int(shadow.max()) - 60 * 255 / 100) <= 1
    # The box compose already measured gives the same shadow (it is not measured twice).
    measured = layout.subject_box(standing())
    assert (layout.contact_shadow(standing(), 60, 6, measured) == shadow).all()
    # Under the subject's columns only, give or take the blur (3 sigma = 9 px).
    assert not shadow[:, :SUBJECT.left - 10].any() and not shadow[:, SUBJECT.right + 10:].any()


def test_a_wide_blur_never_reaches_above_the_subject() -> None:
    # A flat subject (150 x 10) and a blur reaching 45 px: still nothing in its upper
    # half, so nothing at or above its top row (40).
    alpha = scene((200, 160), Box(25, 40, 150, 10), speck=False)[1]
    shadow = layout.contact_shadow(alpha, 100, 30)
    assert not shadow[:45].any() and shadow[45:].any()


@pytest.mark.parametrize("softness", [None, 0, 3, 12])
def test_contact_shadow_fades_with_distance_below(softness: int | None) -> None:
    shadow = layout.contact_shadow(standing(), 80, softness)
    column = shadow[SUBJECT.bottom - 1:, 90].astype(int)
    assert column[0] > 0 and column[-1] == 0
    assert (np.diff(column) <= 0).all()


def test_contact_shadow_is_clipped_by_the_canvas() -> None:
    alpha = standing((200, 72))
    shadow = layout.contact_shadow(alpha, 100, 8)
    assert shadow.shape == alpha.shape and shadow[71, 90] > 0


@pytest.mark.parametrize(("alpha", "opacity"), [
    (standing(), 0), (np.zeros((160, 200), np.uint8), 50)])
def test_contact_shadow_can_be_nothing(alpha: np.ndarray, opacity: int) -> None:
    assert not layout.contact_shadow(alpha, opacity, None).any()


def test_shadow_goes_under_the_subject() -> None:
    rgb, alpha = scene((200, 160))
    alpha[30:40, 70:80] = 128  # a half-transparent patch
    shadow = np.zeros_like(alpha)
    shadow[25:100, 50:130] = 128
    out_rgb, out_alpha = layout.under(rgb, alpha, shadow)
    opaque = alpha == 255
    assert np.array_equal(out_rgb[opaque], rgb[opaque])
    assert (out_alpha[opaque] == 255).all()
    # Where the subject is transparent the shadow shows, black.
    below = (slice(SUBJECT.bottom, 100), slice(50, 130))
    assert (out_alpha[below] == 128).all() and not out_rgb[below].any()
    # Half over half: a' = 128 + 128 * 127 / 255 ~ 192; colour 128 / 192 of red.
    assert out_alpha[35, 75] == 192
    assert out_rgb[35, 75].tolist() == [round(c * 128 / 191.75) for c in RED]
    # Outside the shadow, nothing changes.
    assert np.array_equal(out_alpha[100:], alpha[100:]) and out_alpha is not alpha


def test_no_shadow_changes_nothing() -> None:
    rgb, alpha = scene()
    out_rgb, out_alpha = layout.under(rgb, alpha, np.zeros_like(alpha))
    assert np.array_equal(out_rgb, rgb) and np.array_equal(out_alpha, alpha)
