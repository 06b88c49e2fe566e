"""`make eval`: alphacut's cut-outs against ground truth, next to rembg's on the same model.

For every ``DATA/images/<id>.jpg`` with a ``DATA/gt/<id>.png`` it runs alphacut's
engine (PNG out, the alpha channel is the prediction) and rembg (default
settings, same ``u2netp.onnx``, in ``.venv-bench`` through the worker in
``scripts/bench.py``), then prints per image and overall:

* MAE of the alpha, IoU at 0.5, boundary F (tolerance 0.8% of the diagonal),
* and overall also the edge-band MAE (1% of the diagonal around the true
  boundary), the data-set max F-beta (beta^2 0.3, curves averaged over images)
  and how far alphacut's alpha is from rembg's (MAE between the two).

See ``alphacut.quality.metrics`` for the exact definitions. Exits 2 when the
data set is missing.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# scripts/ is on sys.path when this file runs; bench.py holds the rembg worker.
from bench import MODEL, RembgWorker, bench_python, json_safe, model_file_and_md5
from PIL import Image

from alphacut import Engine, OutputFormat, RemovalOptions, Settings
from alphacut.quality import metrics

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
SIDES = ("alphacut", "rembg")
PER_IMAGE = ("mae", "iou", "bf")
OVERALL = ("mae", "iou", "bf", "edge_mae", "max_f")
LABELS = {"mae": "MAE", "iou": "IoU", "bf": "BF", "edge_mae": "edge MAE", "max_f": "max F"}

Alpha = np.ndarray


@dataclass
class Scores:
    """One side's metrics on one image (``max_f`` is per image; overall uses curves)."""

    mae: float
    iou: float
    bf: float
    edge_mae: float
    max_f: float
    curve: metrics.PRCurve = field(repr=False)

    def value(self, name: str) -> float:
        return float(getattr(self, name))


def score(pred: Alpha, gt: Alpha) -> Scores:
    return Scores(
        mae=metrics.mae(pred, gt), iou=metrics.iou(pred, gt),
        bf=metrics.boundary_f_measure(pred, gt), edge_mae=metrics.edge_band_mae(pred, gt),
        max_f=metrics.max_f_measure(pred, gt), curve=metrics.pr_curve(pred, gt),
    )


def find_pairs(data: Path, limit: int | None) -> list[tuple[str, Path, Path]]:
    pairs = [(image.stem, image, data / "gt" / f"{image.stem}.png")
             for image in sorted((data / "images").glob("*.jpg"))]
    pairs = [pair for pair in pairs if pair[2].is_file()]
    return pairs[:limit] if limit else pairs


def read_alpha(path: Path) -> Alpha:
    return np.asarray(Image.open(path).convert("L"))


def read_alpha_bytes(data: bytes) -> Alpha:
    return np.asarray(Image.open(io.BytesIO(data)).getchannel("A"))


def alphacut_alphas(images: Sequence[Path]) -> list[Alpha]:
    engine = Engine(Settings(model=MODEL))
    options = RemovalOptions(format=OutputFormat.PNG, model=MODEL)
    alphas = []
    for path in images:
        result = engine.remove(path.read_bytes(), options)
        alphas.append(read_alpha_bytes(result.content))
    return alphas


def rembg_alphas(images: Sequence[Path], python: Path) -> list[Alpha]:
    model_file, md5 = model_file_and_md5(Engine(Settings(model=MODEL)))
    with tempfile.TemporaryDirectory(prefix="alphacut-eval-") as tmp, \
            RembgWorker(python, model_file, md5) as worker:
        outs = [Path(tmp) / f"{i}.png" for i in range(len(images))]
        for image, out in zip(images, outs, strict=True):
            worker.remove(image, alpha_out=out)
        return [read_alpha(out) for out in outs]


# --- aggregation -------------------------------------------------------------------


def overall(scores: Sequence[Scores]) -> dict[str, float]:
    """Means over images; max F from the averaged precision/recall curve."""
    summary = {name: float(np.nanmean([s.value(name) for s in scores]))
               for name in OVERALL if name != "max_f"}
    summary["max_f"] = metrics.best_f(metrics.mean_curve([s.curve for s in scores]))
    return summary


def parity(ours: Sequence[Alpha], theirs: Sequence[Alpha]) -> float:
    """Mean over images of the MAE between alphacut's and rembg's alphas."""
    return float(np.mean([metrics.mae(a, b) for a, b in zip(ours, theirs, strict=True)]))


# --- report ----------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    rows = [header, ["-" * w for w in widths], *lines]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                     for r in rows)


def per_image_table(ids: Sequence[str], results: dict[str, list[Scores]]) -> str:
    sides = [side for side in SIDES if side in results]
    header = ["image", *(f"{LABELS[m]} {side}" for m in PER_IMAGE for side in sides)]
    lines = [[image_id, *(_fmt(results[side][i].value(m)) for m in PER_IMAGE for side in sides)]
             for i, image_id in enumerate(ids)]
    return _table(header, lines)


def overall_table(summary: dict[str, dict[str, float]], count: int) -> str:
    sides = [side for side in SIDES if side in summary]
    header = [f"overall ({count} images)", *(LABELS[m] for m in OVERALL)]
    lines = [[side, *(_fmt(summary[side][m]) for m in OVERALL)] for side in sides]
    if len(sides) == 2:
        delta = {m: summary["alphacut"][m] - summary["rembg"][m] for m in OVERALL}
        lines.append(["delta (alphacut - rembg)", *(f"{delta[m]:+.4f}" for m in OVERALL)])
    return _table(header, lines)


def as_json(data: Path, ids: Sequence[str], results: dict[str, list[Scores]],
            summary: dict[str, dict[str, float]], notes: Sequence[str]) -> Any:
    images = [{"id": image_id, **{side: {m: results[side][i].value(m) for m in OVERALL}
                                   for side in results}}
              for i, image_id in enumerate(ids)]
    return json_safe({"data": str(data), "model": MODEL, "images": images,
                      "overall": summary, "notes": list(notes)})


# --- main ------------------------------------------------------------------------------


def evaluate(data: Path, limit: int | None, use_rembg: bool) -> tuple[
        list[str], dict[str, list[Scores]], dict[str, dict[str, float]], list[str]]:
    pairs = find_pairs(data, limit)
    ids = [image_id for image_id, _, _ in pairs]
    truths = [read_alpha(gt) for _, _, gt in pairs]
    predictions: dict[str, list[Alpha]] = {"alphacut": alphacut_alphas([p for _, p, _ in pairs])}
    notes: list[str] = []
    python = bench_python()
    if use_rembg and python:
        predictions["rembg"] = rembg_alphas([p for _, p, _ in pairs], python)
    elif use_rembg:
        notes.append("rembg skipped: its environment (.venv-bench) is missing; "
                     "run scripts/bench-env (`make eval` does)")
    results = {side: [score(p, t) for p, t in zip(preds, truths, strict=True)]
               for side, preds in predictions.items()}
    summary = {side: overall(scores) for side, scores in results.items()}
    if "rembg" in predictions:
        summary["alphacut"]["vs_rembg_mae"] = parity(predictions["alphacut"], predictions["rembg"])
    return ids, results, summary, notes


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="alphacut vs rembg against ground truth.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="data set with images/<id>.jpg and gt/<id>.png "
                             "(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-rembg", dest="rembg", action="store_false",
                        help="score alphacut alone")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    data: Path = args.data
    if not (data / "images").is_dir() or not find_pairs(data, 1):
        print(f"eval: no data set at {data} (want images/<id>.jpg with gt/<id>.png); "
              "give one with `make eval DATA=path` or --data", file=sys.stderr)
        return 2
    ids, results, summary, notes = evaluate(data, args.limit, args.rembg)
    if args.json:
        print(json.dumps(as_json(data, ids, results, summary, notes), indent=2, allow_nan=False))
        return 0
    print(f"{MODEL} on {data}: MAE and edge MAE (lower is better), IoU at 0.5, "
          f"boundary F (tolerance {metrics.BOUNDARY_TOLERANCE:.1%} of the diagonal), max F "
          f"(beta^2 {metrics.F_BETA2}) (higher is better)")
    print()
    print(per_image_table(ids, results))
    print()
    print(overall_table(summary, len(ids)))
    if "vs_rembg_mae" in summary.get("alphacut", {}):
        print(f"\nalphacut vs rembg alpha, mean MAE per image: "
              f"{summary['alphacut']['vs_rembg_mae']:.5f}")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
