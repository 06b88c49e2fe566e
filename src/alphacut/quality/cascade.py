"""The cascade measured: the first model alone, the cascade, the last model alone, on the
same images (``alphacut eval --cascade A>B``; docs/quality.md).

Each configuration runs on its own engine, one after the other (a second engine holds a
second copy of a large model otherwise). Quality is the mean over every image of every
set given; time is the mean seconds per image, decode to PNG; ``handed_over`` is the
share of images the cascade passed on to a later model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.library import Engine as SettingsEngine
from alphacut.quality.evaluate import Sample, load_sample, read_cutout, score
from alphacut.settings import Settings

COLUMNS = ("mae", "iou", "edge_mae", "sad", "mse", "gradient_error")


@dataclass(frozen=True)
class CascadeRow:
    label: str
    images: int
    means: dict[str, float]
    seconds: float
    handed_over: float
    """Share of images answered by a model after the first (the cascade row only)."""


def compare(samples: Sequence[Sample], settings: Settings,
            cascade: tuple[str, ...]) -> list[CascadeRow]:
    """First model alone, the cascade (at ``settings.cascade_threshold``), last model alone."""
    joined = ">".join(cascade)
    configs = ((f"{cascade[0]} alone", cascade[0], ""),
               (f"cascade {joined} (threshold {settings.cascade_threshold:g})", None, joined),
               (f"{cascade[-1]} alone", cascade[-1], ""))
    return [_run(label, samples, settings.model_copy(update={"cascade": chain}), model,
                 cascade[0])
            for label, model, chain in configs]


def _run(label: str, samples: Sequence[Sample], settings: Settings, model: str | None,
         first: str) -> CascadeRow:
    engine = SettingsEngine(settings)
    engine.start(model)
    options = RemovalOptions(format=OutputFormat.PNG, model=model)
    totals = dict.fromkeys(COLUMNS, 0.0)
    seconds = 0.0
    later = 0
    for sample in tqdm(samples, unit="img", leave=False, desc=label):
        image, truth = load_sample(sample)
        start = time.perf_counter()
        result = engine.remove(sample.image.read_bytes(), options)
        took = time.perf_counter() - start
        scores = score(read_cutout(result.content, took, result.uncertainty), image, truth)
        for name in COLUMNS:
            totals[name] += getattr(scores, name)
        seconds += took
        later += result.model != first
    count = max(1, len(samples))
    return CascadeRow(label, len(samples), {k: v / count for k, v in totals.items()},
                      seconds / count, later / count if model is None else math.nan)


def render(rows: Sequence[CascadeRow]) -> str:
    header = ["configuration", "images", *COLUMNS, "s/img", "handed over"]
    lines = [header] + [
        [row.label, str(row.images), *(f"{row.means[c]:.4f}" for c in COLUMNS),
         f"{row.seconds:.3f}", "-" if math.isnan(row.handed_over)
         else f"{row.handed_over:.0%}"] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     for line in lines)
    return f"\ncascade (all sets pooled)\n{text}\n"


def as_json(rows: Sequence[CascadeRow]) -> list[dict[str, object]]:
    return [{"configuration": row.label, "images": row.images, **row.means,
             "seconds": row.seconds,
             "handed_over": None if math.isnan(row.handed_over) else row.handed_over}
            for row in rows]
