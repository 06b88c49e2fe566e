"""Execution providers (ALPHACUT_PROVIDERS, ALPHACUT_REQUIRE_PROVIDER, ALPHACUT_PRECISION):
the order is honoured, a provider that cannot run a model is skipped with its reason and
never silently replaced, the one in use is reported, and OpenVINO gives ONNX Runtime's
outputs.

OpenVINO runs for real (the ``openvino`` package, ``alphacut[openvino]``); the providers
this machine lacks (cuda, tensorrt, ...) are really absent from its onnxruntime build, so
their refusals are real too. Every pixel assertion pins fp32: a CPU with native bf16
would otherwise change the numbers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from alphacut import Engine
from alphacut.engine import openvino_session, ort_session, runtimes
from alphacut.engine.onnx import OnnxModel, Threads
from alphacut.engine.runtimes import RuntimeConfig
from alphacut.engine.specs import MODELS
from alphacut.errors import ModelError
from alphacut.settings import Settings
from tests.conftest import FIXTURES
from tests.engine.tiny_models import FAMILIES, install, tiny_graph

OPENVINO_TOLERANCE = 1e-3
"""Largest difference allowed between OpenVINO fp32 and ONNX Runtime on the [0, 1] alpha
map (a quarter of one 8-bit level). Measured: <= 6e-5 on u2netp over the fixture photos,
<= 1e-6 on the tiny graphs."""

MISSING = [name for name in ("cuda", "tensorrt", "coreml", "directml", "rocm")
           if name not in ort_session.available()]
"""Providers this onnxruntime build does not carry (all of them, on the test machines)."""


def u2netp(**runtime: object) -> OnnxModel:
    path = Settings().models_dir / MODELS["u2netp"].filename
    return OnnxModel(MODELS["u2netp"], path, Threads(intra_op=2),
                     RuntimeConfig(**runtime))  # type: ignore[arg-type]


def photo_tensor(model: OnnxModel, name: str) -> np.ndarray:
    return model.preprocess(Image.open(FIXTURES / "images" / f"{name}.jpg").convert("RGB"))


# --- settings ------------------------------------------------------------------------------


def test_providers_are_read_in_order_and_normalised() -> None:
    settings = Settings(providers=" OpenVINO , cpu")
    assert settings.providers == "openvino,cpu"
    assert Settings().providers == "cpu" and Settings().precision == "fp32"


@pytest.mark.parametrize(("value", "says"), [
    ("gpu", "unknown provider 'gpu'"),
    ("cpu,cpu", "names a provider twice"),
    (" , ", "ALPHACUT_PROVIDERS is empty"),
])
def test_bad_provider_lists_are_refused_with_the_known_names(value: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(providers=value)
    assert says in str(caught.value)
    if "unknown" in says:
        assert "cuda, tensorrt, openvino, coreml, directml, rocm, cpu" in str(caught.value)


def test_a_required_provider_must_be_known_and_listed() -> None:
    with pytest.raises(ValidationError, match="unknown provider 'vulkan'"):
        Settings(require_provider="vulkan")
    with pytest.raises(ValidationError, match="ALPHACUT_REQUIRE_PROVIDER=cuda is not in "
                       "ALPHACUT_PROVIDERS=cpu"):
        Settings(require_provider="cuda")
    assert Settings(require_provider="").require_provider is None  # `-e NAME=` unsets it
    assert Settings(providers="openvino,cpu", require_provider="OpenVINO").require_provider \
        == "openvino"


def test_precision_is_one_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHACUT_PRECISION", "fp16")
    with pytest.raises(ValidationError, match="fp32"):
        Settings()


# --- selection -----------------------------------------------------------------------------


def test_cpu_is_onnxruntime_in_fp32() -> None:
    placement = u2netp().placement
    assert (placement.provider, placement.precision, placement.skipped) == ("cpu", "fp32", ())
    assert placement.runtime.startswith("onnxruntime ")


@pytest.mark.skipif(not MISSING, reason="every accelerator provider is present")
def test_an_absent_provider_is_skipped_with_its_reason_and_the_next_one_used(
        caplog: pytest.LogCaptureFixture) -> None:
    missing = MISSING[0]
    with caplog.at_level(logging.WARNING, "alphacut.engine"):
        placement = u2netp(providers=(missing, "openvino", "cpu")).placement
    assert placement.provider == "openvino"  # the order is the operator's, not ours
    assert len(placement.skipped) == 1 and placement.skipped[0].startswith(f"{missing}: ")
    assert "not in this onnxruntime" in placement.skipped[0]
    assert f"provider {missing} cannot run it" in caplog.text


@pytest.mark.skipif(not MISSING, reason="every accelerator provider is present")
def test_no_silent_fallback_when_the_cpu_is_not_listed() -> None:
    with pytest.raises(ModelError) as caught:
        u2netp(providers=tuple(MISSING))
    message = caught.value.message
    assert f"cannot run on any provider of ALPHACUT_PROVIDERS={','.join(MISSING)}" in message
    for name in MISSING:
        assert f"{name}: " in message
    assert caught.value.public == "Model 'u2netp' could not be loaded."  # no detail leaks


def test_a_required_provider_that_is_not_the_one_in_use_is_an_error() -> None:
    with pytest.raises(ModelError, match="ALPHACUT_REQUIRE_PROVIDER=openvino: model "
                       "'u2netp' would run on cpu, not openvino"):
        u2netp(providers=("cpu", "openvino"), require="openvino")
    assert u2netp(providers=("cpu", "openvino"), require="cpu").placement.provider == "cpu"


@pytest.mark.skipif(not MISSING, reason="every accelerator provider is present")
def test_a_required_provider_that_cannot_run_says_why() -> None:
    missing = MISSING[0]
    with pytest.raises(ModelError) as caught:
        u2netp(providers=(missing, "cpu"), require=missing)
    assert f"would run on cpu, not {missing} ({missing}: " in caught.value.message
    assert "not in this onnxruntime" in caught.value.message


def test_the_report_covers_every_provider() -> None:
    report = runtimes.report()
    assert list(report) == list(runtimes.PROVIDERS)
    assert report["cpu"].startswith("available (onnxruntime ")
    assert report["openvino"].startswith("available (openvino ")
    for name in MISSING:
        assert report[name].startswith("not in this onnxruntime build: ")


# --- OpenVINO gives ONNX Runtime's outputs (fp32) ------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_openvino_matches_onnxruntime_on_every_registry_row(name: str, tmp_path: Path) -> None:
    """Each row's tiny graph (its real input and output signature, its own pre- and
    post-processing), through both runtimes."""
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(tiny_graph(FAMILIES[name]))
    spec = MODELS[name]
    on_cpu = OnnxModel(spec, path, Threads(1), RuntimeConfig(("cpu",)))
    on_openvino = OnnxModel(spec, path, Threads(1), RuntimeConfig(("openvino",), "fp32"))
    assert on_openvino.placement.provider == "openvino"
    image = Image.open(FIXTURES / "images" / "coffee.jpg").convert("RGB")
    tensor = on_cpu.preprocess(image)
    expected, got = on_cpu.infer(tensor), on_openvino.infer(tensor)
    assert got.shape == expected.shape == tuple(reversed(spec.input_size))
    assert float(np.ptp(expected)) > 0.1  # a real mask, not a constant
    np.testing.assert_allclose(got, expected, rtol=0, atol=OPENVINO_TOLERANCE)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "horse_on_grass"])
def test_openvino_matches_onnxruntime_on_u2netp(photo: str) -> None:
    on_cpu = u2netp()
    on_openvino = u2netp(providers=("openvino",), precision="fp32")
    assert (on_openvino.placement.provider, on_openvino.placement.precision) \
        == ("openvino", "fp32")
    tensor = photo_tensor(on_cpu, photo)
    expected, got = on_cpu.infer(tensor), on_openvino.infer(tensor)
    np.testing.assert_allclose(got, expected, rtol=0, atol=OPENVINO_TOLERANCE)
    assert (expected > 0.5).mean() > 0.05  # the photo has a subject


def test_openvino_runs_concurrent_images_each_on_its_own_request() -> None:
    model = u2netp(providers=("openvino",))
    tensors = [photo_tensor(model, name) for name in ("astronaut", "chelsea", "rocket")]
    alone = [model.infer(tensor) for tensor in tensors]
    results: dict[int, np.ndarray] = {}

    def run(index: int) -> None:
        for _ in range(3):
            results[index] = model.infer(tensors[index % 3])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, got in results.items():
        np.testing.assert_array_equal(got, alone[index % 3])


def test_openvino_threads_follow_the_intra_op_setting() -> None:
    path = Settings().models_dir / MODELS["u2netp"].filename
    for threads in (1, 2):
        session = openvino_session.open_session(path, threads)
        assert (session.threads, session.streams) == (threads, 1)
        assert session.precision == "fp32"
    config = RuntimeConfig(("openvino",))
    sessions = runtimes.open_sessions(MODELS["u2netp"], path, Threads(2, concurrent=2), config)
    solo, shared = sessions.solo, sessions.shared
    assert isinstance(solo, openvino_session.OpenVinoSession)
    assert isinstance(shared, openvino_session.OpenVinoSession)
    assert (solo.threads, solo.streams) == (2, 1)  # a lone image: every thread
    assert (shared.threads, shared.streams) == (2, 2)  # concurrent images: one thread each
    # One thread per image (or adaptive off): one model, a stream per concurrent image.
    sessions = runtimes.open_sessions(MODELS["u2netp"], path, Threads(1, concurrent=2), config)
    assert sessions.solo is sessions.shared
    assert isinstance(sessions.solo, openvino_session.OpenVinoSession)
    assert (sessions.solo.threads, sessions.solo.streams) == (2, 2)


# --- precision -----------------------------------------------------------------------------


def test_bf16_runs_only_where_the_cpu_has_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "alphacut.engine"):
        placement = u2netp(providers=("openvino",), precision="bf16").placement
    if openvino_session.has_bf16():
        assert placement.precision == "bf16"
    else:
        assert placement.precision == "fp32"  # reported as it really runs
        assert "no native bf16" in caplog.text


def test_auto_keeps_fp32_for_a_model_whose_plan_did_not_pass_the_gate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "GATED", frozenset())
    placement = u2netp(providers=("openvino",), precision="auto").placement
    assert placement.precision == "fp32"


def test_which_plan_each_precision_asks_for_on_a_cpu_with_bf16(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision alone, as on a CPU with native bf16 (this one has none: OpenVINO's
    answer is stood in for; what that CPU then runs is the plugin's, measured in
    docs/benchmarks.md)."""
    monkeypatch.setattr(openvino_session, "has_bf16", lambda: True)
    spec = MODELS["u2netp"]
    monkeypatch.setattr(runtimes, "GATED", frozenset())
    assert not runtimes._runs_bf16(spec, "fp32")
    assert not runtimes._runs_bf16(spec, "auto")  # it has not passed the gate
    assert runtimes._runs_bf16(spec, "bf16")
    monkeypatch.setattr(runtimes, "GATED", frozenset({"u2netp"}))
    assert runtimes._runs_bf16(spec, "auto")
    monkeypatch.setattr(openvino_session, "has_bf16", lambda: False)
    assert not runtimes._runs_bf16(spec, "auto")
    assert not runtimes._runs_bf16(spec, "bf16")


def test_the_precision_reported_is_the_compiled_models() -> None:
    import openvino

    assert openvino_session.precision_name(openvino.Type.bf16) == "bf16"
    assert openvino_session.precision_name(openvino.Type.f32) == "fp32"
    assert openvino_session.precision_name(openvino.Type.f16) == "fp32"


def test_bf16_on_onnxruntime_is_fp32_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "alphacut.engine"):
        placement = u2netp(providers=("cpu",), precision="bf16").placement
    assert placement.precision == "fp32"
    assert "applies to the openvino provider only" in caplog.text


def openvino_refuses() -> bytes:
    """u2netp's tiny graph with its mask passed through Optional / OptionalGetElement:
    ONNX Runtime runs it, OpenVINO's ONNX frontend refuses it."""
    import onnx
    from onnx import helper

    model = onnx.load_from_string(tiny_graph(FAMILIES["u2netp"]))
    mask = model.graph.output[0].name
    model.graph.node[0].output[0] = "raw"
    model.graph.node.insert(1, helper.make_node("Optional", ["raw"], ["wrapped"]))
    model.graph.node.insert(2, helper.make_node("OptionalGetElement", ["wrapped"], [mask]))
    model.opset_import[0].version = 18
    return model.SerializeToString()


def test_a_graph_openvino_cannot_compile_falls_to_the_next_provider(tmp_path: Path) -> None:
    """A file ONNX Runtime runs but OpenVINO's ONNX frontend refuses (the mask passed
    through Optional / OptionalGetElement): openvino is skipped with OpenVINO's own
    message, and the next provider answers."""
    path = tmp_path / "optional.onnx"
    path.write_bytes(openvino_refuses())
    loaded = OnnxModel(MODELS["u2netp"], path, Threads(1), RuntimeConfig(("openvino", "cpu")))
    assert loaded.placement.provider == "cpu"
    assert loaded.placement.skipped[0].startswith("openvino: OpenVINO ")
    assert "could not compile the model" in loaded.placement.skipped[0]
    with pytest.raises(ModelError, match="cannot run on any provider of "
                       "ALPHACUT_PROVIDERS=openvino: openvino: OpenVINO "):
        OnnxModel(MODELS["u2netp"], path, Threads(1), RuntimeConfig(("openvino",)))


def test_start_up_requires_the_provider_for_a_default_model_outside_the_cascade(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    install(models, MODELS["silueta"], tiny_graph(FAMILIES["silueta"]), monkeypatch)
    install(models, MODELS["u2net"], tiny_graph(FAMILIES["u2net"]), monkeypatch)
    install(models, MODELS["u2net_human_seg"], openvino_refuses(), monkeypatch)
    settings = Settings(models_dir=models, data_dir=tmp_path / "data",
                        model="u2net_human_seg", intra_op_threads=1,
                        providers="openvino,cpu", require_provider="openvino",
                        cascade="silueta>u2net")
    with pytest.raises(ModelError, match="model 'u2net_human_seg' would run on cpu"):
        Engine(settings).start()


def test_start_up_requires_the_provider_for_every_cascade_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model runs on openvino; the cascade's second model cannot: no start."""
    models = tmp_path / "models"
    install(models, MODELS["silueta"], tiny_graph(FAMILIES["silueta"]), monkeypatch)
    install(models, MODELS["u2net"], openvino_refuses(), monkeypatch)
    settings = Settings(models_dir=models, data_dir=tmp_path / "data", model="silueta",
                        intra_op_threads=1, providers="openvino,cpu",
                        require_provider="openvino", cascade="silueta>u2net")
    engine = Engine(settings)
    with pytest.raises(ModelError, match="ALPHACUT_REQUIRE_PROVIDER=openvino: model 'u2net' "
                       "would run on cpu, not openvino \\(openvino: OpenVINO "):
        engine.start()
    assert engine.placements()["silueta"].provider == "openvino"
    without = Engine(settings.model_copy(update={"require_provider": None}))
    without.start()  # the same cascade starts when nothing is required
    assert {name: where.provider for name, where in without.placements().items()} == {
        "silueta": "openvino", "u2net": "cpu"}


def test_without_the_openvino_package_the_provider_is_skipped_saying_how_to_add_it(
        tmp_path: Path) -> None:
    """A child interpreter where ``import openvino`` is blocked, as on a base install."""
    script = (
        "import sys; sys.modules['openvino'] = None\n"
        "from alphacut.engine.onnx import OnnxModel, Threads\n"
        "from alphacut.engine.runtimes import RuntimeConfig, report\n"
        "from alphacut.engine.specs import MODELS\n"
        "from alphacut.settings import Settings\n"
        "path = Settings().models_dir / MODELS['u2netp'].filename\n"
        "model = OnnxModel(MODELS['u2netp'], path, Threads(1),\n"
        "                  RuntimeConfig(('openvino', 'cpu'), 'bf16'))\n"
        "print(model.placement.provider); print(model.placement.skipped[0])\n"
        "print(report()['openvino'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    provider, skipped, reported = done.stdout.splitlines()
    assert provider == "cpu"
    assert skipped == ("openvino: the openvino package is not installed "
                       "(pip install 'alphacut[openvino]')")
    assert reported == ("unavailable: the openvino package is not installed "
                        "(pip install 'alphacut[openvino]')")
