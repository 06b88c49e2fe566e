"""The URL fetcher against real HTTP and HTTPS servers on loopback: every refusal is
proven, most of them by the server never seeing a request."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trustme

from alphacut.bootstrap import fetch_policy
from alphacut.errors.fetch import FetchDisabled, FetchFailed, UrlRefused
from alphacut.errors.request import FileTooLarge
from alphacut.service.url_fetch import (
    FetchPolicy,
    Resolver,
    UrlFetcher,
    is_public,
    parse_allow_list,
)
from alphacut.settings import Settings

IMAGE = bytes(range(256)) * 40
NOT_PUBLIC = re.compile(r"(is not a public address|resolves to an address that is not public)\.$")
POLICY = FetchPolicy(enabled=True, allow=parse_allow_list("127.0.0.1"),
                     connect_timeout_s=1.0, total_timeout_s=2.0)


# --- servers ------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        path, release = self.path, self.server.release
        if path == "/image":
            self.send(200, IMAGE)
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            if left:
                self.redirect(f"/hops/{left - 1}")
            else:
                self.send(200, IMAGE)
        elif path == "/dir/relative":
            self.redirect("../image")
        elif path == "/to-metadata":
            self.redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-file":
            self.redirect("file:///etc/passwd")
        elif path == "/no-location":
            self.send(302, b"")
        elif path == "/huge-length":
            self.head(200, {"Content-Length": str(10**9)})
            self.wfile.write(b"x" * 10)
            release.wait(5)
        elif path == "/endless":
            self.endless()
        elif path == "/slow":
            release.wait(5)
            self.send(200, IMAGE)
        elif path == "/short":
            self.head(200, {"Content-Length": "1000"})
            self.wfile.write(b"x" * 10)
        elif path == "/gzip":
            self.send(200, gzip.compress(IMAGE), {"Content-Encoding": "gzip"})
        else:
            self.send(404, b"no such thing")

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in (headers | {"Connection": "close"}).items():
            self.send_header(name, value)
        self.end_headers()

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.head(status, {"Content-Length": str(len(body))} | (headers or {}))
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send(302, b"", {"Location": location, "Set-Cookie": "session=secret; Path=/"})

    def endless(self) -> None:
        """Chunks until the client hangs up: a client that never stops times out."""
        self.head(200, {"Transfer-Encoding": "chunked"})
        chunk = b"%x\r\n%s\r\n" % (4096, b"y" * 4096)
        while not self.server.release.is_set():
            self.wfile.write(chunk)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # handlers of the slow routes wait on `release`, set at the end

    def __init__(self, tls: ssl.SSLContext | None, host: str = "127.0.0.1") -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tls = tls
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.sni: list[str | None] = []
        self.release = threading.Event()
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        super().__init__((host, 0), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # the client refused our certificate: what some tests want
        with wrapped:
            super().finish_request(wrapped, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer is what several tests do on purpose


@contextmanager
def serving(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[Server]:
    server = Server(tls, host)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_for(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def web() -> Iterator[Server]:
    with serving() as server:
        yield server


@pytest.fixture
def tls_web(ca: trustme.CA) -> Iterator[Server]:
    with serving(tls_for(ca, "localhost", "127.0.0.1")) as server:
        yield server


class FakeDns:
    """A resolver that records its calls; ``later`` answers every call after the first
    (a rebinding DNS server)."""

    def __init__(self, answers: dict[str, list[str]],
                 later: dict[str, list[str]] | None = None) -> None:
        self.answers, self.later = answers, later or {}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answers = self.later if len(self.calls) > 1 and host in self.later else self.answers
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]


def fetch(url: str, policy: FetchPolicy = POLICY, resolve: Resolver | None = None) -> bytes:
    return asyncio.run(UrlFetcher(policy, resolve).fetch(url))


def refused(url: str, policy: FetchPolicy = POLICY,
            resolve: Resolver | None = None) -> UrlRefused:
    with pytest.raises(UrlRefused) as caught:
        fetch(url, policy, resolve)
    return caught.value


def failed(url: str, policy: FetchPolicy = POLICY,
           resolve: Resolver | None = None) -> FetchFailed:
    with pytest.raises(FetchFailed) as caught:
        fetch(url, policy, resolve)
    return caught.value


# --- fetching -----------------------------------------------------------------


def test_fetches_over_http_with_fixed_headers(web: Server) -> None:
    assert fetch(web.url("/image")) == IMAGE
    [(_, headers)] = web.seen
    assert headers["user-agent"] == "alphacut-url-fetch"
    assert headers["accept-encoding"] == "identity"
    assert headers["host"] == f"127.0.0.1:{web.port}"
    assert "cookie" not in headers and "authorization" not in headers


def test_fetches_over_https_trusting_the_ca_file(tls_web: Server, ca_file: Path) -> None:
    assert fetch(tls_web.url("/image"), replace(POLICY, ca_file=ca_file)) == IMAGE


def test_proxies_from_the_environment_are_ignored(
        web: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert fetch(web.url("/image")) == IMAGE


def test_ipv6_literal_in_brackets() -> None:
    with ExitStack() as stack:
        try:
            server = stack.enter_context(serving(host="::1"))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        policy = replace(POLICY, allow=parse_allow_list("::1"))
        assert fetch(server.url("/image", host="[::1]"), policy) == IMAGE
        assert server.seen[0][1]["host"] == f"[::1]:{server.port}"


def test_disabled_fetches_nothing(web: Server) -> None:
    with pytest.raises(FetchDisabled) as caught:
        fetch(web.url("/image"), replace(POLICY, enabled=False))
    assert caught.value.message == (
        "Fetching images from URLs is off on this server (ALPHACUT_URL_FETCH).")
    assert caught.value.status == 400
    assert web.seen == []


# --- what a URL may be ----------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1"])
def test_loopback_refused_unless_allowed_and_never_contacted(web: Server, host: str) -> None:
    error = refused(web.url("/image", host=host), replace(POLICY, allow=()))
    assert NOT_PUBLIC.search(error.message)
    assert web.seen == []


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://127.0.0.1/image", "gopher://127.0.0.1:70/_GET%20/",
    "data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "not a url",
])
def test_only_http_and_https(url: str) -> None:
    dns = FakeDns({})
    assert "only http and https" in refused(url, resolve=dns).message
    assert dns.calls == []


@pytest.mark.parametrize("userinfo", ["user:pass@", "user@", ":pass@"])
def test_user_and_password_refused(web: Server, userinfo: str) -> None:
    error = refused(web.url("/image", host=f"{userinfo}127.0.0.1"))
    assert "user name or password" in error.message
    assert "pass" not in error.message.replace("password", "")
    assert web.seen == []


@pytest.mark.parametrize("url", ["http:///image", "https://:443/image"])
def test_host_required(url: str) -> None:
    assert "no host" in refused(url).message


def test_url_length_limit() -> None:
    dns = FakeDns({"images.test": ["10.0.0.1"]})
    longest = "http://images.test/" + "a" * (2048 - len("http://images.test/"))
    assert "not public" in refused(longest, resolve=dns).message  # passed the length check
    assert "longer than 2048" in refused(longest + "a", resolve=dns).message
    assert len(dns.calls) == 1


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1", "127.255.0.9",
    "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",  # mapped, compatible
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 of loopback, of the metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
])
def test_blocked_addresses_refused_without_naming_them(address: str) -> None:
    dns = FakeDns({"images.test": [address]})
    error = refused("http://images.test/cat.png", replace(POLICY, allow=()), dns)
    assert error.message == (
        "The image URL was refused: images.test resolves to an address that is not public.")
    assert dns.calls == [("images.test", 80)]


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0:80/", "http://[fe80::1]/", "https://10.0.0.1/", "http://100.64.0.1/",
])
def test_blocked_ip_literals_refused_without_lookup(url: str) -> None:
    dns = FakeDns({})
    assert "is not a public address" in refused(url, replace(POLICY, allow=()), dns).message
    assert dns.calls == []


def test_one_blocked_answer_among_several_refuses() -> None:
    dns = FakeDns({"images.test": ["93.184.216.34", "2606:2800:220:1::", "10.0.0.1"]})
    assert "not public" in refused("https://images.test/", resolve=dns).message


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_dns_rebinding_the_checked_address_is_the_one_connected_to(web: Server) -> None:
    # The first answer is allowed; any later lookup would answer the metadata address.
    dns = FakeDns({"rebind.test": ["127.0.0.1"]}, later={"rebind.test": ["169.254.169.254"]})
    assert fetch(web.url("/image", host="rebind.test"), resolve=dns) == IMAGE
    assert dns.calls == [("rebind.test", web.port)]
    [(_, headers)] = web.seen
    assert headers["host"] == f"rebind.test:{web.port}"


def test_host_name_allow_entry_is_exact_and_case_insensitive(web: Server) -> None:
    dns = FakeDns({"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = replace(POLICY, allow=parse_allow_list(" Images.TEST. "))
    assert fetch(web.url("/image", host="IMAGES.test"), policy, dns) == IMAGE
    assert "not public" in refused(web.url("/image", host="other.test"), policy, dns).message
    assert NOT_PUBLIC.search(refused(web.url("/image"), policy, dns).message)  # by name only
    assert len(web.seen) == 1


def test_cidr_allow_entry(web: Server) -> None:
    assert fetch(web.url("/image"), replace(POLICY, allow=parse_allow_list("127.0.0.0/8"))) \
        == IMAGE
    refused(web.url("/image"), replace(POLICY, allow=parse_allow_list("10.0.0.0/8, ::1")))
    assert len(web.seen) == 1


# --- redirects ------------------------------------------------------------------


def test_redirect_to_a_blocked_address_refused(web: Server) -> None:
    assert "169.254.169.254 is not a public address" in refused(web.url("/to-metadata")).message
    assert [path for path, _ in web.seen] == ["/to-metadata"]


def test_redirect_to_another_scheme_refused(web: Server) -> None:
    assert "only http and https" in refused(web.url("/to-file")).message


def test_three_redirects_followed_each_resolved_once_without_cookies(web: Server) -> None:
    dns = FakeDns({"hops.test": ["127.0.0.1"]})
    assert fetch(web.url("/hops/3", host="hops.test"), resolve=dns) == IMAGE
    assert [path for path, _ in web.seen] == ["/hops/3", "/hops/2", "/hops/1", "/hops/0"]
    assert len(dns.calls) == 4
    assert all("cookie" not in headers for _, headers in web.seen)


def test_four_redirects_refused(web: Server) -> None:
    assert "more than 3 redirects" in refused(web.url("/hops/4")).message
    assert [path for path, _ in web.seen] == ["/hops/4", "/hops/3", "/hops/2", "/hops/1"]


def test_relative_redirect_followed(web: Server) -> None:
    assert fetch(web.url("/dir/relative")) == IMAGE
    assert [path for path, _ in web.seen] == ["/dir/relative", "/image"]


def test_redirect_without_location_refused(web: Server) -> None:
    assert "without a Location" in refused(web.url("/no-location")).message


# --- answers --------------------------------------------------------------------


def test_http_error_status_fails(web: Server) -> None:
    assert failed(web.url("/missing")).message == (
        "The image could not be fetched from its URL: 127.0.0.1 answered HTTP 404.")


def test_declared_length_over_the_limit_refused_before_reading(web: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FileTooLarge) as caught:
        fetch(web.url("/huge-length"), replace(POLICY, max_bytes=2**20))
    assert time.monotonic() - started < 1.0  # the server holds the body back for 5 s
    assert "(953.7 MB) exceeds the maximum allowed size of 1 MB" in caught.value.message


def test_endless_chunked_body_cut_at_the_limit(web: Server) -> None:
    with pytest.raises(FileTooLarge):
        fetch(web.url("/endless"), replace(POLICY, max_bytes=2**20))


def test_body_exactly_at_the_limit_passes(web: Server) -> None:
    assert fetch(web.url("/image"), replace(POLICY, max_bytes=len(IMAGE))) == IMAGE
    with pytest.raises(FileTooLarge):
        fetch(web.url("/image"), replace(POLICY, max_bytes=len(IMAGE) - 1))


def test_body_cut_short_fails(web: Server) -> None:
    assert "cut short" in failed(web.url("/short")).message


def test_compressed_answer_refused_not_inflated(web: Server) -> None:
    assert "compressed" in failed(web.url("/gzip")).message


def test_slow_server_fails_within_the_total_timeout(web: Server) -> None:
    started = time.monotonic()
    error = failed(web.url("/slow"), replace(POLICY, total_timeout_s=0.5))
    assert 0.4 < time.monotonic() - started < 1.5
    assert error.message == (
        "The image could not be fetched from its URL: no complete answer within 0.5 s.")


def test_tls_handshake_counts_as_connecting(ca_file: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/image"
        started = time.monotonic()
        error = failed(url, replace(POLICY, connect_timeout_s=0.3, total_timeout_s=5,
                                    ca_file=ca_file))
    assert time.monotonic() - started < 1.5
    assert "did not accept a connection within 0.3 s" in error.message


def test_closed_port_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert "could not connect to 127.0.0.1" in failed(f"http://127.0.0.1:{port}/").message


def test_unresolvable_host_fails() -> None:
    assert "could not resolve nowhere.test" in failed(
        "http://nowhere.test/", resolve=FakeDns({})).message


# --- TLS: the certificate must be for the URL's host --------------------------------


def test_https_verifies_and_sends_the_url_host_not_the_address(
        ca: trustme.CA, ca_file: Path) -> None:
    dns = FakeDns({"images.test": ["127.0.0.1"]})
    with serving(tls_for(ca, "images.test")) as server:
        url = server.url("/image", host="images.test")
        assert fetch(url, replace(POLICY, ca_file=ca_file), dns) == IMAGE
        assert server.sni == ["images.test"]
        assert server.seen[0][1]["host"] == f"images.test:{server.port}"


@pytest.mark.parametrize(("certified", "host"), [
    ("images.test", "evil.test"), ("images.test", "127.0.0.1"),
    ("127.0.0.1", "evil.test"),  # valid for the address connected to, not for the name
])
def test_https_refuses_a_certificate_for_another_name(
        ca: trustme.CA, ca_file: Path, certified: str, host: str) -> None:
    dns = FakeDns({"evil.test": ["127.0.0.1"]})
    with serving(tls_for(ca, certified)) as server:
        error = failed(server.url("/image", host=host), replace(POLICY, ca_file=ca_file), dns)
        assert server.seen == []
    assert f"TLS handshake with {host} failed" in error.message


def test_https_refuses_an_untrusted_ca(tls_web: Server) -> None:
    assert "TLS handshake" in failed(tls_web.url("/image")).message  # certifi's CAs only
    assert tls_web.seen == []


# --- the policy from the settings ----------------------------------------------------


def test_fetch_policy_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        url_fetch=True, url_fetch_allow="assets.internal, 10.1.0.0/16,192.0.2.7 ,fd00::/8,,",
        url_fetch_connect_timeout_s=1.5, url_fetch_timeout_s=9.0,
        url_fetch_ca_file=tmp_path / "ca.pem", max_upload_bytes=1234, data_dir=tmp_path)
    assert fetch_policy(settings) == FetchPolicy(
        enabled=True,
        allow=("assets.internal", ipaddress.ip_network("10.1.0.0/16"),
               ipaddress.ip_network("192.0.2.7/32"), ipaddress.ip_network("fd00::/8")),
        connect_timeout_s=1.5, total_timeout_s=9.0, max_bytes=1234, max_redirects=3,
        ca_file=tmp_path / "ca.pem")
    assert fetch_policy(Settings(data_dir=tmp_path)).enabled is False


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://assets.internal", "*.example.com",
                                   "two words", "a..b", "-bad.example", "1.2.3.4:80"])
def test_fetch_policy_names_a_bad_allow_entry(tmp_path: Path, entry: str) -> None:
    settings = Settings(url_fetch_allow=f"ok.example, {entry}", data_dir=tmp_path)
    with pytest.raises(ValueError, match="ALPHACUT_URL_FETCH_ALLOW") as caught:
        fetch_policy(settings)
    assert repr(entry) in str(caught.value)


def test_unreadable_ca_file_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ALPHACUT_URL_FETCH_CA_FILE"):
        UrlFetcher(replace(POLICY, ca_file=tmp_path / "missing.pem"))


def test_declared_length_reads_only_plain_digits() -> None:
    from alphacut.http.headers import declared_length
    assert declared_length("123") == 123
    assert declared_length("0" * 5000 + "2") == 2
    assert declared_length("9" * 5000) == 10**18
    assert [declared_length(v) for v in (None, "", "-1", "1e3", "²", " 1")] == [None] * 6
