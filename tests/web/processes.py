"""The real ``alphacut serve`` command in a child process, as an operator starts it:
for tests of what only the command does (uvicorn's settings, start-up refusals) and of
crashes (kill -9) and fleets (several processes on one store)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from alphacut.settings import Settings
from tests.web.conftest import free_port

ALPHACUT = Path(sys.executable).with_name("alphacut")


def serve_env(data_dir: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """None of this shell's ALPHACUT_* settings; the test models; ``settings`` (names
    without the prefix, any case) on top."""
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("ALPHACUT_")}
    return inherited | {
        "ALPHACUT_DATA_DIR": str(data_dir), "ALPHACUT_MODELS_DIR": str(Settings().models_dir),
        "ALPHACUT_INTRA_OP_THREADS": "1", "ALPHACUT_LOG_FORMAT": "text",
    } | {f"ALPHACUT_{name.upper()}": value for name, value in settings.items()}


@contextmanager
def serving(data_dir: Path, log_dir: Path, **settings: str,
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``alphacut serve`` on a free loopback port until ``/readyz`` answers; the base URL
    and the process (a test may kill it); terminated on the way out if still running."""
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(ALPHACUT), "serve", "--port", str(port)],
                                   env=serve_env(data_dir, settings),
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
                    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield base, process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)
