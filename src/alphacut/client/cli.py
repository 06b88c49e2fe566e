"""The ``alphacut`` command of the client-only install (``pip install alphacut-client``):
``--version``, ``alphacut client remove`` and ``alphacut client usage``, on the SDK, click
and the stdlib.

The full install's ``alphacut client`` (``alphacut.cli.client``) checks each option
locally against the server's schema and runs resumable, concurrent batches with a
progress bar; it needs the schema's modules (and Pillow). This one sends the options as
given, lets the server check them, and processes its inputs one after another.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import click

from alphacut.client import AlphacutClientError, Client, RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])

_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                             ".heic", ".heif", ".avif"})
_EXTENSIONS = {"image/webp": "webp", "image/png": "png", "image/jpeg": "jpg",
               "image/bmp": "bmp"}

# The removal options, named as `alphacut remove` names them; the second name is the
# SDK's keyword. None means "not given": the server's default applies.
_REMOVAL_FLAGS: list[Callable[[F], F]] = [
    click.option("--format", "format", help="webp (default), png, jpeg or bmp."),
    click.option("--width", "w", type=int, help="Target width."),
    click.option("--height", "h", type=int, help="Target height."),
    click.option("--angle", type=float, help="Rotate counter-clockwise, in degrees."),
    click.option("--bg-color", help="Solid background: #RGB[A], #RRGGBB[AA], CSS name."),
    click.option("--exact-resize", is_flag=True, default=False,
                 help="Force exactly width x height."),
    click.option("--mask", "return_mask", is_flag=True, default=False,
                 help="Write only the alpha mask."),
    click.option("--no-expand", "expand", flag_value=False, default=None,
                 help="Keep the canvas size when rotating."),
    click.option("--feather", type=int, help="Soften the edge over this many px."),
    click.option("--roi", help="Only this region can be foreground: 'x1 y1 x2 y2'."),
    click.option("--crop", is_flag=True, default=None, help="Crop to the subject."),
    click.option("--crop-margin", help="Margin around the cropped subject."),
    click.option("--scale", help="Subject size against the canvas: 10%-100% or original."),
    click.option("--position", help="Subject position: original, center, or 'X% Y%'."),
    click.option("--shadow", "add_shadow", is_flag=True, default=None,
                 help="Add a soft contact shadow."),
    click.option("--shadow-opacity", type=int, help="Shadow darkness, 0-100."),
    click.option("--shadow-softness", type=int, help="Shadow blur in px."),
    click.option("--model", help="Model name (the server's `alphacut models list`)."),
    click.option("--refine/--no-refine", default=None, help="Refine edges at full size."),
    click.option("--decontaminate/--no-decontaminate", default=None,
                 help="Subject colours in soft edge pixels."),
    click.option("--tta/--no-tta", default=None, help="Average with the mirror's mask."),
]


def _removal_flags(func: F) -> F:
    for flag in reversed(_REMOVAL_FLAGS):
        func = flag(func)
    return func


def _connection_flags(func: F) -> F:
    func = click.option("--api-key", help="API key (default: $ALPHACUT_API_KEY, ./.env).")(func)
    return click.option("--base-url", help="Server URL (default: $ALPHACUT_BASE_URL, ./.env, "
                                           "http://127.0.0.1:7000).")(func)


def _version() -> str:
    for name in ("alphacut-client", "alphacut"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"alphacut (client only), version {_version()}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
def cli() -> None:
    """alphacut, client only: use an alphacut (or RemBG-compatible) server over HTTP."""


@cli.group("client")
def client() -> None:
    """Use a running alphacut (or RemBG-compatible) server over HTTP."""


@client.command("remove")
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (one input) or folder; default: beside each input.")
@_removal_flags
@click.option("--max-attempts", type=click.IntRange(min=1), default=10, show_default=True,
              help="Tries per image through rate limits, a busy server, lost connections.")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds to wait for each answer.")
@_connection_flags
def remove(
    inputs: tuple[Path, ...], output: Path | None, max_attempts: int, timeout: float,
    base_url: str | None, api_key: str | None, **options: Any,
) -> None:
    """Remove the background of INPUT files (or the images in INPUT folders), one by one.

    Each result is written as <stem>.nobg.<ext> beside its input, or under --output.
    """
    params = {name: value for name, value in options.items() if value is not None}
    sources = _expand(inputs)
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=1.0, max_delay=120.0)
    failed = 0
    with Client(base_url, api_key, timeout=timeout, retries=policy) as api:
        for source in sources:
            try:
                with api.remove_background(source, **params) as result:
                    target = _target(source, output, len(sources), result.media_type)
                    _write_atomically(target, result.content)
            except (AlphacutClientError, OSError) as err:
                failed += 1
                click.echo(f"error: {source}: {err}", err=True)
                continue
            click.echo(str(target))
    click.echo(f"{len(sources) - failed} written, {failed} failed", err=True)
    if failed:
        raise SystemExit(1)


def _expand(inputs: tuple[Path, ...]) -> list[Path]:
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def _target(source: Path, output: Path | None, count: int, media_type: str) -> Path:
    extension = _EXTENSIONS.get(media_type.split(";")[0].strip(), "bin")
    if output is None:
        return source.with_name(f"{source.stem}.nobg.{extension}")
    if count == 1 and output.suffix and not output.is_dir():
        return output
    return output / f"{source.stem}.{extension}"


def _write_atomically(target: Path, content: bytes) -> None:
    """Write beside the target, then rename: an interrupted run leaves no half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@client.command("usage")
@click.option("--year", type=click.IntRange(1, 9999), help="Calendar year (default: now, UTC).")
@click.option("--month", type=click.IntRange(1, 12), help="Calendar month (default: now, UTC).")
@_connection_flags
def usage(year: int | None, month: int | None, base_url: str | None,
          api_key: str | None) -> None:
    """Print the plan, credits and usage of the API key's account (the server's JSON)."""
    try:
        with Client(base_url, api_key) as api:
            found = api.membership_usage(year, month, expand_billing_cycle=True)
    except AlphacutClientError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(found.raw, indent=2, ensure_ascii=False))


def main() -> None:
    cli()
