"""The roots of the tree: an error with a message, and the HTTP families."""

from __future__ import annotations

from typing import ClassVar


class AlphacutError(Exception):
    """Base of every error alphacut raises on purpose. ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HttpError(AlphacutError):
    """An error that is an answer of the API: it carries its status and renders as the
    contract's body, ``{"error": message, "status": status}``."""

    status: ClassVar[int] = 500

    def to_body(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


class BadRequest(HttpError):
    status = 400


class Unauthorized(HttpError):
    status = 401


class Forbidden(HttpError):
    status = 403


class NotFound(HttpError):
    status = 404


class Conflict(HttpError):
    status = 409


class PayloadTooLarge(HttpError):
    status = 413


class Unprocessable(HttpError):
    status = 422


class TooManyRequests(HttpError):
    status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(HttpError):
    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
