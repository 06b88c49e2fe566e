"""What the routes need, built once by the app factory and found through the request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from alphacut.domain.principal import Principal
from alphacut.engine.pipeline import Engine
from alphacut.engine.runner import Runner
from alphacut.service.removal import RemovalService
from alphacut.settings import Settings
from alphacut.web.metrics import Metrics
from alphacut.web.upload import UploadLimits


@dataclass
class Services:
    settings: Settings
    engine: Engine
    runner: Runner
    removal: RemovalService
    metrics: Metrics
    upload_limits: UploadLimits
    ready: bool = False


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_principal(request: Request) -> Principal:
    """Anonymous for now; the accounts layer resolves keys and tokens here."""
    client = request.client.host if request.client else "unknown"
    return Principal(client_address=client)
