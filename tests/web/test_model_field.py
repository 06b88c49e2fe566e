"""The optional ``model`` form field over real HTTP, on a server whose models are tiny graphs.

The server's default is a tiny ``silueta``; a tiny ``u2net`` with other weights
answers a different (known) mask, so the reply shows which model ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from alphacut import Engine
from alphacut.engine.specs import MODELS
from tests.conftest import decode_bytes, encoded, make_settings
from tests.engine.tiny_models import BRIA, U2NET, install, tiny_graph
from tests.web.conftest import live_server

UNIFORM = encoded(Image.new("RGB", (40, 30), (200, 100, 50)), "PNG")


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("tiny-models")
    with pytest.MonkeyPatch.context() as patch:
        install(root / "models", MODELS["silueta"], tiny_graph(U2NET), patch)
        install(root / "models", MODELS["u2net"], tiny_graph(U2NET, (0.3, 0.2, 0.1)), patch)
        install(root / "models", MODELS["bria-rmbg"], tiny_graph(BRIA), patch)
        settings = make_settings(root / "data", model="silueta", models_dir=root / "models",
                                 intra_op_threads=1, refine=False, tta=False)
        with live_server(settings, Engine(settings)) as base:
            yield base


def mask(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post("/rmbg", data={"format": "png", "mask": "true", **fields},
                       files={"image": ("photo.png", UNIFORM)})


@pytest.fixture
def client(tiny_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny_server, timeout=60) as http:
        yield http


def value(reply: httpx.Response) -> int:
    assert reply.status_code == 200, reply.text
    pixels = np.asarray(decode_bytes(reply.content))
    assert pixels.min() == pixels.max()
    return int(pixels[0, 0])


def test_the_model_field_picks_the_model(client: httpx.Client) -> None:
    default, named_default, other = (value(mask(client)), value(mask(client, model="silueta")),
                                     value(mask(client, model="u2net")))
    # (200, 100, 50) / 200, less the ImageNet mean, over its std: (2.249, 0.196, -0.693);
    # silueta: 0.1 R + 0.2 G + 0.3 B + 0.3 = 0.356; u2net: 0.3 R + 0.2 G + 0.1 B + 0.3 = 0.945.
    assert default == named_default == round(0.3562 * 255)
    assert other == round(0.9446 * 255)


def test_an_unknown_model_is_a_400_naming_the_known_ones(client: httpx.Client) -> None:
    reply = mask(client, model="u3net")
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("Unknown model 'u3net'. Available models: ")
    assert "bria-rmbg" in reply.json()["error"] and "silueta" in reply.json()["error"]


def test_a_non_commercial_model_is_refused_unless_enabled(client: httpx.Client) -> None:
    reply = mask(client, model="bria-rmbg")
    assert reply.status_code == 400
    assert "ALPHACUT_ALLOW_NONCOMMERCIAL_MODELS" in reply.json()["error"]
    assert "non-commercial use only (CC-BY-NC-4.0)" in reply.json()["error"]
