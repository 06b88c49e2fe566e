"""What the caller asked for, parsed from form fields with every field error collected.

Order of checks inside this module: ``format``, ``w``, ``h``, ``angle``,
``bg_color``, then the booleans, then the cross-field rule (mask with
bg_color), then alphacut's optional switches (``refine``, ``decontaminate``,
``tta``). Every error found is reported; one alone is answered as itself, more
than one as the contract's "Multiple validation errors".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from alphacut.domain.colors import RGBA, parse_color
from alphacut.errors import FieldErrors, InvalidField

MAX_TARGET_SIDE = 10000
MAX_ANGLE = 360.0


class OutputFormat(Enum):
    WEBP = "webp"
    PNG = "png"
    JPEG = "jpeg"
    BMP = "bmp"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def has_alpha(self) -> bool:
        return self in (OutputFormat.WEBP, OutputFormat.PNG)

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value


_FORMAT_NAMES = {"webp": OutputFormat.WEBP, "png": OutputFormat.PNG, "jpeg": OutputFormat.JPEG,
                 "jpg": OutputFormat.JPEG, "bmp": OutputFormat.BMP}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class RemovalOptions:
    """Everything that shapes one output. ``None`` width/height mean "not set"."""

    format: OutputFormat = OutputFormat.WEBP
    width: int | None = None
    height: int | None = None
    exact_resize: bool = False
    mask: bool = False
    bg_color: RGBA | None = None
    angle: float = 0.0
    expand: bool = True
    model: str | None = None
    # alphacut extensions; None = the server's setting.
    refine: bool | None = None
    decontaminate: bool | None = None
    tta: bool | None = None


def parse_format(raw: str) -> OutputFormat:
    fmt = _FORMAT_NAMES.get(raw.strip().lower())
    if fmt is None:
        raise InvalidField(
            "format", f"Invalid format '{raw}'. Allowed formats: PNG, JPEG, WEBP, BMP"
        )
    return fmt


def parse_side(name: str, raw: str) -> int | None:
    """A target width or height; 0 or empty means "not set" (the Node client sends w=0)."""
    text = raw.strip()
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidField(name, f"'{name}' must be an integer, got: '{raw}'") from None
    if value == 0:
        return None
    if value < 1:
        raise InvalidField(name, f"'{name}' must be at least 1, got: {value}")
    if value > MAX_TARGET_SIDE:
        raise InvalidField(name, f"'{name}' must be at most {MAX_TARGET_SIDE}, got: {value}")
    return value


def parse_angle(raw: str) -> float:
    text = raw.strip()
    if text == "":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise InvalidField("angle", f"'angle' must be a number, got: '{raw}'") from None
    if math.isnan(value):
        raise InvalidField("angle", f"'angle' must be a number, got: '{raw}'")
    if not -MAX_ANGLE <= value <= MAX_ANGLE:
        raise InvalidField(
            "angle", f"'angle' must be between -360 and 360 degrees, got: {value}"
        )
    return value


def parse_bg_color(raw: str) -> RGBA | None:
    if raw.strip() == "":
        return None
    color = parse_color(raw)
    if color is None:
        raise InvalidField(
            "bg_color",
            f"Invalid color format '{raw}'. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA",
        )
    return color


def parse_bool(name: str, raw: str, default: bool) -> bool:
    text = raw.strip().lower()
    if text == "":
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidField(
        name, f"'{name}' must be a boolean (true/false, 1/0, yes/no), got: '{raw}'"
    )


def parse_options(fields: Mapping[str, str]) -> RemovalOptions:
    """Parse the contract's form fields. Unknown fields (``return_base64``...) are ignored."""
    errors = FieldErrors()
    attempt = errors.attempt
    defaults = RemovalOptions()

    def raw(name: str) -> str:
        return fields.get(name) or ""

    fmt_raw = raw("format")
    fmt = defaults.format
    if fmt_raw.strip():
        fmt = attempt(lambda: parse_format(fmt_raw), fmt)
    width = attempt(lambda: parse_side("w", raw("w")), None)
    height = attempt(lambda: parse_side("h", raw("h")), None)
    angle = attempt(lambda: parse_angle(raw("angle")), 0.0)
    bg_color = attempt(lambda: parse_bg_color(raw("bg_color")), None)
    exact = attempt(lambda: parse_bool("exact_resize", raw("exact_resize"), False), False)
    mask = attempt(lambda: parse_bool("mask", raw("mask"), False), False)
    expand = attempt(lambda: parse_bool("expand", raw("expand"), True), True)
    if mask and bg_color is not None:
        errors.add(InvalidField(
            "mask", "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other."
        ))
    refine = attempt(lambda: parse_switch("refine", raw("refine")), None)
    decontaminate = attempt(lambda: parse_switch("decontaminate", raw("decontaminate")), None)
    tta = attempt(lambda: parse_switch("tta", raw("tta")), None)
    errors.raise_any()
    model = raw("model").strip() or None
    return RemovalOptions(fmt, width, height, exact, mask, bg_color, angle, expand, model,
                          refine, decontaminate, tta)


def parse_switch(name: str, raw: str) -> bool | None:
    """An optional boolean: empty means "the server's setting" (None)."""
    return None if raw.strip() == "" else parse_bool(name, raw, False)
