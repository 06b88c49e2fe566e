"""Uploads are read before a CPU slot is taken, under their own bounds (hardening: six
trickling connections used to turn every real request into 503)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

import httpx

from tests.conftest import fixture_bytes
from tests.web.conftest import Served
from tests.web.test_server_limits import open_upload, part_head, read_reply

TOO_SLOW = {"error": "The upload was too slow and timed out. Please retry.", "status": 408}
PATIENT = {"upload_first_byte_timeout_s": 60, "upload_min_bytes_per_s": 0}


@contextmanager
def stalled(base: str, count: int, headers: str = "") -> Iterator[list[socket.socket]]:
    """``count`` uploads that sent their first bytes and then nothing."""
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            sock = open_upload(base, 100_000, part_head("a.jpg") + b"\xff\xd8\xff", headers)
            stack.callback(sock.close)
            socks.append(sock)
        time.sleep(0.3)  # the server has them all
        yield socks


def rmbg(base: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", files={"image": ("c.jpg", fixture_bytes("coffee"))},
                      data={"w": "64"}, headers=headers or {}, timeout=60)


def test_slow_uploads_do_not_hold_the_cpu_slots(
    served: Callable[..., AbstractContextManager[Served]],
) -> None:
    with served(max_concurrency=1, max_queue=0, **PATIENT) as s:
        user = s.accounts.create_user("payer@example.com", "Premium-20000", 10, True)
        key = s.accounts.create_key(user.id).key
        with stalled(s.base, 6):
            assert rmbg(s.base, {"x-api-key": key}).status_code == 200


def test_one_address_s_trickles_cannot_lock_out_a_paying_key(
    served: Callable[..., AbstractContextManager[Served]],
) -> None:
    with served(max_uploads_per_caller=2, **PATIENT) as s:
        user = s.accounts.create_user("key@example.com", "Premium-20000", 10, True)
        key = s.accounts.create_key(user.id).key
        with stalled(s.base, 2):
            started = time.monotonic()
            third = rmbg(s.base)
            assert time.monotonic() - started < 5
            assert third.status_code == 429
            assert third.json() == {"error": "You're making requests too quickly, Please "
                                             "Upgrade or slow down.", "status": 429}
            assert rmbg(s.base, {"x-api-key": key}).status_code == 200


def test_a_full_upload_gate_answers_503_at_once(
    server_with: Callable[..., AbstractContextManager[str]],
) -> None:
    with server_with(max_uploads=2, **PATIENT) as base, stalled(base, 2):
        started = time.monotonic()
        reply = rmbg(base)
        assert time.monotonic() - started < 5
        assert (reply.status_code, reply.json()) == (
            503, {"error": "The server is busy. Please retry shortly.", "status": 503})
        assert reply.headers["retry-after"] == "1"


def test_a_body_that_never_starts_is_cut_off(
    server_with: Callable[..., AbstractContextManager[str]],
) -> None:
    with server_with(upload_first_byte_timeout_s=0.5) as base:
        sock = open_upload(base, 10_000, b"")
        started = time.monotonic()
        try:
            status, _, body = read_reply(sock)
        finally:
            sock.close()
    assert time.monotonic() - started < 5  # not the 30 s idle timeout
    assert (status, body) == (408, TOO_SLOW)


def test_a_trickle_below_the_minimum_rate_is_cut_off(
    server_with: Callable[..., AbstractContextManager[str]],
) -> None:
    with server_with(upload_first_byte_timeout_s=0.5, upload_min_bytes_per_s=200) as base:
        sock = open_upload(base, 10_000, part_head("a.jpg"))
        started = time.monotonic()
        try:
            sock.settimeout(0.2)
            for _ in range(100):  # a byte every 0.1 s, never silent for the idle timeout
                try:
                    sock.sendall(b"x")
                except OSError:
                    break
                time.sleep(0.1)
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                except TimeoutError:
                    continue
            sock.settimeout(30)
            status, _, body = read_reply(sock)
        finally:
            sock.close()
    assert time.monotonic() - started < 6
    assert (status, body) == (408, TOO_SLOW)


def test_a_refused_request_s_body_is_not_drained_for_minutes(server: str) -> None:
    sock = open_upload(server, 100_000, part_head("a.jpg") + b"\xff\xd8\xff",
                       "X-Api-Key: not-a-key\r\n")
    started = time.monotonic()
    try:
        status, _, body = read_reply(sock)
    finally:
        sock.close()
    assert time.monotonic() - started < 9  # drained at most 5 s, not the 30 s idle timeout
    assert (status, body) == (401, {"error": "invalid api key", "status": 401})
