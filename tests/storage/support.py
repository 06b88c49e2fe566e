"""Helpers shared by the storage tests: a real ``redis-server`` process, sample values."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from alphacut.domain.accounts import User
from alphacut.storage.base import Store

REDIS_SERVER = shutil.which("redis-server")
START_TIMEOUT_S = 10.0

NOW = 1_772_323_200  # 2026-03-01T00:00:00Z
MARCH_2026 = 1_772_323_200  # the start of the UTC calendar month that holds NOW
APRIL_2026 = 1_775_001_600


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
        self.process.wait(timeout=START_TIMEOUT_S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_redis(directory: Path, *, appendonly: bool = False, cluster: bool = False) -> RedisServer:
    """Start ``redis-server`` in ``directory`` and wait until it answers PING."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (`make test` installs it; "
                    "Debian: scripts/apt-install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", "--logfile", "redis.log"]
    if appendonly:  # every write on disk before the reply: a SIGKILL loses nothing
        args += ["--appendonly", "yes", "--appendfsync", "always"]
    else:
        args += ["--appendonly", "no"]
    if cluster:
        # The bus port is named: the default (port + 10000) may be out of range.
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-port", str(free_port())]
    server = RedisServer(port, directory, subprocess.Popen(args, cwd=directory))
    _wait_until_ready(server, cluster)
    return server


def _wait_until_ready(server: RedisServer, cluster: bool) -> None:
    client = server.client()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.ping()
            if not cluster:
                return
            info = client.cluster("INFO")
            if info["cluster_state"] == "ok":
                return
            if info["cluster_slots_assigned"] == "0":  # one node that owns every slot
                client.cluster("ADDSLOTSRANGE", 0, 16383)
        except redis.ConnectionError:
            if server.process.poll() is not None:
                log = (server.directory / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited:\n{log}") from None
        if time.monotonic() > deadline:
            server.stop(kill=True)
            raise RuntimeError(f"redis-server on port {server.port} did not become ready")
        time.sleep(0.02)


def new_user(store: Store, *, included: int = 0, prepaid: int = 0,
             email: str = "ada@example.com") -> User:
    return store.create_user(email, plan=f"Plan-{included}", included_credits=included,
                             prepaid_credits=prepaid, verified=True, now=NOW)
