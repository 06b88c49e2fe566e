"""``alphacut remove``: background removal on local files, no server needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from alphacut.cli.files import Job, expand_inputs, plan_jobs, write_atomically
from alphacut.domain.options import RemovalOptions, parse_options
from alphacut.engine.pipeline import Engine
from alphacut.errors import AlphacutError
from alphacut.settings import Settings

_SUFFIX_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp"}


def _options(fmt: str | None, output: str | None, fields: dict[str, str]) -> RemovalOptions:
    if fmt is None and output not in (None, "-"):
        fmt = _SUFFIX_FORMATS.get(Path(str(output)).suffix.lower())
    if fmt is not None:
        fields["format"] = fmt
    try:
        return parse_options(fields)
    except AlphacutError as err:
        raise click.UsageError(_describe(err)) from err


def _describe(err: AlphacutError) -> str:
    details = getattr(err, "details", None)
    if details:
        return "; ".join(d.message for d in details)
    return err.message


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file, or folder for several inputs; '-' = stdout.")
@click.option("--format", "fmt", help="webp (default), png, jpeg/jpg or bmp.")
@click.option("--mask", is_flag=True, help="Write only the alpha mask (grayscale).")
@click.option("--bg-color", default="", help="Solid background: #RGB[A], #RRGGBB[AA], CSS name.")
@click.option("--width", default="", help="Target width (keeps aspect unless --exact-resize).")
@click.option("--height", default="", help="Target height.")
@click.option("--exact-resize", is_flag=True, help="Force exactly width x height.")
@click.option("--angle", default="", help="Rotate the result counter-clockwise, in degrees.")
@click.option("--no-expand", is_flag=True, help="Keep the canvas size when rotating (crops).")
@click.option("--model", default=None, help="Model name (see `alphacut models list`).")
@click.option("--refine/--no-refine", default=None,
              help="Refine edges against the full-size image (default: ALPHACUT_REFINE, on).")
@click.option("--decontaminate/--no-decontaminate", default=None,
              help="Subject colours in soft edge pixels (default: ALPHACUT_DECONTAMINATE, on).")
@click.option("--tta/--no-tta", default=None,
              help="Average with the mirror image's mask (default: ALPHACUT_TTA, off).")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
def remove(
    inputs: tuple[str, ...], output: str | None, fmt: str | None, mask: bool, bg_color: str,
    width: str, height: str, exact_resize: bool, angle: str, no_expand: bool,
    model: str | None, refine: bool | None, decontaminate: bool | None, tta: bool | None,
    overwrite: bool,
) -> None:
    """Remove the background of INPUT files, folders (recursive) or globs; '-' reads stdin."""
    fields = {"w": width, "h": height, "angle": angle, "bg_color": bg_color,
              "mask": str(mask), "exact_resize": str(exact_resize), "expand": str(not no_expand),
              "model": model or ""}
    fields |= {name: "" if value is None else str(value) for name, value in
               (("refine", refine), ("decontaminate", decontaminate), ("tta", tta))}
    options = _options(fmt, output, fields)
    engine = Engine(Settings())
    try:
        engine.model(options.model)
    except AlphacutError as err:
        raise click.ClickException(err.message) from err
    if inputs == ("-",):
        _stream(engine, options, output)
        return
    try:
        found = expand_inputs(list(inputs))
    except FileNotFoundError as err:
        raise click.UsageError(str(err)) from err
    jobs = plan_jobs(found, Path(output) if output else None, options.format.extension)
    failed, skipped = _run_batch(engine, options, jobs, overwrite)
    done = len(jobs) - failed - skipped
    click.echo(f"{done} written, {skipped} skipped (exist), {failed} failed", err=True)
    if failed:
        sys.exit(1)


def _stream(engine: Engine, options: RemovalOptions, output: str | None) -> None:
    try:
        result = engine.remove(sys.stdin.buffer.read(), options)
    except AlphacutError as err:
        click.echo(f"error: -: {_describe(err)}", err=True)
        sys.exit(1)
    if output in (None, "-"):
        sys.stdout.buffer.write(result.content)
        sys.stdout.buffer.flush()
    else:
        write_atomically(Path(str(output)), result.content)


def _run_batch(
    engine: Engine, options: RemovalOptions, jobs: list[Job], overwrite: bool
) -> tuple[int, int]:
    failed = skipped = 0
    bar = tqdm(jobs, unit="img", disable=len(jobs) < 2, file=sys.stderr, dynamic_ncols=True)
    for job in bar:
        if job.target.exists() and not overwrite:
            skipped += 1
            continue
        try:
            result = engine.remove(job.source.read_bytes(), options)
            write_atomically(job.target, result.content)
        except (AlphacutError, OSError) as err:
            failed += 1
            message = _describe(err) if isinstance(err, AlphacutError) else str(err)
            bar.write(f"error: {job.source}: {message}", file=sys.stderr)
    return failed, skipped
