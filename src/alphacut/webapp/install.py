"""Wire the web app into an app: its pages, templates and static files (the security
headers wrap the whole app: ``alphacut.server``)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from alphacut.bootstrap import Services
from alphacut.webapp import pages

log = logging.getLogger("alphacut.webapp")

HERE = Path(__file__).parent
STATIC_URL = "/app/static"


def install_webapp(app: FastAPI, services: Services) -> None:
    """The pages and their assets, when enabled."""
    settings = services.settings
    if not settings.web_app:
        return
    if settings.environment != "development" and not settings.public_url:
        log.warning("ALPHACUT_PUBLIC_URL is unset: verification and reset mails are sent "
                    "only for requests to a loopback address or the server's own host "
                    "(ALPHACUT_HOST); set it in production")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["static"] = lambda name: f"{STATIC_URL}/{name}"
    templates.env.filters["utc_time"] = pages.utc_time
    templates.env.filters["utc_date"] = pages.utc_date
    app.state.templates = templates
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="webapp-static")
    app.add_exception_handler(pages.PageRefused, pages.on_refused)
    app.include_router(pages.router)
