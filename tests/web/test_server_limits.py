"""Limits that protect the server: streamed size limit, slow senders, a full queue."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

from tests.conftest import fixture_bytes

BOUNDARY = b"LimitTestBoundary"


def open_upload(base: str, content_length: int, first: bytes,
                extra_headers: str = "") -> socket.socket:
    """Start a raw multipart POST /rmbg and send only its first bytes."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    head = (f"POST /rmbg HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n"
            f"Content-Length: {content_length}\r\n{extra_headers}\r\n").encode()
    sock.sendall(head + first)
    return sock


def part_head(filename: str = "big.png") -> bytes:
    return (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"image\"; "
            b"filename=\"" + filename.encode() + b"\"\r\n\r\n")


def read_reply(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_two_gigabyte_upload_is_refused_after_the_limit(server: str) -> None:
    """The reply comes once 50 MB have passed, long before 2 GB were sent."""
    claimed_file = 2 * 1024**3
    head = part_head()
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    sock = open_upload(server, len(head) + claimed_file + len(tail), head)
    chunk = b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024 - 8)
    sent = 0
    try:
        while sent < 60 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
        status, _, body = read_reply(sock)
    finally:
        sock.close()
    assert status == 400
    assert body == {"error": "File size (2048.0 MB) exceeds the maximum allowed size of 50 MB.",
                    "status": 400}


def test_a_silent_sender_is_cut_off(
    server_with: Callable[..., AbstractContextManager[str]],
) -> None:
    with server_with(upload_idle_timeout_s=0.5) as base:
        sock = open_upload(base, 10_000, part_head("a.jpg") + b"\xff\xd8\xff")
        started = time.monotonic()
        try:
            status, _, body = read_reply(sock)
        finally:
            sock.close()
    assert time.monotonic() - started < 10
    assert status == 408
    assert body == {"error": "The upload was too slow and timed out. Please retry.",
                    "status": 408}


def big_photo() -> bytes:
    """A 12 MP photo-like image: seconds of work on this machine."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def wait_until_running(base: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if "alphacut_in_flight 1.0" in httpx.get(f"{base}/metrics").text:
            return
        time.sleep(0.02)
    raise AssertionError("the first image never started")


def test_a_full_queue_answers_503_at_once(
    server_with: Callable[..., AbstractContextManager[str]],
) -> None:
    """The only CPU slot is held by a real image in flight; an upload that arrives then is
    read, and refused at once (not queued behind it)."""
    with server_with(max_concurrency=1, max_queue=0) as base, \
            ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, f"{base}/rmbg", timeout=120,
                            files={"image": ("big.jpg", big_photo())},
                            data={"tta": "true", "format": "png"})
        wait_until_running(base)
        started = time.monotonic()
        reply = httpx.post(f"{base}/rmbg", files={"image": ("a.jpg", fixture_bytes("coffee"))})
        elapsed = time.monotonic() - started
        assert not first.done(), "the first image finished too soon to hold the slot"
        assert first.result().status_code == 200
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.json() == {"error": "The server is busy. Please retry shortly.",
                                "status": 503}
        assert elapsed < 2
        again = httpx.post(f"{base}/rmbg", files={"image": ("a.jpg", fixture_bytes("coffee"))},
                           timeout=60)
        assert again.status_code == 200
