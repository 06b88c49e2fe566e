"""Real stores for the contract suite: a SQLite file, and real ``redis-server`` processes.

Two Redis servers run for the session on free loopback ports, in temp dirs,
without persistence: a plain one, and a one-node Redis Cluster that owns every
slot, where any command or script naming keys of two slots fails (CROSSSLOT),
which proves the key layout works on a cluster. Each test starts from an empty
database (FLUSHALL).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alphacut.storage.base import Store
from alphacut.storage.factory import open_store
from tests.storage.support import RedisServer, start_redis

BACKENDS = ["sqlite", "redis", "redis-cluster"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis-cluster"), cluster=True)
    yield server
    server.stop()


def _empty_redis(request: pytest.FixtureRequest, fixture: str) -> RedisServer:
    server: RedisServer = request.getfixturevalue(fixture)
    with server.client() as client:
        client.flushall()
    return server


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The URL of an empty store of the backend this test run is parametrized with."""
    backend: str = request.param
    if backend == "sqlite":
        return None  # the default: a file under data_dir (tmp_path)
    fixture = "redis_cluster" if backend == "redis-cluster" else "redis_server"
    return _empty_redis(request, fixture).url


@pytest.fixture
def store(store_url: str | None, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_url, tmp_path)
    yield opened
    opened.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test asking for ``store`` or ``store_url`` runs once per backend.

    A module narrows the list with ``BACKENDS = [...]`` at its top level.
    """
    if "store_url" in metafunc.fixturenames:
        backends = getattr(metafunc.module, "BACKENDS", BACKENDS)
        metafunc.parametrize("store_url", backends, indirect=True)
