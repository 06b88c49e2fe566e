"""Faults of the machine under a running server (hardening's standing suite): Redis
hung, Redis out of memory, SQLite out of space, a read-only data dir. Each answers the
contract's 503 (or refuses to start, saying why), never a 500, and loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from alphacut.secret import resolve_secret
from alphacut.settings import Settings
from alphacut.storage import sqlite as sqlite_store
from tests.conftest import fixture_bytes, make_settings
from tests.storage.support import RedisServer, start_redis
from tests.web.conftest import Served

UNAVAILABLE = {"error": "The account store is unavailable. Please retry shortly.",
               "status": 503}
SECRET = "faults-test-secret-0123456789abcdef"
ADMIN = "faults-admin-token-0123456789"
Serve = Callable[..., AbstractContextManager[Served]]


def rmbg(base: str, key: str) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", headers={"x-api-key": key}, timeout=60,
                      files={"image": ("c.jpg", fixture_bytes("coffee"))}, data={"w": "32"})


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis", appendonly=True)
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def user_key(s: Served, prepaid: int = 5) -> tuple[str, str]:
    user = s.accounts.create_user("fault@example.com", "Premium-20000", 0, True,
                                  prepaid=prepaid)
    return user.id, s.accounts.create_key(user.id).key


def test_a_hung_redis_answers_503_then_recovers(served: Serve, redis: RedisServer) -> None:
    with served(store_url=redis.url, secret_key=SECRET) as s:
        user_id, key = user_key(s)
        os.kill(redis.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            reply = rmbg(s.base, key)
            assert time.monotonic() - started < 30
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)
        assert (reply.status_code, reply.json()) == (503, UNAVAILABLE)
        assert "retry-after" in reply.headers
        assert rmbg(s.base, key).status_code == 200
        assert s.accounts.user(user_id).prepaid_credits == 4


def test_a_full_redis_answers_503_and_charges_nothing(served: Serve,
                                                      redis: RedisServer) -> None:
    with served(store_url=redis.url, secret_key=SECRET) as s:
        user_id, key = user_key(s)
        raw = redis.client()
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", "1")  # every write that needs memory is refused
        try:
            reply = rmbg(s.base, key)
        finally:
            raw.config_set("maxmemory", "0")
        assert (reply.status_code, reply.json()) == (503, UNAVAILABLE)
        assert s.accounts.user(user_id).prepaid_credits == 5
        assert rmbg(s.base, key).status_code == 200


def test_sqlite_out_of_space_answers_503_and_loses_nothing(
        served: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's max_page_count on every connection: the file cannot grow past it, as on a
    full disk (SQLITE_FULL)."""
    real_open = sqlite_store._Pool._open

    def small_disk(self: sqlite_store._Pool) -> sqlite3.Connection:
        conn = real_open(self)
        conn.execute("PRAGMA max_page_count = 40")
        return conn

    monkeypatch.setattr(sqlite_store._Pool, "_open", small_disk)
    with served(admin_token=ADMIN) as s:
        user_id, key = user_key(s)
        assert rmbg(s.base, key).status_code == 200
        codes = []
        for i in range(400):  # new users and keys grow the file until it is full
            reply = httpx.post(f"{s.base}/admin/users", timeout=30,
                               headers={"authorization": f"Bearer {ADMIN}"},
                               json={"email": f"user{i}@example.com" + "x" * 200})
            codes.append(reply.status_code)
            if reply.status_code == 503:
                break
        assert codes[-1] == 503 and reply.json() == UNAVAILABLE, codes[-3:]
        assert 500 not in codes
        assert s.accounts.user(user_id).prepaid_credits == 4  # nothing lost
        answer = rmbg(s.base, key)
        assert answer.status_code in (200, 503) and answer.status_code != 500


def serve_read_only(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``alphacut serve`` in a private mount namespace where ``data_dir`` is a read-only
    bind mount (the tests run as root: chmod would not stop a write)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare(1) and root for a private read-only bind mount")
    alphacut = Path(sys.executable).with_name("alphacut")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPHACUT_")} | {
        "ALPHACUT_DATA_DIR": str(data_dir), "ALPHACUT_MODELS_DIR": str(Settings().models_dir),
        "ALPHACUT_PORT": "0"}
    script = (f'mount --bind "{data_dir}" "{data_dir}" && '
              f'mount -o remount,bind,ro "{data_dir}" || exit 97; '
              f'exec "{alphacut}" serve')
    done = subprocess.run([unshare, "-m", "sh", "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode == 97:
        pytest.skip(f"no private read-only bind mount here: {done.stderr.strip()}")
    return done


def test_a_read_only_data_dir_refuses_to_start_saying_why(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fresh = serve_read_only(data_dir)
    assert fresh.returncode == 1 and "Traceback" not in fresh.stderr
    assert f"cannot write a generated secret into {data_dir / 'secret_key'}" in fresh.stderr
    created = subprocess.run([str(Path(sys.executable).with_name("alphacut")), "users",
                              "create", "--email", "ro@example.com", "--credits", "5"],
                             env=os.environ | {"ALPHACUT_DATA_DIR": str(data_dir)},
                             capture_output=True, text=True, check=True)
    assert "ro@example.com" in created.stdout
    resolve_secret(make_settings(data_dir))  # generated while writable
    used = serve_read_only(data_dir)
    assert used.returncode == 1 and "Traceback" not in used.stderr
    assert "The account store is unavailable: cannot open" in used.stderr
