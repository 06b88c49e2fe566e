"""A real server on loopback, sharing the session's warm engine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from alphacut import Engine, bootstrap
from alphacut.bootstrap import Services
from alphacut.server import create_app
from alphacut.service.accounts import AccountService
from alphacut.settings import Settings
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings, engine: Engine,
                services: Services | None = None) -> Iterator[str]:
    """A server over what ``bootstrap.build`` makes (or over ``services`` already built)."""
    port = free_port()
    app = create_app(services or bootstrap.build(settings, engine=engine))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
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



def engine_for(settings: Settings, shared: Engine) -> Engine:
    """The session's engine when the settings configure it the same, else a new one on the
    same model files (changed limits, refinement...)."""
    if bootstrap.engine_config(settings) == shared.config:
        return shared
    return Engine(settings, store=shared.store)


@pytest.fixture(scope="session")
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    with live_server(settings, engine) as base:
        yield base


@pytest.fixture(scope="session")
def server_with(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., object]:
    """Start an extra server with some settings changed: ``with server_with(x=1) as base``."""
    def start(**changes: object) -> object:
        settings = make_settings(tmp_path_factory.mktemp("data"), **changes)
        return live_server(settings, engine_for(settings, engine))
    return start


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http


@dataclass(frozen=True)
class Account:
    user_id: str
    key: str


@pytest.fixture(scope="session")
def accounts(settings: Settings) -> Iterator[AccountService]:
    """Account administration on the very store the session's server uses."""
    services = bootstrap.build(settings)
    yield services.accounts
    services.close()


@pytest.fixture(scope="session")
def account(accounts: AccountService) -> Account:
    """A verified user with plenty of credits and one API key."""
    user = accounts.create_user("client@example.com", "Premium-20000", 100_000, verified=True)
    return Account(user.id, accounts.create_key(user.id).key)


@dataclass
class Served:
    base: str
    accounts: AccountService
    settings: Settings


@pytest.fixture(scope="session")
def served(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., object]:
    """A fresh server with its own store and changed settings, plus account admin on it:
    ``with served(rate_limit_user=2) as s: ... s.base, s.accounts``."""
    @contextmanager
    def start(**changes: object) -> Iterator[Served]:
        settings = make_settings(tmp_path_factory.mktemp("data"), **changes)
        own = engine_for(settings, engine)
        services = bootstrap.build(settings, engine=own)
        with live_server(settings, own, services) as base:
            yield Served(base, services.accounts, settings)
    return start
