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


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int
    idle_timeout_s: float = 30.0
    total_timeout_s: float = 300.0
