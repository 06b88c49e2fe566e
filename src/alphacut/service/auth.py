"""Who is calling: one resolver for every route and page.

Credentials come in as the request carried them (an API key, a bearer token, the
web app's session cookie with its CSRF header, the connection's address,
``X-Forwarded-For`` and ``X-Forwarded-Proto``); a principal comes out, by the
contract's rules: a key and a token together is a mistake (400), an unknown or
revoked key is 401, an unverified e-mail is 403, nothing at all is anonymous (by
client address).
"""

from __future__ import annotations

import hmac
import ipaddress
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
    """Every ``X-Forwarded-For`` header, joined in order with ``,``."""
    scheme: str = "http"
    """The connection's scheme."""
    forwarded_proto: str | None = None
    """Every ``X-Forwarded-Proto`` header, joined in order with ``,``."""
    api_key: str | None = None
    bearer: str | None = None
    """``Authorization: Bearer <token>``: a user token, or the admin token on /admin."""
    session: str | None = None
    """The web app's session cookie (a user token)."""
    csrf_nonce: str | None = None
    csrf_header: str | None = None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> IPAddress | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:port``, ``::1``,
    ``[::1]:port``; IPv4-mapped IPv6 as IPv4); None for anything else."""
    text, port = text.strip(), ""
    if text.startswith("["):
        text, bracket, after = text[1:].partition("]")
        if not bracket or after[:1] not in ("", ":"):
            return None
        port = after[1:]
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class ProxyPolicy:
    """Whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` count: nobody's unless
    ``trust_forwarded_for``, and then only a connection from a ``trusted`` network's."""

    trust_forwarded_for: bool = False
    trusted: tuple[IPNetwork, ...] = ()

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def _honoured(self, peer: str) -> bool:
        return self.trust_forwarded_for and self.trusts(_ip(peer))

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address. The connection's peer, unless it is a trusted proxy: then
        walk ``X-Forwarded-For`` from the right (each hop appended by the proxy to its
        right), skipping trusted hops; the first untrusted hop is the client. Entries left
        of it are the client's to invent. An entry that is not an address ends the walk at
        the trusted hop that reported it; every hop trusted, the leftmost is the client."""
        if not forwarded_for or not self._honoured(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            address = _ip(hop)
            if address is None:
                break
            client = str(address)
            if not self.trusts(address):
                break
        return client

    def scheme(self, peer: str, scheme: str, forwarded_proto: str | None) -> str:
        """The scheme the client used: the first ``X-Forwarded-Proto`` value (set by the
        proxy the client reached) when the peer is a trusted proxy and it is ``http`` or
        ``https``; the connection's scheme otherwise."""
        if not forwarded_proto or not self._honoured(peer):
            return scheme
        first = forwarded_proto.split(",")[0].strip().lower()
        return first if first in ("http", "https") else scheme


class PrincipalResolver:
    def __init__(self, store: Store, tokens: TokenSigner, csrf: CsrfTokens,
                 proxies: ProxyPolicy, admin_token: str | None) -> None:
        self.store = store
        self.tokens = tokens
        self.csrf = csrf
        self.proxies = proxies
        self._admin_token = admin_token

    def client_address(self, creds: Credentials) -> str:
        """The caller's address: the connection's, or, from a trusted proxy, the nearest
        untrusted ``X-Forwarded-For`` hop (``ProxyPolicy.client``)."""
        return self.proxies.client(creds.peer, creds.forwarded_for)

    def scheme(self, creds: Credentials) -> str:
        """The scheme the client used (``X-Forwarded-Proto`` only from a trusted proxy)."""
        return self.proxies.scheme(creds.peer, creds.scheme, creds.forwarded_proto)

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
