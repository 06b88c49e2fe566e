"""The model cascade (ALPHACUT_CASCADE): the next model only when the score passes the
threshold, the answering model reported, a request's model bypassing it, and the start-up
check (installed, licensed, not more models than stay loaded). Tiny ONNX graphs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.errors import ModelError
from tests.conftest import encoded
from tests.engine.test_model_loading import (
    Downloads,
    installed_models,
    serve_downloads,
    tiny_engine,
)

PHOTO = encoded(Image.linear_gradient("L").convert("RGB").resize((40, 30)), "PNG")
OPTIONS = RemovalOptions(format=OutputFormat.PNG)


@pytest.fixture
def downloads() -> Iterator[Downloads]:
    with serve_downloads() as served:
        yield served


@pytest.fixture
def two_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads) -> Path:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net"))
    return tmp_path


def test_a_sure_first_model_answers_alone(two_models: Path) -> None:
    engine = tiny_engine(two_models, cascade="silueta>u2net", cascade_threshold=1.0)
    result = engine.remove(PHOTO, OPTIONS)
    assert result.model == "silueta"
    assert engine.resident == ("silueta",)  # the second model was never needed


def test_an_unsure_first_model_hands_over_to_the_next(two_models: Path) -> None:
    engine = tiny_engine(two_models, cascade="silueta>u2net", cascade_threshold=0.0)
    result = engine.remove(PHOTO, OPTIONS)
    assert result.model == "u2net" and 0.0 < result.uncertainty <= 1.0
    alone = tiny_engine(two_models, model="u2net").remove(PHOTO, OPTIONS)
    assert result.content == alone.content  # exactly the second model's cut-out
    assert set(engine.resident) == {"silueta", "u2net"}


def test_a_requested_model_bypasses_the_cascade(two_models: Path) -> None:
    engine = tiny_engine(two_models, cascade="silueta>u2net", cascade_threshold=0.0)
    result = engine.remove(PHOTO, RemovalOptions(format=OutputFormat.PNG, model="silueta"))
    assert result.model == "silueta"


def test_start_up_refuses_a_cascade_model_that_is_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta",), ("u2net",))
    engine = tiny_engine(tmp_path, cascade="silueta>u2net")
    with pytest.raises(ModelError) as caught:
        engine.start()
    assert "ALPHACUT_CASCADE" in caught.value.message and "u2net" in caught.value.message
    assert downloads.hits == []  # refused, not fetched


def test_start_up_refuses_more_cascade_models_than_stay_loaded(two_models: Path) -> None:
    engine = tiny_engine(two_models, cascade="silueta>u2net", max_resident_models=1)
    with pytest.raises(ModelError, match="ALPHACUT_MAX_RESIDENT_MODELS"):
        engine.start()


def test_start_up_warms_every_cascade_model(two_models: Path) -> None:
    engine = tiny_engine(two_models, cascade="silueta>u2net")
    engine.start()
    assert set(engine.resident) == {"silueta", "u2net"}
