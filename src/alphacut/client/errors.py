"""What the client raises: API answers (with the contract's status, message and details)
apart from network failures (no answer at all).

::

    AlphacutClientError
    ├── ApiError                    the server answered with an error status
    │   ├── BadRequestError            400 (``details`` lists every invalid field)
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── RequestTimeoutError        408 (the upload stalled)
    │   ├── RateLimitError             429 (``retry_after``)
    │   └── ServerError                5xx
    │       └── ServiceUnavailableError   503 (``retry_after``)
    ├── NetworkError                no answer: connection refused or dropped, timeouts
    │   └── NetworkTimeoutError
    └── UnexpectedResponseError     an answer that does not follow the contract
"""

from __future__ import annotations

from dataclasses import dataclass


class AlphacutClientError(Exception):
    """Base of everything the client raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ErrorDetail:
    """One invalid field of a ``Multiple validation errors`` answer."""

    field: str
    message: str


class ApiError(AlphacutClientError):
    """The server answered with an error status and (usually) the contract's JSON body."""

    def __init__(
        self, status: int, message: str, details: list[ErrorDetail] | None = None, *,
        request_id: str | None = None, retry_after: float | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details = list(details or [])
        self.request_id = request_id
        self.retry_after = retry_after  # seconds, from Retry-After (429 and 503 send it)
        self.body = body  # the parsed JSON body, or the text when it was not JSON

    def __str__(self) -> str:
        text = f"{self.status} {self.message}"
        if self.details:
            text += ": " + "; ".join(f"{d.field}: {d.message}" for d in self.details)
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class BadRequestError(ApiError):
    """400: the image or a form field was refused."""


class AuthenticationError(ApiError):
    """401: unknown or revoked API key."""


class PermissionDeniedError(ApiError):
    """403: for example an account whose e-mail is not verified."""


class NotFoundError(ApiError):
    """404: the path does not exist on this server (an older server, a wrong base URL)."""


class RequestTimeoutError(ApiError):
    """408: the server gave up on a stalled upload."""


class RateLimitError(ApiError):
    """429: too many requests in the short window, or the daily/monthly allowance is used."""


class ServerError(ApiError):
    """5xx."""


class ServiceUnavailableError(ServerError):
    """503: the server is at capacity (or its model is not ready); retry after a while."""


class NetworkError(AlphacutClientError):
    """No answer came back: connection refused, reset or dropped, or a timeout.

    ``retryable`` is true when the request certainly did not run on the server
    (it never connected, or the connection closed before any answer), so sending
    it again cannot do the work, or use a credit, twice.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class NetworkTimeoutError(NetworkError):
    """The connection, upload or answer took longer than the client's timeout."""


class UnexpectedResponseError(AlphacutClientError):
    """A success status whose body does not follow the contract."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int) -> type[ApiError]:
    """The most specific class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError
