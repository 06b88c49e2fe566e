"""The HTTP API on an app: the RemBG contract's endpoints, remove.bg's API, the account and
admin APIs,
Stripe's webhook, health, the OpenAPI document and the interactive reference."""

from __future__ import annotations

from fastapi import FastAPI

from alphacut.bootstrap import Services
from alphacut.web.openapi import install_openapi
from alphacut.web.routes import admin, docs, health, removebg, rmbg, stripe, usage


def install_api(app: FastAPI, services: Services) -> None:
    install_openapi(app)
    app.include_router(rmbg.router)
    app.include_router(health.router)
    app.include_router(admin.router, include_in_schema=bool(services.settings.admin_token))
    app.include_router(usage.router)
    app.include_router(removebg.router)
    app.include_router(stripe.router)
    docs.install_docs(app)
