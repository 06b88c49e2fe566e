"""CSRF tokens of the web app's forms and of the editor's API calls.

A CSRF token is an HMAC of a random per-browser nonce (its own HttpOnly cookie)
and of the session cookie, keyed by a key derived from ``ALPHACUT_SECRET_KEY``.
Another site can neither read the nonce nor compute the HMAC, and a token stops
working when the session changes (log-in, log-out). Forms carry it in a hidden
field; the editor's requests in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


class CsrfTokens:
    def __init__(self, secret: str) -> None:
        # A key of its own: a CSRF token must never double as any other signature.
        self._key = hashlib.sha256(b"alphacut-csrf|" + secret.encode()).digest()

    def token(self, nonce: str, session: str) -> str:
        mac = hmac.new(self._key, f"{nonce}|{session}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def valid(self, nonce: str | None, session: str, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.token(nonce, session), token)
