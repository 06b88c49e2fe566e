"""A load-balanced fleet, for real: Debian's nginx in front of two ``alphacut serve``
processes on one Redis, one shared secret, forwarded-for trusted from the proxy only.

Through the balancer: credits stay exact under concurrency; a server killed with images
in flight fails those requests at the balancer (nginx never retries a POST that reached
an upstream), charges nothing for them, and the survivor takes the rest; both servers
report the same usage; the servers count the client's real address, never one the client
wrote into ``X-Forwarded-For``.

The client connects from 127.0.0.2 (any 127/8 address is local on Linux): nginx and the
servers share 127.0.0.1, the one trusted proxy address, so a client there would be a
trusted hop itself."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphacut import bootstrap
from alphacut.service.accounts import AccountService
from alphacut.storage.base import Store
from tests.conftest import fixture_bytes, make_settings
from tests.storage.support import REDIS_SERVER, RedisServer, start_redis
from tests.web.conftest import free_port
from tests.web.processes import serving

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
pytestmark = pytest.mark.skipif(
    NGINX is None or REDIS_SERVER is None,
    reason="needs Debian's nginx and redis-server (`make test-deps` installs both)")

SECRET = "nginx-fleet-secret-0123456789abcdef"
CLIENT = "127.0.0.2"  # the client's real address: not the trusted proxy's 127.0.0.1
OTHER_CLIENT = "127.0.0.3"
SERVER_SETTINGS = {
    "store_url": "", "secret_key": SECRET, "trust_forwarded_for": "true",
    "trusted_proxies": "127.0.0.1/32", "max_concurrency": "2", "rate_limit_user": "1000",
    "anonymous_daily_limit": "1",
}

# proxy_next_upstream is nginx's default, spelled out: a refused connection moves on to
# the next server; a POST already sent to a server that then dies is not sent again.
NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 50m;
    log_format up '$remote_addr $request_method $uri $status upstream=$upstream_addr';
    access_log {prefix}/access.log up;
    upstream alphacut {{
        server 127.0.0.1:{first} max_fails=1 fail_timeout=60s;
        server 127.0.0.1:{second} max_fails=1 fail_timeout=60s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://alphacut;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class Fleet:
    lb: str
    servers: list[str]
    processes: list[subprocess.Popen[bytes]]
    accounts: AccountService
    store: Store
    redis: RedisServer
    access_log: Path

    def port(self, index: int) -> str:
        return self.servers[index].rsplit(":", 1)[1]


@contextmanager
def nginx(prefix: Path, first: str, second: str) -> Iterator[str]:
    """nginx in the foreground, as a child process, on a free loopback port."""
    assert NGINX is not None
    prefix.mkdir()
    port = free_port()
    user = "user root root;\n" if os.geteuid() == 0 else ""  # the workers read prefix
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, port=port, first=first,
                                      second=second))
    process = subprocess.Popen([NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix),
                                "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{(prefix / 'error.log').read_text()}")
            time.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def fleet(root: Path) -> Iterator[Fleet]:
    redis = start_redis(root / "redis", appendonly=True)
    services = bootstrap.build(make_settings(root / "admin", store_url=redis.url,
                                             secret_key=SECRET))
    settings = SERVER_SETTINGS | {"store_url": redis.url}
    try:
        with ExitStack() as stack:
            started = [stack.enter_context(serving(root / name, root, **settings))
                       for name in ("a", "b")]
            bases = [base for base, _ in started]
            ports = [base.rsplit(":", 1)[1] for base in bases]
            lb = stack.enter_context(nginx(root / "nginx", *ports))
            yield Fleet(lb, bases, [process for _, process in started], services.accounts,
                        services.store, redis, root / "nginx" / "access.log")
    finally:
        services.close()
        redis.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet(tmp_path_factory.mktemp("fleet")) as built:
        yield built


def client(source: str = CLIENT) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=120)


def rmbg(base: str, key: str | None, image: bytes, source: str = CLIENT,
         forwarded_for: str | None = None) -> int:
    headers = {"x-api-key": key} if key else {}
    if forwarded_for:
        headers["x-forwarded-for"] = forwarded_for
    with client(source) as http:
        try:
            reply = http.post(f"{base}/rmbg", headers=headers, data={"w": "64"},
                              files={"image": ("c.jpg", image)})
        except httpx.TransportError:
            return 0
        return reply.status_code


def api_usage(f: Fleet, user_id: str) -> int:
    now = datetime.now(UTC)
    return f.store.month_usage(user_id, now.year, now.month).api


def test_k_credits_n_concurrent_requests_through_the_balancer(shared: Fleet) -> None:
    credits, requests = 4, 12
    user = shared.accounts.create_user("lb@example.com", "Fleet-4", credits, verified=True)
    key = shared.accounts.create_key(user.id).key
    coffee = fixture_bytes("coffee")
    with ThreadPoolExecutor(requests) as pool:
        statuses = sorted(pool.map(lambda _: rmbg(shared.lb, key, coffee), range(requests)))
    assert statuses == [200] * credits + [429] * (requests - credits)
    assert api_usage(shared, user.id) == credits
    usages = [httpx.get(f"{base}/api/membership-usage", headers={"x-api-key": key},
                        timeout=30).json() for base in shared.servers]
    assert usages[0] == usages[1]
    assert usages[0]["api_usage"] == credits
    served = [line for line in shared.access_log.read_text().splitlines()
              if "POST /rmbg 200" in line]
    assert {line.rsplit(":", 1)[1] for line in served} == {shared.port(0), shared.port(1)}


def test_the_servers_count_the_real_client_not_a_forged_header(shared: Fleet) -> None:
    coffee = fixture_bytes("coffee")
    # One image a day per address: two forged addresses from one client are one bucket.
    first = rmbg(shared.lb, None, coffee, forwarded_for="203.0.113.7")
    second = rmbg(shared.lb, None, coffee, forwarded_for="198.51.100.9")
    other = rmbg(shared.lb, None, coffee, source=OTHER_CLIENT, forwarded_for="203.0.113.7")
    assert (first, second, other) == (200, 429, 200)
    daily = shared.redis.client().keys("rate_limit:daily:*")
    buckets = {str(key).split(":")[3] for key in daily}  # rate_limit:daily:anon:ADDRESS:DAY
    assert buckets == {CLIENT, OTHER_CLIENT}


def big_photo() -> bytes:
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(small).resize((2400, 1800), Image.Resampling.BICUBIC).save(out, "JPEG")
    return out.getvalue()


def busy(base: str) -> float:
    """Images running or queued on one server (its own metrics, asked directly)."""
    gauges = ("alphacut_in_flight ", "alphacut_queue_depth ")
    return sum(float(line.split()[1]) for line in httpx.get(f"{base}/metrics").text.splitlines()
               if line.startswith(gauges))


def test_a_server_killed_mid_run_charges_only_what_was_delivered(tmp_path: Path) -> None:
    with fleet(tmp_path) as f:
        user = f.accounts.create_user("kill@example.com", "Premium-20000", 0, True,
                                      prepaid=100)
        key = f.accounts.create_key(user.id).key
        photo = big_photo()
        with ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(rmbg, f.lb, key, photo) for _ in range(8)]
            deadline = time.monotonic() + 30
            while busy(f.servers[0]) < 1:
                assert time.monotonic() < deadline, "no image ever reached the first server"
                time.sleep(0.01)
            f.processes[0].send_signal(signal.SIGKILL)
            f.processes[0].wait(timeout=10)
            during = [future.result() for future in pending]
        after = [rmbg(f.lb, key, photo) for _ in range(4)]
        log = f.access_log.read_text().splitlines()
        charged = 100 - f.accounts.user(user.id).prepaid_credits
        usage = api_usage(f, user.id)
    failed = [status for status in during if status != 200]
    assert failed and set(failed) == {502}, during  # the killed server's requests
    assert after == [200] * 4
    delivered = during.count(200) + after.count(200)
    assert charged == usage == delivered
    dead, survivor = f.port(0), f.port(1)
    posts = [line for line in log if "POST /rmbg" in line]
    bad = [line for line in posts if " 502 " in line]
    assert len(bad) == len(failed)
    # Each failed POST went to the killed server alone: nginx did not send it again.
    assert all(line.endswith(f"upstream=127.0.0.1:{dead}") for line in bad), bad
    assert all(line.endswith(f"upstream=127.0.0.1:{survivor}") for line in posts[-4:])
