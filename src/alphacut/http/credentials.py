"""A request's credentials, read once, as they arrived; ``service.auth`` decides who it is."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from alphacut.service.auth import Credentials

SESSION_COOKIE = "alphacut_session"
NONCE_COOKIE = "alphacut_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def bearer_token(authorization: str) -> str | None:
    """The token of ``Authorization: Bearer <token>``, else None."""
    if not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip() or None


def _joined(request: HTTPConnection, name: str) -> str | None:
    """Every ``name`` header, in order, as one comma-separated list (a repeated header is
    one list split over lines, RFC 9110 5.3); None when there is none."""
    return ", ".join(request.headers.getlist(name)) or None


def credentials(request: HTTPConnection) -> Credentials:
    headers, cookies = request.headers, request.cookies
    return Credentials(
        peer=request.client.host if request.client else "unknown",
        forwarded_for=_joined(request, "x-forwarded-for"),
        scheme=request.url.scheme,
        forwarded_proto=_joined(request, "x-forwarded-proto"),
        api_key=headers.get("x-api-key") or None,
        bearer=bearer_token(headers.get("authorization", "")),
        session=cookies.get(SESSION_COOKIE) or None,
        csrf_nonce=cookies.get(NONCE_COOKIE) or None,
        csrf_header=headers.get(CSRF_HEADER),
    )
