"""The documented curl and `requests` examples and the official Node client, run for real
against a live server; only the host changes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphacut.service.accounts import AccountService
from tests.conftest import FIXTURES, ground_truth
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


def run_node(server: str, key: str, mode: str, options: dict[str, object],
             out: Path) -> dict[str, object]:
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("tests/clients/node is not installed: `make test` runs npm ci there")
    run = subprocess.run(
        ["node", "run-rembg.js", server, str(FIXTURES / "images" / "horse_on_grass.jpg"),
         json.dumps(options), mode, key, str(out)],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def background_at(size: tuple[int, int]) -> np.ndarray:
    mask = Image.fromarray(ground_truth("horse_on_grass")).resize(size, Image.Resampling.NEAREST)
    return ~np.asarray(mask)

NODE_CASES = [
    # mode, options, expected (format, mode, size), what the background must be
    ("path", {}, ("WEBP", "RGBA", (640, 480)), "transparent"),
    ("buffer", {"format": "PNG"}, ("PNG", "RGBA", (640, 480)), "transparent"),
    ("base64", {"format": "webp", "w": 320}, ("WEBP", "RGBA", (320, 240)), "transparent"),
    ("dataurl", {"format": "png", "w": 100, "h": 100, "exact_resize": True},
     ("PNG", "RGBA", (100, 100)), None),
    ("path", {"format": "PNG", "returnMask": True}, ("PNG", "L", (640, 480)), "black"),
    ("path", {"format": "PNG", "bg_color": "red"}, ("PNG", "RGB", (640, 480)), "red"),
    ("path", {"format": "PNG", "bg_color": "#0000ff"}, ("PNG", "RGB", (640, 480)), "blue"),
    ("path", {"format": "PNG", "angle": 90}, ("PNG", "RGBA", (480, 640)), None),
    ("path", {"format": "PNG", "angle": 45, "expand": False}, ("PNG", "RGBA", (640, 480)), None),
    ("path", {"format": "PNG", "h": 240}, ("PNG", "RGBA", (320, 240)), "transparent"),
]


def check_background(image: Image.Image, expect: str) -> None:
    pixels = np.asarray(image).astype(int)[background_at(image.size)]
    if expect == "transparent":
        assert np.median(pixels[:, 3]) == 0
    elif expect == "black":
        assert np.median(pixels) == 0
    else:
        channel = {"red": 0, "blue": 2}[expect]
        assert np.median(pixels[:, channel]) > 240
        assert np.median(np.delete(pixels, channel, axis=1)) < 15


@pytest.mark.parametrize(("mode", "options", "expected", "background"), NODE_CASES)
def test_official_node_client(server: str, account: Account, tmp_path: Path, mode: str,
                              options: dict[str, object], expected: tuple[str, str, object],
                              background: str | None) -> None:
    out = tmp_path / "result"
    result = run_node(server, account.key, mode, options, out)
    assert result["ok"] is True, result
    assert result["cleaned"] is True  # the client's cleanup() removed its temp file
    events = result["events"]
    assert isinstance(events, dict) and events["upload"] >= 1 and events["download"] >= 1
    with Image.open(out) as image:
        image.load()
        assert (image.format, image.mode, image.size) == expected
        if background:
            check_background(image, background)


def test_official_node_client_return_base64(server: str, account: Account,
                                            tmp_path: Path) -> None:
    out = tmp_path / "result"
    result = run_node(server, account.key, "buffer", {"returnBase64": True, "format": "PNG"},
                      out)
    assert result["ok"] is True and result["base64Prefix"] == "data:image/png;base64,"
    with Image.open(out) as image:
        assert (image.format, image.mode) == ("PNG", "RGBA")


def test_official_node_client_shows_our_errors(server: str, account: Account,
                                               tmp_path: Path) -> None:
    result = run_node(server, account.key, "path", {"bg_color": "#12345"}, tmp_path / "x")
    assert result == {"ok": False, "error": '❌ 400 {"error":"Invalid color format \'#12345\'. '
                      'Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA","status":400}'}


def test_official_node_client_with_a_revoked_key(server: str, accounts: AccountService,
                                                 tmp_path: Path) -> None:
    user = accounts.create_user("node-revoked@example.com", "Free", 10, verified=True)
    key = accounts.create_key(user.id).key
    accounts.revoke_key(key[:11])
    result = run_node(server, key, "path", {}, tmp_path / "x")
    assert result == {"ok": False, "error": '❌ 401 {"error":"invalid api key","status":401}'}
