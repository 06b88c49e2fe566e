"""``alphacut remove``: background removal on local files, no server needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from alphacut.cli.files import Job, expand_inputs, plan_jobs, write_atomically
from alphacut.cli.options import describe, options_from_flags, removal_flags
from alphacut.domain.options import RemovalOptions, parse_any_format
from alphacut.engine.pipeline import Engine
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
def remove(inputs: tuple[str, ...], output: str | None, overwrite: bool,
           **flags: Any) -> None:
    """Remove the background of INPUT files, folders (recursive) or globs; '-' reads stdin."""
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
        _stream(engine, options, output)
        return
    try:
        found = expand_inputs(list(inputs))
        jobs = plan_jobs(found, Path(output) if output else None, options.format.extension)
    except (FileNotFoundError, ValueError) as err:
        raise click.UsageError(str(err)) from err
    failed, skipped = _run_batch(engine, options, jobs, overwrite)
    done = len(jobs) - failed - skipped
    click.echo(f"{done} written, {skipped} skipped (exist), {failed} failed", err=True)
    if failed:
        sys.exit(1)


def _stream(engine: Engine, options: RemovalOptions, output: str | None) -> None:
    try:
        result = remove_local(engine, sys.stdin.buffer.read(), options)
    except AlphacutError as err:
        click.echo(f"error: -: {describe(err)}", err=True)
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
            result = remove_local(engine, job.source.read_bytes(), options)
            write_atomically(job.target, result.content)
        except (AlphacutError, OSError) as err:
            failed += 1
            message = describe(err) if isinstance(err, AlphacutError) else str(err)
            bar.write(f"error: {job.source}: {message}", file=sys.stderr)
    return failed, skipped
