"""Which models a request may use, and how they load: never a download on a request path,
loads outside the engine-wide lock and one at a time, a bounded number kept (LRU).

The models are tiny ONNX graphs (``tiny_models.py``) under a test's own models folder;
the default is a tiny ``silueta``. Every row a test touches points its download URL at a
real HTTP server on loopback that serves a valid file and counts what it is asked for,
so a download that should not happen would succeed, and show.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from alphacut import Engine
from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.engine import pipeline
from alphacut.engine.onnx import OnnxModel
from alphacut.engine.specs import MODELS, ModelSpec
from alphacut.errors import ModelError, ModelNotInstalled, ModelUnavailable, UnknownModel
from alphacut.settings import Settings
from tests.conftest import decode_bytes, encoded
from tests.engine.tiny_models import BRIA, U2NET, install, tiny_graph

UNIFORM = encoded(Image.new("RGB", (40, 30), (200, 100, 50)), "PNG")
WAIT_S = 10


class Downloads:
    """A real file server on loopback that counts every request it gets."""

    def __init__(self, base: str, files: dict[str, bytes], hits: list[str]) -> None:
        self.base = base
        self.files = files
        self.hits = hits

    def offer(self, spec: ModelSpec, payload: bytes) -> ModelSpec:
        """The row with its only source here (no pip mirror), serving ``payload``."""
        self.files[f"/{spec.filename}"] = payload
        row = dataclasses.replace(spec, urls=(f"{self.base}/{spec.filename}",), pip_sources=())
        MODELS[spec.name] = row
        return row


@contextmanager
def serve_downloads() -> Iterator[Downloads]:
    files: dict[str, bytes] = {}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        routes: ClassVar[dict[str, bytes]] = files

        def do_GET(self) -> None:
            hits.append(self.path)
            body = self.routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Downloads(f"http://127.0.0.1:{httpd.server_address[1]}", files, hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def downloads() -> Iterator[Downloads]:
    with serve_downloads() as served:
        yield served


GRAPHS = {  # each answers a different (known) mask, so a reply shows which model ran
    "silueta": tiny_graph(U2NET),
    "u2net": tiny_graph(U2NET, (0.3, 0.2, 0.1)),
    "u2net_human_seg": tiny_graph(U2NET, (0.2, 0.1, 0.3)),
    "bria-rmbg": tiny_graph(BRIA),
}


def installed_models(root: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads,
                     present: tuple[str, ...], absent: tuple[str, ...] = ()) -> Path:
    """Models under ``root/models``: ``present`` installed, ``absent`` only downloadable."""
    models_dir = root / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in (*present, *absent):
        row = install(models_dir, MODELS[name], GRAPHS[name], monkeypatch)  # undone after
        downloads.offer(row, GRAPHS[name])
        if name in absent:
            (models_dir / row.filename).unlink()
    return models_dir


def tiny_engine(root: Path, **changes: object) -> Engine:
    settings = Settings(models_dir=root / "models", data_dir=root / "data", model="silueta",
                        intra_op_threads=1, refine=False, decontaminate=False, tta=False)
    return Engine(settings.model_copy(update=changes))


def mask_value(engine: Engine, model: str | None = None) -> int:
    options = RemovalOptions(format=OutputFormat.PNG, mask=True, model=model)
    pixels = np.asarray(decode_bytes(engine.remove(UNIFORM, options).content))
    return int(pixels[0, 0])


# --- never a download on a request path --------------------------------------------------


def test_a_known_but_absent_model_is_a_400_and_nothing_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    models_dir = installed_models(tmp_path, monkeypatch, downloads, ("silueta",), ("u2net",))
    engine = tiny_engine(tmp_path)
    engine.warm()

    for ask in (lambda: engine.model("u2net"), lambda: mask_value(engine, "u2net")):
        with pytest.raises(ModelNotInstalled) as caught:
            ask()
        assert caught.value.status == 400
        assert caught.value.message == (
            "Model 'u2net' is not installed on this server. Installed models: silueta.")
        assert caught.value.to_body() == {"error": caught.value.message, "status": 400}

    assert downloads.hits == []
    assert not (models_dir / "u2net.onnx").exists()
    assert engine.resident == ("silueta",)


def test_the_list_names_only_models_this_server_would_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net", "bria-rmbg"),
                     ("u2net_human_seg",))
    with pytest.raises(ModelNotInstalled, match=r"Installed models: silueta, u2net\.$"):
        tiny_engine(tmp_path).model("u2net_human_seg")
    with pytest.raises(ModelNotInstalled,
                       match=r"Installed models: bria-rmbg, silueta, u2net\.$"):
        tiny_engine(tmp_path, allow_noncommercial_models=True).model("u2net_human_seg")
    assert downloads.hits == []


def test_a_file_failing_its_checksum_is_not_installed_and_not_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    models_dir = installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net"))
    tampered = GRAPHS["u2net_human_seg"]
    (models_dir / "u2net.onnx").write_bytes(tampered)
    engine = tiny_engine(tmp_path)

    with pytest.raises(ModelNotInstalled) as caught:
        engine.model("u2net")

    assert caught.value.message == (
        "Model 'u2net' is not installed on this server. Installed models: silueta.")
    assert downloads.hits == []
    assert (models_dir / "u2net.onnx").read_bytes() == tampered


def test_an_unknown_name_keeps_its_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta",))
    with pytest.raises(UnknownModel) as caught:
        tiny_engine(tmp_path).model("u3net")
    assert caught.value.status == 400
    assert caught.value.message == (
        f"Unknown model 'u3net'. Available models: {', '.join(sorted(MODELS))}")


def test_start_up_still_fetches_the_default_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    models_dir = installed_models(tmp_path, monkeypatch, downloads, (), ("silueta",))
    engine = tiny_engine(tmp_path)

    engine.warm()

    assert downloads.hits == ["/silueta.onnx"]
    assert (models_dir / "silueta.onnx").read_bytes() == GRAPHS["silueta"]
    assert engine.resident == ("silueta",)


# --- loading outside the engine-wide lock, one at a time ----------------------------------


class SlowLoads:
    """Session creation of the models named in ``held`` waits until ``release`` is set (the
    real ONNX Runtime session is created afterwards); every creation is counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *held: str) -> None:
        self.held = set(held)
        self.started = {name: threading.Event() for name in held}
        self.release = threading.Event()
        self.created: list[str] = []
        slow = self

        class Model(OnnxModel):
            def __init__(self, spec: ModelSpec, *args: Any) -> None:
                slow.created.append(spec.name)
                if spec.name in slow.held:
                    slow.started[spec.name].set()
                    assert slow.release.wait(WAIT_S), "the test never released the load"
                super().__init__(spec, *args)

        monkeypatch.setattr(pipeline, "OnnxModel", Model)


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except Exception as exc:  # surfaced by the test's assertions
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_images_of_a_loaded_model_do_not_wait_behind_a_slow_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net"))
    engine = tiny_engine(tmp_path)
    engine.warm()
    slow = SlowLoads(monkeypatch, "u2net")
    loading, loaded = in_thread(engine.model, "u2net")
    assert slow.started["u2net"].wait(WAIT_S)
    try:
        image, answer = in_thread(mask_value, engine, None)
        image.join(WAIT_S)
        finished = not image.is_alive()
        still_loading = loading.is_alive()
    finally:
        slow.release.set()
        loading.join(WAIT_S)
        image.join(WAIT_S)

    assert finished, "an image of the loaded default model waited for another model's load"
    assert still_loading
    assert answer == [round(0.3562 * 255)]  # 0.1 R + 0.2 G + 0.3 B + 0.3, normalised
    assert isinstance(loaded[0], OnnxModel) and loaded[0].spec.name == "u2net"
    assert downloads.hits == []


def test_one_model_loads_at_a_time_and_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net", "u2net_human_seg"))
    engine = tiny_engine(tmp_path, max_resident_models=3)
    slow = SlowLoads(monkeypatch, "u2net", "u2net_human_seg")
    first, first_out = in_thread(engine.model, "u2net")
    assert slow.started["u2net"].wait(WAIT_S)
    again, again_out = in_thread(engine.model, "u2net")
    other, other_out = in_thread(engine.model, "u2net_human_seg")
    try:
        other_started = slow.started["u2net_human_seg"].wait(0.5)
    finally:
        slow.release.set()
        for thread in (first, again, other):
            thread.join(WAIT_S)

    assert not other_started, "a second model loaded while the first was loading"
    assert sorted(slow.created) == ["u2net", "u2net_human_seg"]  # u2net's session only once
    assert first_out[0] is again_out[0]
    assert other_out[0].spec.name == "u2net_human_seg"


# --- a bounded number of resident models --------------------------------------------------


def test_the_least_recently_used_model_is_unloaded_beyond_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net", "u2net_human_seg"))
    engine = tiny_engine(tmp_path, max_resident_models=2)
    slow = SlowLoads(monkeypatch)

    engine.model("u2net")
    engine.model("silueta")
    assert engine.resident == ("u2net", "silueta")
    engine.model("u2net_human_seg")
    assert engine.resident == ("silueta", "u2net_human_seg")  # u2net was least recent
    engine.model("u2net")
    # The default model is the least recent now, yet it stays: u2net_human_seg goes.
    assert engine.resident == ("silueta", "u2net")
    assert slow.created == ["u2net", "silueta", "u2net_human_seg", "u2net"]
    assert mask_value(engine, "u2net") == round(0.9446 * 255)
    assert downloads.hits == []


def test_with_room_for_one_the_default_goes_and_comes_back_from_disk_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    models_dir = installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net"))
    engine = tiny_engine(tmp_path, max_resident_models=1)
    engine.warm()

    engine.model("u2net")
    assert engine.resident == ("u2net",)
    assert mask_value(engine) == round(0.3562 * 255)  # reloaded from its file
    assert engine.resident == ("silueta",)
    engine.model("u2net")
    (models_dir / "silueta.onnx").unlink()
    with pytest.raises(ModelNotInstalled, match="Model 'silueta' is not installed"):
        engine.model()  # once loaded, the default model is never fetched by a request
    assert downloads.hits == []


def test_a_model_unloaded_while_an_image_uses_it_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    installed_models(tmp_path, monkeypatch, downloads, ("silueta", "u2net", "u2net_human_seg"))
    engine = tiny_engine(tmp_path, max_resident_models=1)
    in_use = engine.model("u2net")
    engine.model("u2net_human_seg")
    assert "u2net" not in engine.resident

    alpha = in_use.infer(in_use.preprocess(Image.new("RGB", (40, 30), (200, 100, 50))))

    assert alpha.shape == (320, 320)


# --- no filesystem paths in what a client reads --------------------------------------------


def test_model_errors_keep_paths_out_of_the_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, downloads: Downloads
) -> None:
    unavailable = ModelUnavailable("u2net", ["https://example.invalid/u2net.onnx: HTTP 404"],
                                   str(tmp_path / "u2net.onnx"))
    assert str(tmp_path) in unavailable.message  # the CLI and the log keep the fix
    assert unavailable.to_body() == {
        "error": "Model 'u2net' is not available on this server.", "status": 503}

    installed_models(tmp_path, monkeypatch, downloads, ("silueta",))
    install(tmp_path / "models", MODELS["u2net"], b"not an onnx graph", monkeypatch)
    with pytest.raises(ModelError) as caught:
        tiny_engine(tmp_path).model("u2net")
    assert str(tmp_path) in caught.value.message
    assert caught.value.to_body() == {
        "error": "Model 'u2net' could not be loaded.", "status": 503}
