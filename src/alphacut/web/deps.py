"""What the routes need, built once by the app factory and found through the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from alphacut.domain.clock import Clock
from alphacut.domain.principal import Principal
from alphacut.engine.pipeline import Engine
from alphacut.engine.runner import Runner
from alphacut.service.accounts import AccountService
from alphacut.service.auth import Authenticator
from alphacut.service.quota import QuotaService
from alphacut.service.removal import ChargedRemoval
from alphacut.service.tokens import TokenSigner
from alphacut.settings import Settings
from alphacut.storage.base import Store
from alphacut.web.csrf import CSRF_HEADER, session_bearer
from alphacut.web.metrics import Metrics
from alphacut.web.upload import UploadLimits


@dataclass
class Services:
    settings: Settings
    engine: Engine
    runner: Runner
    metrics: Metrics
    upload_limits: UploadLimits
    store: Store
    clock: Clock
    auth: Authenticator
    quota: QuotaService
    accounts: AccountService
    tokens: TokenSigner
    charged_removal: ChargedRemoval
    ready: bool = False


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_address(request: Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        if hops and hops[-1]:
            return hops[-1]  # appended by our own proxy; earlier hops are client-claimed
    return request.client.host if request.client else "unknown"


async def get_principal(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    """Key, token or anonymous; the store lookups run off the event loop.

    The web editor's calls carry the session cookie as the user token, only together
    with a matching X-CSRF-Token header (docs/webapp.md); a stale session (expired, or
    issued before the password changed) is anonymous."""
    api_key = request.headers.get("x-api-key") or None
    authorization = request.headers.get("authorization", "")
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    session = False
    if api_key is None and not bearer:
        bearer = session_bearer(request.cookies, request.headers.get(CSRF_HEADER),
                                services.settings.secret_key)
        session = bearer is not None
    client = client_address(request, services.settings.trust_forwarded_for)
    now = int(services.clock.now())
    return await run_in_threadpool(services.auth.resolve, api_key, bearer or None, client, now,
                                   session)
