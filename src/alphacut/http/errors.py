"""The web boundary of the error tree: every error gets its status and the body a client
sees here, and one handler renders them all in the contract's JSON shape.

Errors that are answers of the API carry their status (``HttpError``); the store's carry
none and are mapped below. A store that cannot be reached answers 503 without its detail
(hosts, files, database messages go to the log, never to the client).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from alphacut.errors import (
    AlphacutError,
    CustomerConflict,
    DuplicateEmail,
    HttpError,
    KeyConflict,
    RateLimited,
    ServiceUnavailable,
    StorageUnavailable,
    TooManyRequests,
    UnknownUser,
)

log = logging.getLogger("alphacut.web")

STORE_UNAVAILABLE = "The account store is unavailable. Please retry shortly."
STORE_RETRY_AFTER_S = 5
_STORAGE_STATUS: tuple[tuple[type[AlphacutError], int], ...] = (
    (UnknownUser, 404), (DuplicateEmail, 409), (KeyConflict, 409), (CustomerConflict, 409),
    (StorageUnavailable, 503),
)


def status_of(err: AlphacutError) -> int:
    if isinstance(err, HttpError):
        return err.status
    for kind, status in _STORAGE_STATUS:
        if isinstance(err, kind):
            return status
    return 500


def public_message(err: AlphacutError) -> str:
    """What the client reads: the message, except where it would show internals."""
    if isinstance(err, StorageUnavailable):
        return STORE_UNAVAILABLE
    if status_of(err) >= 500 and not isinstance(err, HttpError):
        return "Internal server error"
    return err.message


def error_body(err: AlphacutError) -> dict[str, object]:
    if isinstance(err, HttpError):
        return err.to_body()
    return {"error": public_message(err), "status": status_of(err)}


def error_response(err: AlphacutError) -> JSONResponse:
    return JSONResponse(error_body(err), status_code=status_of(err), headers=error_headers(err))


def error_headers(err: AlphacutError) -> dict[str, str]:
    """Retry-After on 429 and 503, and the rate limit's own headers when one answered."""
    headers: dict[str, str] = {}
    if isinstance(err, TooManyRequests | ServiceUnavailable):
        headers["Retry-After"] = str(err.retry_after)
    elif isinstance(err, StorageUnavailable):
        headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
    if isinstance(err, RateLimited) and err.limit is not None:
        headers |= {"X-RateLimit-Limit": str(err.limit),
                    "X-RateLimit-Remaining": str(err.remaining),
                    "X-RateLimit-Reset": str(err.reset_at)}
    return headers


def log_error(err: AlphacutError) -> None:
    if status_of(err) >= 500:
        log.error("request failed: %s", err.message)


def install_error_handlers(app: FastAPI) -> None:
    async def on_ours(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlphacutError)
        log_error(exc)
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
