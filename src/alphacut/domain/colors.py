"""Background colours: ``#RGB``, ``#RGBA``, ``#RRGGBB``, ``#RRGGBBAA`` or a CSS name."""

from __future__ import annotations

import re

from PIL import ImageColor

RGBA = tuple[int, int, int, int]

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def parse_color(text: str) -> RGBA | None:
    """The colour as RGBA, or None when the text is not one the contract allows."""
    value = text.strip()
    if value.startswith("#"):
        if not _HEX.fullmatch(value):
            return None
        digits = value[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return (r, g, b, a)
    name = value.lower()
    if name not in ImageColor.colormap:
        return None
    r, g, b = ImageColor.getrgb(name)[:3]
    return (r, g, b, 255)
