"""alphacut: self-hosted background removal that speaks the RemBG API.

The library entry point is :func:`remove_background`; build an :class:`Engine`
yourself to choose settings, or let the first call build a default one.
"""

from __future__ import annotations

import functools

from alphacut.domain.options import OutputFormat, RemovalOptions, parse_options
from alphacut.engine.pipeline import Engine, Result
from alphacut.errors import AlphacutError
from alphacut.settings import Settings

__all__ = [
    "AlphacutError",
    "Engine",
    "OutputFormat",
    "RemovalOptions",
    "Result",
    "Settings",
    "parse_options",
    "remove_background",
]


@functools.cache
def _default_engine() -> Engine:
    return Engine(Settings())


def remove_background(
    data: bytes, options: RemovalOptions | None = None, *, engine: Engine | None = None
) -> Result:
    """Remove the background of one encoded image (png, jpeg, webp or bmp bytes)."""
    return (engine or _default_engine()).remove(data, options or RemovalOptions())
