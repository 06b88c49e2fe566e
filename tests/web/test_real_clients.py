"""The documented curl and `requests` examples and the official Node client, run for real
against a live server; only the host changes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import FIXTURES
from tests.web.conftest import Account

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "clients" / "node"
API_DOC = ROOT / "docs" / "api.md"


def doc_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", API_DOC.read_text(), re.S)
    return next(b for b in blocks if "/rmbg" in b)


def as_written(block: str, server: str, workdir: Path) -> str:
    shutil.copy(FIXTURES / "images" / "horse_on_grass.jpg", workdir / "photo.jpg")
    return block.replace("http://127.0.0.1:7000", server)


def check_output(path: Path) -> None:
    with Image.open(path) as image:
        assert (image.format, image.mode) == ("PNG", "RGBA")
        # w=800 h=600 keeps 4:3, then 90 degrees with expand
        assert image.size == (600, 800)
        assert image.getchannel("A").getextrema() == (128, 255)  # translucent background


def test_curl_example(server: str, tmp_path: Path, account: Account) -> None:
    script = as_written(doc_block("sh"), server, tmp_path)
    subprocess.run(["sh", "-c", script.replace("YOUR_API_KEY", account.key)], cwd=tmp_path,
                   check=True, timeout=120)
    check_output(tmp_path / "cutout.png")


def test_python_requests_example(server: str, tmp_path: Path, account: Account) -> None:
    script = as_written(doc_block("python"), server, tmp_path)
    subprocess.run([sys.executable, "-c", script.replace("YOUR_API_KEY", account.key)],
                   cwd=tmp_path, check=True, timeout=120)
    check_output(tmp_path / "cutout.png")


def run_node(server: str, key: str, mode: str, options: dict[str, object]) -> dict[str, object]:
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("tests/clients/node is not installed: `make test` runs npm ci there")
    run = subprocess.run(
        ["node", "run-rembg.js", server, str(FIXTURES / "images" / "horse_on_grass.jpg"),
         json.dumps(options), mode, key],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["path", "buffer", "base64"])
def test_official_node_client_every_input_kind(server: str, account: Account,
                                               mode: str) -> None:
    result = run_node(server, account.key, mode, {"format": "PNG", "w": 320})
    assert result["ok"] is True, result
    assert str(result["head"]).startswith("89504e47")  # a PNG file on disk
    events = result["events"]
    assert isinstance(events, dict) and events["upload"] >= 1 and events["download"] >= 1


def test_official_node_client_base64_and_options(server: str, account: Account) -> None:
    result = run_node(server, account.key, "path", {"returnBase64": True, "returnMask": True,
                                       "angle": 45, "expand": False})
    assert result["ok"] is True, result
    assert str(result["base64Prefix"]).startswith("data:image/png;base64,")


def test_official_node_client_shows_our_errors(server: str, account: Account) -> None:
    result = run_node(server, account.key, "path", {"bg_color": "#12345"})
    assert result == {"ok": False, "error": '❌ 400 {"error":"Invalid color format \'#12345\'. '
                      'Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA","status":400}'}
