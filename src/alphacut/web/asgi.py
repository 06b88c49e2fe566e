"""Entry for uvicorn worker processes: settings come from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from alphacut.logs import configure_logging
from alphacut.settings import Settings
from alphacut.web.app import create_app


def app_from_env() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_format)
    return create_app(settings)
