"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from alphacut.errors import StorageUnavailable
from alphacut.http.metrics import Metrics
from alphacut.http.services import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and the server takes requests",
            responses={503: {"description": "Not ready yet (starting or shutting down)"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready means this process can serve: the model is loaded and it is not shutting
    down. The shared store's state is reported, not judged: a Redis outage hits every
    server of a fleet at once, so failing readiness for it would empty the load
    balancer's pool; each request answers its own 503 instead."""
    if not services.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await services.offload(services.store.ping)
    except StorageUnavailable:
        store = "unavailable"
    else:
        store = "ok"
    return JSONResponse({"status": "ready", "model": services.settings.model, "store": store})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, services: ServicesDep) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.scrape(services.runner, services.pools.sizes),
                    media_type=registry.content_type)
