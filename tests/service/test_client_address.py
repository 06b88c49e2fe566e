"""The client's address and scheme behind proxies: ``X-Forwarded-For`` walked from the
right, honoured only from trusted proxies and only with ALPHACUT_TRUST_FORWARDED_FOR."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alphacut.service.auth import Credentials, ProxyPolicy
from alphacut.settings import Settings, proxy_networks
from tests.conftest import make_settings, resolver

LOOPBACK = proxy_networks("127.0.0.1,::1")


def policy(trusted: str = "127.0.0.1,::1", trust: bool = True) -> ProxyPolicy:
    return ProxyPolicy(trust, proxy_networks(trusted))


def test_trust_off_is_always_the_peer() -> None:
    off = policy(trust=False)
    assert off.client("127.0.0.1", "203.0.113.9") == "127.0.0.1"
    assert off.client("10.1.2.3", "203.0.113.9, 10.1.2.3") == "10.1.2.3"
    assert off.scheme("127.0.0.1", "http", "https") == "http"
    # The default policy (tests, a bare resolver) is off too.
    assert ProxyPolicy().client("127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_untrusted_peer_header_ignored() -> None:
    assert policy().client("198.51.100.20", "203.0.113.9") == "198.51.100.20"
    assert policy().scheme("198.51.100.20", "http", "https") == "http"
    # A peer that is not an address at all (Starlette's test client) is never trusted.
    assert policy().client("testclient", "203.0.113.9") == "testclient"


def test_trusted_peer_takes_the_nearest_untrusted_hop() -> None:
    assert policy().client("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    # "a, b" with b a trusted proxy: a.
    chain = policy("127.0.0.1,10.0.0.5")
    assert chain.client("127.0.0.1", "203.0.113.9, 10.0.0.5") == "203.0.113.9"


def test_spoofed_leftmost_entries_are_ignored() -> None:
    trusted = policy("127.0.0.1,10.0.0.0/8")
    # The client wrote "1.1.1.1, 2.2.2.2"; our proxies appended the real address and a hop.
    assert trusted.client("127.0.0.1", "1.1.1.1, 2.2.2.2, 203.0.113.9, 10.0.0.7") == \
        "203.0.113.9"
    # A forged "trusted" entry left of an untrusted one changes nothing.
    assert trusted.client("127.0.0.1", "10.9.9.9, 203.0.113.9") == "203.0.113.9"


def test_cidr_ranges_ingress_plus_nginx() -> None:
    # A Kubernetes ingress (pod range) in front of an nginx sidecar (compose network).
    cluster = policy("10.42.0.0/16,172.18.0.0/16")
    assert cluster.client("172.18.0.3", "203.0.113.9, 10.42.7.1") == "203.0.113.9"
    assert cluster.client("172.18.0.3", "203.0.113.9, 10.43.7.1") == "10.43.7.1"
    assert cluster.client("172.19.0.3", "203.0.113.9, 10.42.7.1") == "172.19.0.3"


def test_ipv6() -> None:
    six = policy("::1,fd00::/8")
    assert six.client("::1", "2001:db8::7, fd00::12") == "2001:db8::7"
    assert six.client("::1", "[2001:db8::7]:51234") == "2001:db8::7"
    assert six.client("2001:db8::99", "2001:db8::7") == "2001:db8::99"
    # IPv4-mapped IPv6 (a dual-stack socket) is the IPv4 address.
    assert policy("127.0.0.1").client("::ffff:127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert policy("127.0.0.1").client("127.0.0.1", "::ffff:203.0.113.9") == "203.0.113.9"


def test_ports_are_dropped_and_addresses_normalised() -> None:
    assert policy().client("127.0.0.1", "203.0.113.9:4711") == "203.0.113.9"
    assert policy().client("127.0.0.1", "2001:DB8:0::7") == "2001:db8::7"


@pytest.mark.parametrize("header", [
    "unknown", "", " , ", "203.0.113.9, garbage", "300.1.1.1", "_hidden", "a" * 10_000,
    "203.0.113.9,,", "[::1", "[203.0.113.9]x", "203.0.113.9:http", "1.2.3.4:5:6", "\x00",
    "203.0.113.9, 127.0.0.1, not-an-ip",
])
def test_garbage_stops_the_walk_and_never_crashes(header: str) -> None:
    assert policy().client("127.0.0.1", header) == "127.0.0.1"


def test_garbage_left_of_a_trusted_hop_stops_there() -> None:
    # The proxy at 10.0.0.5 reported "unknown": it is as far as we can see.
    chain = policy("127.0.0.1,10.0.0.5")
    assert chain.client("127.0.0.1", "203.0.113.9, unknown, 10.0.0.5") == "10.0.0.5"


def test_every_hop_trusted_is_the_leftmost() -> None:
    assert policy("127.0.0.0/8").client("127.0.0.1", "127.0.0.3, 127.0.0.2") == "127.0.0.3"


def test_empty_trusted_list_trusts_nobody() -> None:
    assert policy("").client("127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_forwarded_proto_from_a_trusted_proxy() -> None:
    assert policy().scheme("127.0.0.1", "http", "https") == "https"
    assert policy().scheme("127.0.0.1", "http", "HTTPS, http") == "https"
    assert policy().scheme("127.0.0.1", "http", None) == "http"
    assert policy().scheme("127.0.0.1", "http", "gopher") == "http"
    assert policy().scheme("127.0.0.1", "https", "") == "https"


def test_resolver_uses_the_policy(tmp_path: Path) -> None:
    from alphacut.service.tokens import TokenSigner
    from alphacut.storage.factory import open_store

    store = open_store(None, tmp_path)
    try:
        principals = resolver(store, TokenSigner("x" * 32, 60))
        principals.proxies = policy()
        creds = Credentials(peer="127.0.0.1", forwarded_for="1.1.1.1, 203.0.113.9",
                            scheme="http", forwarded_proto="https")
        assert principals.client_address(creds) == "203.0.113.9"
        assert principals.scheme(creds) == "https"
        assert principals.caller(creds, 0).client_address == "203.0.113.9"
    finally:
        store.close()


def test_settings_parse_and_refuse_trusted_proxies(tmp_path: Path) -> None:
    assert Settings.model_fields["trusted_proxies"].default == "127.0.0.1,::1"
    assert proxy_networks(make_settings(tmp_path).trusted_proxies) == LOOPBACK
    assert [str(n) for n in proxy_networks(" 10.0.0.0/8 , fd00::/8,192.0.2.7,")] == [
        "10.0.0.0/8", "fd00::/8", "192.0.2.7/32"]
    with pytest.raises(ValidationError, match=r"'10\.0\.0\.0/33' is not an IP address or CIDR"):
        Settings(trusted_proxies="127.0.0.1,10.0.0.0/33")
    with pytest.raises(ValidationError, match=r"ALPHACUT_TRUSTED_PROXIES: 'proxy\.local'"):
        Settings(trusted_proxies="proxy.local")
