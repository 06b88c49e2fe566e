"""Wire the web app into the API's FastAPI app: services, templates, static files (the
security headers wrap the whole app: web/app.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from alphacut.service.identity import IdentityPolicy, IdentityService
from alphacut.service.mail import SmtpConfig, build_mailer
from alphacut.settings import Settings
from alphacut.web.deps import Services
from alphacut.webapp import pages
from alphacut.webapp.pages import WebApp

log = logging.getLogger("alphacut.webapp")

HERE = Path(__file__).parent
STATIC_URL = "/app/static"


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    return SmtpConfig(settings.smtp_host, settings.smtp_port, settings.smtp_tls,
                      settings.smtp_user, settings.smtp_password, settings.mail_from,
                      settings.smtp_timeout_s)


def identity_policy(settings: Settings) -> IdentityPolicy:
    return IdentityPolicy(
        password_min_length=settings.password_min_length,
        verify_ttl_s=settings.verify_link_ttl_s, reset_ttl_s=settings.reset_link_ttl_s,
        login_limit=settings.login_rate_limit, login_window_s=settings.login_rate_window_s,
        mail_limit=settings.mail_rate_limit, default_plan=settings.default_plan,
        default_credits=settings.default_included_credits)


def install_webapp(app: FastAPI, services: Services) -> None:
    """The pages and their assets, when enabled."""
    settings = services.settings
    if not settings.web_app:
        return
    if settings.environment != "development" and not settings.public_url:
        log.warning("ALPHACUT_PUBLIC_URL is unset: verification and reset mails are sent "
                    "only for requests to a loopback address or the server's own host "
                    "(ALPHACUT_HOST); set it in production")
    identity = IdentityService(services.store, services.clock, settings.secret_key,
                               identity_policy(settings), build_mailer(smtp_config(settings)))
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["static"] = lambda name: f"{STATIC_URL}/{name}"
    templates.env.filters["utc_time"] = pages.utc_time
    templates.env.filters["utc_date"] = pages.utc_date
    app.state.webapp = WebApp(services, identity, templates)
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="webapp-static")
    app.add_exception_handler(pages.PageRefused, pages.on_refused)
    app.include_router(pages.router)
