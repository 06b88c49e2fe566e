"""``alphacut remove``: background removal on local files, no server needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from alphacut.cli.files import Job, expand_inputs, plan_jobs, write_atomically
from alphacut.cli.options import describe, options_from_flags, removal_flags
from alphacut.domain.options import RemovalOptions, parse_any_format
from alphacut.engine.pipeline import Engine, Result
from alphacut.errors import AlphacutError
from alphacut.library import Engine as SettingsEngine
from alphacut.service.removal import remove_local
from alphacut.settings import Settings

_SUFFIX_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp",
                   ".avif": "avif", ".zip": "zip"}


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file, or folder for several inputs; '-' = stdout.")
@removal_flags
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per image on stdout (input, output, size, timings, "
                   "uncertainty score, model); not with '-o -'.")
def remove(inputs: tuple[str, ...], output: str | None, overwrite: bool, as_json: bool,
           **flags: Any) -> None:
    """Remove the background of INPUT files, folders (recursive) or globs; '-' reads stdin."""
    if as_json and (output == "-" or (inputs == ("-",) and output is None)):
        raise click.UsageError("--json writes to stdout: give the images an output file "
                               "or folder (-o), not '-'.")
    if flags.get("format") is None and output not in (None, "-"):
        suffix = _SUFFIX_FORMATS.get(Path(str(output)).suffix.lower())
        flags["format"] = parse_any_format(suffix) if suffix else None
    options = options_from_flags(flags)
    engine = SettingsEngine(Settings())
    try:  # on this machine, a model not yet pulled is fetched (never by a server request)
        engine.warm(options.model)
    except AlphacutError as err:
        raise click.ClickException(err.message) from err
    if inputs == ("-",):
        _stream(engine, options, output, as_json)
        return
    try:
        found = expand_inputs(list(inputs))
        jobs = plan_jobs(found, Path(output) if output else None, options.format.extension)
    except (FileNotFoundError, ValueError) as err:
        raise click.UsageError(str(err)) from err
    failed, skipped = _run_batch(engine, options, jobs, overwrite, as_json)
    done = len(jobs) - failed - skipped
    click.echo(f"{done} written, {skipped} skipped (exist), {failed} failed", err=True)
    if failed:
        sys.exit(1)


def _stream(engine: Engine, options: RemovalOptions, output: str | None,
            as_json: bool) -> None:
    try:
        result = remove_local(engine, sys.stdin.buffer.read(), options)
    except AlphacutError as err:
        if as_json:
            _report({"input": "-", "output": output, "error": describe(err)})
        click.echo(f"error: -: {describe(err)}", err=True)
        sys.exit(1)
    if output in (None, "-"):
        sys.stdout.buffer.write(result.content)
        sys.stdout.buffer.flush()
    else:
        write_atomically(Path(str(output)), result.content)
        if as_json:
            _report(_described("-", str(output), result))


def _described(source: str, target: str, result: Result) -> dict[str, Any]:
    box = result.foreground
    return {
        "input": source, "output": target, "width": result.width, "height": result.height,
        "format": result.media_type, "bytes": len(result.content),
        "timings_ms": result.timings, "uncertainty": result.uncertainty,
        "model": result.model,
        "foreground": None if box is None else {
            "left": box.left, "top": box.top, "width": box.width, "height": box.height},
    }


def _report(record: dict[str, Any]) -> None:
    click.echo(json.dumps(record))


def _run_batch(
    engine: Engine, options: RemovalOptions, jobs: list[Job], overwrite: bool,
    as_json: bool = False,
) -> tuple[int, int]:
    failed = skipped = 0
    bar = tqdm(jobs, unit="img", disable=len(jobs) < 2, file=sys.stderr, dynamic_ncols=True)
    for job in bar:
        names = {"input": str(job.source), "output": str(job.target)}
        if job.target.exists() and not overwrite:
            skipped += 1
            if as_json:
                _report(names | {"skipped": "exists"})
            continue
        try:
            result = remove_local(engine, job.source.read_bytes(), options)
            write_atomically(job.target, result.content)
        except (AlphacutError, OSError) as err:
            failed += 1
            message = describe(err) if isinstance(err, AlphacutError) else str(err)
            bar.write(f"error: {job.source}: {message}", file=sys.stderr)
            if as_json:
                _report(names | {"error": message})
            continue
        if as_json:
            _report(_described(str(job.source), str(job.target), result))
    return failed, skipped
