"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from alphacut.errors import StorageUnavailable
from alphacut.http.metrics import Metrics
from alphacut.http.services import ServicesDep

router = APIRouter(tags=["operations"])

_BY_MODEL = {"type": "object", "additionalProperties": {"type": "string"}}
READY_SCHEMA = {"type": "object", "required": ["status", "model", "store", "providers",
                                                 "precision"],
                "properties": {
    "status": {"type": "string", "enum": ["ready"]},
    "model": {"type": "string", "description": "The default model."},
    "store": {"type": "string", "enum": ["ok", "unavailable"],
              "description": "The shared store's state, reported, not judged."},
    "providers": {**_BY_MODEL, "description": "Each loaded model's execution provider "
                  "(cpu, openvino, cuda...): the one really in use (docs/runtimes.md)."},
    "precision": {**_BY_MODEL, "description": "Each loaded model's inference precision "
                  "(fp32 or bf16)."}}}
READY_EXAMPLE = {"status": "ready", "model": "u2netp", "store": "ok",
                 "providers": {"u2netp": "cpu"}, "precision": {"u2netp": "fp32"}}


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and the server takes requests",
            responses={200: {"description": "Ready", "content": {"application/json": {
                "schema": READY_SCHEMA, "example": READY_EXAMPLE}}},
                503: {"description": "Not ready yet (starting or shutting down)"}})
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
    placements = services.engine.placements()
    return JSONResponse({
        "status": "ready", "model": services.settings.model, "store": store,
        "providers": {name: where.provider for name, where in placements.items()},
        "precision": {name: where.precision for name, where in placements.items()},
    })


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, services: ServicesDep) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.scrape(services.runner, services.pools.sizes,
                                    services.engine.placements()),
                    media_type=registry.content_type)
