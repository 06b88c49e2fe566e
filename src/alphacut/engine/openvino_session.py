"""OpenVINO as a runtime, through the separate ``openvino`` package (``alphacut[openvino]``;
never onnxruntime-openvino, which conflicts with onnxruntime and lags it).

One compiled model per session; concurrent images each borrow an infer request of their
own (a request is not safe to share between threads, the compiled model is)."""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from alphacut.engine.ort_session import ProviderUnavailable


def installed() -> bool:
    try:
        return importlib.util.find_spec("openvino") is not None
    except ValueError:  # an entry without a spec in sys.modules: blocked, not importable
        return False


def ensure_installed() -> None:
    """ProviderUnavailable unless openvino is installed and its runtime starts."""
    if not installed():
        raise ProviderUnavailable(
            "the openvino package is not installed (pip install 'alphacut[openvino]')")
    try:
        _core()
    except Exception as exc:  # a broken install: its own import or library errors
        raise ProviderUnavailable(f"the openvino package does not start: {exc}") from exc


@functools.cache
def _core() -> Any:
    import openvino

    return openvino.Core()


def version() -> str:
    import openvino

    return str(openvino.__version__).split("-")[0]


def capabilities() -> tuple[str, ...]:
    """What this CPU computes natively, as OpenVINO reads it (``BF16`` where the CPU has
    AVX-512 BF16 or AMX)."""
    return tuple(_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def has_bf16() -> bool:
    return installed() and "BF16" in capabilities()


class OpenVinoSession:
    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        return int(self._compiled.get_property("INFERENCE_NUM_THREADS"))

    @property
    def streams(self) -> int:
        """How many images run at once (one infer request per stream)."""
        return int(self._compiled.get_property("NUM_STREAMS"))

    @property
    def precision(self) -> str:
        """The inference precision the CPU plugin settled on: "bf16" or "fp32"."""
        return precision_name(self._compiled.get_property("INFERENCE_PRECISION_HINT"))

    def run(self, tensor: np.ndarray) -> np.ndarray:
        with self._lock:
            request = self._idle.pop() if self._idle else self._compiled.create_infer_request()
        try:
            request.infer({0: tensor})
            output = np.array(request.get_output_tensor(0).data, copy=True)
        finally:
            with self._lock:
                self._idle.append(request)
        return output


def precision_name(hint: Any) -> str:
    """OpenVINO's element type (``<Type: 'bfloat16'>``, its name ``bf16``) as "bf16" or
    "fp32"."""
    return "bf16" if hint.get_type_name() == "bf16" else "fp32"


def open_session(path: Path, threads: int, bf16: bool = False,
                 streams: int = 1) -> OpenVinoSession:
    """The model compiled for the CPU in fp32, or in bf16: every node the CPU plugin can
    lower (the caller asks for bf16 only where :func:`has_bf16`; mixed plans are measured
    by ``scripts/precision_plans.py`` and none has passed the quality gate yet). fp32 is
    asked for explicitly: with no hint, a CPU with native bf16 runs bf16 by default.
    ``streams`` images run at once, sharing ``threads`` (the CPU plugin runs one image per
    stream: with one stream, concurrent images would wait for each other)."""
    ensure_installed()
    try:
        core = _core()
        model = core.read_model(str(path))
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
            "INFERENCE_NUM_THREADS": max(1, threads),
            "NUM_STREAMS": max(1, streams),
            # Several compiled models share the cores (adaptive threads, a cascade): pinning
            # each one's threads to fixed cores would make them collide.
            "ENABLE_CPU_PINNING": False,
        }
        compiled = core.compile_model(model, "CPU", config)
    except Exception as exc:  # openvino raises RuntimeError subclasses of its own
        raise ProviderUnavailable(f"OpenVINO {version()} could not compile the model: "
                                  f"{exc}") from exc
    return OpenVinoSession(compiled)
