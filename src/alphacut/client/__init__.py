"""alphacut's Python SDK: ``Client`` and ``AsyncClient`` for the RemBG API contract.

Needs httpx and the standard library only (``pip install alphacut-client``, or the whole
``alphacut``); nothing here imports the server, its model runtime or its image libraries.

    from alphacut.client import Client

    with Client("http://127.0.0.1:7000", api_key="...") as client:
        with client.remove_background("photo.jpg", format="png") as result:
            print(result.path, result.width, result.height)
"""

from __future__ import annotations

from alphacut.client._async import AsyncClient
from alphacut.client._base import ImageInput
from alphacut.client._sync import Client
from alphacut.client.errors import (
    AlphacutClientError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ErrorDetail,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    UnexpectedResponseError,
)
from alphacut.client.models import (
    BillingCycle,
    BillingCycles,
    Box,
    CycleUsage,
    MembershipUsage,
    ProgressCallback,
    ProgressEvent,
    RateLimit,
    RemovalResult,
)
from alphacut.client.retry import RetryPolicy

__all__ = [
    "AlphacutClientError",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BillingCycle",
    "BillingCycles",
    "Box",
    "Client",
    "CycleUsage",
    "ErrorDetail",
    "ImageInput",
    "MembershipUsage",
    "NetworkError",
    "NetworkTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProgressCallback",
    "ProgressEvent",
    "RateLimit",
    "RateLimitError",
    "RemovalResult",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "UnexpectedResponseError",
]
