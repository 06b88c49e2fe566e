"""remove.bg's API on alphacut's engine and ledger: ``POST /v1.0/removebg`` and
``GET /v1.0/account`` (docs/removebg.md). Same keys, limits, usage counters and credits
as ``/rmbg``; remove.bg's fields, answers and error shape."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from alphacut.domain.layout import Box
from alphacut.errors import AlphacutError
from alphacut.http.credentials import credentials
from alphacut.http.services import ServicesDep
from alphacut.service.removal import Delivery
from alphacut.service.removebg import RemoveBgSurface, require_subject
from alphacut.web.removebg_errors import removebg_error_response
from alphacut.web.removebg_openapi import ACCOUNT_OPERATION, REMOVEBG_OPERATION
from alphacut.web.removebg_upload import RemoveBgUpload
from alphacut.web.routes.rmbg import rate_headers, result_headers

router = APIRouter(tags=["remove.bg"])


@router.post("/v1.0/removebg", summary="Remove the background (remove.bg's API)",
             response_class=Response, openapi_extra=REMOVEBG_OPERATION)
async def removebg(request: Request, services: ServicesDep) -> Response:
    """The removal use case with remove.bg's reading and answers: an API key is required
    (403), then the same order of checks as `/rmbg`."""
    creds = credentials(request)
    surface = RemoveBgSurface()
    upload = RemoveBgUpload(request, services.upload_limits, services.fetcher.fetch,
                            services.offload)
    try:
        delivery = await services.removal(creds, upload, surface=surface,
                                          who=services.principals.key_holder,
                                          accept=require_subject)
    except AlphacutError as err:
        return removebg_error_response(err, key_sent=bool(creds.api_key))
    request.app.state.metrics.observe_stages(delivery.result.timings)
    assert surface.request is not None
    headers = _headers(delivery, surface.request.type, surface.request.type_level)
    if "application/json" in request.headers.get("accept", "").lower():
        # Off the loop: a large result is tens of MB of base64.
        return JSONResponse(await services.offload(_json_body, delivery), headers=headers)
    return Response(delivery.result.content, media_type=delivery.result.media_type,
                    headers=headers)


def _headers(delivery: Delivery, kind: str, type_level: str) -> dict[str, str]:
    headers = result_headers(delivery.result) | rate_headers(delivery.rate)
    headers["X-Credits-Charged"] = str(delivery.credits_charged)
    if type_level != "none":
        headers["X-Type"] = kind
    return headers


def _json_body(delivery: Delivery) -> dict[str, object]:
    box = delivery.result.foreground or Box(0, 0, 0, 0)
    return {"data": {
        "result_b64": base64.b64encode(delivery.result.content).decode("ascii"),
        "foreground_top": box.top, "foreground_left": box.left,
        "foreground_width": box.width, "foreground_height": box.height,
    }}


@router.get("/v1.0/account", summary="Credit balance (remove.bg's API)",
            openapi_extra=ACCOUNT_OPERATION)
async def account(request: Request, services: ServicesDep) -> JSONResponse:
    """remove.bg's shape over alphacut's figures: `subscription` = included credits left in
    the current billing window, `payg` = prepaid credits, `enterprise` = 0."""
    creds = credentials(request)
    try:
        principal = await services.offload(services.principals.key_holder, creds,
                                           int(services.clock.now()))
        included, prepaid = await services.offload(services.quota.balance,
                                                   principal.user_id or "",
                                                   services.clock.now())
    except AlphacutError as err:
        return removebg_error_response(err, key_sent=bool(creds.api_key))
    return JSONResponse({"data": {"attributes": {
        "credits": {"total": included + prepaid, "subscription": included, "payg": prepaid,
                    "enterprise": 0},
        "api": {"free_calls": 0, "sizes": "all"},
    }}})
