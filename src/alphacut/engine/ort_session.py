"""ONNX Runtime sessions: the CPU provider, and the accelerator providers an onnxruntime
build may carry (CUDA, TensorRT, CoreML, DirectML, ROCm)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnxruntime as ort

from alphacut.errors import ModelError

ORT_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
"""alphacut's provider names and ONNX Runtime's."""

PACKAGES = {
    "cuda": "onnxruntime-gpu (1.31: CUDA 13 and cuDNN 9; docs/runtimes.md)",
    "tensorrt": "onnxruntime-gpu with TensorRT 10 (docs/runtimes.md)",
    "coreml": "onnxruntime on macOS",
    "directml": "onnxruntime-directml on Windows",
    "rocm": "an onnxruntime build for ROCm (AMD's wheels)",
    "cpu": "onnxruntime",
}
"""What provides each provider, for the message when it is missing."""


class ProviderUnavailable(Exception):
    """This provider cannot run this model here; the message says why."""


def version() -> str:
    return str(ort.__version__)


def available() -> list[str]:
    """alphacut's names of the providers this onnxruntime build carries."""
    carried = set(ort.get_available_providers())
    return [name for name, ort_name in ORT_NAMES.items() if ort_name in carried]


class OrtSession:
    """One ONNX Runtime session; ``run`` returns the first output only (IS-Net files export
    side outputs and feature maps too: fetching all 12 of isnet-imgly-medium's cost
    ~330 MB more peak RSS)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run([self._output], {self._input: tensor})[0])


def open_session(provider: str, path: Path, intra_op: int, inter_op: int) -> OrtSession:
    """A session on ``provider`` (an alphacut name), or ``ProviderUnavailable``. A session
    that ONNX Runtime quietly put on the CPU instead (its behaviour when, say, the CUDA
    libraries are missing) counts as unavailable: never a silent fallback."""
    ort_name = ORT_NAMES[provider]
    if ort_name not in ort.get_available_providers():
        raise ProviderUnavailable(
            f"{ort_name} is not in this onnxruntime {ort.__version__} build "
            f"(it has: {', '.join(available())}); it comes with {PACKAGES[provider]}")
    providers = [ort_name]
    if provider == "tensorrt" and ORT_NAMES["cuda"] in ort.get_available_providers():
        providers.append(ORT_NAMES["cuda"])  # what TensorRT cannot take runs on CUDA
    if provider != "cpu":
        providers.append(ORT_NAMES["cpu"])  # ... and what neither can, on the CPU
    session = _session(path, intra_op, inter_op, providers)
    if session.get_providers()[0] != ort_name:
        raise ProviderUnavailable(
            f"onnxruntime could not start {ort_name} (it fell back to "
            f"{session.get_providers()[0]}); see the server log above for its reason")
    if provider != "cpu":
        # Else a run that fails on the accelerator is retried after moving the whole
        # session to the CPU for good, while this process still reports the accelerator.
        session.disable_fallback()
    return OrtSession(session)


@functools.cache
def _shared_arena() -> None:
    """One process-wide CPU arena that grows only by what is asked (not by doubling),
    shared by every session: peak RSS of two concurrent u2netp runs fell from ~1.0 GB
    to ~0.66 GB at the same speed (measured with two sessions, 24 runs)."""
    config = ort.OrtArenaCfg(0, 1, -1, -1)  # no cap, kSameAsRequested, default chunks
    memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                               ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(memory, config)


def _session(path: Path, intra_op: int, inter_op: int,
             providers: list[str]) -> ort.InferenceSession:
    _shared_arena()
    options = ort.SessionOptions()
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.intra_op_num_threads = intra_op
    options.inter_op_num_threads = inter_op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Memory patterns pre-plan one large block per concurrent run; off, peak RSS with two
    # concurrent u2netp runs fell from 1.5 GB to 1.0 GB at the same speed. (Turning the
    # arena off instead cost 25% of throughput.)
    options.enable_mem_pattern = False
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        if providers[0] != ORT_NAMES["cpu"]:
            raise ProviderUnavailable(f"{providers[0]} failed to load the model: {exc}") from exc
        raise ModelError(f"The model could not be loaded from {path}: {exc}") from exc
