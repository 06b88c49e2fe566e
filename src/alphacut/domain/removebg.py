"""remove.bg's request fields, read into the same :class:`RemovalOptions` the RemBG form
gives (docs/removebg.md has the field-by-field table).

Values arrive as text whatever the body (multipart, urlencoded, or JSON, whose
booleans and numbers the reader turns into text). Every invalid field is reported,
each as an :class:`InvalidField` naming it; the remove.bg adapter gives each its
remove.bg code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from alphacut.domain.colors import RGBA, parse_color
from alphacut.domain.layout import parse_margin, parse_position, parse_roi, parse_scale, shown
from alphacut.domain.options import (
    DEFAULT_SHADOW_OPACITY,
    MAX_FEATHER,
    MAX_SHADOW_SOFTNESS,
    OutputFormat,
    RemovalOptions,
    parse_bool,
    parse_count,
    parse_name,
    parse_percent,
    parse_switch,
)
from alphacut.errors import FieldErrors, InvalidField

PREVIEW_PIXELS = 250_000
SIZES: dict[str, int | None] = {
    "preview": PREVIEW_PIXELS, "small": PREVIEW_PIXELS, "regular": PREVIEW_PIXELS,
    "medium": 1_500_000, "hd": 4_000_000,
    "full": None, "4k": None, "auto": None, "50mp": None,
}
"""Most pixels of the result per ``size`` (None: the image's own size, within alphacut's
output limits)."""
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation", "other",
         "car_interior", "car_part", "graphics")
"""remove.bg's request values, and the X-Type values a client may send back."""
TYPE_LEVELS = ("none", "1", "2", "latest")
FORMATS = {"auto": None, "png": OutputFormat.PNG, "jpg": OutputFormat.JPEG,
           "jpeg": OutputFormat.JPEG, "zip": OutputFormat.ZIP, "webp": OutputFormat.WEBP,
           "avif": OutputFormat.AVIF}
SHADOW_TYPES = ("none", "car", "3d", "drop")
CAR_SHADOW_OPACITY = 90
_HEX = re.compile(r"[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}")


@dataclass(frozen=True)
class RemoveBgRequest:
    options: RemovalOptions
    type: str
    """What ``X-Type`` reports: the ``type`` asked for, ``other`` for ``auto``."""
    type_level: str


def _choice(name: str, allowed: tuple[str, ...] | Mapping[str, Any], raw: str) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise InvalidField(name, f"'{name}' must be one of {', '.join(allowed)}, got: "
                                 f"'{shown(raw)}'")
    return value


def parse_size(raw: str) -> int | None:
    return SIZES[_choice("size", SIZES, raw)]


def parse_bg_color(raw: str) -> RGBA:
    """Hex with 3, 4, 6 or 8 digits, with or without ``#``, or a colour name."""
    text = raw.strip()
    color = parse_color("#" + text if _HEX.fullmatch(text) else text)
    if color is None:
        raise InvalidField("bg_color", f"'bg_color' must be a hex colour (81d4fa, fff, "
                                       f"81d4fa77) or a colour name, got: '{shown(raw)}'")
    return color


def parse_shadow_opacity(raw: str) -> int | None:
    return None if raw.strip().lower() == "auto" else parse_percent("shadow_opacity", raw)


_PARSERS: dict[str, Any] = {
    "size": parse_size,
    "type": partial(_choice, "type", TYPES),
    "type_level": partial(_choice, "type_level", TYPE_LEVELS),
    "format": partial(_choice, "format", FORMATS),
    "roi": parse_roi,
    "crop": partial(parse_bool, "crop", default=False),
    "crop_margin": parse_margin,
    "scale": parse_scale,
    "position": parse_position,
    "channels": partial(_choice, "channels", ("rgba", "alpha")),
    "bg_color": parse_bg_color,
    "add_shadow": partial(parse_bool, "add_shadow", default=False),
    "shadow_type": partial(_choice, "shadow_type", SHADOW_TYPES),
    "shadow_opacity": parse_shadow_opacity,
    "semitransparency": partial(parse_bool, "semitransparency", default=True),
    # alphacut's extensions, as on /rmbg
    "shadow_softness": partial(parse_count, "shadow_softness", high=MAX_SHADOW_SOFTNESS),
    "feather": partial(parse_count, "feather", high=MAX_FEATHER),
    "model": parse_name,
    "refine": partial(parse_switch, "refine"),
    "decontaminate": partial(parse_switch, "decontaminate"),
    "tta": partial(parse_switch, "tta"),
}
FIELDS = tuple(_PARSERS)
"""Every field read, in the order they are checked (remove.bg's reference order)."""


def parse_removebg(fields: Mapping[str, str], bg_image: bytes | None = None) -> RemoveBgRequest:
    """The options of one remove.bg request; every invalid field reported at once."""
    errors = FieldErrors()
    given: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        raw = fields.get(name)
        if raw is not None and raw.strip():
            given[name] = errors.attempt(partial(parse, raw), None)
    errors.raise_any()
    return RemoveBgRequest(_options(given, bg_image), _reported_type(given),
                           given.get("type_level") or "1")


def _reported_type(given: Mapping[str, Any]) -> str:
    kind = given.get("type") or "auto"
    return "other" if kind == "auto" else kind


def _options(given: Mapping[str, Any], bg_image: bytes | None) -> RemovalOptions:
    mask = given.get("channels") == "alpha"
    bg_color = None if mask else given.get("bg_color")
    background = None if mask else bg_image
    shadow = bool(given.get("add_shadow")) or given.get("shadow_type", "none") != "none"
    opacity = given.get("shadow_opacity")
    if opacity is None:
        opacity = CAR_SHADOW_OPACITY if given.get("type") == "car" else DEFAULT_SHADOW_OPACITY
    return RemovalOptions(
        format=_format(given.get("format"), mask, bg_color, background),
        bg_color=bg_color, mask=mask, bg_image=background,
        max_pixels=given.get("size", PREVIEW_PIXELS),
        roi=given.get("roi"), crop=bool(given.get("crop")),
        crop_margin=given.get("crop_margin"),
        scale=given.get("scale"), position=given.get("position"),
        shadow=shadow and not mask, shadow_opacity=opacity,
        shadow_softness=given.get("shadow_softness"),
        semitransparency=given.get("semitransparency", True),
        feather=given.get("feather") or 0, model=given.get("model"),
        refine=given.get("refine"), decontaminate=given.get("decontaminate"),
        tta=given.get("tta"),
    )


def _format(name: str | None, mask: bool, bg_color: RGBA | None,
            background: bytes | None) -> OutputFormat:
    """``auto``: PNG where the result has transparency, else JPG (an opaque background)."""
    chosen = FORMATS.get(name or "auto")
    if chosen is not None:
        return chosen
    opaque = background is not None or (bg_color is not None and bg_color[3] == 255)
    return OutputFormat.JPEG if opaque and not mask else OutputFormat.PNG
