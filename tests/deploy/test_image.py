"""The container image, built from the repository's Dockerfile and run as its ENTRYPOINT
and CMD say: a real cut-out over HTTP, as a non-root user, with the model verified at
build time, stopped cleanly by SIGTERM.

Docker Hub is out of reach here and ``podman run`` cannot start containers (crun cannot set
rlimits), so: the base is a debootstrap stand-in (scripts/image-base), the build is podman
(scripts/image-build), and the container runs under ``buildah run --isolation chroot`` on
the host's network. The layer cache lives in podman's store, so only the first run on a
machine builds everything (minutes). Skipped only where podman/buildah/debootstrap cannot
be installed or cannot build (not root). Run alone: ``pytest tests/deploy/test_image.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/alphacut:test"
PHOTO = ROOT / "tests/fixtures/images/horse_on_grass.jpg"
UID = 10001
SECRET = "image-test-secret-not-a-placeholder-0123456789"

pytestmark = pytest.mark.timeout(1500)


def _tools_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("the image build needs root (debootstrap, podman's root store)")
    tools = ("podman", "buildah", "debootstrap")
    if not all(shutil.which(tool) or Path("/usr/sbin", tool).exists() for tool in tools):
        install = subprocess.run([str(ROOT / "scripts/apt-install"), *tools],
                                 capture_output=True, text=True, check=False)
        if install.returncode != 0:
            pytest.skip(f"podman/buildah/debootstrap cannot be installed: {install.stderr[-300:]}")


def _script(name: str, **env: str) -> None:
    done = subprocess.run([str(ROOT / "scripts" / name)], env=os.environ | env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"scripts/{name} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    _tools_or_skip()
    log = tmp_path_factory.mktemp("image") / "build.log"
    _script("image-base")
    _script("image-build", IMAGE=IMAGE, LOG=str(log))
    return IMAGE


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    container: str
    runner: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(image: str) -> dict[str, object]:
    done = subprocess.run(["podman", "image", "inspect", image],
                          capture_output=True, text=True, check=True)
    inspected: dict[str, object] = json.loads(done.stdout)[0]
    return inspected


def _buildah(*args: str) -> str:
    return subprocess.run(["buildah", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _server_pid(port: int) -> int | None:
    """The python process serving ``port`` (buildah's own command line names it too)."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            exe = os.readlink(entry / "exe")
        except (OSError, ValueError):
            continue
        if b"serve" in argv and str(port).encode() in argv and Path(exe).name.startswith("python"):
            return int(entry.name)
    return None


def _wait_ready(url: str, runner: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert runner.poll() is None, f"the server exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/readyz never answered 200:\n{log.read_text()}")


def _stop(runner: subprocess.Popen[bytes], pid: int | None) -> None:
    """SIGTERM to the server itself: buildah run does not forward signals."""
    if runner.poll() is None and pid is not None:
        os.kill(pid, signal.SIGTERM)
    try:
        runner.wait(timeout=40)
    except subprocess.TimeoutExpired:
        runner.kill()
        runner.wait()


@pytest.fixture
def server(image: str, tmp_path: Path) -> Iterator[Server]:
    config = _config(image)["Config"]
    assert isinstance(config, dict)
    port = _free_port()
    # buildah run ignores ENTRYPOINT and CMD: run them as the image declares them, with
    # --port appended (click takes the last one, so it overrides CMD's).
    argv = [*config["Entrypoint"], *config["Cmd"], "--port", str(port)]
    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    os.chown(data, UID, UID)
    container = _buildah("from", "--pull-never", image)
    log = tmp_path / "server.log"
    try:
        with log.open("wb") as out:
            runner = subprocess.Popen(
                ["buildah", "run", "--isolation", "chroot", "--network", "host",
                 "-v", f"{data}:/var/lib/alphacut", "-e", f"ALPHACUT_SECRET_KEY={SECRET}",
                 "-e", "ALPHACUT_LOG_FORMAT=text", container, "--", *argv],
                stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, runner, log)
            pid = _server_pid(port)
            assert pid is not None, "the server process was not found"
            yield Server(url, pid, container, runner, log)
        finally:
            _stop(runner, _server_pid(port))
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def test_the_image_serves_a_cut_out_as_non_root_and_stops_on_sigterm(server: Server) -> None:
    reply = httpx.post(f"{server.url}/rmbg", timeout=120,
                       files={"image": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")},
                       data={"format": "png"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/png"
    with Image.open(BytesIO(reply.content)) as cut, Image.open(PHOTO) as photo:
        assert cut.format == "PNG"
        assert cut.mode == "RGBA"
        assert cut.size == photo.size
        low, high = cut.getchannel("A").getextrema()
        assert (low, high) == (0, 255), "a cut-out has both background and subject"

    status = Path(f"/proc/{server.pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [str(UID)] * 4

    # The image's HEALTHCHECK, run in the container (the port from ALPHACUT_PORT here:
    # PID 1 is not the server under buildah run).
    healthcheck = _config(IMAGE)["Healthcheck"]
    assert isinstance(healthcheck, dict)
    _buildah("run", "--isolation", "chroot", "--network", "host", "-e",
             f"ALPHACUT_PORT={server.url.rsplit(':', 1)[1]}", server.container, "--",
             *healthcheck["Test"][1:])

    os.kill(server.pid, signal.SIGTERM)
    server.runner.wait(timeout=40)
    assert "Finished server process" in server.log.read_text()


def test_the_model_inside_passed_its_checksum(image: str) -> None:
    container = _buildah("from", "--pull-never", image)
    try:
        # `present` re-hashes the file against the registry's checksum.
        rows = json.loads(_buildah("run", "--isolation", "chroot", container, "--",
                                   "alphacut", "models", "list", "--json"))
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    default = next(row for row in rows if row["default"])
    assert default["name"] == "u2netp"
    assert default["present"] is True
    assert default["path"] == "/opt/alphacut/models/u2netp.onnx"


def test_the_image_config(image: str) -> None:
    inspected = _config(image)
    config = inspected["Config"]
    assert isinstance(config, dict)
    assert config["User"] == f"{UID}:{UID}"
    assert config["StopSignal"] == "SIGTERM"
    assert config["Entrypoint"] == ["alphacut", "serve"]
    assert config["Cmd"] == ["--host", "0.0.0.0", "--port", "7000"]
    assert "7000/tcp" in config["ExposedPorts"]
    assert "/var/lib/alphacut" in config["Volumes"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["ALPHACUT_MODELS_DIR"] == "/opt/alphacut/models"
    assert env["ALPHACUT_DATA_DIR"] == "/var/lib/alphacut"
    assert not [name for name in env if "SECRET" in name or name.startswith("PIP_")]
    healthcheck = inspected["Healthcheck"]
    assert isinstance(healthcheck, dict)
    assert healthcheck["Test"][:2] == ["CMD", "python3"]
    assert "/healthz" in healthcheck["Test"][-1]
    size = inspected["Size"]
    assert isinstance(size, int)
    assert size < 1_000_000_000
