"""Who is calling: one resolver for every route and page.

Credentials come in as the request carried them (an API key, a bearer token, the
web app's session cookie with its CSRF header, the connection's address and
``X-Forwarded-For``); a principal comes out, by the contract's rules: a key and a
token together is a mistake (400), an unknown or revoked key is 401, an
unverified e-mail is 403, nothing at all is anonymous (by client address).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from alphacut.domain.accounts import User
from alphacut.domain.principal import Channel, Principal
from alphacut.errors import (
    AdminApiOff,
    CsrfRejected,
    EmailNotVerified,
    InvalidAdminToken,
    InvalidApiKey,
    InvalidUserToken,
    KeyAndToken,
)
from alphacut.service.csrf import CsrfTokens
from alphacut.service.keys import key_hash
from alphacut.service.tokens import TokenSigner
from alphacut.storage.base import Store


@dataclass(frozen=True)
class Credentials:
    """What a request says about who sends it, as it arrived: nothing is checked yet."""

    peer: str
    """The address the connection came from."""
    forwarded_for: str | None = None
    api_key: str | None = None
    bearer: str | None = None
    """``Authorization: Bearer <token>``: a user token, or the admin token on /admin."""
    session: str | None = None
    """The web app's session cookie (a user token)."""
    csrf_nonce: str | None = None
    csrf_header: str | None = None


@dataclass(frozen=True)
class ProxyPolicy:
    trust_forwarded_for: bool = False


class PrincipalResolver:
    def __init__(self, store: Store, tokens: TokenSigner, csrf: CsrfTokens,
                 proxies: ProxyPolicy, admin_token: str | None) -> None:
        self.store = store
        self.tokens = tokens
        self.csrf = csrf
        self.proxies = proxies
        self._admin_token = admin_token

    def client_address(self, creds: Credentials) -> str:
        """The caller's address: the connection's, or the last ``X-Forwarded-For`` hop
        (appended by our own proxy; earlier hops are client-claimed) when trusted."""
        if self.proxies.trust_forwarded_for and creds.forwarded_for:
            hops = [hop.strip() for hop in creds.forwarded_for.split(",")]
            if hops[-1]:
                return hops[-1]
        return creds.peer

    # --- the four ways in -----------------------------------------------------------------

    def caller(self, creds: Credentials, now: int) -> Principal:
        """An image request (``/rmbg``, the editor): a key, a token, the session cookie with
        a matching CSRF header, or anonymous. A stale session (expired, or issued before the
        password changed) is anonymous; a wrong CSRF header is 403; a cookie without the
        header counts for nothing (another site's form)."""
        client = self.client_address(creds)
        if creds.api_key and creds.bearer:
            raise KeyAndToken()
        if creds.api_key:
            return self._by_key(creds.api_key, client, now)
        if creds.bearer:
            return self._by_token(creds.bearer, client)
        if creds.session and creds.csrf_header is not None:
            if not self.csrf.valid(creds.csrf_nonce, creds.session, creds.csrf_header):
                raise CsrfRejected()
            user = self.token_user(creds.session)
            if user is not None:
                return self._token_principal(user, client)
        return Principal(client_address=client)

    def key_holder(self, creds: Credentials, now: int) -> Principal:
        """An API key's user (``/api/membership-usage``): no key is the contract's 401; a
        token alone is not enough, a key with a token is still the contract's 400."""
        if not creds.api_key:
            raise InvalidApiKey()
        if creds.bearer:
            raise KeyAndToken()
        return self._by_key(creds.api_key, self.client_address(creds), now)

    def visitor(self, creds: Credentials) -> User | None:
        """Who looks at a page: the session's user, verified or not; None when nobody."""
        return self.token_user(creds.session) if creds.session else None

    def admin(self, creds: Credentials) -> None:
        """The admin API's gate: 404 while it is off, 401 without the right token."""
        if not self._admin_token:
            raise AdminApiOff()
        # Compare bytes: compare_digest refuses non-ASCII str, and a header may hold any
        # byte (Starlette decodes headers as latin-1, so this gives back the bytes sent).
        sent = (creds.bearer or "").encode("latin-1", "replace")
        if not creds.bearer or not hmac.compare_digest(sent, self._admin_token.encode()):
            raise InvalidAdminToken()

    # --- lookups --------------------------------------------------------------------------

    def token_user(self, token: str) -> User | None:
        """The user of a valid, unexpired user token issued against the user's current
        password hash (a changed password ends every earlier token); None otherwise.
        Verified or not: callers decide what an unverified user may do."""
        claims = self.tokens.claims(token)
        if claims is None:
            return None
        user = self.store.get_user(claims.user_id)
        if user is None or not self.tokens.matches(claims, user.password_hash):
            return None
        return user

    def _by_key(self, api_key: str, client: str, now: int) -> Principal:
        digest = key_hash(api_key)
        record = self.store.find_key_by_hash(digest)
        # The lookup is by hash; the compare is constant-time all the same.
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise InvalidApiKey()
        if not record.active:
            raise InvalidApiKey()
        user = self.store.get_user(record.user_id)
        if user is None:
            raise InvalidApiKey()
        if not user.email_verified:
            raise EmailNotVerified()
        self.store.touch_key(digest, now)
        return Principal(client, user.id, Channel.API, user.plan)

    def _by_token(self, token: str, client: str) -> Principal:
        user = self.token_user(token)
        if user is None:
            raise InvalidUserToken()
        return self._token_principal(user, client)

    def _token_principal(self, user: User, client: str) -> Principal:
        if not user.email_verified:
            raise EmailNotVerified()
        return Principal(client, user.id, Channel.APP, user.plan)
