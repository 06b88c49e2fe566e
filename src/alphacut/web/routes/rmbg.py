"""POST /rmbg: the contract's one image endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from alphacut.engine.pipeline import Result
from alphacut.errors import AlphacutError
from alphacut.storage.base import RateDecision
from alphacut.web.deps import Services, get_principal, get_services
from alphacut.web.openapi import RMBG_OPERATION
from alphacut.web.upload import drain, read_upload

router = APIRouter()


@router.post(
    "/rmbg", summary="Remove the background of one image", tags=["images"],
    response_class=Response, openapi_extra=RMBG_OPERATION,
)
async def rmbg(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Response:
    """Order: who (401/403/400) → how fast (429) → admission (503) → the upload and its
    fields (400) → a credit or the daily allowance (429) → the image; a failure refunds
    (the last three: ``service.removal.ChargedRemoval``)."""
    quota = services.quota
    try:
        principal = await get_principal(request, services)
        rate = await run_in_threadpool(quota.check_rate, principal, services.clock.now())
    except AlphacutError:
        # Read (and drop) the upload first: a client still sending would otherwise see a
        # reset connection instead of our answer.
        await drain(request.stream(), services.upload_limits)
        raise
    async with services.runner.slot():
        services.metrics.queue_depth.set(services.runner.waiting)
        length = request.headers.get("content-length")
        upload = await read_upload(
            request.headers.get("content-type", ""),
            int(length) if length and length.isdigit() else None,
            request.stream(), services.upload_limits,
        )
        services.metrics.in_flight.inc()
        try:
            charged = await services.charged_removal(principal, rate, upload)
        finally:
            services.metrics.in_flight.dec()
    result = charged.result
    services.metrics.observe_stages(result.timings)
    headers = _headers(result) | rate_headers(rate)
    if charged.credits_left is not None:
        headers |= {"X-Credits-Charged": "1", "X-Credits-Remaining": str(charged.credits_left)}
    return Response(result.content, media_type=result.media_type, headers=headers)


def rate_headers(rate: RateDecision) -> dict[str, str]:
    """remove.bg's convention; Reset is the unix second the window starts over."""
    return {"X-RateLimit-Limit": str(rate.limit), "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Reset": str(rate.reset_at)}


def _headers(result: Result) -> dict[str, str]:
    timing = ", ".join(f"{stage};dur={ms}" for stage, ms in result.timings.items())
    return {"X-Width": str(result.width), "X-Height": str(result.height),
            "Server-Timing": timing}
