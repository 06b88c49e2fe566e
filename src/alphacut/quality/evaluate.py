"""Score cut-outs against ground truth: ``alphacut eval``'s machinery, and its report.

A data set is a folder with ``images/<id>.<jpg|jpeg|png|webp>`` and ``gt/<id>.png``
(8-bit alpha, same size). Each *side* (alphacut, optionally rembg) turns a sample
into a :class:`Cutout`: the alpha and RGB of its output, which is what a client
gets, and the seconds it took. Sides run image by image, alternating, so load
from elsewhere on the machine hits them alike.
"""

from __future__ import annotations

import io
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image
from tqdm import tqdm

from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.engine.pipeline import Engine
from alphacut.engine.specs import ModelSpec, custom_model
from alphacut.engine.store import ModelStore
from alphacut.imaging.decode import decode
from alphacut.library import Engine as SettingsEngine
from alphacut.quality import metrics
from alphacut.quality.rembg_peer import RembgWorker
from alphacut.settings import Settings

Pixels = npt.NDArray[np.uint8]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
ALPHACUT, REMBG = "alphacut", "rembg"
METRICS = ("mae", "iou", "max_f", "bf", "edge_mae", "edge_colour", "seconds")
"""Keys of every per-image and overall score, in report order."""
LABELS = {"mae": "MAE", "iou": "IoU", "max_f": "max F", "bf": "BF", "edge_mae": "edge MAE",
          "edge_colour": "edge colour", "seconds": "s/image"}

# Targets of the cut-out quality issue: alphacut against rembg on the same model file.
MAE_CUT = 0.15
EDGE_MAE_CUT = 0.15
BF_GAIN = 0.03
_SLACK = 1e-9
"""A score exactly at a target's limit passes (0.83 - 0.8 is 0.0299... in floating point)."""


class EvalError(Exception):
    """The data set or a side cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    truth: Path


@dataclass(frozen=True)
class Cutout:
    """One side's output on one image: straight (not premultiplied) alpha and RGB."""

    alpha: Pixels
    rgb: Pixels
    seconds: float


@dataclass(frozen=True)
class Scores:
    mae: float
    iou: float
    max_f: float
    """Per image; the overall max F comes from the averaged curves instead."""
    bf: float
    edge_mae: float
    edge_colour: float
    seconds: float
    curve: metrics.PRCurve = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in METRICS}


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool
    detail: str


@dataclass
class Report:
    data_dir: Path
    model: str
    settings: dict[str, bool]
    ids: list[str] = field(default_factory=list)
    scores: dict[str, list[Scores]] = field(default_factory=dict)
    parity: list[float] = field(default_factory=list)
    """Per image, the MAE between alphacut's and rembg's alphas."""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def sides(self) -> list[str]:
        return list(self.scores)

    def overall(self) -> dict[str, dict[str, float]]:
        return {side: summarise(scores) for side, scores in self.scores.items()}


# --- data set ---------------------------------------------------------------------------


def find_samples(data_dir: Path, limit: int | None = None) -> list[Sample]:
    """Images with a ground truth, sorted by id; at most ``limit``."""
    images = sorted(path for path in (data_dir / "images").glob("*")
                    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    samples = [Sample(path.stem, path, data_dir / "gt" / f"{path.stem}.png") for path in images]
    samples = [sample for sample in samples if sample.truth.is_file()]
    return samples[:limit] if limit else samples


def load_sample(sample: Sample) -> tuple[Pixels, Pixels]:
    """The input's RGB, oriented as the engine sees it, and the ground-truth alpha."""
    try:
        with Image.open(sample.image) as image:
            rgb = np.asarray(decode(image).rgb)
        with Image.open(sample.truth) as truth:
            alpha = np.asarray(truth.convert("L"))
    except OSError as exc:  # unreadable or not an image (PIL's UnidentifiedImageError)
        raise EvalError(f"{sample.id}: cannot read {exc}") from exc
    if rgb.shape[:2] != alpha.shape:
        raise EvalError(f"{sample.id}: image is {rgb.shape[1]}x{rgb.shape[0]} but its "
                        f"ground truth is {alpha.shape[1]}x{alpha.shape[0]}")
    return rgb, alpha


def read_cutout(data: bytes, seconds: float) -> Cutout:
    """Alpha and RGB of an output image (a cut-out without alpha counts as opaque)."""
    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    pixels = np.asarray(rgba)
    return Cutout(pixels[..., 3], pixels[..., :3], seconds)


# --- scoring ---------------------------------------------------------------------------


def score(cutout: Cutout, image: Pixels, truth: Pixels) -> Scores:
    if cutout.alpha.shape != truth.shape:
        raise EvalError(f"a cut-out is {cutout.alpha.shape[::-1]}, its ground truth "
                        f"{truth.shape[::-1]} (width, height)")
    pred = cutout.alpha
    curve = metrics.pr_curve(pred, truth)
    return Scores(
        mae=metrics.mae(pred, truth), iou=metrics.iou(pred, truth),
        max_f=metrics.best_f(curve), bf=metrics.boundary_f_measure(pred, truth),
        edge_mae=metrics.edge_band_mae(pred, truth),
        edge_colour=metrics.edge_colour_error(pred, cutout.rgb, image, truth),
        seconds=cutout.seconds, curve=curve,
    )


def summarise(scores: Sequence[Scores]) -> dict[str, float]:
    """Means over images (NaN scores left out); max F from the averaged curve."""
    summary = {name: _mean([getattr(s, name) for s in scores]) for name in METRICS}
    summary["max_f"] = metrics.best_f(metrics.mean_curve([s.curve for s in scores]))
    return summary


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def evaluate(report: Report, samples: Sequence[Sample],
             sides: dict[str, Callable[[Sample], Cutout]]) -> Report:
    """Run every side on every sample, image by image, and score each cut-out."""
    report.scores = {side: [] for side in sides}
    bar = tqdm(samples, unit="img", disable=None if len(samples) > 1 else True, leave=False)
    for sample in bar:
        image, truth = load_sample(sample)
        cutouts = {side: cut(sample) for side, cut in sides.items()}
        report.ids.append(sample.id)
        for side, cutout in cutouts.items():
            report.scores[side].append(score(cutout, image, truth))
        if ALPHACUT in cutouts and REMBG in cutouts:
            report.parity.append(metrics.mae(cutouts[ALPHACUT].alpha, cutouts[REMBG].alpha))
    return report


def check_targets(overall: dict[str, dict[str, float]]) -> list[Target]:
    """The issue's targets, alphacut against rembg; empty without a rembg side."""
    if ALPHACUT not in overall or REMBG not in overall:
        return []
    ours, theirs = overall[ALPHACUT], overall[REMBG]

    def lower_by(name: str, cut: float) -> Target:
        change = ours[name] / theirs[name] - 1 if theirs[name] else math.nan
        return Target(f"{LABELS[name]} at least {cut:.0%} lower than rembg's",
                      ours[name] <= (1 - cut) * theirs[name] + _SLACK,
                      f"alphacut {ours[name]:.4f}, rembg {theirs[name]:.4f}: {change:+.1%}")

    def versus(name: str, passed: bool, want: str) -> Target:
        delta = ours[name] - theirs[name]
        return Target(f"{LABELS[name]} {want}", passed,
                      f"alphacut {ours[name]:.4f}, rembg {theirs[name]:.4f}: {delta:+.4f}")

    return [
        lower_by("mae", MAE_CUT),
        lower_by("edge_mae", EDGE_MAE_CUT),
        versus("bf", ours["bf"] - theirs["bf"] >= BF_GAIN - _SLACK, f"at least {BF_GAIN} higher"),
        versus("iou", ours["iou"] >= theirs["iou"], "no lower than rembg's"),
        versus("edge_colour", ours["edge_colour"] < theirs["edge_colour"],
               "lower than rembg's"),
    ]


# --- sides ---------------------------------------------------------------------------------


class _WithLocalModel(ModelStore):
    """The registry plus one local file, so the engine runs it like any registered model."""

    def __init__(self, settings: Settings, local: ModelSpec) -> None:
        super().__init__(settings.models_dir, pip_index_url=settings.pip_index_url,
                         pip_find_links=settings.pip_find_links,
                         timeout_s=settings.download_timeout_s)
        self.local = local

    def lookup(self, name: str) -> ModelSpec:
        return self.local if name == self.local.name else super().lookup(name)


def local_model(path: Path) -> ModelSpec:
    """A local ``.onnx`` file as a model row: input size read from the file, ImageNet
    mean/std, min-max output (see ``custom_model``)."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EvalError(f"{path} is not a loadable ONNX model: {exc}") from exc
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(side, int) for side in shape[2:]):
        raise EvalError(f"{path}: want a fixed NCHW input, the model takes {shape}")
    return custom_model(path, (int(shape[3]), int(shape[2])))


def build_engine(settings: Settings, model: str) -> tuple[Engine, ModelSpec]:
    """The engine and the model row for ``model``: a registered name or an .onnx file."""
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        spec = local_model(path)
        engine: Engine = SettingsEngine(settings, store=_WithLocalModel(settings, spec))
        return engine, spec
    engine = SettingsEngine(settings)
    return engine, engine.spec(model)


def alphacut_side(engine: Engine, spec: ModelSpec) -> Callable[[Sample], Cutout]:
    """alphacut's engine, warmed once, PNG out (what a client gets)."""
    engine.warm(spec.name)
    options = RemovalOptions(format=OutputFormat.PNG, model=spec.name)

    def cut(sample: Sample) -> Cutout:
        data = sample.image.read_bytes()
        start = time.perf_counter()
        content = engine.remove(data, options).content
        return read_cutout(content, time.perf_counter() - start)

    return cut


@contextmanager
def rembg_side(python: Path, engine: Engine, spec: ModelSpec,
               first: Sample | None) -> Iterator[tuple[Callable[[Sample], Cutout], RembgWorker]]:
    """rembg with default settings on alphacut's verified copy of the same model file."""
    if spec.local_path is not None:
        raise EvalError("--rembg compares registered models only (rembg has its own "
                        "preprocessing per model name)")
    model_file = engine.store.ensure(spec)
    with tempfile.TemporaryDirectory(prefix="alphacut-eval-") as tmp, \
            RembgWorker(python, spec.name, model_file, spec.checksum) as worker:
        out = Path(tmp) / "out.png"
        if first is not None:
            worker.remove(first.image)  # warm-up: the first run pays one-off allocations

        def cut(sample: Sample) -> Cutout:
            reply = worker.remove(sample.image, out)
            return read_cutout(out.read_bytes(), float(reply["seconds"]))

        yield cut, worker


# --- report ----------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    rows = [header, ["-" * w for w in widths], *lines]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                     for r in rows)


def per_image_table(report: Report) -> str:
    header = ["image", "side", *(LABELS[m] for m in METRICS)]
    lines = [[image_id, side, *(_fmt(report.scores[side][i].as_dict()[m]) for m in METRICS)]
             for i, image_id in enumerate(report.ids) for side in report.sides]
    return _table(header, lines)


def overall_table(report: Report) -> str:
    overall = report.overall()
    header = [f"overall ({len(report.ids)} images)", "", *(LABELS[m] for m in METRICS)]
    lines = [[side, "", *(_fmt(overall[side][m]) for m in METRICS)] for side in report.sides]
    if ALPHACUT in overall and REMBG in overall:
        delta = [overall[ALPHACUT][m] - overall[REMBG][m] for m in METRICS]
        lines.append(["delta (alphacut - rembg)", "", *(f"{d:+.4f}" for d in delta)])
    return _table(header, lines)


def render_text(report: Report, notes: Sequence[str] = ()) -> str:
    flags = ", ".join(f"{name} {'on' if on else 'off'}" for name, on in report.settings.items())
    parts = [
        f"{report.model} ({flags}) on {report.data_dir}\n"
        f"lower is better: MAE, edge MAE (band {metrics.EDGE_BAND:.0%} of the diagonal), "
        "edge colour (docs/quality.md), s/image (seconds per image)\n"
        f"higher is better: IoU at 0.5, max F (beta^2 {metrics.F_BETA2}), BF (boundary F, "
        f"tolerance {metrics.BOUNDARY_TOLERANCE:.1%} of the diagonal)",
        per_image_table(report),
        overall_table(report),
    ]
    tail = []
    if report.parity:
        tail.append(f"alphacut vs rembg alpha, mean MAE per image: {_mean(report.parity):.5f}")
    if report.versions:
        tail.append("rembg: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    tail += [f"{'PASS' if t.passed else 'FAIL'}  {t.name}: {t.detail}"
             for t in check_targets(report.overall())]
    tail += [f"note: {note}" for note in notes]
    return "\n\n".join([*parts, "\n".join(tail)]).rstrip() + "\n"


def _safe(value: float) -> float | None:
    return None if math.isnan(value) else value


def as_json(report: Report, notes: Sequence[str] = ()) -> dict[str, Any]:
    """Stable keys: ``images`` (per image, a dict of scores per side), ``overall`` (per
    side), ``targets``; NaN (no edge in an image) becomes null."""
    overall = report.overall()
    return {
        "data": str(report.data_dir),
        "model": report.model,
        "settings": report.settings,
        "sides": report.sides,
        "metrics": list(METRICS),
        "images": [{"id": image_id, **{side: {k: _safe(v) for k, v in
                                              report.scores[side][i].as_dict().items()}
                                       for side in report.sides}}
                   for i, image_id in enumerate(report.ids)],
        "overall": {side: {k: _safe(v) for k, v in values.items()}
                    for side, values in overall.items()},
        "vs_rembg_mae": _safe(_mean(report.parity)) if report.parity else None,
        "rembg_versions": report.versions,
        "targets": [{"name": t.name, "passed": t.passed, "detail": t.detail}
                    for t in check_targets(overall)],
        "notes": list(notes),
    }
