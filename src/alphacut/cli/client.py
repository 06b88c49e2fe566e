"""``alphacut client``: the same work as ``alphacut remove``, through a server.

Batches are resumable (finished outputs are skipped, and writes are atomic so an
interrupted run leaves no half-written file), bounded (``--concurrency``
requests in flight) and patient: rate limits, a busy server and dropped
connections are waited out by the client's retry policy instead of failing the
batch. Uses only the SDK (``alphacut.client``) and the stdlib file helpers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from alphacut.cli.files import IMAGE_SUFFIXES, Job, expand_inputs, plan_jobs, write_atomically
from alphacut.cli.options import chosen, options_from_flags, removal_flags
from alphacut.client import (
    AlphacutClientError,
    AsyncClient,
    AuthenticationError,
    BillingCycles,
    Client,
    MembershipUsage,
    PermissionDeniedError,
    RetryPolicy,
)
from alphacut.domain.layout import Margin, Position, Roi, form_text
from alphacut.domain.options import OutputFormat, RemovalOptions, options_of, parse_format
from alphacut.errors import InvalidField

_SUFFIX_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg",
                   ".bmp": "bmp"}
# Errors that every later image would meet too: stop starting new ones.
_FATAL = (AuthenticationError, PermissionDeniedError)

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(func: F) -> F:
    func = click.option(
        "--api-key", default=None,
        help="API key (default: $ALPHACUT_API_KEY, then ALPHACUT_API_KEY in ./.env).")(func)
    func = click.option(
        "--base-url", default=None,
        help="Server URL (default: $ALPHACUT_BASE_URL, then ./.env, "
             "then http://127.0.0.1:7000).")(func)
    return func


@click.group("client")
def client() -> None:
    """Use a running alphacut (or RemBG-compatible) server over HTTP."""


# --- remove --------------------------------------------------------------------------


@dataclass
class _Tally:
    written: int = 0
    failed: int = 0
    not_started: int = 0
    fatal: AlphacutClientError | None = None


@client.command("remove")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (one input), or folder (several); default: beside each input.")
@removal_flags
@click.option("--overwrite", is_flag=True, help="Redo outputs that already exist.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Requests in flight at once.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=10, show_default=True,
              help="Tries per image through rate limits, a busy server, lost connections.")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds to wait for each answer.")
@_connection_options
def remove(
    inputs: tuple[str, ...], output: Path | None, overwrite: bool, concurrency: int,
    max_attempts: int, timeout: float, base_url: str | None, api_key: str | None,
    **flags: Any,
) -> None:
    """Remove the background of INPUT files, folders (recursive) or globs through a server.

    Outputs that already exist are skipped, so running the same command again
    after an interruption or a failure redoes only what is missing. The options are
    `alphacut remove`'s; those not given are not sent (the server's defaults apply).
    """
    if flags.get("format") is None and output is not None:
        if output.suffix.lower() in (IMAGE_SUFFIXES | {".zip"}) - _SUFFIX_FORMATS.keys():
            raise click.UsageError(  # else WebP bytes would be written under that name
                f"the server does not write {output.suffix} files: name the output "
                f"{', '.join(sorted(_SUFFIX_FORMATS))}, or pass --format.")
        suffix = _SUFFIX_FORMATS.get(output.suffix.lower())
        flags["format"] = parse_format(suffix) if suffix else None
    options = options_from_flags(flags)
    try:  # the shared flags parse alphacut remove's formats; /rmbg answers four
        parse_format(options.format.value)
    except InvalidField as err:
        raise click.UsageError(f"--format: {err.message} (through a server)") from err
    params = _sdk_params(options, set(chosen(flags)))
    try:
        found = expand_inputs(list(inputs))
        jobs = plan_jobs(found, output, options.format.extension)
    except (FileNotFoundError, ValueError) as err:
        raise click.UsageError(str(err)) from err
    todo = [job for job in jobs if overwrite or not job.target.exists()]
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=1.0, max_delay=120.0)

    def connect() -> AsyncClient:
        return AsyncClient(base_url, api_key, timeout=timeout, retries=policy)

    tally = _Tally()
    try:
        asyncio.run(_run_batch(todo, connect, params, concurrency, tally))
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {tally.written} written; run the same command again "
                   "to finish the rest", err=True)
        sys.exit(130)
    summary = (f"{tally.written} written, {len(jobs) - len(todo)} skipped (exist), "
               f"{tally.failed} failed")
    if tally.not_started:
        summary += f", {tally.not_started} not started"
    click.echo(summary, err=True)
    if tally.fatal is not None:
        raise click.ClickException(str(tally.fatal))
    if tally.failed or tally.not_started:
        sys.exit(1)


def _sdk_params(options: RemovalOptions, given: set[str]) -> dict[str, Any]:
    """The SDK's arguments for the options given: each named as its form field (``mask``
    is the Node client's ``return_mask``, ``shadow`` is ``add_shadow``), valued as the
    SDK takes them (the layout values as their form text). The SDK is independent of the
    server's schema: a test checks that it covers every option of the form."""
    params: dict[str, Any] = {}
    for name, spec in options_of():
        if name in given:
            sdk_name = _SDK_NAMES.get(spec.form.name, spec.form.name)
            params[sdk_name] = _sdk_value(name, getattr(options, name))
    return params


def _sdk_value(name: str, value: Any) -> Any:
    if isinstance(value, OutputFormat):
        return value.value
    if name == "bg_color" and value is not None:
        return "#" + "".join(f"{c:02x}" for c in value)
    if isinstance(value, Margin | Position | Roi) or (name == "scale" and value is not None):
        return form_text(value)
    return value


_SDK_NAMES = {"mask": "return_mask"}


async def _run_batch(
    jobs: list[Job], connect: Callable[[], AsyncClient], params: dict[str, Any],
    concurrency: int, tally: _Tally,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    with tqdm(total=len(jobs), unit="img", disable=len(jobs) < 2, file=sys.stderr,
              dynamic_ncols=True) as bar:
        async with connect() as api:
            async def one(job: Job) -> None:
                async with gate:
                    await _process(api, job, params, tally, bar)
                bar.update(1)

            await asyncio.gather(*(one(job) for job in jobs))


async def _process(
    api: AsyncClient, job: Job, params: dict[str, Any], tally: _Tally, bar: tqdm,
) -> None:
    if tally.fatal is not None:
        tally.not_started += 1
        return
    try:
        result = await api.remove_background(job.source, **params)
        with result:
            await asyncio.to_thread(write_atomically, job.target, result.content)
    except (AlphacutClientError, OSError) as err:
        tally.failed += 1
        if isinstance(err, _FATAL) and tally.fatal is None:
            tally.fatal = err
        bar.write(f"error: {job.source}: {err}", file=sys.stderr)
        bar.set_postfix(failed=tally.failed)
        return
    tally.written += 1


# --- usage ---------------------------------------------------------------------------


@client.command("usage")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer.")
@click.option("--year", type=click.IntRange(1, 9999), help="Calendar year (default: now, UTC).")
@click.option("--month", type=click.IntRange(1, 12), help="Calendar month (default: now, UTC).")
@click.option("--period-start", type=int,
              help="Report the billing cycle starting at this unix second instead of a month.")
@click.option("--cycles", is_flag=True, help="List every billing cycle with usage instead.")
@_connection_options
def usage(
    as_json: bool, year: int | None, month: int | None, period_start: int | None,
    cycles: bool, base_url: str | None, api_key: str | None,
) -> None:
    """Print the plan, credits and usage of the API key's account."""
    try:
        with Client(base_url, api_key) as api:
            if cycles:
                listed = api.membership_usage(list_billing_cycles=True)
                click.echo(_dump(listed.raw) if as_json else _cycles_table(listed))
                return
            found = api.membership_usage(year, month, period_start, expand_billing_cycle=True)
    except AlphacutClientError as err:
        raise click.ClickException(str(err)) from err
    click.echo(_dump(found.raw) if as_json else _usage_table(found, year, month, period_start))


def _dump(raw: object) -> str:
    return json.dumps(raw, indent=2, ensure_ascii=False)


def _usage_table(
    found: MembershipUsage, year: int | None, month: int | None, period_start: int | None,
) -> str:
    now = datetime.now(UTC)
    period = (f"cycle from {_day(period_start)}" if period_start is not None
              else f"{year or now.year:04d}-{month or now.month:02d}")
    rows = [("Plan", found.membership or "-"),
            ("Included credits", f"{found.credits} per billing cycle"),
            ("Prepaid credits", str(found.prepaid_credits)),
            ("App usage", f"{found.app_usage} ({period})"),
            ("API usage", f"{found.api_usage} ({period})")]
    cycle = found.billing_cycle
    if cycle is not None:
        source = "Stripe" if cycle.stripe_billing_synced else "calendar month, not synced"
        rows += [("Billing cycle", f"{_day(cycle.period_start_unix)} to "
                                   f"{_day(cycle.period_end_unix)} ({source})"),
                 ("  App usage", str(cycle.app_usage)),
                 ("  API usage", str(cycle.api_usage)),
                 ("  Included used", f"{cycle.used_included_credits} of "
                                     f"{cycle.included_credits}"),
                 ("  Included left", str(cycle.remaining_included_credits))]
    return _table(rows)


def _cycles_table(listed: BillingCycles) -> str:
    if not listed:
        return "No billing cycles with usage."
    header = f"{'start':<17}  {'end':<17}  {'app':>8}  {'api':>8}"
    lines = [f"{_day(c.period_start_unix):<17}  {_day(c.period_end_unix):<17}  "
             f"{c.app_usage:>8}  {c.api_usage:>8}" for c in listed]
    return "\n".join([header, *lines])


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _day(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M")
