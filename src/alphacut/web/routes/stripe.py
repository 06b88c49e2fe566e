"""POST /api/stripe/webhook: Stripe's events, verified by their signature (docs/billing.md).

Off (404) unless ALPHACUT_STRIPE_WEBHOOK_SECRET is set. The raw body is read
as sent, because the signature covers those exact bytes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alphacut.errors import WebhookDisabled, WebhookTooLarge
from alphacut.http.services import ServicesDep

router = APIRouter(tags=["billing"])

MAX_EVENT_BYTES = 1024 * 1024  # Stripe's events are a few KiB; an invoice with many lines, more


async def _body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _error(description: str, examples: dict[str, str], status: int) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"},
        "examples": {name: {"value": {"error": message, "status": status}}
                     for name, message in examples.items()}}}}


WEBHOOK_OPERATION: dict[str, Any] = {
    "security": [],
    "parameters": [{
        "name": "Stripe-Signature", "in": "header", "required": True,
        "schema": {"type": "string"},
        "description": "Stripe's signature of the body: t=<unix time>,v1=<HMAC-SHA256 hex>.",
    }],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["id", "type", "created", "data"],
        "description": "A Stripe event, exactly as Stripe sent it.",
        "properties": {
            "id": {"type": "string", "example": "evt_1PYCL6CzbZon1zn9VivIehz7"},
            "object": {"type": "string", "const": "event"},
            "type": {"type": "string", "example": "customer.subscription.updated"},
            "created": {"type": "integer"},
            "data": {"type": "object", "properties": {"object": {"type": "object"}}},
        },
    }}}},
    "responses": {
        "200": {"description": "Received: handled, a duplicate, or ignored.", "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["received"],
                "properties": {
                    "received": {"type": "boolean", "const": True},
                    "duplicate": {"type": "boolean",
                                  "description": "This event id was processed before; "
                                                 "nothing changed."},
                    "ignored": {"type": "boolean",
                                "description": "An event type (or case) alphacut does not act "
                                               "on."},
                    "detail": {"type": "string", "description": "What was done, for the "
                                                               "delivery log."},
                },
            }},
        }},
        "400": _error("The signature does not verify (wrong secret, altered body, or a "
                      "timestamp outside the tolerance), or the body is not a Stripe event.", {
            "bad_signature": "Invalid Stripe webhook: the Stripe-Signature does not verify "
                             "(No signatures found matching the expected signature for "
                             "payload).",
            "not_an_event": "Invalid Stripe webhook: the body is not a Stripe event.",
        }, 400),
        "404": _error("The webhook is off (ALPHACUT_STRIPE_WEBHOOK_SECRET unset).", {
            "off": "The Stripe webhook is off on this server (set "
                   "ALPHACUT_STRIPE_WEBHOOK_SECRET to turn it on)."}, 404),
        "413": _error("The body is over 1 MiB.", {
            "too_large": f"The webhook body exceeds {MAX_EVENT_BYTES} bytes."}, 413),
        "422": _error("Verified, but not applicable yet: Stripe retries it.", {
            "no_user": "No alphacut user matches this Stripe event (customer 'cus_123'). "
                       "Stripe will retry it.",
            "unknown_pack": "The credit pack price 'price_456' is not in "
                            "ALPHACUT_STRIPE_CREDIT_PACKS. Stripe will retry it."}, 422),
        "503": _error("The account store is unavailable: Stripe retries it.", {
            "store": "The account store is unavailable: ..."}, 503),
    },
}


@router.post("/api/stripe/webhook", summary="Receive a Stripe event",
             openapi_extra=WEBHOOK_OPERATION)
async def receive(request: Request, services: ServicesDep) -> JSONResponse:
    """Subscriptions set the plan and the billing window, `invoice.paid` opens the next
    window, a paid Checkout Session adds a credit pack. Replays change nothing."""
    webhook = services.stripe
    if webhook is None:
        raise WebhookDisabled()
    payload = await _body(request, MAX_EVENT_BYTES)
    event = webhook.verify(payload, request.headers.get("stripe-signature"))
    outcome = await services.offload(webhook.handle, event)
    return JSONResponse(outcome.body())
