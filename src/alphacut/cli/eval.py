"""``alphacut eval``: score a model and settings on images with ground-truth masks."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from alphacut.errors import AlphacutError
from alphacut.quality import evaluate as ev
from alphacut.quality.rembg_peer import DEFAULT_PYTHON, find_python
from alphacut.settings import Settings

NO_DATA = 2
TARGETS_FAILED = 1


def _settings(refine: bool | None, decontaminate: bool | None, tta: bool | None) -> Settings:
    settings = Settings()
    changes = {name: value for name, value in
               (("refine", refine), ("decontaminate", decontaminate), ("tta", tta))
               if value is not None}
    return settings.model_copy(update=changes)


def _rembg_python(explicit: Path | None) -> Path:
    python = find_python(explicit)
    if python is None:
        raise click.UsageError(
            f"--rembg needs rembg: run `make bench-env` (creates {DEFAULT_PYTHON}), "
            "give an interpreter that has it with --rembg-python, or install rembg here")
    return python


@click.command("eval")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--model", default=None,
              help="Model name (`alphacut models list`) or a local .onnx file "
                   "[default: ALPHACUT_MODEL].")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N images (sorted by id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--refine/--no-refine", default=None,
              help="Edge refinement on or off [default: ALPHACUT_REFINE].")
@click.option("--decontaminate/--no-decontaminate", default=None,
              help="Colour decontamination on or off [default: ALPHACUT_DECONTAMINATE].")
@click.option("--tta/--no-tta", default=None,
              help="Mirror-image test-time augmentation on or off [default: ALPHACUT_TTA].")
@click.option("--rembg", "with_rembg", is_flag=True,
              help="Also run the rembg package on the same model file and print the deltas "
                   "and the quality targets.")
@click.option("--rembg-python", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help=f"Interpreter that has rembg [default: {DEFAULT_PYTHON} when present, "
                   "else this one if it can import rembg].")
@click.option("--check-targets", is_flag=True,
              help="Exit 1 when a quality target fails (needs --rembg).")
def eval_command(
    data_dir: Path, model: str | None, limit: int | None, as_json: bool,
    refine: bool | None, decontaminate: bool | None, tta: bool | None, with_rembg: bool,
    rembg_python: Path | None, check_targets: bool,
) -> None:
    """Score cut-outs of DATA_DIR/images/<id>.<jpg|png|webp> against DATA_DIR/gt/<id>.png.

    Prints per image and overall: MAE, IoU, max F, boundary F, edge-band MAE, edge
    colour error and seconds per image (docs/quality.md defines each). Exit 2 when
    DATA_DIR holds no image with a ground truth.
    """
    if check_targets and not with_rembg:
        raise click.UsageError("--check-targets compares with rembg: add --rembg")
    samples = ev.find_samples(data_dir, limit)
    if not samples:
        click.echo(f"Error: no data set at {data_dir}: want images/<id>.jpg (or .png, .webp) "
                   "each with gt/<id>.png", err=True)
        raise click.exceptions.Exit(NO_DATA)
    settings = _settings(refine, decontaminate, tta)
    python = _rembg_python(rembg_python) if with_rembg else None
    try:
        report = _run(data_dir, settings, model or settings.model, samples, python)
    except (AlphacutError, ev.EvalError, RuntimeError) as exc:
        message = exc.message if isinstance(exc, AlphacutError) else str(exc)
        raise click.ClickException(message) from exc
    if as_json:
        click.echo(json.dumps(ev.as_json(report), indent=2, allow_nan=False))
    else:
        click.echo(ev.render_text(report), nl=False)
    failed = any(not t.passed for t in ev.check_targets(report.overall()))
    if check_targets and failed:
        sys.exit(TARGETS_FAILED)


def _run(data_dir: Path, settings: Settings, model: str, samples: list[ev.Sample],
         python: Path | None) -> ev.Report:
    engine, spec = ev.build_engine(settings, model)
    report = ev.Report(data_dir, spec.name, {"refine": settings.refine,
                                             "decontaminate": settings.decontaminate,
                                             "tta": settings.tta})
    with ExitStack() as stack:
        sides = {ev.ALPHACUT: ev.alphacut_side(engine, spec)}
        if python is not None:
            cut, worker = stack.enter_context(ev.rembg_side(python, engine, spec, samples[0]))
            sides[ev.REMBG] = cut
            report.versions = worker.versions
        return ev.evaluate(report, samples, sides)
