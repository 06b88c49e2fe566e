"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from alphacut.storage.base import StorageUnavailable
from alphacut.web.deps import Services, get_services

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and the server takes requests",
            responses={503: {"description": "Not ready yet"}})
async def readyz(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    if not services.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await run_in_threadpool(services.store.ping)
    except StorageUnavailable as err:
        return JSONResponse({"status": "store unavailable", "error": err.message},
                            status_code=503)
    return JSONResponse({"status": "ready", "model": services.settings.model})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    services.metrics.queue_depth.set(services.runner.waiting)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
