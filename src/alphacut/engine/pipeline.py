"""decode → infer → upscale → refine → decontaminate → compose → encode, timed per stage.

``Engine`` owns the loaded models (one ONNX session each, created once, reused
by every thread) and runs one image at a time per call; callers bound the
concurrency (see ``runner.py``).

Models: a request never downloads one; it gets a model whose verified file is
already on disk, or a 400. Models load one at a time, outside the lock that finds
a loaded one (images of loaded models never wait behind a load), and at most
``max_resident_models`` stay loaded, least recently used out first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from alphacut.domain.layout import Box
from alphacut.domain.options import RemovalOptions
from alphacut.engine.config import EngineConfig, EnginePools
from alphacut.engine.onnx import OnnxModel
from alphacut.engine.runtimes import Placement
from alphacut.engine.specs import MODELS, ModelSpec
from alphacut.engine.store import ModelStore
from alphacut.errors import AlphacutError, BadRequest, ModelError, ModelNotInstalled
from alphacut.imaging import layout, matting
from alphacut.imaging.compose import compose
from alphacut.imaging.decode import decode
from alphacut.imaging.encode import encode
from alphacut.imaging.sniff import check_output, probe, upright_size
from alphacut.imaging.transform import output_size, sized

log = logging.getLogger(__name__)


@dataclass
class Result:
    content: bytes
    media_type: str
    width: int
    height: int
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage: decode, preprocess, inference, postprocess, encode."""
    foreground: Box | None = None
    """The subject's box in the result's frame; None when there is no subject."""
    uncertainty: float = 0.0
    """How unsure the model was, 0 (confident) to 1 (docs/quality.md)."""
    model: str = ""
    """The model that answered."""


class _Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        # A stage run twice (a cascade's second model) adds up.
        self.laps[name] = round(self.laps.get(name, 0.0) + (now - self._last) * 1000, 2)
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
        self._models: OrderedDict[str, OnnxModel] = OrderedDict()
        """The loaded models, least recently used first."""
        self._lock = threading.Lock()
        """Guards ``_models``: held to find, add or drop a model, never while one loads."""
        self._loading = threading.Lock()
        """One model loads at a time (file check and session creation)."""
        self._default_loaded = False

    def spec(self, name: str | None) -> ModelSpec:
        spec = self.store.lookup(name or self.config.model)
        refusal = self._refusal(spec)
        if refusal is not None:
            raise BadRequest(refusal)
        return spec

    def _refusal(self, spec: ModelSpec) -> str | None:
        """Why the operator does not allow this row, or None when it does."""
        if not (spec.commercial_use or self.config.allow_noncommercial_models):
            return (f"Model '{spec.name}' is licensed for non-commercial use only "
                    f"({spec.licence}); the operator has not enabled it "
                    "(ALPHACUT_ALLOW_NONCOMMERCIAL_MODELS).")
        if spec.agpl and not self.config.allow_agpl_models:
            return (f"Model '{spec.name}' is licensed under {spec.licence}; the operator has "
                    "not enabled it (ALPHACUT_ALLOW_AGPL_MODELS).")
        return None

    def _licensed(self, spec: ModelSpec) -> bool:
        return self._refusal(spec) is None

    def servable(self, name: str | None) -> ModelSpec:
        """The spec, if a request may use it: licensed, and loaded or its file on disk
        (``ModelNotInstalled`` otherwise; checked before any slot or allowance is used)."""
        spec = self.spec(name)
        if self._loaded(spec.name) is None and not self.store.has_file(spec) and not (
                spec.name == self.config.model and not self._default_loaded):
            raise ModelNotInstalled(spec.name, self.installed())
        return spec

    def installed(self) -> list[str]:
        """The registered models this engine would serve whose file is on disk (no hashing:
        a file is verified when it loads)."""
        with self._lock:
            loaded = set(self._models)
        return sorted(name for name, spec in MODELS.items() if self._licensed(spec)
                      and (name in loaded or self.store.has_file(spec)))

    @property
    def resident(self) -> tuple[str, ...]:
        """The loaded models' names, least recently used first."""
        with self._lock:
            return tuple(self._models)

    def placements(self) -> dict[str, Placement]:
        """Each loaded model's provider and precision, least recently used first."""
        with self._lock:
            return {name: model.placement for name, model in self._models.items()}

    def model(self, name: str | None = None) -> OnnxModel:
        """The model (the default without a name), loaded on first use; never downloaded: a
        registered model whose verified file is not here is ``ModelNotInstalled`` (400).
        Only the default model's very first load may fetch it (the server's start-up, or a
        library engine's first image)."""
        return self._get(self.spec(name), fetch=False)

    def warm(self, name: str | None = None) -> None:
        """Fetch the model if missing (start-up and operator commands, never a request),
        load it and run one dummy inference, so the first request is not slow."""
        model = self._get(self.spec(name), fetch=True)
        model.infer(model.preprocess(Image.new("RGB", (64, 64), (128, 128, 128))))

    def start(self, model: str | None = None) -> None:
        """What a server does before it is ready: the cascade's models checked (installed,
        allowed: else no start), then ``model`` (default: the default model), or every
        cascade model, loaded and warmed. With a required provider, a default model outside
        the cascade is loaded once too, to check where it would run."""
        self.check_cascade()
        config = self.config
        if config.runtime.require and config.cascade and config.model not in config.cascade:
            self.check_placement(None)
        for name in config.cascade or (model,):
            self.warm(name)

    def check_placement(self, name: str | None = None) -> Placement:
        """Load the model (fetched if it is the default and missing) on the configured
        providers and drop it again: where it would run, or the error loading it would
        raise (a required provider it cannot run on)."""
        spec = self.spec(name)
        loaded = self._loaded(spec.name)
        if loaded is not None:
            return loaded.placement
        return self._load(spec, self.store.ensure(spec)).placement

    def _loaded(self, name: str) -> OnnxModel | None:
        with self._lock:
            loaded = self._models.get(name)
            if loaded is not None:
                self._models.move_to_end(name)
            return loaded

    def _get(self, spec: ModelSpec, fetch: bool) -> OnnxModel:
        loaded = self._loaded(spec.name)
        if loaded is not None:
            return loaded
        fetch = fetch or (spec.name == self.config.model and not self._default_loaded)
        if not fetch and not self.store.has_file(spec):
            raise ModelNotInstalled(spec.name, self.installed())  # at once, not after a load
        with self._loading:
            loaded = self._loaded(spec.name)  # loaded by another thread while this one waited
            if loaded is not None:
                return loaded
            path = self.store.ensure(spec) if fetch else self.store.installed(spec)
            if path is None:
                raise ModelNotInstalled(spec.name, self.installed())
            loaded = self._load(spec, path)
            with self._lock:
                self._models[spec.name] = loaded
                self._evict()
            if spec.name == self.config.model:
                self._default_loaded = True
            return loaded

    def _load(self, spec: ModelSpec, path: Path) -> OnnxModel:
        started = time.perf_counter()
        try:
            loaded = OnnxModel(spec, path, self.config.threads, self.config.runtime)
        except ModelError as exc:  # names the file: for the log, not the client
            raise ModelError(exc.message, f"Model '{spec.name}' could not be loaded.") from exc
        log.info("model %s loaded in %.0f ms on %s", spec.name,
                 (time.perf_counter() - started) * 1000, loaded.placement.describe())
        return loaded

    def _evict(self) -> None:
        """Drop the least recently used models beyond ``max_resident_models`` (the one just
        loaded stays; the default model goes only when nothing else can). An image still
        running on a dropped session holds its own reference to it: the session is freed
        when that image is done."""
        limit = max(1, self.config.max_resident_models)
        newest = next(reversed(self._models))
        while len(self._models) > limit:
            others = [name for name in self._models if name != newest]
            victim = next((name for name in others if name != self.config.model), others[0])
            del self._models[victim]
            log.info("model %s unloaded (at most %d stay loaded)", victim, limit)

    def remove(self, data: bytes, options: RemovalOptions) -> Result:
        clock = _Stopwatch()
        _, header = probe(data, self.limits)
        upright = upright_size(header)
        check_output(*output_size(*upright, options), self.limits)
        decoded = decode(header)
        if decoded.rgb.size != upright:  # an orientation found only with the pixels
            check_output(*output_size(*decoded.rgb.size, options), self.limits)
        clock.lap("decode")
        # The full-size colour array is unpacked while the model's input is made: two
        # single-threaded copies at once (12 MP: 93 ms one after the other, 53 ms together).
        colour = _submit(self.pools, np.asarray, decoded.rgb)
        names = self.models_for(options.model)
        for index, name in enumerate(names):
            model = self.model(name)
            small, cleaned, score = self._look(model, decoded.rgb, options, clock)
            if score <= self.config.cascade_threshold:
                break  # sure enough: the next model is not asked
            if index + 1 < len(names):
                log.debug("cascade: %s unsure (%.3f), asking %s", name, score, names[index + 1])
        refine = _choose(options.refine, self.config.refine)
        rgb, alpha = self._matte(colour.result(), cleaned if refine else small,
                                 model.spec.input_size, options, refine)
        if decoded.alpha is not None:
            # The cut-out never shows what the input itself had made transparent.
            alpha = np.minimum(alpha, np.asarray(decoded.alpha))
        rgb, alpha = self._layout(rgb, alpha, options)
        composed = compose(rgb, alpha, options, self._background(options))
        clock.lap("postprocess")
        content = encode(composed.pixels, options.format, self.encoding, self.pools.deflate)
        clock.lap("encode")
        height, width = composed.pixels.shape[:2]
        return Result(content, options.format.media_type, width, height, clock.laps,
                      composed.foreground, round(score, 4), model.spec.name)

    def models_for(self, name: str | None) -> tuple[str | None, ...]:
        """The models to try, in order: the one a request names (it bypasses the cascade),
        else the cascade, else the default."""
        if name is None and self.config.cascade:
            return self.config.cascade
        return (name,)

    def _look(self, model: OnnxModel, image: Image.Image, options: RemovalOptions,
              clock: _Stopwatch) -> tuple[np.ndarray, np.ndarray, float]:
        """One model's look at the image: its output, the same without specks, and how
        unsure it is (:func:`matting.uncertainty`)."""
        tensor = model.preprocess(image)
        clock.lap("preprocess")
        small = model.infer(tensor)
        if _choose(options.tta, self.config.tta):
            # The mirror image's mask, mirrored back: the mean of two looks.
            small = (small + model.infer(np.ascontiguousarray(tensor[..., ::-1]))[:, ::-1]) / 2
        # Stray islands go at model size, where it is cheap; the cut is at LEVEL's middle.
        cleaned = matting.drop_specks(small, threshold=sum(matting.LEVEL) / 2)
        score = matting.uncertainty(cleaned)
        clock.lap("inference")
        return small, cleaned, score

    def check_cascade(self) -> None:
        """At start-up: every cascade model licensed and installed (fetched if missing is
        not allowed: a clear refusal instead), and no more of them than stay loaded."""
        if not self.config.cascade:
            return
        if len(self.config.cascade) > max(1, self.config.max_resident_models):
            raise ModelError(
                f"ALPHACUT_CASCADE names {len(self.config.cascade)} models but "
                f"ALPHACUT_MAX_RESIDENT_MODELS is {self.config.max_resident_models}: every "
                "image would load a model. Raise it or shorten the cascade.")
        for name in self.config.cascade:
            try:
                self.servable(name)
            except AlphacutError as err:
                raise ModelError(f"ALPHACUT_CASCADE: {err.message}") from err

    def _layout(self, rgb: np.ndarray, alpha: np.ndarray,
                options: RemovalOptions) -> tuple[np.ndarray, np.ndarray]:
        """The matte's region of interest, its semi-transparency, then crop, scale and
        position (docs/layout.md); the result's size checked again on the new canvas."""
        height, width = alpha.shape
        if options.roi is not None and not options.roi.whole:
            alpha = layout.clear_outside(alpha, options.roi.pixels(width, height))
        if not options.semitransparency:
            alpha = np.where(alpha >= 128, np.uint8(255), np.uint8(0))
        moves = options.crop or options.scale is not None or (
            options.position is not None and not options.position.original)
        if not moves:
            return rgb, alpha
        placement = layout.plan(width, height, layout.subject_box(alpha), crop=options.crop,
                                margin=options.crop_margin, scale=options.scale,
                                position=options.position)
        if placement.identity:
            return rgb, alpha
        # The canvas itself is made at full size, then the result from it: both bounded.
        check_output(*placement.canvas, self.limits)
        check_output(*output_size(*placement.canvas, options), self.limits)
        return layout.place(rgb, alpha, placement)

    def _background(self, options: RemovalOptions) -> Image.Image | None:
        """The background image, decoded under the same limits as an input."""
        if options.bg_image is None:
            return None
        _, header = probe(options.bg_image, self.limits)
        decoded = decode(header)
        if decoded.alpha is None:
            return decoded.rgb
        # Its own transparency is flattened on white (a background is opaque).
        white = Image.new("RGB", decoded.rgb.size, (255, 255, 255))
        return Image.composite(decoded.rgb, white, decoded.alpha)

    def _matte(self, pixels: np.ndarray, small: np.ndarray, model_size: tuple[int, int],
               options: RemovalOptions, refine: bool) -> tuple[np.ndarray, np.ndarray]:
        """Full-size colour and alpha: refined (``small`` without its specks) and
        decontaminated when asked (by the request, else by the settings); without either,
        the plain upscaled mask."""
        # A mask has no colour to clean.
        clean = _choose(options.decontaminate, self.config.decontaminate) and not options.mask
        size = (pixels.shape[1], pixels.shape[0])
        if refine:
            alpha8 = matting.refine_soft(
                pixels, _full_size(small, size), matting.window_radius(size, model_size),
                matting.window_radius(size, model_size, times=matting.SOFT_TIMES),
                self.config.refine_hardness)
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
    width, height = sized(size[0], size[1], options)
    return max(1, round(radius * max(size[0] / width, size[1] / height)))


def _choose(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked


def upscale(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Model-resolution alpha in [0, 1] to a full-size 8-bit mask, smoothly interpolated."""
    small = Image.fromarray(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(small.resize(size, Image.Resampling.BILINEAR))
