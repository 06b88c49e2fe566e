"""``X-Forwarded-For`` and ``X-Forwarded-Proto`` through the real ``alphacut serve``: uvicorn
must not rewrite the client's address (its proxy headers are off); alphacut honours them
only with ALPHACUT_TRUST_FORWARDED_FOR and only from ALPHACUT_TRUSTED_PROXIES."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from alphacut.http.credentials import NONCE_COOKIE
from tests.conftest import fixture_bytes
from tests.web.conftest import free_port
from tests.web.processes import ALPHACUT, serve_env, serving

LIMIT = 3
TOO_QUICKLY = {"error": "You're making requests too quickly, Please Upgrade or slow down.",
               "status": 429}


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[str]:
    """The real ``alphacut serve`` command on a loopback port, as an operator starts it."""
    settings = {"secret_key": "forwarded-for-test-secret-0123456789",
                "rate_limit_anonymous": str(LIMIT), "rate_window_s": str(2**31),
                "anonymous_daily_limit": "1000"} | env
    with serving(tmp_path / "data", tmp_path, **settings) as (base, _):
        yield base


def rmbg(base: str, headers: Sequence[tuple[str, str]] = ()) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", headers=list(headers), timeout=120,
                      files={"image": ("c.jpg", fixture_bytes("coffee"))}, data={"w": "64"})


def secure_cookie(base: str, headers: Sequence[tuple[str, str]]) -> bool:
    """Whether the login page's CSRF cookie (``auto`` Secure flag) is marked Secure."""
    reply = httpx.get(f"{base}/login", headers=list(headers), timeout=30)
    cookie = next(value for value in reply.headers.get_list("set-cookie")
                  if value.startswith(f"{NONCE_COOKIE}="))
    return "secure" in cookie.lower()


def test_forwarded_for_is_ignored_when_not_trusted(tmp_path: Path) -> None:
    """The default (TRUST_FORWARDED_FOR off): a fresh X-Forwarded-For on every request from
    a loopback peer does not make a fresh anonymous client."""
    with serve(tmp_path) as base:
        replies = [rmbg(base, [("x-forwarded-for", f"203.0.113.{i}"),
                               ("x-forwarded-proto", "https")])
                   for i in range(LIMIT + 2)]
        secure = secure_cookie(base, [("x-forwarded-proto", "https")])
    assert [reply.status_code for reply in replies] == [200] * LIMIT + [429, 429]
    assert replies[LIMIT].json() == TOO_QUICKLY
    assert not secure


def test_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    """On, with 127.0.0.1 trusted: the header's client is the one counted; what a client
    writes left of it is ignored; several headers are one list, in order."""
    with serve(tmp_path, trust_forwarded_for="true", trusted_proxies="127.0.0.1") as base:
        first = [rmbg(base, [("x-forwarded-for", "203.0.113.1")]) for _ in range(LIMIT)]
        # A spoofed leftmost entry, and a second header our proxy appended: still .1.
        spoofed = rmbg(base, [("x-forwarded-for", "198.51.100.99, 198.51.100.98"),
                              ("x-forwarded-for", "203.0.113.1")])
        other = rmbg(base, [("x-forwarded-for", "203.0.113.2")])
        secure = secure_cookie(base, [("x-forwarded-proto", "https")])
        plain = secure_cookie(base, [])
    assert [reply.status_code for reply in first] == [200] * LIMIT
    assert spoofed.status_code == 429 and spoofed.json() == TOO_QUICKLY
    assert other.status_code == 200
    assert secure and not plain


def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    """On, but the loopback peer is not among the trusted proxies: the peer is the client."""
    with serve(tmp_path, trust_forwarded_for="true", trusted_proxies="10.0.0.0/8") as base:
        replies = [rmbg(base, [("x-forwarded-for", f"203.0.113.{i}")])
                   for i in range(LIMIT + 1)]
        secure = secure_cookie(base, [("x-forwarded-proto", "https")])
    assert [reply.status_code for reply in replies] == [200] * LIMIT + [429]
    assert not secure


def test_a_bad_trusted_proxies_value_stops_start_up(tmp_path: Path) -> None:
    run = subprocess.run([str(ALPHACUT), "serve", "--port", str(free_port())],
                         env=serve_env(tmp_path / "data", {
                             "secret_key": "forwarded-for-test-secret-0123456789",
                             "trusted_proxies": "10.0.0.0/8,nginx"}),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "ALPHACUT_TRUSTED_PROXIES: 'nginx' is not an IP address or CIDR range" in run.stderr
