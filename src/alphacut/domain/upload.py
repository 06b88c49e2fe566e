"""What arrived in an upload: the image part and the plain form fields."""

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
