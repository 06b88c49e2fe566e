"""The ``model`` field over real HTTP never makes the server download: a registered model
whose file is not on disk is a 400 naming the installed ones, with no path in the body.

The server's models are tiny graphs (``tests/engine/tiny_models.py``): ``silueta`` (the
default) and ``u2net_human_seg`` are installed; ``u2net`` is only downloadable, from a
real server on loopback that counts what it is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from alphacut import Engine
from alphacut.engine.specs import MODELS
from tests.conftest import make_settings
from tests.engine.test_model_loading import GRAPHS, UNIFORM, Downloads, serve_downloads
from tests.engine.tiny_models import install
from tests.web.conftest import live_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Downloads]]:
    root = tmp_path_factory.mktemp("installed-models")
    models_dir = root / "models"
    with pytest.MonkeyPatch.context() as patch, serve_downloads() as downloads:
        for name in ("silueta", "u2net_human_seg", "u2net"):
            downloads.offer(install(models_dir, MODELS[name], GRAPHS[name], patch), GRAPHS[name])
        (models_dir / "u2net.onnx").unlink()
        settings = make_settings(root / "data", model="silueta", models_dir=models_dir,
                                 intra_op_threads=1, refine=False, tta=False)
        with live_server(settings, Engine(settings)) as base:
            yield base, downloads


@pytest.fixture
def client(served: tuple[str, Downloads]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=60) as http:
        yield http


def mask(client: httpx.Client, model: str) -> httpx.Response:
    return client.post("/rmbg", data={"format": "png", "mask": "true", "model": model},
                       files={"image": ("photo.png", UNIFORM)})


def test_a_known_but_absent_model_is_a_400_and_never_a_download(
    client: httpx.Client, served: tuple[str, Downloads]
) -> None:
    reply = mask(client, "u2net")

    assert reply.status_code == 400
    assert reply.json() == {
        "error": "Model 'u2net' is not installed on this server. "
                 "Installed models: silueta, u2net_human_seg.",
        "status": 400,
    }
    assert served[1].hits == []


def test_an_installed_model_answers_and_an_unknown_one_keeps_its_message(
    client: httpx.Client, served: tuple[str, Downloads]
) -> None:
    assert mask(client, "u2net_human_seg").status_code == 200
    unknown = mask(client, "u3net")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == (
        f"Unknown model 'u3net'. Available models: {', '.join(sorted(MODELS))}")
    assert served[1].hits == []
