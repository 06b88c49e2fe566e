"""Fetch an image from a URL (remove.bg's ``image_url`` / ``bg_image_url``) without
becoming a way into the server's own network (SSRF).

Each hop (the URL, then each redirect) is checked from scratch: http or https, a host,
no user:password; the host is resolved once, every address it resolves to must be
public (or allow-listed), and the connection goes to the first of those addresses, not
to the name, so a second lookup cannot answer differently (DNS rebinding). For https
the real host name is the TLS SNI and the name the certificate must match.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import certifi
import httpx

from alphacut.errors.fetch import FetchDisabled, FetchFailed, UrlRefused
from alphacut.errors.request import FileTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AllowEntry = str | IPNetwork
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``async (host, port) -> addresses``: the IP address strings a host name resolves to."""

MAX_URL_LENGTH = 2048
USER_AGENT = "alphacut-url-fetch"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# IPv6 forms that carry an IPv4 address in their last 32 bits (IPv4-compatible, NAT64):
# the gateway or stack may deliver them to that IPv4 address.
_V4_IN_LOW_BITS = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("64:ff9b::/96"))


@dataclass(frozen=True)
class FetchPolicy:
    """What the fetcher may do; ``alphacut.bootstrap.fetch_policy`` builds it from the
    settings."""

    enabled: bool = False
    allow: tuple[AllowEntry, ...] = ()
    """Reachable even if not public: host names (lower case, as written in the URL),
    IP networks (an address is a network of one)."""
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 20.0
    max_bytes: int = 50 * 2**20
    max_redirects: int = 3
    ca_file: Path | None = None


def parse_allow_list(text: str) -> tuple[AllowEntry, ...]:
    """``ALPHACUT_URL_FETCH_ALLOW``: comma-separated host names, IP addresses and CIDR
    ranges; ValueError naming the first entry that is none of them."""
    entries: list[AllowEntry] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            entries.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry.lower()
        if len(name) > 253 or not _HOST_NAME.fullmatch(name):
            raise ValueError(
                f"ALPHACUT_URL_FETCH_ALLOW: {entry[:100]!r} is not a host name, IP address "
                "or CIDR range (e.g. `assets.internal, 10.1.0.0/16`; names match exactly, "
                "in ASCII: write an international name as xn--...)")
        entries.append(name.rstrip("."))
    return tuple(entries)


def is_public(address: IPAddress) -> bool:
    """Reachable on the public internet: not loopback, private, link-local, multicast,
    reserved, unspecified or shared (100.64/10), nor an IPv6 form of such an IPv4."""
    address = _unmapped(address)
    if (not address.is_global or address.is_multicast or address.is_private
            or address.is_loopback or address.is_link_local or address.is_reserved
            or address.is_unspecified):
        return False
    embedded = _embedded_v4(address) if isinstance(address, ipaddress.IPv6Address) else None
    return embedded is None or is_public(embedded)


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _V4_IN_LOW_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """The default Resolver: the running loop's getaddrinfo, addresses in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Hop:
    """One checked request: the URL as written, and the address to connect to."""

    url: httpx.URL
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    address: IPAddress

    @property
    def connect_url(self) -> httpx.URL:
        port = self.url.port or _DEFAULT_PORTS[self.url.scheme]
        return self.url.copy_with(host=str(self.address), port=port, fragment=None)


class UrlFetcher:
    """Downloads the bytes at a URL under a ``FetchPolicy``; one instance serves many
    concurrent fetches (each opens its own connections, none are pooled)."""

    def __init__(self, policy: FetchPolicy, resolve: Resolver | None = None) -> None:
        self._policy = policy
        self._resolve = resolve or resolve_host
        self._names = frozenset(entry for entry in policy.allow if isinstance(entry, str))
        self._networks = tuple(entry for entry in policy.allow if not isinstance(entry, str))
        self._ssl = _ssl_context(policy.ca_file)

    async def fetch(self, url: str) -> bytes:
        """The body at ``url``: FetchDisabled, UrlRefused, FetchFailed or FileTooLarge."""
        if not self._policy.enabled:
            raise FetchDisabled()
        try:
            async with asyncio.timeout(self._policy.total_timeout_s):
                return await self._follow(_parse(url))
        except TimeoutError:
            raise FetchFailed(
                f"no complete answer within {self._policy.total_timeout_s:g} s") from None

    async def _follow(self, url: httpx.URL) -> bytes:
        for redirects in range(self._policy.max_redirects + 1):
            hop = await self._check(url)
            async with self._request(hop) as response:
                if response.status_code not in _REDIRECTS:
                    return await self._read(response, hop.host)
                location = response.headers.get("location")
            if not location:
                raise UrlRefused(f"{hop.host} answered a redirect without a Location")
            if redirects == self._policy.max_redirects:
                break
            url = _parse_redirect(url, location)
        raise UrlRefused(f"more than {self._policy.max_redirects} redirects")

    async def _check(self, url: httpx.URL) -> _Hop:
        """Resolve once and check every answer; the hop connects to the first."""
        host = url.raw_host.decode("ascii").lower()
        literal = _ip_or_none(host)
        addresses = [literal] if literal is not None else await self._lookup(url, host)
        if host.rstrip(".") not in self._names:
            for address in addresses:
                if not self._address_allowed(address):
                    raise UrlRefused(f"{host} is not a public address" if literal is not None else
                                     f"{host} resolves to an address that is not public")
        return _Hop(url, host, addresses[0])

    async def _lookup(self, url: httpx.URL, host: str) -> list[IPAddress]:
        port = url.port or _DEFAULT_PORTS[url.scheme]
        try:
            answers = await self._resolve(host, port)
            # A zone (fe80::1%eth0) cannot travel in a URL; such addresses are link-local anyway.
            addresses = [_unmapped(ipaddress.ip_address(answer.partition("%")[0]))
                         for answer in answers]
        except (OSError, ValueError) as exc:
            raise FetchFailed(f"could not resolve {host}") from exc
        if not addresses:
            raise FetchFailed(f"could not resolve {host}")
        return addresses

    @asynccontextmanager
    async def _request(self, hop: _Hop) -> AsyncIterator[httpx.Response]:
        """GET ``hop`` at its address; httpx's errors become FetchFailed naming the host."""
        policy = self._policy
        headers = {"Host": hop.url.netloc.decode("ascii"), "User-Agent": USER_AGENT,
                   "Accept": "image/*, */*;q=0.5", "Accept-Encoding": "identity"}
        # The certificate is checked against server_hostname, which httpcore takes from
        # sni_hostname when given (else from the URL's host, here an IP address).
        extensions = {"sni_hostname": hop.host} if hop.url.scheme == "https" else {}
        try:
            async with httpx.AsyncClient(
                verify=self._ssl, trust_env=False, follow_redirects=False,
                timeout=httpx.Timeout(policy.total_timeout_s, connect=policy.connect_timeout_s),
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client, client.stream(
                "GET", hop.connect_url, headers=headers, extensions=extensions
            ) as response:
                yield response
        except httpx.HTTPError as exc:
            raise _failure(exc, hop.host, policy.connect_timeout_s) from exc

    async def _read(self, response: httpx.Response, host: str) -> bytes:
        """The body, counted as it streams in; FileTooLarge as soon as it passes the limit."""
        limit = self._policy.max_bytes
        if not 200 <= response.status_code < 300:
            raise FetchFailed(f"{host} answered HTTP {response.status_code}")
        if response.headers.get("content-encoding", "identity").strip().lower() not in (
                "", "identity"):
            raise FetchFailed(f"{host} sent a compressed answer though asked for none")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FileTooLarge(int(declared), limit)
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                raise FileTooLarge(len(body), limit)
        return bytes(body)

    def _address_allowed(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in network for network in self._networks)


def _parse(text: str) -> httpx.URL:
    if len(text) > MAX_URL_LENGTH:
        raise UrlRefused(f"it is longer than {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        raise UrlRefused("it is not a valid URL") from None
    if url.scheme not in _DEFAULT_PORTS:
        raise UrlRefused("only http and https URLs can be fetched")
    if url.userinfo:
        raise UrlRefused("it must not contain a user name or password")
    if not url.raw_host:
        raise UrlRefused("it has no host")
    return url


def _parse_redirect(current: httpx.URL, location: str) -> httpx.URL:
    """A Location, relative ones resolved against the URL that answered it."""
    try:
        target = current.join(location)
    except httpx.InvalidURL:
        raise UrlRefused(f"{current.host} redirected to an invalid URL") from None
    return _parse(str(target))


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return _unmapped(ipaddress.ip_address(host))
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` is a.b.c.d: checked, allow-listed and connected to as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _failure(exc: httpx.HTTPError, host: str, connect_timeout_s: float) -> FetchFailed:
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchFailed(f"{host} did not accept a connection within {connect_timeout_s:g} s")
    if isinstance(exc, httpx.ConnectError):
        if _caused_by_tls(exc):
            return FetchFailed(f"the TLS handshake with {host} failed (its certificate is "
                               "not trusted or not issued for that name)")
        return FetchFailed(f"could not connect to {host}")
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailed(f"{host} stopped sending")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return FetchFailed(f"the answer from {host} was cut short or malformed")
    return FetchFailed(f"the download from {host} failed")


def _caused_by_tls(exc: BaseException) -> bool:
    link: BaseException | None = exc
    for _ in range(10):  # a chain may loop; httpx's is three long
        if link is None or isinstance(link, ssl.SSLError):
            return link is not None
        link = link.__cause__ or link.__context__
    return False


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifying TLS: the CAs of ``ca_file``, or certifi's (as httpx's own default)."""
    cafile = str(ca_file) if ca_file is not None else certifi.where()
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"ALPHACUT_URL_FETCH_CA_FILE: cannot load CA certificates from {cafile}: {exc}"
        ) from exc
