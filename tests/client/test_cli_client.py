"""``alphacut client remove`` and ``alphacut client usage`` against a live server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner, Result

from alphacut.cli.main import cli
from tests.client.support import decode, rmbg_requests, settle
from tests.conftest import FIXTURES

CAT = FIXTURES / "images" / "chelsea.jpg"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["client", *args])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four images, one in a sub-folder, and a file that is not an image."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg", "sub/d.jpg"):
        shutil.copy(CAT, src / name)
    (src / "notes.txt").write_text("not an image")
    return src


def _outputs(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_batch_interrupted_then_resumed(
    server: str, api_key: str, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["client", "remove", str(folder), "-o", str(out), "--format", "png", "--width", "48",
            "--concurrency", "1", "--base-url", server, "--api-key", api_key]
    # A real interruption: Ctrl-C (SIGINT) once the first image is written.
    process = subprocess.Popen([sys.executable, "-m", "alphacut", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(out.rglob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    finished = _outputs(out)
    assert process.returncode == 130, stderr.decode()
    assert b"run the same command again" in stderr
    assert 1 <= len(finished) < 4 and all(name.endswith(".png") for name in finished)

    settle(server)  # the request cut off by Ctrl-C may still finish on the server
    before = rmbg_requests(server, 200)
    resumed = run(*args[1:])
    assert resumed.exit_code == 0, resumed.stderr
    assert f"{4 - len(finished)} written, {len(finished)} skipped (exist), 0 failed" in (
        resumed.stderr)
    assert rmbg_requests(server, 200) == before + 4 - len(finished)  # only the missing ones
    after = _outputs(out)
    assert sorted(after) == ["a.png", "b.png", "c.png", "sub/d.png"]
    assert all(after[name] == mtime for name, mtime in finished.items())  # not redone
    assert all(decode((out / name).read_bytes()).size == (48, 32) for name in after)

    again = run(*args[1:])
    assert again.exit_code == 0 and "0 written, 4 skipped (exist), 0 failed" in again.stderr


def test_failures_are_reported_with_a_nonzero_exit(
    server: str, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: the server and key come from a .env file in the working directory."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(CAT, src / "good.jpg")
    (src / "bad.jpg").write_bytes(b"this is not an image")
    (tmp_path / ".env").write_text(f"ALPHACUT_BASE_URL={server}\nALPHACUT_API_KEY={api_key}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALPHACUT_BASE_URL", raising=False)
    monkeypatch.delenv("ALPHACUT_API_KEY", raising=False)
    result = run("remove", "in", "-o", "out", "--mask", "--width", "40")
    assert result.exit_code == 1
    assert "1 written, 0 skipped (exist), 1 failed" in result.stderr
    assert "bad.jpg" in result.stderr and "invalid file signature" in result.stderr
    mask = decode((tmp_path / "out" / "good.webp").read_bytes())  # webp: gray as RGB
    channels = np.asarray(mask.convert("RGB")).astype(int)
    assert mask.width == 40 and np.abs(channels - channels[..., :1]).max() <= 2


def test_a_rejected_key_stops_the_batch(server: str, folder: Path, tmp_path: Path) -> None:
    result = run("remove", str(folder), "-o", str(tmp_path / "out"), "--concurrency", "1",
                 "--base-url", server, "--api-key", "ac_not-a-real-key")
    assert result.exit_code == 1
    assert "0 written, 0 skipped (exist), 1 failed, 3 not started" in result.stderr
    assert "Error: 401 invalid api key" in result.stderr


def test_one_file_to_a_named_output(server: str, api_key: str, tmp_path: Path) -> None:
    target = tmp_path / "cut.jpg"
    result = run("remove", str(CAT), "-o", str(target), "--bg-color", "white", "--height",
                 "30", "--angle", "90", "--base-url", server, "--api-key", api_key)
    assert result.exit_code == 0, result.stderr
    image = decode(target.read_bytes())
    assert (image.format, image.size) == ("JPEG", (30, 45))


def test_extension_flags_reach_the_server(server: str, api_key: str, tmp_path: Path) -> None:
    masks = {}
    for name, flags in (("refined", ()), ("plain", ("--no-refine", "--no-decontaminate"))):
        target = tmp_path / f"{name}.png"
        result = run("remove", str(CAT), "-o", str(target), "--mask", *flags,
                     "--base-url", server, "--api-key", api_key)
        assert result.exit_code == 0, result.stderr
        masks[name] = np.asarray(decode(target.read_bytes()))
    soft = {name: ((m > 12) & (m < 243)).mean() for name, m in masks.items()}
    assert soft["refined"] < soft["plain"]
    failed = run("remove", str(CAT), "-o", str(tmp_path / "x.png"), "--model", "no-such-model",
                 "--base-url", server, "--api-key", api_key)
    assert failed.exit_code == 1 and "no-such-model" in failed.stderr


def test_usage_errors_are_caught_before_any_request(tmp_path: Path) -> None:
    assert run("remove", str(CAT), "--mask", "--bg-color", "red").exit_code == 2
    assert run("remove", str(tmp_path / "missing*.jpg")).exit_code == 2
    assert run("remove", str(CAT), "--width", "0").exit_code == 2


@pytest.mark.parametrize("args", [("--format", "avif"), ("--format", "zip"),
                                  ("-o", "cut.avif"), ("-o", "cut.zip"), ("-o", "cut.tiff")])
def test_a_format_the_server_cannot_answer_is_refused_before_any_upload(
        server: str, api_key: str, tmp_path: Path, args: tuple[str, str]) -> None:
    """`alphacut remove`'s extra formats parse in the shared flags, but /rmbg answers only
    the contract's four: refused here, not 400 per image (nor WebP bytes in a .avif)."""
    flag, value = args
    if flag == "-o":
        value = str(tmp_path / value)
    before = sum(rmbg_requests(server, status) for status in (200, 400))
    result = run("remove", str(CAT), flag, value, "--base-url", server, "--api-key", api_key)
    assert result.exit_code == 2, result.output
    assert "--format" in result.output
    settle(server)
    assert sum(rmbg_requests(server, status) for status in (200, 400)) == before
    assert not list(tmp_path.iterdir())


def _usage_served(server: str, api_key: str) -> None:
    reply = httpx.get(f"{server}/api/membership-usage", headers={"x-api-key": api_key})
    if reply.status_code == 404:
        pytest.skip("GET /api/membership-usage is not served yet")


def test_usage_table_and_json(server: str, api_key: str) -> None:
    _usage_served(server, api_key)
    common = ["--base-url", server, "--api-key", api_key]
    table = run("usage", *common)
    assert table.exit_code == 0, table.stderr
    for label in ("Plan", "Premium-20000", "Included credits", "100000 per billing cycle",
                  "Prepaid credits", "App usage", "API usage", "Billing cycle",
                  "Included left"):
        assert label in table.stdout
    raw = json.loads(run("usage", "--json", *common).stdout)
    assert (raw["membership"], raw["credits"]) == ("Premium-20000", 100_000)
    assert "billingCycle" in raw
    cycles = run("usage", "--cycles", *common)
    assert cycles.exit_code == 0 and cycles.stdout.startswith(("start", "No billing"))


def test_usage_with_a_bad_key(server: str) -> None:
    result = run("usage", "--base-url", server, "--api-key", "ac_nope")
    assert result.exit_code == 1 and "401 invalid api key" in result.stderr


def test_environment_is_read_by_the_command(
    server: str, api_key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _usage_served(server, api_key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALPHACUT_BASE_URL", server)
    monkeypatch.setenv("ALPHACUT_API_KEY", api_key)
    assert run("usage", "--json").exit_code == 0
    assert os.environ["ALPHACUT_API_KEY"] == api_key
