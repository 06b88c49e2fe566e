"""The distributions: alphacut's wheel and sdist, and the client-only alphacut-client.

Builds run on a copy of the sources (no ``build/`` or egg-info left in the checkout)
with ``python -m build --no-isolation`` and this venv's setuptools (the dev extra pins
both), so they need no network. Slow parts, about 25 s in all: the builds (~3 s each),
and the client-only check, which creates a fresh virtual environment (~4 s) and lets pip
resolve the client's dependencies from the configured index (~5 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "alphacut"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"]
# What the client-only install must not bring: the server and its runtime.
SERVER_MODULES = ("onnxruntime", "numpy", "cv2", "fastapi", "uvicorn", "PIL", "pydantic",
                  "scipy", "redis", "alphacut.engine", "alphacut.cli")


def _package_data() -> list[str]:
    """Every non-Python file the server needs at run time, relative to src/."""
    data = [PACKAGE / "py.typed"]
    for folder in ("webapp/templates", "webapp/static"):
        data += [p for p in (PACKAGE / folder).rglob("*") if p.is_file()]
    return sorted(str(p.relative_to(PACKAGE.parent)) for p in data)


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
         ) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build(project: Path, outdir: Path) -> tuple[Path, Path]:
    """The sdist, and the wheel built from that sdist (so the sdist is complete)."""
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", outdir, project)
    return next(outdir.glob("*.tar.gz")), next(outdir.glob("*.whl"))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a build reads, copied: pyproject, README, src/ and packaging/."""
    copy = tmp_path_factory.mktemp("sources")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "staged", "build", "dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, copy / name)
    for name in ("src", "packaging"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    return copy


# --- alphacut ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def main_dists(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _build(sources, tmp_path_factory.mktemp("dist-main"))  # slow: ~5 s


def test_sdist_carries_the_package_data(main_dists: tuple[Path, Path]) -> None:
    sdist, _ = main_dists
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {f"src/{path}" for path in _package_data()} <= names


def test_wheel_carries_the_package_data_and_metadata(main_dists: tuple[Path, Path]) -> None:
    _, wheel = main_dists
    assert wheel.name == f"alphacut-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"alphacut-{VERSION}.dist-info/METADATA").decode()
    assert set(_package_data()) <= names
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [line for line in requires if "extra ==" not in line]
    assert any(line.startswith("Requires-Dist: onnxruntime") for line in base)
    assert any("openvino" in line and "extra == \"openvino\"" in line for line in requires)
    assert not any("openvino" in line or "onnxruntime-gpu" in line for line in base)


def test_wheel_installs_and_runs(main_dists: tuple[Path, Path], tmp_path: Path) -> None:
    """Installed without its dependencies (this venv has them) beside the checkout."""
    _, wheel = main_dists
    target = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", target, wheel)
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import alphacut, importlib.resources as r; print(alphacut.__file__); "
             "print((r.files('alphacut.webapp') / 'templates' / 'base.html').is_file())")
    where, found = _run(sys.executable, "-c", probe, env=env).split()
    assert Path(where).is_relative_to(target)
    assert found == "True"
    assert VERSION in _run(sys.executable, "-m", "alphacut", "--version", env=env)


# --- alphacut-client -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client_dists(sources: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[Path, Path]:
    return _build(sources / "packaging" / "client", tmp_path_factory.mktemp("dist-client"))


@pytest.fixture(scope="module")
def client_venv(client_dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    """A fresh venv with alphacut-client and what pip resolves for it (slow: ~10 s)."""
    venv = tmp_path_factory.mktemp("client-venv")
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", client_dists[1])
    return venv


def test_client_dists_hold_the_sdk_and_nothing_else(client_dists: tuple[Path, Path]) -> None:
    sdist, wheel = client_dists
    assert wheel.name == f"alphacut_client-{VERSION}-py3-none-any.whl"
    sdk = sorted(str(p.relative_to(PACKAGE.parent)) for p in (PACKAGE / "client").glob("*.py"))
    with zipfile.ZipFile(wheel) as archive:
        modules = sorted(n for n in archive.namelist() if n.startswith("alphacut/"))
        metadata = archive.read(f"alphacut_client-{VERSION}.dist-info/METADATA").decode()
    assert modules == sorted(["alphacut/__init__.py", "alphacut/py.typed", *sdk])
    requires = {line.split()[1] for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")}
    assert requires == {"httpx>=0.27", "click>=8.1"}
    with tarfile.open(sdist) as archive:
        assert f"alphacut_client-{VERSION}/_stage.py" in archive.getnames()


def test_client_install_leaves_the_server_out(client_venv: Path) -> None:
    probe = (f"import importlib.util as u, json; print(json.dumps([m for m in {SERVER_MODULES!r}"
             " if u.find_spec(m.partition('.')[0]) and u.find_spec(m)]))")
    assert json.loads(_run(client_venv / "bin" / "python", "-c", probe)) == []
    _run(client_venv / "bin" / "python", "-c", "from alphacut.client import Client, AsyncClient")


def test_client_command_version_and_help(client_venv: Path) -> None:
    alphacut = client_venv / "bin" / "alphacut"
    assert VERSION in _run(alphacut, "--version")
    assert "remove" in _run(alphacut, "client", "--help")
    assert "--bg-color" in _run(alphacut, "client", "remove", "--help")


class _FakeServer(BaseHTTPRequestHandler):
    """Answers every removal with the same PNG bytes and records what it was sent."""

    bodies: list[bytes] = []  # noqa: RUF012 - one server per test module

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        body = b"\x89PNG\r\n\x1a\nfake"
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_client_command_removes_through_a_server(
    client_venv: Path, fake_server: str, tmp_path: Path,
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not decoded by the client")
    _FakeServer.bodies.clear()
    _run(client_venv / "bin" / "alphacut", "client", "remove", photo, "--format", "png",
         "--bg-color", "white", "--no-expand", "--base-url", fake_server, "--api-key", "k",
         cwd=tmp_path)
    assert (tmp_path / "photo.nobg.png").read_bytes().startswith(b"\x89PNG")
    (sent,) = _FakeServer.bodies
    assert b'name="bg_color"\r\n\r\nwhite\r\n' in sent
    assert b'name="expand"\r\n\r\nfalse\r\n' in sent
