"""``alphacut serve``: the HTTP API on uvicorn."""

from __future__ import annotations

import os

import click
import uvicorn
from pydantic import ValidationError

from alphacut.errors import StorageError
from alphacut.secret import SecretKeyError, resolve_secret
from alphacut.settings import Settings
from alphacut.storage.factory import open_store


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 7000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the RemBG-compatible API. Settings come from ALPHACUT_* variables and flags."""
    # Flags become environment variables so every worker process builds the same Settings.
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"ALPHACUT_{name}"] = str(value)
    try:
        settings = Settings()
    except ValidationError as err:
        raise click.ClickException(f"invalid settings: {err}") from None
    try:  # before any worker starts: they then read the secret generated here
        secret = resolve_secret(settings)
    except SecretKeyError as err:
        raise click.ClickException(str(err)) from err
    try:  # the store must open (a read-only data dir, Redis down): say so, not a traceback
        open_store(settings.store_url, settings.data_dir).close()
    except StorageError as err:
        raise click.ClickException(err.message) from err
    base = f"http://{settings.host}:{settings.port}"
    click.echo(f"alphacut: serving on {base}  (model {settings.model})")
    click.echo(f"  {secret.describe()}")
    click.echo(f"  API reference: {base}/docs    OpenAPI: {base}/api/openapi")
    if settings.web_app:
        click.echo(f"  web editor: {base}/    sign up: {base}/signup")
    click.echo(f"  try it:  curl -F image=@photo.jpg -F format=png {base}/rmbg -o cutout.png")
    uvicorn.run(
        "alphacut.server:app_from_env", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, access_log=False, log_level="info",
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s), timeout_keep_alive=5,
        # One source of truth for the client's address and scheme: alphacut reads
        # X-Forwarded-For/-Proto itself (ALPHACUT_TRUST_FORWARDED_FOR, _TRUSTED_PROXIES).
        proxy_headers=False,
    )
