"""Two server processes on loopback sharing one real Redis: credits stay exact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from alphacut import bootstrap
from alphacut.settings import Settings
from tests.conftest import fixture_bytes, make_settings
from tests.storage.support import start_redis
from tests.web.conftest import free_port

FLEET_SECRET = "fleet-test-secret-0123456789abcdef"


@contextmanager
def server_process(store_url: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "ALPHACUT_STORE_URL": store_url, "ALPHACUT_DATA_DIR": str(data_dir),
           "ALPHACUT_INTRA_OP_THREADS": "1", "ALPHACUT_LOG_FORMAT": "text",
           "ALPHACUT_MODELS_DIR": str(Settings().models_dir),
           "ALPHACUT_SECRET_KEY": FLEET_SECRET}  # a fleet shares one secret: required
    alphacut = Path(sys.executable).with_name("alphacut")
    log = (data_dir.parent / f"server-{port}.log").open("wb")
    process = subprocess.Popen([str(alphacut), "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: see {log.name}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_two_servers_one_redis_take_exactly_k_credits(tmp_path: Path) -> None:
    credits, requests = 4, 12
    redis_server = start_redis(tmp_path / "redis", appendonly=True)
    services = bootstrap.build(make_settings(tmp_path, store_url=redis_server.url,
                                             secret_key=FLEET_SECRET))
    store = services.store
    try:
        accounts = services.accounts
        user = accounts.create_user("fleet@example.com", "Fleet-4", credits, verified=True)
        key = accounts.create_key(user.id).key
        with (server_process(redis_server.url, tmp_path / "a") as first,
              server_process(redis_server.url, tmp_path / "b") as second):
            bases = [first, second]

            def send(i: int) -> int:
                reply = httpx.post(f"{bases[i % 2]}/rmbg", headers={"x-api-key": key},
                                   files={"image": ("c.jpg", fixture_bytes("coffee"))},
                                   data={"w": "64"}, timeout=120)
                return reply.status_code

            with ThreadPoolExecutor(requests) as pool:
                statuses = sorted(pool.map(send, range(requests)))
        now = datetime.now(UTC)
        usage = store.month_usage(user.id, now.year, now.month)
    finally:
        services.close()
        redis_server.stop()
    assert statuses == [200] * credits + [429] * (requests - credits)
    assert usage.api == credits
