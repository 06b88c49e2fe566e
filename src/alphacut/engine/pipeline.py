"""decode → infer → upscale → refine → decontaminate → compose → encode, timed per stage.

``Engine`` owns the loaded models (one ONNX session each, created once, reused
by every thread) and runs one image at a time per call; callers bound the
concurrency (see ``runner.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from alphacut.domain.options import RemovalOptions
from alphacut.engine.config import EngineConfig, EnginePools
from alphacut.engine.onnx import OnnxModel
from alphacut.engine.specs import ModelSpec
from alphacut.engine.store import ModelStore
from alphacut.errors import BadRequest
from alphacut.imaging import matting
from alphacut.imaging.compose import compose
from alphacut.imaging.decode import decode
from alphacut.imaging.encode import encode
from alphacut.imaging.sniff import probe
from alphacut.imaging.transform import target_size


@dataclass
class Result:
    content: bytes
    media_type: str
    width: int
    height: int
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage: decode, preprocess, inference, postprocess, encode."""


class _Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000, 2)
        self._last = now


class Engine:
    """The model runtime and the pipeline, told what to do by an :class:`EngineConfig`
    (``alphacut.Engine(settings)`` builds one from the server's settings)."""

    def __init__(self, config: EngineConfig, pools: EnginePools | None = None,
                 store: ModelStore | None = None) -> None:
        self.config = config
        self.pools = pools or EnginePools()
        downloads = config.downloads
        self.store = store or ModelStore(
            config.models_dir, pip_index_url=downloads.pip_index_url,
            pip_find_links=downloads.pip_find_links, timeout_s=downloads.timeout_s,
        )
        self.limits = config.limits
        self.encoding = config.encoding
        self._models: dict[str, OnnxModel] = {}
        self._lock = threading.Lock()

    def spec(self, name: str | None) -> ModelSpec:
        spec = self.store.lookup(name or self.config.model)
        if not spec.commercial_use and not self.config.allow_noncommercial_models:
            raise BadRequest(
                f"Model '{spec.name}' is licensed for non-commercial use only "
                f"({spec.licence}); the operator has not enabled it "
                "(ALPHACUT_ALLOW_NONCOMMERCIAL_MODELS)."
            )
        return spec

    def model(self, name: str | None = None) -> OnnxModel:
        spec = self.spec(name)
        with self._lock:
            loaded = self._models.get(spec.name)
            if loaded is None:
                path = self.store.ensure(spec)
                loaded = self._models[spec.name] = OnnxModel(spec, path, self.config.threads)
            return loaded

    def warm(self, name: str | None = None) -> None:
        """Load the model and run one dummy inference, so the first request is not slow."""
        model = self.model(name)
        model.infer(model.preprocess(Image.new("RGB", (64, 64), (128, 128, 128))))

    def remove(self, data: bytes, options: RemovalOptions) -> Result:
        clock = _Stopwatch()
        _, header = probe(data, self.limits)
        decoded = decode(header)
        clock.lap("decode")
        model = self.model(options.model)
        # The full-size colour array is unpacked while the model's input is made: two
        # single-threaded copies at once (12 MP: 93 ms one after the other, 53 ms together).
        colour = _submit(self.pools, np.asarray, decoded.rgb)
        tensor = model.preprocess(decoded.rgb)
        clock.lap("preprocess")
        small = model.infer(tensor)
        if _choose(options.tta, self.config.tta):
            # The mirror image's mask, mirrored back: the mean of two looks.
            small = (small + model.infer(np.ascontiguousarray(tensor[..., ::-1]))[:, ::-1]) / 2
        clock.lap("inference")
        rgb, alpha = self._matte(colour.result(), small, model.spec.input_size, options)
        if decoded.alpha is not None:
            # The cut-out never shows what the input itself had made transparent.
            alpha = np.minimum(alpha, np.asarray(decoded.alpha))
        pixels = compose(rgb, alpha, options)
        clock.lap("postprocess")
        content = encode(pixels, options.format, self.encoding, self.pools.deflate)
        clock.lap("encode")
        height, width = pixels.shape[:2]
        return Result(content, options.format.media_type, width, height, clock.laps)

    def _matte(self, pixels: np.ndarray, small: np.ndarray, model_size: tuple[int, int],
               options: RemovalOptions) -> tuple[np.ndarray, np.ndarray]:
        """Full-size colour and alpha: refined and decontaminated when asked (by the
        request, else by the settings); without either, the plain upscaled mask."""
        refine = _choose(options.refine, self.config.refine)
        # A mask has no colour to clean.
        clean = _choose(options.decontaminate, self.config.decontaminate) and not options.mask
        size = (pixels.shape[1], pixels.shape[0])
        if refine:
            # Stray islands go at model size, where it is cheap; the cut is at LEVEL's middle.
            small = matting.drop_specks(small, threshold=sum(matting.LEVEL) / 2)
            alpha8 = matting.refine_edges(pixels, _full_size(small, size),
                                          matting.window_radius(size, model_size))
        else:
            alpha8 = upscale(small, size)  # exactly the plain mask (rembg's)
        if options.feather:
            alpha8 = matting.feather(alpha8, _input_radius(options.feather, size, options))
        if clean:
            pixels = matting.decontaminate(
                pixels, alpha8, matting.window_radius(size, model_size, times=8.0))
        return pixels, alpha8


def _submit(pools: EnginePools, fn: Callable[[Image.Image], np.ndarray],
            image: Image.Image) -> Future[np.ndarray]:
    """Side work in the helpers' pool, or done here and now without one."""
    if pools.helpers is not None:
        return pools.helpers.submit(fn, image)
    done: Future[np.ndarray] = Future()
    done.set_result(fn(image))
    return done


def _full_size(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The model's float alpha at the image's size: OpenCV's bilinear when enlarging
    both ways (fast), Pillow's antialiased bilinear when shrinking (no jagged edges)."""
    if size[0] >= small.shape[1] and size[1] >= small.shape[0]:
        return cv2.resize(small.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    plane = Image.fromarray(small.astype(np.float32), "F")
    return np.asarray(plane.resize(size, Image.Resampling.BILINEAR))


def _input_radius(radius: int, size: tuple[int, int], options: RemovalOptions) -> int:
    """A radius in pixels of the result, in pixels of the input (before the resize)."""
    width, height = target_size(size[0], size[1], options.width, options.height,
                                options.exact_resize)
    return max(1, round(radius * max(size[0] / width, size[1] / height)))


def _choose(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked


def upscale(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Model-resolution alpha in [0, 1] to a full-size 8-bit mask, smoothly interpolated."""
    small = Image.fromarray(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(small.resize(size, Image.Resampling.BILINEAR))
