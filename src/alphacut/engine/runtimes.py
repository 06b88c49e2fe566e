"""Which execution provider and precision each model runs on (docs/runtimes.md).

The operator's ``providers`` are tried in order, per model; the first that loads the
model (and, for anything but ONNX Runtime's own CPU provider, runs it once) is used. A
provider not listed is never used: no silent fallback to the CPU. What each model ended
up on (a :class:`Placement`) is what ``doctor``, ``/readyz``, ``/metrics`` and the log
report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from alphacut.engine import openvino_session, ort_session
from alphacut.engine.ort_session import ProviderUnavailable
from alphacut.engine.provider_names import PROVIDERS
from alphacut.engine.specs import ModelSpec
from alphacut.errors import ModelError

log = logging.getLogger("alphacut.engine")

__all__ = ["PROVIDERS", "Placement", "RuntimeConfig", "Threads", "open_sessions",
           "report"]

THREADED = ("cpu", "openvino")
"""Providers whose work runs on CPU threads (ALPHACUT_INTRA_OP_THREADS sizes them); the
others run on an accelerator and take one session for every image."""

GATED: frozenset[str] = frozenset()
"""Models whose bf16 plan passed the quality gate of ``make eval``: ``auto`` runs only
these in bf16. None yet: whole-graph bf16 fails it for u2netp (dev MAE +4.9%, measured in
the runtimes issue) and the mixed plans could not be measured (docs/runtimes.md)."""


@dataclass(frozen=True)
class Threads:
    intra_op: int
    inter_op: int = 1
    adaptive: bool = True
    """With several images at once, run each on one thread (no oversubscription)."""
    concurrent: int = 1
    """Most images inferring at once (ALPHACUT_MAX_CONCURRENCY): OpenVINO runs one image
    per stream, so it compiles that many (an ONNX Runtime session takes any number)."""


@dataclass(frozen=True)
class RuntimeConfig:
    providers: tuple[str, ...] = ("cpu",)
    """Tried in order for every model."""
    precision: str = "fp32"
    """fp32, bf16 (OpenVINO on a CPU with native bf16) or auto (bf16 where the CPU has it
    and the model's plan passed the gate)."""
    require: str | None = None
    """A model that cannot run on this provider is an error, not a fallback."""


class Session(Protocol):
    def run(self, tensor: np.ndarray) -> np.ndarray:
        """The model's first output for one NCHW float32 tensor."""


@dataclass(frozen=True)
class Placement:
    """Where one loaded model runs."""

    provider: str
    precision: str
    """What the runtime really computes in: "fp32" or "bf16"."""
    runtime: str
    """The library and its version, e.g. "onnxruntime 1.32.0", "openvino 2026.4.1"."""
    skipped: tuple[str, ...] = field(default=())
    """The listed providers tried before this one, each with why it could not run."""

    def describe(self) -> str:
        return f"{self.provider} ({self.precision}, {self.runtime})"


@dataclass(frozen=True)
class Sessions:
    solo: Session
    """A lone image: every thread."""
    shared: Session
    """Concurrent images: one thread each (the same session on an accelerator)."""
    placement: Placement


def open_sessions(spec: ModelSpec, path: Path, threads: Threads,
                  config: RuntimeConfig) -> Sessions:
    """The model's sessions on the first of ``config.providers`` that can run it."""
    skipped: list[str] = []
    for provider in config.providers:
        try:
            sessions = _open(provider, spec, path, threads, config)
        except ProviderUnavailable as exc:
            log.warning("model %s: provider %s cannot run it: %s", spec.name, provider, exc)
            skipped.append(f"{provider}: {exc}")
            continue
        except ModelError as exc:  # the file itself (names it: for the log only)
            raise ModelError(f"Model '{spec.name}': {exc.message}",
                             public=f"Model '{spec.name}' could not be loaded.") from exc
        placement = dataclasses.replace(sessions.placement, skipped=tuple(skipped))
        sessions = dataclasses.replace(sessions, placement=placement)
        _check_required(spec, sessions.placement, config)
        return sessions
    raise ModelError(
        f"Model '{spec.name}' cannot run on any provider of ALPHACUT_PROVIDERS="
        f"{','.join(config.providers)}: " + "; ".join(skipped),
        public=f"Model '{spec.name}' could not be loaded.")


def _check_required(spec: ModelSpec, placement: Placement, config: RuntimeConfig) -> None:
    if config.require is None or placement.provider == config.require:
        return
    why = "; ".join(placement.skipped) or f"{config.require} is not in ALPHACUT_PROVIDERS"
    raise ModelError(
        f"ALPHACUT_REQUIRE_PROVIDER={config.require}: model '{spec.name}' would run on "
        f"{placement.provider}, not {config.require} ({why})",
        public=f"Model '{spec.name}' could not be loaded.")


def _open(provider: str, spec: ModelSpec, path: Path, threads: Threads,
          config: RuntimeConfig) -> Sessions:
    intra_op = max(1, threads.intra_op)
    many = threads.adaptive and intra_op > 1 and provider in THREADED
    if provider == "openvino":
        openvino_session.ensure_installed()
        bf16 = _runs_bf16(spec, config.precision)
        # OpenVINO runs one image per stream: concurrent images need a stream each.
        images = max(1, threads.concurrent)
        if many:  # a lone image on every thread; concurrent ones on one thread each
            solo = openvino_session.open_session(path, intra_op, bf16)
            shared = openvino_session.open_session(path, images, bf16, streams=images)
        else:  # intra_op threads for each image, however many run
            solo = shared = openvino_session.open_session(path, intra_op * images, bf16,
                                                          streams=images)
        runtime = f"openvino {openvino_session.version()}"
        sessions = Sessions(solo, shared, Placement(provider, solo.precision, runtime))
    else:
        solo_ort = ort_session.open_session(provider, path, intra_op, threads.inter_op)
        shared_ort = ort_session.open_session(provider, path, 1, 1) if many else solo_ort
        runtime = f"onnxruntime {ort_session.version()}"
        sessions = Sessions(solo_ort, shared_ort, Placement(provider, "fp32", runtime))
        if config.precision == "bf16":
            log.warning("model %s: ALPHACUT_PRECISION=bf16 applies to the openvino provider "
                        "only; %s runs fp32", spec.name, provider)
    if provider != "cpu":
        _probe(spec, sessions.solo.run)
    return sessions


def _runs_bf16(spec: ModelSpec, precision: str) -> bool:
    """Whether to compile in bf16: only on a CPU that has it, and for ``auto`` only a
    model whose bf16 passed the quality gate."""
    if precision == "fp32":
        return False
    if not openvino_session.has_bf16():
        if precision == "bf16":
            log.warning("model %s: ALPHACUT_PRECISION=bf16 but this CPU has no native bf16 "
                        "(OpenVINO reads: %s); running fp32", spec.name,
                        ", ".join(openvino_session.capabilities()))
        return False
    return precision == "bf16" or spec.name in GATED


def _probe(spec: ModelSpec, run: Callable[[np.ndarray], np.ndarray]) -> None:
    """One inference on zeros: an accelerator that loads a model can still fail to run it
    (missing kernels, out of device memory)."""
    width, height = spec.input_size
    try:
        run(np.zeros((1, 3, height, width), dtype=np.float32))
    except Exception as exc:  # every runtime raises its own untyped errors
        raise ProviderUnavailable(f"loaded the model but failed to run it: {exc}") from exc


def report() -> dict[str, str]:
    """Every provider name with whether it can be tried here and why not (for doctor)."""
    carried = set(ort_session.available())
    found = {}
    for name in PROVIDERS:
        if name == "openvino":
            found[name] = _openvino_state()
        elif name in carried:
            found[name] = f"available (onnxruntime {ort_session.version()})"
        else:
            found[name] = f"not in this onnxruntime build: {ort_session.PACKAGES[name]}"
    return found


def _openvino_state() -> str:
    try:
        openvino_session.ensure_installed()
    except ProviderUnavailable as exc:
        return f"unavailable: {exc}"
    return (f"available (openvino {openvino_session.version()}, CPU: "
            f"{', '.join(openvino_session.capabilities())})")
