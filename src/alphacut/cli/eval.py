"""``alphacut eval``: score a model and settings on one or more sets of images with
ground-truth masks."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from alphacut.errors import AlphacutError
from alphacut.quality import evaluate as ev
from alphacut.quality.cascade import as_json as cascade_json
from alphacut.quality.cascade import compare as cascade_compare
from alphacut.quality.cascade import render as cascade_render
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
@click.argument("data_dirs", metavar="DATA_DIR...", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False))
@click.option("--model", default=None,
              help="Model name (`alphacut models list`) or a local .onnx file "
                   "[default: ALPHACUT_MODEL].")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N images of each set (sorted by id).")
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
@click.option("--cascade", default=None, metavar="A>B",
              help="Also measure a model cascade: the first model alone, the cascade (at "
                   "ALPHACUT_CASCADE_THRESHOLD), the last model alone (quality and s/img, all "
                   "sets pooled). Every model must be installed.")
def eval_command(
    data_dirs: tuple[Path, ...], model: str | None, limit: int | None, as_json: bool,
    refine: bool | None, decontaminate: bool | None, tta: bool | None, with_rembg: bool,
    rembg_python: Path | None, check_targets: bool, cascade: str | None,
) -> None:
    """Score cut-outs of DATA_DIR/images/<id>.<jpg|png|webp> against DATA_DIR/gt/<id>.png,
    for each DATA_DIR given.

    Prints per image and overall, set by set: MAE, IoU, max F, boundary F, edge-band
    MAE, edge colour error, SAD, MSE, gradient error, the uncertainty score and seconds
    per image; then the uncertainty score's Spearman correlation with MAE over all sets
    pooled (docs/quality.md defines each). Exit 2 when a DATA_DIR holds no image with a
    ground truth.
    """
    if check_targets and not with_rembg:
        raise click.UsageError("--check-targets compares with rembg: add --rembg")
    sets = [(data_dir, ev.find_samples(data_dir, limit)) for data_dir in data_dirs]
    for data_dir, samples in sets:
        if not samples:
            click.echo(f"Error: no data set at {data_dir}: want images/<id>.jpg (or .png, "
                       ".webp) each with gt/<id>.png", err=True)
            raise click.exceptions.Exit(NO_DATA)
    settings = _settings(refine, decontaminate, tta)
    chain = tuple(name.strip() for name in (cascade or "").split(">") if name.strip())
    if cascade is not None and len(chain) < 2:
        raise click.UsageError("--cascade names two or more models: A>B")
    python = _rembg_python(rembg_python) if with_rembg else None
    try:
        reports = _run(sets, settings, model or settings.model, python)
        rows = cascade_compare([s for _, samples in sets for s in samples], settings,
                               chain) if chain else []
    except (AlphacutError, ev.EvalError, RuntimeError) as exc:
        message = exc.message if isinstance(exc, AlphacutError) else str(exc)
        raise click.ClickException(message) from exc
    if as_json:
        document = ev.as_json(reports)
        if rows:
            document["cascade"] = cascade_json(rows)
        click.echo(json.dumps(document, indent=2, allow_nan=False))
    else:
        click.echo(ev.render_text(reports), nl=False)
        if rows:
            click.echo(cascade_render(rows), nl=False)
    failed = any(not target.passed for _, target in ev.run_targets(reports))
    if check_targets and failed:
        sys.exit(TARGETS_FAILED)


def _run(sets: list[tuple[Path, list[ev.Sample]]], settings: Settings, model: str,
         python: Path | None) -> list[ev.Report]:
    """Every set through one engine (and one rembg worker), set after set."""
    engine, spec = ev.build_engine(settings, model)
    flags = {"refine": settings.refine, "decontaminate": settings.decontaminate,
             "tta": settings.tta}
    reports = [ev.Report(data_dir, spec.name, dict(flags)) for data_dir, _ in sets]
    with ExitStack() as stack:
        sides = {ev.ALPHACUT: ev.alphacut_side(engine, spec)}
        if python is not None:
            first = sets[0][1][0]
            cut, worker = stack.enter_context(ev.rembg_side(python, engine, spec, first))
            sides[ev.REMBG] = cut
            for report in reports:
                report.versions = worker.versions
        return [ev.evaluate(report, samples, sides)
                for report, (_, samples) in zip(reports, sets, strict=True)]
