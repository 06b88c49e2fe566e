"""A real server on loopback, sharing the session's warm engine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from alphacut.engine.pipeline import Engine
from alphacut.settings import Settings
from alphacut.web.app import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings, engine), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    else:
        raise RuntimeError("server did not become ready")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)



@pytest.fixture(scope="session")
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    with live_server(settings, engine) as base:
        yield base


@pytest.fixture(scope="session")
def server_with(engine: Engine) -> Callable[..., object]:
    """Start an extra server with some settings changed: ``with server_with(x=1) as base``."""
    def start(**changes: object) -> object:
        base = Settings(intra_op_threads=2)
        return live_server(base.model_copy(update=changes), engine)
    return start


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http
