"""One handler renders every error in the contract's JSON shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from alphacut.errors import AlphacutError, ServiceUnavailable, TooManyRequests
from alphacut.storage.base import RateDecision

log = logging.getLogger("alphacut.web")


def error_response(err: AlphacutError) -> JSONResponse:
    return JSONResponse(err.to_body(), status_code=err.status, headers=error_headers(err))


def error_headers(err: AlphacutError) -> dict[str, str]:
    """Retry-After on 429 and 503, and the rate limit's own headers when one answered."""
    headers: dict[str, str] = {}
    if isinstance(err, TooManyRequests | ServiceUnavailable):
        headers["Retry-After"] = str(err.retry_after)
    decision = getattr(err, "decision", None)
    if isinstance(decision, RateDecision):
        headers |= {"X-RateLimit-Limit": str(decision.limit),
                    "X-RateLimit-Remaining": str(decision.remaining),
                    "X-RateLimit-Reset": str(decision.reset_at)}
    return headers


def install_error_handlers(app: FastAPI) -> None:
    async def on_ours(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlphacutError)
        if exc.status >= 500:
            log.error("request failed: %s", exc.message)
        return error_response(exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        body = {"error": str(exc.detail), "status": exc.status_code}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse({"error": "Internal server error", "status": 500}, status_code=500)

    async def on_disconnect(request: Request, exc: Exception) -> JSONResponse:
        # The client went away mid-upload: nobody will read an answer; not a server fault.
        log.info("client disconnected during upload")
        return JSONResponse({"error": "Client disconnected", "status": 400}, status_code=400)

    app.add_exception_handler(AlphacutError, on_ours)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
