"""The client's only local file work: read an input image, write a result's temp file.

Blocking; ``AsyncClient`` runs these in a worker thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from alphacut.client._base import ImageInput, Upload, input_source, suffix_for, upload_of


def read_input(image: ImageInput) -> Upload:
    source = input_source(image)
    if isinstance(source, Path):
        return upload_of(source.read_bytes(), source.name)
    if isinstance(source, bytes):
        return upload_of(source)
    data = source.read()
    if not isinstance(data, bytes | bytearray):
        raise TypeError("the file object must be opened in binary mode ('rb')")
    name = getattr(source, "name", None)
    return upload_of(bytes(data), name if isinstance(name, str) else None)


def write_temp(content: bytes, media_type: str) -> Path:
    """A new temp file holding ``content``, named ``alphacut-*.<ext of media_type>``."""
    fd, name = tempfile.mkstemp(prefix="alphacut-", suffix=suffix_for(media_type))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
