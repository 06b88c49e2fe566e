"""The remove.bg API's reading of an upload: its image, background and fields, checked
before any work (the removal use case's ``Surface`` for ``POST /v1.0/removebg``)."""

from __future__ import annotations

from alphacut.domain.options import RemovalOptions
from alphacut.domain.removebg import RemoveBgRequest, parse_removebg
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Result
from alphacut.errors.removebg import UnknownForeground
from alphacut.imaging.sniff import Limits, probe

BG_FILE = "bg_image_file"


class RemoveBgSurface:
    """Reads one request; what it read stays in :attr:`request` (for the answer's
    headers: the type)."""

    def __init__(self) -> None:
        self.request: RemoveBgRequest | None = None

    def __call__(self, upload: Upload, limits: Limits) -> tuple[bytes, RemovalOptions]:
        probe(upload.content, limits)
        background = upload.files.get(BG_FILE)
        if background is not None:
            probe(background, limits)  # the same limits and checks as the image's
        # (A field sent twice was refused by the upload reader already.)
        self.request = parse_removebg(upload.fields, background)
        return upload.content, self.request.options


def require_subject(result: Result) -> None:
    """remove.bg answers an image without a subject with ``unknown_foreground`` (and no
    charge) rather than an empty cut-out."""
    if result.foreground is None:
        raise UnknownForeground()
