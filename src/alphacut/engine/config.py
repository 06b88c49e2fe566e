"""What the engine is told: its own small config (never the server's ``Settings``) and the
thread pools it may use, built and sized by the composition root (``alphacut.bootstrap``)."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from alphacut.engine.onnx import Threads
from alphacut.engine.runtimes import RuntimeConfig
from alphacut.imaging.encode import EncodeSettings
from alphacut.imaging.sniff import Limits


@dataclass(frozen=True)
class Downloads:
    """Where ``alphacut models pull`` may fetch model files from (never a request path)."""

    pip_index_url: str | None = None
    pip_find_links: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class EngineConfig:
    models_dir: Path
    model: str = "u2netp"
    """The default model: used when a request names none."""
    allow_noncommercial_models: bool = False
    allow_agpl_models: bool = False
    max_resident_models: int = 2
    """How many models keep a loaded session; the least recently used goes first (the
    default model only when nothing else can)."""
    threads: Threads = field(default_factory=lambda: Threads(1))
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    """The execution providers to try, the precision, a required provider."""
    refine: bool = True
    decontaminate: bool = True
    tta: bool = False
    refine_hardness: float = 0.25
    """1 = the hard refinement (binary masks), 0 = the soft one (hair, fur)."""
    cascade: tuple[str, ...] = ()
    """Models tried in order while the uncertainty score passes ``cascade_threshold``."""
    cascade_threshold: float = 0.35
    limits: Limits = field(default_factory=Limits)
    encoding: EncodeSettings = field(default_factory=EncodeSettings)
    downloads: Downloads = field(default_factory=Downloads)


@dataclass(frozen=True)
class EnginePools:
    """Side work of one image runs here, never in the caller's own pool (so waiting on it
    cannot deadlock): ``helpers`` for the engine's parallel steps, ``deflate`` for PNG
    strips. Either may be None: the work then runs on the calling thread."""

    helpers: Executor | None = None
    deflate: Executor | None = None
