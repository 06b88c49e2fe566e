"""Read a multipart upload while it streams, refusing oversize files without buffering them.

Starlette's own form parser spools a whole file to disk before anyone can look
at its size; this reader counts the ``image`` part as it arrives and stops
keeping bytes the moment it passes the limit. Slow senders are cut off by a
per-chunk idle timeout and an overall deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from alphacut.domain.upload import Upload, UploadLimits
from alphacut.errors import BadRequest, FileTooLarge, NoImage, UploadTimeout

IMAGE_FIELD = "image"
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    size: int = 0


class _Collector:
    """Callbacks for python-multipart: keeps small fields and the image, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.upload = Upload()
        self.parts = 0
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_val,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"Too many form parts (more than {MAX_PARTS}).")
        self._part, self._headers = _Part(), {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._part.name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        if raw_filename is not None:
            self._part.filename = raw_filename.decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        is_image = self.is_image(part)
        limit = self.limit if is_image else MAX_FIELD_BYTES
        if part.size <= limit:
            part.data += data[start:end]
        elif not is_image:
            raise BadRequest(f"Form field '{part.name}' is too large.")

    def _end(self) -> None:
        part = self._part
        if self.is_image(part):
            if not self.upload.has_image:
                self.upload.has_image = True
                self.upload.filename = part.filename
                self.upload.content = bytes(part.data)
        elif part.name and part.name not in self.upload.fields:
            self.upload.fields[part.name] = part.data.decode("utf-8", "replace")

    @staticmethod
    def is_image(part: _Part) -> bool:
        return part.name == IMAGE_FIELD

    @property
    def overflow(self) -> int:
        """Bytes of the image part seen so far once past the limit, else 0."""
        part = self._part
        return part.size if self.is_image(part) and part.size > self.limit else 0


async def read_upload(
    content_type: str, content_length: int | None, body: AsyncIterator[bytes],
    limits: UploadLimits,
) -> Upload:
    """Parse the body; raise the contract's errors (no image, file too large)."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise NoImage()
    collector = _Collector(limits.max_file_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    consumed = 0
    chunks = _with_deadlines(body, limits)
    async for chunk in chunks:
        consumed += len(chunk)
        parser.write(chunk)
        if collector.overflow:
            # Stop parsing (and keeping) anything: only the total size is still needed.
            tail = len(boundary) + 8  # CRLF "--" boundary "--" CRLF
            if content_length is not None:
                rest = content_length - consumed
            else:
                rest = sum([len(c) async for c in chunks])
            raise FileTooLarge(collector.overflow + rest - tail, limits.max_file_bytes)
    parser.finalize()
    return collector.upload


async def drain(body: AsyncIterator[bytes], limits: UploadLimits) -> None:
    """Consume and drop a body we will not use, up to the size limit (then stop)."""
    seen = 0
    try:
        async for chunk in _with_deadlines(body, limits):
            seen += len(chunk)
            if seen > limits.max_file_bytes + MAX_PARTS * MAX_FIELD_BYTES:
                return
    except (UploadTimeout, ClientDisconnect):
        return


async def _with_deadlines(
    body: AsyncIterator[bytes], limits: UploadLimits
) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + limits.total_timeout_s
    iterator = body.__aiter__()
    while True:
        remaining = min(limits.idle_timeout_s, deadline - time.monotonic())
        if remaining <= 0:
            raise UploadTimeout()
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout() from None
        yield chunk


class FormUpload:
    """The removal use case's upload reader for a multipart request (``POST /rmbg``)."""

    def __init__(self, request: Request, limits: UploadLimits) -> None:
        self.request = request
        self.limits = limits

    async def read(self) -> Upload:
        length = self.request.headers.get("content-length")
        return await read_upload(
            self.request.headers.get("content-type", ""),
            int(length) if length and length.isdigit() else None,
            self.request.stream(), self.limits,
        )

    async def discard(self) -> None:
        await drain(self.request.stream(), self.limits)
