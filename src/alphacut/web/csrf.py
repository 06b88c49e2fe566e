"""The session cookie and CSRF tokens, shared by the pages (alphacut.webapp) and by POST /rmbg.

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

from alphacut.errors import Forbidden

SESSION_COOKIE = "alphacut_session"
NONCE_COOKIE = "alphacut_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class CsrfRejected(Forbidden):
    def __init__(self) -> None:
        super().__init__("The page's security token is missing or out of date. "
                         "Please reload the page and try again.")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _key(secret: str) -> bytes:
    # A key of its own: a CSRF token must never double as any other signature.
    return hashlib.sha256(b"alphacut-csrf|" + secret.encode()).digest()


def csrf_token(secret: str, nonce: str, session: str) -> str:
    mac = hmac.new(_key(secret), f"{nonce}|{session}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_valid(secret: str, nonce: str | None, session: str, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce, session), token)


def session_bearer(cookies: dict[str, str], header: str | None, secret: str) -> str | None:
    """The session cookie as a user token for an API call from our own pages.

    Only with the ``X-CSRF-Token`` header (which another site cannot send without
    our CORS consent, which we never give) and only when it matches: a cookie alone
    counts for nothing (the request is anonymous); a wrong header is a 403.
    """
    session = cookies.get(SESSION_COOKIE)
    if not session or header is None:
        return None
    if not csrf_valid(secret, cookies.get(NONCE_COOKIE), session, header):
        raise CsrfRejected()
    return session
