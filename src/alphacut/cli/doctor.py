"""``alphacut doctor``: is this machine ready to serve? One line per check.

Nothing is downloaded or changed (opening the default SQLite store creates its
empty file, as the server would).

Each check says OK, WARN (works, but not as an operator would want in production)
or FAIL (the server would not start or not answer). Exit 1 on any FAIL.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import click
from pydantic import ValidationError

from alphacut.errors import AlphacutError
from alphacut.secret import SecretKeyError, resolve_secret, throw_away
from alphacut.settings import Settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    good = sys.version_info >= (3, 11)
    return Check("python", OK if good else FAIL, f"{version} (3.11 or newer needed)")


def _secrets(settings: Settings) -> Check:
    try:
        secret = resolve_secret(settings, create=False)
    except SecretKeyError as err:
        return Check("secret key", FAIL, str(err))
    if secret.source == "given":
        return Check("secret key", OK, "set (ALPHACUT_SECRET_KEY)")
    if secret.source == "generated":
        return Check("secret key", WARN, f"generated on first start into {secret.path}; for "
                     "a fleet or a public address set ALPHACUT_SECRET_KEY")
    return Check("secret key", WARN, f"generated earlier, in {secret.path}; for a fleet set "
                 "ALPHACUT_SECRET_KEY")


def _model(settings: Settings) -> Check:
    from alphacut.library import Engine

    engine = Engine(settings)
    try:
        spec = engine.spec(None)
    except AlphacutError as err:
        return Check("model", FAIL, err.message)
    path = engine.store.path_for(spec)
    if not engine.store.is_present(spec):
        state = "fails its checksum" if path.exists() else "is missing"
        return Check("model", FAIL, f"{spec.name}: {path} {state}; run "
                     f"`alphacut models pull {spec.name}`")
    started = time.perf_counter()
    try:
        engine.warm()
    except AlphacutError as err:
        return Check("model", FAIL, f"{spec.name}: {err.message}")
    took = (time.perf_counter() - started) * 1000
    where = engine.placements()[spec.name]
    skipped = f"; skipped {'; '.join(where.skipped)}" if where.skipped else ""
    return Check("model", WARN if where.skipped else OK,
                 f"{spec.name} at {path}, checksum verified, loaded on {where.describe()} "
                 f"and ran once in {took:.0f} ms{skipped}")


def _runtime() -> Check:
    import onnxruntime

    providers = ", ".join(onnxruntime.get_available_providers())
    return Check("onnxruntime", OK, f"{onnxruntime.__version__}; providers: {providers}")


def _providers(settings: Settings) -> Check:
    """The providers ALPHACUT_PROVIDERS lists, each with whether it can run here."""
    from alphacut.engine import runtimes

    found = runtimes.report()
    listed = settings.providers.split(",")
    usable = [name for name in listed if found[name].startswith("available")]
    detail = "; ".join(f"{name}: {found[name]}" for name in listed)
    others = [name for name in runtimes.PROVIDERS
              if name not in listed and found[name].startswith("available")]
    if others:
        detail += f"; also here, not listed: {', '.join(others)}"
    detail = (f"ALPHACUT_PROVIDERS={settings.providers}, ALPHACUT_PRECISION="
              f"{settings.precision}: {detail}")
    if not usable:
        return Check("providers", FAIL, detail)
    return Check("providers", OK if usable == listed else WARN, detail)


def _store(settings: Settings) -> Check:
    from alphacut import bootstrap

    where = settings.store_url or f"SQLite under {settings.data_dir}"
    try:
        services = bootstrap.build(settings, secret=throw_away())
        try:
            services.store.ping()
        finally:
            services.close()
    except Exception as err:  # any failure to reach it is the finding
        return Check("store", FAIL, f"{where}: {err}")
    return Check("store", OK, f"{where}: reachable")


def _mail(settings: Settings) -> Check:
    if not settings.web_app:
        return Check("web app mail", OK, "web app off (ALPHACUT_WEB_APP=false)")
    problems = []
    if not settings.smtp_host:
        problems.append("no ALPHACUT_SMTP_HOST: sign-up and reset links go to the server log")
    if not settings.public_url:
        problems.append("no ALPHACUT_PUBLIC_URL: links are built only for loopback hosts")
    if problems:
        return Check("web app mail", WARN, "; ".join(problems))
    return Check("web app mail", OK, f"SMTP {settings.smtp_host}:{settings.smtp_port} "
                 f"({settings.smtp_tls}), links to {settings.public_url}")


def _admin(settings: Settings) -> Check:
    if settings.admin_token:
        return Check("admin API", OK, "enabled (ALPHACUT_ADMIN_TOKEN set)")
    return Check("admin API", OK, "disabled (no ALPHACUT_ADMIN_TOKEN); use the CLI")


def run_checks(settings: Settings) -> list[Check]:
    steps: list[Callable[[], Check]] = [
        _python, lambda: _secrets(settings), _runtime, lambda: _providers(settings),
        lambda: _model(settings),
        lambda: _store(settings), lambda: _mail(settings), lambda: _admin(settings),
    ]
    return [step() for step in steps]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every check.")
def doctor(as_json: bool) -> None:
    """Check that this machine can serve: Python, secrets, model, runtime, store, mail."""
    try:
        settings = Settings()
    except ValidationError as err:
        checks = [Check("settings", FAIL, str(err).replace("\n", "; "))]
    else:
        checks = [Check("settings", OK, "ALPHACUT_* read"), *run_checks(settings)]
    failed = any(check.status == FAIL for check in checks)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]},
                              indent=2))
    else:
        width = max(len(check.name) for check in checks)
        for check in checks:
            click.echo(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
    if failed:
        sys.exit(1)
