"""Security headers on every response (the pages' strict CSP too), 500s included: the
app wraps its whole middleware stack in them (alphacut/server.py), outside Starlette's
ServerErrorMiddleware.

The interactive API reference (/docs, /redoc) is the one exception to the CSP:
its third-party bundle is started by an inline script. It still gets the other
headers (no framing, no sniffing, a strict referrer policy).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
NO_CSP_PREFIXES = ("/docs", "/redoc")


class SecurityHeaders:
    """Pure ASGI middleware: streaming bodies pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(HEADERS)
        if not str(scope.get("path", "")).startswith(NO_CSP_PREFIXES):
            extra.append((b"content-security-policy", CSP.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)
