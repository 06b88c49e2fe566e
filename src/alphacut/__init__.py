"""alphacut: self-hosted background removal that speaks the RemBG API.

The library entry point is :func:`remove_background`; build an :class:`Engine`
yourself to choose settings, or let the first call build a default one.

The names below are imported on first use (PEP 562), so that importing a light
subpackage such as ``alphacut.client`` (httpx and the stdlib only) does not pull
in the engine's numpy, onnxruntime, Pillow and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alphacut.domain.options import OutputFormat, RemovalOptions, parse_options
    from alphacut.engine.pipeline import Result
    from alphacut.errors import AlphacutError
    from alphacut.library import Engine, remove_background
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

_LAZY = {
    "AlphacutError": "alphacut.errors",
    "Engine": "alphacut.library",
    "OutputFormat": "alphacut.domain.options",
    "RemovalOptions": "alphacut.domain.options",
    "Result": "alphacut.engine.pipeline",
    "Settings": "alphacut.settings",
    "parse_options": "alphacut.domain.options",
    "remove_background": "alphacut.library",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
