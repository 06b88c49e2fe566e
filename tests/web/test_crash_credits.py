"""A crash charges nothing for undelivered images (hardening 7): the credit is taken only
once the image is made, just before its answer starts. ``kill -9`` with images in flight,
on SQLite and on Redis, then a restart: balances and usage counters are intact."""

from __future__ import annotations

import io
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphacut import bootstrap
from alphacut.secret import throw_away
from tests.conftest import make_settings
from tests.storage.support import start_redis
from tests.web.processes import serving

SECRET = "crash-test-secret-0123456789abcdef"


def big_photo() -> bytes:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC).save(out, "JPEG")
    return out.getvalue()


def server(data_dir: Path, store_url: str | None,
           ) -> AbstractContextManager[tuple[str, subprocess.Popen[bytes]]]:
    settings = {"secret_key": SECRET, "max_concurrency": "2", "rate_limit_user": "1000"}
    if store_url:
        settings["store_url"] = store_url
    return serving(data_dir, data_dir.parent, **settings)


def in_flight(base: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("alphacut_in_flight "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_kill_9_with_images_in_flight_charges_nothing(tmp_path: Path, backend: str) -> None:
    redis = start_redis(tmp_path / "redis", appendonly=True) if backend == "redis" else None
    store_url = redis.url if redis else None
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, store_url=store_url)
    services = bootstrap.build(settings, secret=throw_away())
    try:
        user = services.accounts.create_user("crash@example.com", "Premium-20000", 0, True,
                                             prepaid=10)
        key = services.accounts.create_key(user.id).key
    finally:
        services.close()
    photo = big_photo()
    try:
        with server(data_dir, store_url) as (base, process), ThreadPoolExecutor(4) as pool:
            replies = [pool.submit(httpx.post, f"{base}/rmbg", headers={"x-api-key": key},
                                   files={"image": ("big.jpg", photo)},
                                   data={"tta": "true", "format": "png"}, timeout=120)
                       for _ in range(4)]
            deadline = time.monotonic() + 60
            while in_flight(base) < 2:
                assert time.monotonic() < deadline, "the images never started"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            failed = [f for f in replies if f.exception() is not None]
        assert len(failed) == 4  # nothing was delivered
        with server(data_dir, store_url) as (base, _):
            usage = httpx.get(f"{base}/api/membership-usage", headers={"x-api-key": key},
                              timeout=30).json()
        services = bootstrap.build(settings, secret=throw_away())
        try:
            after = services.accounts.user(user.id)
            now = datetime.now(UTC)
            month = services.store.month_usage(user.id, now.year, now.month)
        finally:
            services.close()
        assert after.prepaid_credits == 10
        assert (month.app, month.api) == (0, 0)
        assert (usage["api_usage"], usage["prepaidCredits"]) == (0, 10)
    finally:
        if redis:
            redis.stop()
