"""POST /rmbg: the contract's one image endpoint (the use case: ``service.removal``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from alphacut.engine.pipeline import Result
from alphacut.http.credentials import credentials
from alphacut.http.services import ServicesDep
from alphacut.service.removal import Delivery
from alphacut.storage.base import RateDecision
from alphacut.web.openapi import RMBG_OPERATION
from alphacut.web.upload import FormUpload

router = APIRouter()


@router.post(
    "/rmbg", summary="Remove the background of one image", tags=["images"],
    response_class=Response, openapi_extra=RMBG_OPERATION,
)
async def rmbg(request: Request, services: ServicesDep) -> Response:
    """Order: who (401/403/400) → how fast (429) → an upload place (503/429) → the upload
    and its fields (400/408) → admission (503) → the daily allowance, or a credit checked
    (429) → the image → its credit taken (429 if the last went meanwhile) → the answer."""
    delivery = await services.removal(credentials(request),
                                      FormUpload(request, services.upload_limits))
    request.app.state.metrics.observe_stages(delivery.result.timings)
    return Response(delivery.result.content, media_type=delivery.result.media_type,
                    headers=delivery_headers(delivery))


def delivery_headers(delivery: Delivery) -> dict[str, str]:
    headers = result_headers(delivery.result) | rate_headers(delivery.rate)
    if delivery.credits_left is not None:
        headers |= {"X-Credits-Charged": str(delivery.credits_charged),
                    "X-Credits-Remaining": str(delivery.credits_left)}
    return headers


def rate_headers(rate: RateDecision) -> dict[str, str]:
    """remove.bg's convention; Reset is the unix second the window starts over."""
    return {"X-RateLimit-Limit": str(rate.limit), "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Reset": str(rate.reset_at)}


def result_headers(result: Result) -> dict[str, str]:
    """The result's size, the subject's box in it (remove.bg's ``X-Foreground-*``; absent
    when there is no subject), how unsure the model was, which model answered, and the
    stages' times."""
    timing = ", ".join(f"{stage};dur={ms}" for stage, ms in result.timings.items())
    headers = {"X-Width": str(result.width), "X-Height": str(result.height),
               "X-Uncertainty-Score": f"{result.uncertainty:.4f}", "X-Model": result.model}
    box = result.foreground
    if box is not None:
        headers |= {"X-Foreground-Top": str(box.top), "X-Foreground-Left": str(box.left),
                    "X-Foreground-Width": str(box.width),
                    "X-Foreground-Height": str(box.height)}
    return headers | {"Server-Timing": timing}
