"""Where the subject goes on the canvas: crop margins, scale, position, region of interest.

The text forms are remove.bg's (its API reference), accepted the same on both APIs:

- a length is ``30px``, ``10%`` or a bare number (pixels);
- ``crop_margin``: one, two or four lengths in CSS order (all; top/bottom and
  left/right; top, right, bottom, left), each at most 500 px or 50 % (of the
  subject's height for top/bottom, width for left/right);
- ``scale``: ``original`` or ``10%``–``100%`` (the subject's larger side against the
  canvas's);
- ``position``: ``original``, ``center``, or one or two of ``0%``–``100%``
  (horizontal, vertical; ``0%`` touches the left or top, ``100%`` the right or bottom);
- ``roi``: ``x1 y1 x2 y2``, each a length (``%`` of the image's width for x, height
  for y): only pixels inside can be foreground.

Values may be separated by spaces or commas. A parse error names the field
(:class:`InvalidField`), which each API words its own way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from alphacut.errors import InvalidField

MAX_MARGIN_PX = 500
MAX_MARGIN_PERCENT = 50.0
MIN_SCALE_PERCENT = 10.0
MAX_SCALE_PERCENT = 100.0
MAX_LENGTH_PX = 100_000
_LENGTH = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(px|%)?", re.IGNORECASE)
_MAX_TEXT = 200


@dataclass(frozen=True)
class Length:
    value: float
    percent: bool = False

    def px(self, whole: float) -> float:
        """In pixels, ``%`` taken of ``whole``."""
        return self.value * whole / 100.0 if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value:g}{'%' if self.percent else 'px'}"


@dataclass(frozen=True)
class Margin:
    top: Length
    right: Length
    bottom: Length
    left: Length

    def pixels(self, subject_width: int, subject_height: int) -> tuple[int, int, int, int]:
        """Top, right, bottom, left in whole pixels for a subject of this size."""
        return (round(self.top.px(subject_height)), round(self.right.px(subject_width)),
                round(self.bottom.px(subject_height)), round(self.left.px(subject_width)))


@dataclass(frozen=True)
class Position:
    """Where the subject's box sits: ``x`` and ``y`` from 0 (left, top) to 1 (right,
    bottom) of the room the canvas leaves around it; ``original`` = where it was."""

    x: float = 0.5
    y: float = 0.5
    original: bool = False


ORIGINAL = Position(original=True)
CENTER = Position()


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: the subject's, in some image's frame."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


class RoiExceedsBounds(InvalidField):
    code = "roi_exceeds_bounds"

    def __init__(self, width: int, height: int) -> None:
        super().__init__("roi", f"The roi goes past the image's bounds ({width}x{height} px).")


class RoiEmpty(InvalidField):
    code = "roi_region_empty"

    def __init__(self) -> None:
        super().__init__("roi", "The roi is empty: x2 must be greater than x1, and y2 than "
                                "y1.")


@dataclass(frozen=True)
class Roi:
    x1: Length
    y1: Length
    x2: Length
    y2: Length

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` in whole pixels of a ``width`` x ``height`` image
        (x2 and y2 exclusive); :class:`RoiExceedsBounds` past its edges,
        :class:`RoiEmpty` when nothing is inside."""
        xs = (self.x1.px(width), self.x2.px(width))
        ys = (self.y1.px(height), self.y2.px(height))
        if max(xs) > width + 0.5 or max(ys) > height + 0.5:
            raise RoiExceedsBounds(width, height)
        x1, x2 = (min(width, round(x)) for x in xs)
        y1, y2 = (min(height, round(y)) for y in ys)
        if x2 <= x1 or y2 <= y1:
            raise RoiEmpty()
        return x1, y1, x2, y2

    @property
    def whole(self) -> bool:
        """The default ``0% 0% 100% 100%`` (or the same in pixels of no image)."""
        return self == FULL_ROI


FULL_ROI = Roi(Length(0, True), Length(0, True), Length(100, True), Length(100, True))


def form_text(value: Margin | Position | Roi | float) -> str:
    """A layout value as the text its field takes (``parse_*`` gives it back)."""
    if isinstance(value, Margin):
        return " ".join(str(v) for v in (value.top, value.right, value.bottom, value.left))
    if isinstance(value, Position):
        return "original" if value.original else f"{value.x * 100:g}% {value.y * 100:g}%"
    if isinstance(value, Roi):
        return " ".join(str(v) for v in (value.x1, value.y1, value.x2, value.y2))
    return f"{value * 100:g}%"


def shown(raw: str, most: int = 50) -> str:
    """A value as an error message repeats it: at most ``most`` characters."""
    return raw if len(raw) <= most else raw[:most] + "..."


def _check_length(name: str, raw: str) -> None:
    if len(raw) > _MAX_TEXT:
        raise InvalidField(name, f"'{name}' is too long.")


def _values(name: str, raw: str) -> list[str]:
    _check_length(name, raw)
    return [v for v in re.split(r"[\s,]+", raw.strip()) if v]


def parse_length(name: str, raw: str) -> Length:
    _check_length(name, raw)
    match = _LENGTH.fullmatch(raw.strip())
    if match is None:
        raise InvalidField(name, f"'{name}' values must be pixels (e.g. 30px) or percentages "
                                 f"(e.g. 10%), got: '{shown(raw)}'")
    value = float(match.group(1))
    percent = (match.group(2) or "").lower() == "%"
    if not math.isfinite(value) or (not percent and value > MAX_LENGTH_PX):
        raise InvalidField(name, f"'{name}' value is too large: '{shown(raw)}'")
    return Length(value, percent)


def parse_margin(raw: str) -> Margin:
    """One, two or four lengths (CSS order), each at most 500 px or 50 %."""
    values = [parse_length("crop_margin", v) for v in _values("crop_margin", raw)]
    if len(values) not in (1, 2, 4):
        raise InvalidField("crop_margin", "'crop_margin' takes one, two or four values "
                                          f"(top right bottom left), got {len(values)}.")
    for value in values:
        if value.percent and value.value > MAX_MARGIN_PERCENT:
            raise InvalidField("crop_margin", f"Each 'crop_margin' is at most "
                                              f"{MAX_MARGIN_PERCENT:g}%, got: {value}")
        if not value.percent and value.value > MAX_MARGIN_PX:
            raise InvalidField("crop_margin", f"Each 'crop_margin' is at most "
                                              f"{MAX_MARGIN_PX}px, got: {value}")
    if len(values) == 1:
        values *= 4
    elif len(values) == 2:
        values *= 2
    return Margin(*values)


def parse_scale(raw: str) -> float | None:
    """``original`` (None) or 10 %–100 % as a fraction."""
    _check_length("scale", raw)
    text = raw.strip().lower()
    if text == "original":
        return None
    message = f"'scale' must be 'original' or from 10% to 100%, got: '{shown(raw)}'"
    try:
        length = parse_length("scale", text if text.endswith("%") else text + "%")
    except InvalidField:
        raise InvalidField("scale", message) from None
    if not MIN_SCALE_PERCENT <= length.value <= MAX_SCALE_PERCENT:
        raise InvalidField("scale", message)
    return length.value / 100.0


def parse_position(raw: str) -> Position:
    """``original``, ``center``, or one or two percentages (horizontal, vertical)."""
    text = raw.strip().lower()
    if text == "original":
        return ORIGINAL
    if text in ("center", "centre"):
        return CENTER
    message = ("'position' must be 'original', 'center', or one or two values from 0% to "
               f"100% (horizontal, vertical), got: '{shown(raw)}'")
    parts = _values("position", text)
    if len(parts) not in (1, 2):
        raise InvalidField("position", message)
    shares = []
    for part in parts:
        try:
            length = parse_length("position", part if part.endswith("%") else part + "%")
        except InvalidField:
            raise InvalidField("position", message) from None
        if length.value > 100:
            raise InvalidField("position", message)
        shares.append(length.value / 100.0)
    return Position(shares[0], shares[-1])


def parse_roi(raw: str) -> Roi:
    parts = _values("roi", raw)
    if len(parts) != 4:
        raise InvalidField("roi", f"'roi' takes four values (x1 y1 x2 y2), got: "
                                  f"'{shown(raw)}'")
    return Roi(*(parse_length("roi", part) for part in parts))
