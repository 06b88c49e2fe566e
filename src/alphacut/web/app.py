"""The composition root of the HTTP server: ``create_app(settings)`` reads top to bottom."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from alphacut.domain.clock import Clock, SystemClock
from alphacut.engine.pipeline import Engine
from alphacut.engine.runner import Runner
from alphacut.service.accounts import AccountService
from alphacut.service.auth import Authenticator
from alphacut.service.quota import Limits, QuotaService
from alphacut.service.removal import ChargedRemoval, RemovalService
from alphacut.service.tokens import TokenSigner
from alphacut.settings import Settings
from alphacut.storage.base import Store
from alphacut.storage.factory import open_store
from alphacut.web.deps import Services
from alphacut.web.errors import install_error_handlers
from alphacut.web.metrics import Metrics
from alphacut.web.middleware import RequestContext
from alphacut.web.openapi import install_openapi
from alphacut.web.routes import admin, docs, health, rmbg, stripe, usage
from alphacut.web.security import SecurityHeaders
from alphacut.web.upload import UploadLimits
from alphacut.webapp.install import install_webapp

log = logging.getLogger("alphacut.web")

DESCRIPTION = """Self-hosted background removal that speaks the RemBG API.

Send an image to `POST /rmbg` as `multipart/form-data`; the answer is the image
with its background removed. Paste your API key under **Authorize** to send
requests as yourself; without one, requests are anonymous."""


class AlphacutApp(FastAPI):
    """FastAPI with the security headers outside everything, Starlette's own
    ServerErrorMiddleware too, so even an unexpected 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    settings: Settings, engine: Engine | None = None, store: Store | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings.check_secrets()
    owns_store = store is None
    store = store or open_store(settings.store_url, settings.data_dir)
    clock = clock or SystemClock()
    engine = engine or Engine(settings)
    runner = Runner(settings.max_concurrency, settings.max_queue)
    metrics = Metrics()
    tokens = TokenSigner(settings.secret_key, settings.user_token_ttl_s)
    limits = Limits(settings.rate_window_s, settings.rate_limit_anonymous,
                    settings.rate_limit_user, settings.rate_limit_plans,
                    settings.anonymous_daily_limit)
    removal = RemovalService(engine, runner)
    quota = QuotaService(store, limits)
    services = Services(
        settings=settings, engine=engine, runner=runner, metrics=metrics,
        upload_limits=UploadLimits(settings.max_upload_bytes, settings.upload_idle_timeout_s,
                                   settings.upload_timeout_s),
        store=store, clock=clock, auth=Authenticator(store, tokens), quota=quota,
        accounts=AccountService(store, clock), tokens=tokens,
        charged_removal=ChargedRemoval(removal, quota, clock),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load and warm the model before reporting ready; off the loop, it takes a while.
        await asyncio.get_running_loop().run_in_executor(None, engine.warm)
        services.ready = True
        log.info("alphacut ready (model %s)", settings.model)
        try:
            yield
        finally:
            services.ready = False
            runner.shutdown()
            if owns_store:
                store.close()

    app = AlphacutApp(title="alphacut", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.add_middleware(RequestContext, metrics=metrics)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(rmbg.router)
    app.include_router(health.router)
    app.include_router(admin.router, include_in_schema=bool(settings.admin_token))
    app.include_router(usage.router)
    app.include_router(stripe.router)
    docs.install_docs(app)
    install_webapp(app, services)  # the editor and account pages
    return app
