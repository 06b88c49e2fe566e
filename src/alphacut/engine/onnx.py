"""One model's sessions (on the provider the operator chose), created once and reused.

``predict`` turns an RGB image into an alpha map at the model's own resolution,
using exactly the preprocessing the model was trained with (its spec row).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from alphacut.engine.runtimes import RuntimeConfig, Threads, open_sessions
from alphacut.engine.specs import ModelSpec
from alphacut.errors import ModelError

__all__ = ["OnnxModel", "Threads"]


class OnnxModel:
    """Two sessions when ``adaptive`` (on a CPU provider): a lone image gets every thread
    (lowest latency); concurrent images get one thread each (measured: 91-102% of the
    2-core bound at concurrency 2-8, against ~80% with every image on all threads). The
    provider and precision come from ``runtime`` (:mod:`alphacut.engine.runtimes`)."""

    def __init__(self, spec: ModelSpec, path: Path, threads: Threads,
                 runtime: RuntimeConfig | None = None) -> None:
        self.spec = spec
        sessions = open_sessions(spec, path, threads, runtime or RuntimeConfig())
        self._solo, self._shared = sessions.solo, sessions.shared
        self.placement = sessions.placement
        self._active = 0
        self._lock = threading.Lock()

    def preprocess(self, rgb: Image.Image) -> np.ndarray:
        """Resize to the model input and normalise; returns NCHW float32."""
        spec = self.spec
        pixels = _resized(rgb, spec.input_size, spec.resize).astype(np.float32)
        top = max(float(pixels.max()), 1e-6) if spec.scale_max else 255.0
        pixels /= top
        pixels -= np.asarray(spec.mean, dtype=np.float32)
        pixels /= np.asarray(spec.std, dtype=np.float32)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Raw model output to an alpha map in [0, 1], shape (height, width), float32."""
        with self._lock:
            self._active += 1
            session = self._solo if self._active == 1 else self._shared
        try:
            output = session.run(tensor)
        except Exception as exc:  # every runtime raises its own untyped errors
            raise ModelError(f"Model '{self.spec.name}' failed to run: {exc}",
                             public=f"Model '{self.spec.name}' failed to run.") from exc
        finally:
            with self._lock:
                self._active -= 1
        raw = np.asarray(output, dtype=np.float32).reshape(output.shape[-2:])
        return _to_unit(raw, self.spec.output)


def _resized(rgb: Image.Image, size: tuple[int, int], how: str) -> np.ndarray:
    """The image at ``size`` (width, height), (height, width, 3) uint8."""
    if how == "bilinear":
        return _plain_bilinear(np.asarray(rgb), size)
    return np.asarray(rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def _plain_bilinear(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``tensorResizeBilinear`` of @imgly/background-removal-node 1.4.5, term for term:
    source = target x (source size / target size), no half-pixel offset and no
    antialiasing (a shrink skips pixels), float64 weights, ``Math.round`` to uint8."""
    height, width = pixels.shape[:2]
    xs, x1, x2 = _taps(width, size[0])
    ys, y1, y2 = _taps(height, size[1])
    dx = (xs - x1)[np.newaxis, :, np.newaxis]
    dy = (ys - y1)[:, np.newaxis, np.newaxis]
    rows1, rows2 = y1[:, np.newaxis], y2[:, np.newaxis]
    # Gather first, then widen: only target-sized arrays are ever float64.
    value = ((1 - dx) * (1 - dy) * pixels[rows1, x1] + dx * (1 - dy) * pixels[rows1, x2]
             + (1 - dx) * dy * pixels[rows2, x1] + dx * dy * pixels[rows2, x2])
    rounded: np.ndarray = np.floor(value + 0.5).astype(np.uint8)  # Math.round: half up
    return rounded


def _taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source positions of the target pixels and their floor / ceil neighbours."""
    positions = np.arange(target, dtype=np.float64) * (source / target)
    low = np.floor(positions).astype(np.intp)
    high = np.minimum(np.ceil(positions), source - 1).astype(np.intp)
    return positions, low, high


def _to_unit(raw: np.ndarray, how: str) -> np.ndarray:
    if how == "sigmoid":
        unit: np.ndarray = 1.0 / (1.0 + np.exp(-raw))
        return unit.astype(np.float32)
    if how == "identity":
        # Already a probability (the graph ends in a sigmoid); stretching it would
        # turn an image with no subject into a full-range mask.
        probability: np.ndarray = np.clip(raw, 0.0, 1.0)
        return probability
    low, high = float(raw.min()), float(raw.max())
    # A constant map (all subject or all background) has no range to stretch.
    if high - low < 1e-12:
        clipped: np.ndarray = np.clip(raw, 0.0, 1.0)
        return clipped
    stretched: np.ndarray = (raw - low) / (high - low)
    return stretched
