"""The official remove.bg clients, unmodified, against a live alphacut on loopback: the npm
``remove.bg`` 1.3.0 package and the PyPI ``removebg`` 0.4 package. Only their hard-coded
host changes, in the test's processes (``node/redirect-removebg.js``,
``removebg_redirect.py``). Each image is judged by what it shows, and each account by
the credits it was charged."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import removebg.removebg
import requests
from PIL import Image
from removebg import RemoveBg

from alphacut import Engine, bootstrap
from alphacut.service.accounts import AccountService
from tests.clients.removebg_redirect import redirected
from tests.conftest import FIXTURES, decode_bytes, ground_truth, make_settings
from tests.web.conftest import engine_for, live_server

NODE_DIR = Path(__file__).resolve().parent / "node"
PHOTO = "horse_on_grass"  # 640x480, an exact ground truth; 307,200 pixels > preview
INPUT = FIXTURES / "images" / f"{PHOTO}.jpg"
INCLUDED = 50
PREVIEW_PIXELS = 250_000  # remove.bg: "preview" (alias "regular") is up to 0.25 megapixels
BG = (0x81, 0xD4, 0xFA)
# remove.bg's X-Type values (OpenAPI, type_level 1 and 2)
X_TYPES = {"person", "product", "animal", "car", "car_interior", "car_part",
           "transportation", "graphics", "other"}


# --- a server, and a fresh customer per test -----------------------------------------------


@dataclass(frozen=True)
class Alphacut:
    base: str
    accounts: AccountService


@pytest.fixture(scope="module")
def alphacut(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alphacut]:
    settings = make_settings(tmp_path_factory.mktemp("data"))
    own = engine_for(settings, engine)
    services = bootstrap.build(settings, engine=own)
    with live_server(settings, own, services) as base:
        yield Alphacut(base, services.accounts)


@dataclass(frozen=True)
class Customer:
    """A verified user with ``INCLUDED`` credits, a key, and a revoked second key."""

    base: str
    key: str
    revoked_key: str

    def usage(self) -> tuple[int, int]:
        """(API images charged this cycle, included credits left)."""
        reply = httpx.get(f"{self.base}/api/membership-usage",
                          params={"includeBillingCycle": "true"},
                          headers={"x-api-key": self.key}, timeout=30)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        return body["api_usage"], body["billingCycle"]["remainingIncludedCredits"]

    def bad_key(self, kind: str) -> str:
        return {"unknown": "not-a-key-of-anyone", "revoked": self.revoked_key}[kind]


@pytest.fixture
def customer(alphacut: Alphacut) -> Customer:
    accounts = alphacut.accounts
    user = accounts.create_user(f"removebg-{uuid.uuid4().hex}@example.com", "Basic-1000",
                                INCLUDED, verified=True)
    key = accounts.create_key(user.id)
    revoked = accounts.create_key(user.id)
    accounts.revoke_key(revoked.record.prefix)
    made = Customer(alphacut.base, key.key, revoked.key)
    assert made.usage() == (0, INCLUDED)
    return made


# --- what an image shows --------------------------------------------------------------------


def check_preview_size(size: tuple[int, int]) -> None:
    width, height = size
    assert 0.96 * PREVIEW_PIXELS <= width * height <= PREVIEW_PIXELS, size
    assert abs(width / height - 640 / 480) < 0.01, size


def distance_from_bg(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return np.abs(pixels - np.array(BG)).sum(axis=-1)


def check_bg_corners(image: Image.Image) -> None:
    """JPEG's 8x8 blocks blur a corner a little; 4x4 means within 12 levels per channel."""
    pixels = np.asarray(image.convert("RGB")).astype(float)
    for rows, cols in ((slice(0, 4), slice(0, 4)), (slice(0, 4), slice(-4, None)),
                       (slice(-4, None), slice(0, 4)), (slice(-4, None), slice(-4, None))):
        corner = pixels[rows, cols].reshape(-1, 3).mean(axis=0)
        assert np.abs(corner - BG).max() <= 12, corner


def box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), right and bottom exclusive."""
    ys, xs = np.nonzero(mask)
    assert xs.size, "no subject in the image"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def check_cutout(image: Image.Image, background: str) -> None:
    """The whole photo cut out (no crop, no scale): judged against its ground truth."""
    truth = Image.fromarray(ground_truth(PHOTO)).resize(image.size, Image.Resampling.NEAREST)
    subject = np.asarray(truth)
    if background == "transparent":
        assert image.mode == "RGBA"
        alpha = np.asarray(image.getchannel("A"))
        assert np.median(alpha[~subject]) == 0
        assert np.median(alpha[subject]) == 255
    else:
        assert image.mode == "RGB"
        check_bg_corners(image)
        distance = distance_from_bg(image)
        assert np.median(distance[~subject]) <= 12  # the grass is gone: 228 away before
        assert np.median(distance[subject]) > 80


# --- the npm client ------------------------------------------------------------------------


def run_npm(base: str, job: dict[str, object]) -> dict[str, Any]:
    """One call of the npm client through node/run-removebg.js; its one JSON line."""
    if not (NODE_DIR / "node_modules" / "remove.bg").is_dir():
        pytest.fail("tests/clients/node is not installed: `make test` runs npm ci there")
    run = subprocess.run(
        ["node", "-r", "./redirect-removebg.js", "run-removebg.js",
         json.dumps({"input": str(INPUT), "timeoutMs": 60_000, **job})],
        cwd=NODE_DIR, env={**os.environ, "REMOVEBG_BASE": base}, capture_output=True,
        text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def npm_result(base: str, customer: Customer, out: Path, call: str,
               options: dict[str, object]) -> tuple[dict[str, Any], Image.Image]:
    """What the promise resolved with, checked against the image it carries and wrote."""
    result = run_npm(base, {"call": call, "apiKey": customer.key, "outputFile": str(out),
                            "options": options})
    assert set(result) == {"resolved"}, result
    value: dict[str, Any] = result["resolved"]
    data = base64.b64decode(value["base64img"], validate=True)
    assert out.read_bytes() == data
    image = decode_bytes(data)
    assert (value["resultWidth"], value["resultHeight"]) == tuple(map(str, image.size))
    assert value["creditsCharged"] == "1"
    assert value["detectedType"] in X_TYPES
    limit, remaining, reset = (int(value[k]) for k in
                               ("rateLimit", "rateLimitRemaining", "rateLimitReset"))
    assert 0 <= remaining < limit
    assert reset > time.time() - 5
    assert "retryAfter" not in value  # only on a 429
    assert customer.usage() == (1, INCLUDED - 1)
    return value, image


def test_npm_file_upload_scaled_and_centred_on_a_colour(
        alphacut: Alphacut, customer: Customer, tmp_path: Path) -> None:
    """removeBackgroundFromImageFile: multipart, string fields, Accept: application/json."""
    _, image = npm_result(alphacut.base, customer, tmp_path / "out", "file",
                          {"size": "preview", "scale": "80%", "position": "center",
                           "bg_color": "81d4fa"})
    assert image.format == "JPEG"  # format=auto and nothing transparent: remove.bg answers JPG
    check_preview_size(image.size)
    check_bg_corners(image)
    width, height = image.size
    left, top, right, bottom = box(distance_from_bg(image) > 80)
    # the subject's box fills 80% of the canvas along its tighter side, centred
    assert max((right - left) / width, (bottom - top) / height) == pytest.approx(0.8, abs=0.03)
    assert (left + right) / 2 == pytest.approx(width / 2, abs=0.02 * width)
    assert (top + bottom) / 2 == pytest.approx(height / 2, abs=0.02 * height)


def test_npm_base64_cropped_with_a_margin(alphacut: Alphacut, customer: Customer,
                                          tmp_path: Path) -> None:
    """removeBackgroundFromImageBase64: a JSON body with ``crop`` a JSON boolean."""
    _, image = npm_result(alphacut.base, customer, tmp_path / "out", "base64",
                          {"size": "full", "crop": True, "crop_margin": "10px"})
    assert (image.format, image.mode) == ("PNG", "RGBA")
    alpha = np.asarray(image.getchannel("A"))
    width, height = image.size

    def gaps(mask: np.ndarray) -> list[int]:
        left, top, right, bottom = box(mask)
        return [left, top, width - right, height - bottom]

    # The subject's box, whatever alpha level draws it, lies between the box of every
    # visible pixel and the box of the opaque ones: 10 px from each edge sits between
    # their gaps (2 px of slack for a box taken from the model's coarser mask).
    assert all(gap <= 12 for gap in gaps(alpha > 0)), gaps(alpha > 0)
    assert all(gap >= 8 for gap in gaps(alpha >= 250)), gaps(alpha >= 250)
    assert (alpha >= 250).mean() > 0.25  # the horse: a third of its box plus margin
    assert alpha[[0, 0, -1, -1], [0, -1, 0, -1]].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("call", ["file", "base64"])
@pytest.mark.parametrize("kind", ["unknown", "revoked"])
def test_npm_bad_key_rejects_with_the_errors_list(alphacut: Alphacut, customer: Customer,
                                                  tmp_path: Path, call: str,
                                                  kind: str) -> None:
    result = run_npm(alphacut.base, {"call": call, "apiKey": customer.bad_key(kind),
                                     "outputFile": str(tmp_path / "out")})
    assert set(result) == {"rejected"}, result
    errors = result["rejected"]
    assert isinstance(errors, list) and errors, errors
    assert all(isinstance(error["title"], str) and error["title"] for error in errors)
    assert errors[0]["code"] == "auth_failed"
    assert not (tmp_path / "out").exists()
    assert customer.usage() == (0, INCLUDED)


# --- the PyPI client -----------------------------------------------------------------------


def close_leaked_input(error: BaseException) -> None:
    """removebg 0.4 raises on an error answer before it closes the image it opened; close it
    here, or its ResourceWarning fails some later test."""
    trace = error.__traceback__
    while trace is not None:
        handle = trace.tb_frame.f_locals.get("img_file")
        if handle is not None:
            handle.close()
        trace = trace.tb_next


def pypi_remove(base: str, key: str, photo: Path, size: str = "regular",
                bg_color: str | None = None) -> None:
    """``RemoveBg(key, log).remove_background_from_img_file``, sent to ``base``; it writes
    ``<photo>_no_bg.png``."""
    with redirected(base):
        client = RemoveBg(key, str(photo.parent / "removebg.log"))
        try:
            client.remove_background_from_img_file(str(photo), size=size, bg_color=bg_color)
        except Exception as error:
            close_leaked_input(error)
            raise


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """The client writes ``<path>_no_bg.png`` next to its input: a copy in tmp_path."""
    return Path(shutil.copy(INPUT, tmp_path / "photo.jpg"))


@pytest.mark.parametrize(("size", "bg_color", "expected"), [
    ("regular", None, ("PNG", None, "transparent")),  # the client's default size
    ("full", "81d4fa", ("JPEG", (640, 480), "colour")),  # opaque: JPG bytes in its .png
])
def test_pypi_file_cutout(alphacut: Alphacut, customer: Customer, photo: Path, size: str,
                          bg_color: str | None,
                          expected: tuple[str, tuple[int, int] | None, str]) -> None:
    fmt, dimensions, background = expected
    pypi_remove(alphacut.base, customer.key, photo, size, bg_color)
    image = decode_bytes((photo.parent / "photo.jpg_no_bg.png").read_bytes())
    assert image.format == fmt
    if dimensions is None:
        check_preview_size(image.size)
    else:
        assert image.size == dimensions
    check_cutout(image, background)
    assert customer.usage() == (1, INCLUDED - 1)


@pytest.mark.parametrize("kind", ["unknown", "revoked"])
def test_pypi_bad_key_raises_http_error(alphacut: Alphacut, customer: Customer, photo: Path,
                                        kind: str) -> None:
    with pytest.raises(requests.HTTPError) as raised:
        pypi_remove(alphacut.base, customer.bad_key(kind), photo)
    response = raised.value.response
    assert response is not None and response.status_code == 403
    assert response.json()["errors"][0]["code"] == "auth_failed"
    assert not (photo.parent / "photo.jpg_no_bg.png").exists()
    assert customer.usage() == (0, INCLUDED)


def test_the_python_redirect_is_undone() -> None:
    with redirected("http://127.0.0.1:9/"):
        assert removebg.removebg.API_ENDPOINT == "http://127.0.0.1:9/v1.0/removebg"
    assert removebg.removebg.API_ENDPOINT == "https://api.remove.bg/v1.0/removebg"

