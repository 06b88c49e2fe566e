"""Score cut-outs against ground truth: ``alphacut eval``'s machinery, and its report.

A data set is a folder with ``images/<id>.<jpg|jpeg|png|webp>`` and ``gt/<id>.png``
(8-bit alpha, same size). Each *side* (alphacut, optionally rembg) turns a sample
into a :class:`Cutout`: the alpha and RGB of its output, which is what a client
gets, the seconds it took and, for alphacut, the engine's uncertainty score. Sides
run image by image, alternating, so load from elsewhere on the machine hits them
alike. A run may cover several data sets: each is a :class:`Report` with its own
targets (chosen by the folder's name), and the uncertainty score's rank correlation
with the error is taken over all of them pooled.
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
from scipy import stats
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
METRICS = ("mae", "iou", "max_f", "bf", "edge_mae", "edge_colour", "sad", "mse",
           "gradient_error", "uncertainty", "seconds")
"""Keys of every per-image and overall score, in report order."""
LABELS = {"mae": "MAE", "iou": "IoU", "max_f": "max F", "bf": "BF", "edge_mae": "edge MAE",
          "edge_colour": "edge colour", "sad": "SAD", "mse": "MSE",
          "gradient_error": "gradient error", "uncertainty": "uncertainty",
          "seconds": "s/image"}

# Targets of the cut-out quality issue: alphacut against rembg on the same model file.
MAE_CUT = 0.15
EDGE_MAE_CUT = 0.15
BF_GAIN = 0.03
# Targets of the soft-edges issue on true alpha mattes, and for the uncertainty score.
MATTES_SET = "dev_mattes"
"""The folder name whose set is scored by the matting targets instead."""
MATTES_CUT = 0.10
MIN_SPEARMAN = 0.5
MIN_RANKED = 3
"""Fewest images for a rank correlation."""
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
    uncertainty: float = math.nan
    """The engine's score (0 confident .. 1 unsure); NaN for a side that has none."""


@dataclass(frozen=True)
class Scores:
    mae: float
    iou: float
    max_f: float
    """Per image; the overall max F comes from the averaged curves instead."""
    bf: float
    edge_mae: float
    edge_colour: float
    sad: float
    """In thousands, as the matting papers give it."""
    mse: float
    gradient_error: float
    """In thousands."""
    uncertainty: float
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
    """One data set's run."""

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


def read_cutout(data: bytes, seconds: float, uncertainty: float = math.nan) -> Cutout:
    """Alpha and RGB of an output image (a cut-out without alpha counts as opaque)."""
    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    pixels = np.asarray(rgba)
    return Cutout(pixels[..., 3], pixels[..., :3], seconds, uncertainty)


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
        sad=metrics.sad(pred, truth), mse=metrics.mse(pred, truth),
        gradient_error=metrics.gradient_error(pred, truth),
        uncertainty=cutout.uncertainty, seconds=cutout.seconds, curve=curve,
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


def check_targets(overall: dict[str, dict[str, float]], data_set: str = "") -> list[Target]:
    """The targets of a data set, alphacut against rembg; empty without a rembg side.

    A set named :data:`MATTES_SET` (true soft mattes) has the soft-edges issue's:
    SAD, MSE, gradient error and edge MAE each 10% lower. Every other set has the
    cut-out quality issue's: MAE and edge MAE 15% lower, BF 0.03 higher, IoU no
    lower, edge colour lower.
    """
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

    if data_set == MATTES_SET:
        return [lower_by(name, MATTES_CUT) for name in ("sad", "mse", "gradient_error",
                                                        "edge_mae")]
    return [
        lower_by("mae", MAE_CUT),
        lower_by("edge_mae", EDGE_MAE_CUT),
        versus("bf", ours["bf"] - theirs["bf"] >= BF_GAIN - _SLACK, f"at least {BF_GAIN} higher"),
        versus("iou", ours["iou"] >= theirs["iou"], "no lower than rembg's"),
        versus("edge_colour", ours["edge_colour"] < theirs["edge_colour"],
               "lower than rembg's"),
    ]


@dataclass(frozen=True)
class Ranking:
    """Spearman's rank correlation of alphacut's uncertainty score with its per-image
    MAE, over every set of a run pooled; NaN with fewer than :data:`MIN_RANKED` images
    or when either is constant."""

    rho: float
    images: int


def uncertainty_ranking(reports: Sequence[Report]) -> Ranking:
    """alphacut's score against its MAE, image by image, over all ``reports``."""
    pairs = [(s.uncertainty, s.mae) for report in reports
             for s in report.scores.get(ALPHACUT, []) if not math.isnan(s.uncertainty)]
    if len(pairs) < MIN_RANKED:
        return Ranking(math.nan, len(pairs))
    score, error = np.array(pairs).T
    if np.ptp(score) == 0 or np.ptp(error) == 0:  # spearmanr warns and answers NaN
        return Ranking(math.nan, len(pairs))
    return Ranking(float(stats.spearmanr(score, error).statistic), len(pairs))


def uncertainty_targets(reports: Sequence[Report]) -> list[Target]:
    """The score's target (Spearman at least 0.5); with a rembg side only, as every
    target, and only when the correlation is defined."""
    ranking = uncertainty_ranking(reports)
    if math.isnan(ranking.rho) or not any(REMBG in report.scores for report in reports):
        return []
    return [Target(f"uncertainty score vs MAE, Spearman at least {MIN_SPEARMAN}",
                   ranking.rho >= MIN_SPEARMAN - _SLACK,
                   f"{ranking.rho:.4f} over {ranking.images} images, all sets pooled")]


def run_targets(reports: Sequence[Report]) -> list[tuple[Report | None, Target]]:
    """Every target of a run: each set's (with its report), then the pooled ones (None)."""
    found: list[tuple[Report | None, Target]] = [
        (report, target) for report in reports
        for target in check_targets(report.overall(), report.data_dir.name)]
    return found + [(None, target) for target in uncertainty_targets(reports)]


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
        result = engine.remove(data, options)
        return read_cutout(result.content, time.perf_counter() - start, result.uncertainty)

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


def _signed(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.4f}"


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
        lines.append(["delta (alphacut - rembg)", "", *(_signed(d) for d in delta)])
    return _table(header, lines)


def _verdict(target: Target) -> str:
    return f"{'PASS' if target.passed else 'FAIL'}  {target.name}: {target.detail}"


def ranking_line(ranking: Ranking) -> str:
    """``uncertainty score vs MAE (Spearman, 63 images): 0.72 (target >= 0.5)``."""
    value = (f"- (needs {MIN_RANKED} or more images and scores that differ)"
             if math.isnan(ranking.rho) else f"{ranking.rho:.2f}")
    return (f"uncertainty score vs MAE (Spearman, {ranking.images} images): {value} "
            f"(target >= {MIN_SPEARMAN})")


def _heading(reports: Sequence[Report]) -> str:
    first = reports[0]
    flags = ", ".join(f"{name} {'on' if on else 'off'}" for name, on in first.settings.items())
    where = ", ".join(str(report.data_dir) for report in reports)
    return (
        f"{first.model} ({flags}) on {where}\n"
        f"lower is better: MAE, edge MAE (band {metrics.EDGE_BAND:.0%} of the diagonal), "
        "edge colour (docs/quality.md), SAD (thousands), MSE, gradient error (thousands, "
        f"sigma {metrics.GRADIENT_SIGMA}), s/image (seconds per image)\n"
        f"higher is better: IoU at 0.5, max F (beta^2 {metrics.F_BETA2}), BF (boundary F, "
        f"tolerance {metrics.BOUNDARY_TOLERANCE:.1%} of the diagonal)\n"
        "uncertainty: alphacut's score, 0 confident .. 1 unsure (rembg has none)"
    )


def _set_text(report: Report, titled: bool) -> list[str]:
    """One set's tables, its alpha parity with rembg and its targets."""
    tail = []
    if report.parity:
        tail.append(f"alphacut vs rembg alpha, mean MAE per image: {_mean(report.parity):.5f}")
    tail += [_verdict(t) for t in check_targets(report.overall(), report.data_dir.name)]
    parts = [f"== {report.data_dir} ==" if titled else "", per_image_table(report),
             overall_table(report), "\n".join(tail)]
    return [part for part in parts if part]


def render_text(reports: Sequence[Report], notes: Sequence[str] = ()) -> str:
    """The run as text: each set in turn, then what holds for all of them."""
    parts = [_heading(reports)]
    for report in reports:
        parts += _set_text(report, titled=len(reports) > 1)
    tail = []
    if reports[0].versions:
        tail.append("rembg: " + ", ".join(f"{k} {v}" for k, v in reports[0].versions.items()))
    tail.append(ranking_line(uncertainty_ranking(reports)))
    tail += [_verdict(t) for t in uncertainty_targets(reports)]
    tail += [f"note: {note}" for note in notes]
    return "\n\n".join([*parts, "\n".join(tail)]).rstrip() + "\n"


def _safe(value: float) -> float | None:
    return None if math.isnan(value) else value


def _target_json(report: Report | None, target: Target) -> dict[str, Any]:
    return {"data": None if report is None else str(report.data_dir), "name": target.name,
            "passed": target.passed, "detail": target.detail}


def _set_json(report: Report) -> dict[str, Any]:
    overall = report.overall()
    return {
        "data": str(report.data_dir),
        "images": [{"id": image_id, **{side: {k: _safe(v) for k, v in
                                              report.scores[side][i].as_dict().items()}
                                       for side in report.sides}}
                   for i, image_id in enumerate(report.ids)],
        "overall": {side: {k: _safe(v) for k, v in values.items()}
                    for side, values in overall.items()},
        "vs_rembg_mae": _safe(_mean(report.parity)) if report.parity else None,
        "targets": [_target_json(report, t)
                    for t in check_targets(overall, report.data_dir.name)],
    }


def as_json(reports: Sequence[Report], notes: Sequence[str] = ()) -> dict[str, Any]:
    """Stable keys. ``sets``: per data set, ``data``, ``images`` (per image, a dict of
    scores per side), ``overall`` (per side), ``vs_rembg_mae`` and ``targets``; with one
    set these keys are also at the top, as before several sets were possible. ``targets``
    at the top: every set's and the pooled one (its ``data`` null).
    ``uncertainty_spearman``: over all sets pooled. NaN (no edge in an image, no score
    for rembg) becomes null."""
    first, sets = reports[0], [_set_json(report) for report in reports]
    ranking = uncertainty_ranking(reports)
    return {
        **({"data": sets[0]["data"]} if len(sets) == 1 else {}),
        "model": first.model,
        "settings": first.settings,
        "sides": first.sides,
        "metrics": list(METRICS),
        **({key: sets[0][key] for key in ("images", "overall", "vs_rembg_mae")}
           if len(sets) == 1 else {}),
        "rembg_versions": first.versions,
        "targets": [_target_json(report, target) for report, target in run_targets(reports)],
        "notes": list(notes),
        "sets": sets,
        "uncertainty_spearman": _safe(ranking.rho),
        "uncertainty_spearman_images": ranking.images,
    }
