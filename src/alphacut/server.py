"""The ASGI application: the API (``web``) and the pages (``webapp``) on one app, over the
services ``alphacut.bootstrap.build`` made. ``alphacut serve`` runs :func:`app_from_env`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from alphacut import bootstrap
from alphacut.bootstrap import Services
from alphacut.errors import AlphacutError
from alphacut.http.errors import install_error_handlers
from alphacut.http.metrics import Metrics
from alphacut.http.middleware import RequestContext
from alphacut.http.security import SecurityHeaders
from alphacut.logs import configure_logging
from alphacut.secret import SecretKeyError, resolve_secret
from alphacut.settings import Settings
from alphacut.web.api import install_api
from alphacut.webapp.install import install_webapp

log = logging.getLogger("alphacut.web")

DESCRIPTION = """Self-hosted background removal that speaks the RemBG API.

Send an image to `POST /rmbg` as `multipart/form-data`; the answer is the image
with its background removed. Paste your API key under **Authorize** to send
requests as yourself; without one, requests are anonymous.

remove.bg's API is served too (tag **remove.bg**): `POST /v1.0/removebg` and
`GET /v1.0/account`, with an API key in `X-Api-Key` (docs/removebg.md)."""


class AlphacutApp(FastAPI):
    """FastAPI with the security headers outside everything, Starlette's own
    ServerErrorMiddleware too, so even an unexpected 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(services: Services | Settings) -> FastAPI:
    """The app over ``services`` (or over what ``bootstrap.build`` makes of settings: those
    services are then closed with the app)."""
    if isinstance(services, Settings):
        services = bootstrap.build(services)
    built = services

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load and warm the model before reporting ready; off the loop, it takes a while.
        try:
            await asyncio.get_running_loop().run_in_executor(None, built.engine.start)
        except AlphacutError as err:  # a missing model, a required provider absent...
            log.error("alphacut cannot start: %s", err.message)
            built.close()
            raise
        built.ready = True
        log.info("alphacut ready (model %s); runs on: %s", built.settings.model, ", ".join(
            f"{name} {where.describe()}" for name, where in built.engine.placements().items()))
        try:
            yield
        finally:
            built.ready = False
            built.close()

    app = AlphacutApp(title="alphacut", version="0.1.0", description=DESCRIPTION,
                      lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = built
    app.state.metrics = metrics = Metrics()
    app.add_middleware(RequestContext, metrics=metrics)
    install_error_handlers(app)
    install_api(app, built)
    install_webapp(app, built)  # the editor and account pages
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory in each worker process: settings come from the environment."""
    settings = Settings()
    configure_logging(settings.log_format)
    # Never generate here: uvicorn may have been started by hand on any address (its
    # --host is not ALPHACUT_HOST). `alphacut serve` generates one first, on loopback only.
    secret = resolve_secret(settings, create=False)
    if not secret.value:
        raise SecretKeyError(
            "ALPHACUT_SECRET_KEY is not set and no secret was generated in "
            f"{secret.path}; set it, or start with `alphacut serve` (which generates one "
            "when it binds loopback).")
    return create_app(bootstrap.build(settings, secret=secret))
