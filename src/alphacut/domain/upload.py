"""What arrived in an upload, and the limits it is read under."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    has_image: bool = False
    """A part named ``image`` was sent (with or without a file name)."""
    filename: str | None = None
    """The part's file name: None when it had none (the bytes still count), ``""`` when the
    sender chose no file (a browser's empty file input)."""
    content: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)
    """Other file parts an API reads (remove.bg's ``bg_image_file``)."""
    repeated: list[str] = field(default_factory=list)
    """Names of parts sent more than once (only the first was kept)."""


@dataclass(frozen=True)
class UploadLimits:
    """How an upload must arrive: within ``first_byte_timeout_s`` of the request, never
    silent for ``idle_timeout_s``, done within ``total_timeout_s``, and, once the first
    byte's grace is over, at least ``min_bytes_per_s`` on average (a trickle of a byte
    now and then is cut off, not kept for minutes)."""

    max_file_bytes: int
    idle_timeout_s: float = 30.0
    total_timeout_s: float = 300.0
    first_byte_timeout_s: float = 10.0
    min_bytes_per_s: float = 1024.0
    drain_timeout_s: float = 5.0
    """Longest time a refused request's body is read (and dropped) before answering."""
