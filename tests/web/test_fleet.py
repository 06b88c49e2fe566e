"""Two server processes on loopback sharing one real Redis: credits stay exact."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from alphacut import bootstrap
from tests.conftest import fixture_bytes, make_settings
from tests.storage.support import start_redis
from tests.web.processes import serving

FLEET_SECRET = "fleet-test-secret-0123456789abcdef"


@contextmanager
def server_process(store_url: str, data_dir: Path) -> Iterator[str]:
    with serving(data_dir, data_dir.parent, store_url=store_url,
                 secret_key=FLEET_SECRET) as (base, _):  # a fleet shares one secret
        yield base


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
