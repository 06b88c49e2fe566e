"""The library's entry points: ``alphacut.Engine(settings)`` and ``remove_background``."""

from __future__ import annotations

import functools

from alphacut.bootstrap import Pools, engine_config
from alphacut.domain.options import RemovalOptions
from alphacut.engine import pipeline
from alphacut.engine.store import ModelStore
from alphacut.settings import Settings


class Engine(pipeline.Engine):
    """The engine configured from ``Settings`` (the server's own mapping), with pools sized
    as the server sizes them."""

    def __init__(self, settings: Settings, store: ModelStore | None = None) -> None:
        super().__init__(engine_config(settings), Pools.sized(settings).engine(), store)
        self.settings = settings


@functools.cache
def _default_engine() -> pipeline.Engine:
    return Engine(Settings())


def remove_background(
    data: bytes, options: RemovalOptions | None = None, *, engine: pipeline.Engine | None = None
) -> pipeline.Result:
    """Remove the background of one encoded image: png, jpeg, webp, bmp, heic/heif, avif,
    tiff or gif bytes (an animation's first frame; docs/formats.md). The options include
    the layout (``crop``, ``scale``, ``position``, ``shadow``...: docs/layout.md) and the
    avif and zip outputs."""
    return (engine or _default_engine()).remove(data, options or RemovalOptions())
