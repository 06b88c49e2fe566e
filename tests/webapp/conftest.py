"""The web app's fixtures: a local SMTP sink (aiosmtpd), a live server that mails into it,
and small helpers to read the links out of the mail and to post forms with their CSRF
token."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.web.conftest import Served, free_port, served  # noqa: F401 (a fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "webapp"
PASSWORD = "correct horse battery"


@dataclass
class Sink:
    """Every message the server sent, parsed; thread-safe."""

    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        with self.lock:
            self.messages.append(message_from_bytes(raw))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_link(self, address: str, path: str, timeout_s: float = 30) -> str:
        """The newest link to ``path`` in a message to ``address`` (waits for it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in reversed(self.to(address)):
                found = link_in(message, path)
                if found:
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} with a {path} link")


def link_in(message: Message, path: str) -> str | None:
    payload = message.get_payload(decode=True)
    text = payload.decode() if isinstance(payload, bytes) else str(message.get_payload())
    found = re.search(rf"https?://\S+{re.escape(path)}\?token=\S+", text)
    return found.group(0) if found else None


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[Sink]:
    sink = Sink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def webapp_server(
    served: Callable[..., AbstractContextManager[Served]], smtp_sink: Sink,  # noqa: F811
) -> Callable[..., AbstractContextManager[Served]]:
    """``with webapp_server(**settings) as s``: a fresh server and store mailing to the sink."""
    def start(**changes: object) -> AbstractContextManager[Served]:
        base: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": smtp_sink.port,
                                   "smtp_tls": "none", "mail_rate_limit": 1000}
        return served(**(base | changes))
    return start


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def post_form(http: httpx.Client, path: str, data: dict[str, str],
              page: str | None = None) -> httpx.Response:
    """Load ``page`` (default ``path``) for its CSRF token, then post the form with it."""
    token = csrf_of(http.get(page or path).text)
    return http.post(path, data=data | {"csrf_token": token})


def sign_up_and_verify(http: httpx.Client, sink: Sink, email: str,
                       password: str = PASSWORD) -> None:
    reply = post_form(http, "/signup", {"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    verified = http.get(sink.wait_link(email, "/verify"))
    assert verified.status_code == 200 and "Address confirmed" in verified.text


def log_in(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return post_form(http, "/login", {"email": email, "password": password})
