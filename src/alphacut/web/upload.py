"""Read a multipart upload while it streams, refusing oversize files without buffering them.

Starlette's own form parser spools a whole file to disk before anyone can look
at its size; this reader counts the ``image`` part as it arrives and stops
keeping bytes the moment it passes the limit. Slow senders are cut off by a
first-byte timeout, a per-chunk idle timeout, a minimum average rate after the
first byte's grace, and an overall deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from alphacut.domain.upload import Upload, UploadLimits
from alphacut.errors import BadRequest, FileTooLarge, NoImage, UploadTimeout
from alphacut.http.headers import declared_length

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

    def __init__(self, limit: int, image_field: str = IMAGE_FIELD,
                 other_files: tuple[str, ...] = (),
                 field_limits: Mapping[str, int] | None = None) -> None:
        self.limit = limit
        self.image_field = image_field
        self.other_files = other_files
        self.field_limits = field_limits or {}
        self.upload = Upload()
        self.parts = 0
        self._overflow = 0
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
        is_file = self.is_file(part)
        if is_file and self._seen(part):
            return  # a second file of that name: refused as repeated; its bytes not kept
        limit = self.limit if is_file else self.field_limits.get(part.name, MAX_FIELD_BYTES)
        if part.size <= limit:
            part.data += data[start:end]
        elif is_file:
            self._overflow = part.size  # stays set when the next part begins
        elif part.name in self.field_limits:
            raise FileTooLarge(part.size, limit)
        else:
            raise BadRequest(f"Form field '{part.name}' is too large.")

    def _seen(self, part: _Part) -> bool:
        if part.name == self.image_field:
            return self.upload.has_image
        return part.name in self.upload.files

    def _end(self) -> None:
        part = self._part
        if self.is_file(part) and self._seen(part):
            self._repeated(part.name)
        elif self.is_image(part):
            self.upload.has_image = True
            self.upload.filename = part.filename
            self.upload.content = bytes(part.data)
        elif self.is_file(part):
            self.upload.files[part.name] = bytes(part.data)
        elif part.name in self.upload.fields:
            self._repeated(part.name)
        elif part.name:
            self.upload.fields[part.name] = part.data.decode("utf-8", "replace")

    def _repeated(self, name: str) -> None:
        if name not in self.upload.repeated:
            self.upload.repeated.append(name)

    def is_image(self, part: _Part) -> bool:
        return part.name == self.image_field

    def is_file(self, part: _Part) -> bool:
        return part.name == self.image_field or part.name in self.other_files

    @property
    def overflow(self) -> int:
        """Bytes of a file part seen so far once past the limit, else 0 (set even when
        the part ended in the same chunk that went past the limit)."""
        part = self._part
        if self.is_file(part) and part.size > self.limit:
            return part.size
        return self._overflow


async def read_upload(
    content_type: str, content_length: int | None, body: AsyncIterator[bytes],
    limits: UploadLimits, image_field: str = IMAGE_FIELD, other_files: tuple[str, ...] = (),
    field_limits: Mapping[str, int] | None = None,
) -> Upload:
    """Parse the body; raise the contract's errors (no image, file too large). Parts named
    in ``other_files`` are kept in ``Upload.files`` under the same size limit; a text field
    holds at most ``MAX_FIELD_BYTES`` unless ``field_limits`` names it."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise NoImage()
    collector = _Collector(limits.max_file_bytes, image_field, other_files, field_limits)
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    except FormParserError:  # e.g. a boundary over 256 characters
        raise NoImage() from None
    consumed = 0
    chunks = _with_deadlines(body, limits)
    async for chunk in chunks:
        consumed += len(chunk)
        try:
            parser.write(chunk)
        except FormParserError:
            # A body that is not the multipart its header announced (another boundary, a
            # part header over the parser's limit...): it holds no readable image part.
            raise NoImage() from None
        if collector.overflow:
            # Stop parsing (and keeping) anything: only the total size is still needed.
            tail = len(boundary) + 8  # CRLF "--" boundary "--" CRLF
            if content_length is not None:
                rest = content_length - consumed
            else:
                rest = sum([len(c) async for c in chunks])
            raise FileTooLarge(collector.overflow + rest - tail, limits.max_file_bytes)
    try:
        parser.finalize()
    except FormParserError:
        raise NoImage() from None
    return collector.upload


async def drain(body: AsyncIterator[bytes], limits: UploadLimits) -> None:
    """Consume and drop a body we will not use, up to the size limit and for at most
    ``drain_timeout_s`` (then stop: the answer goes out, the connection may close)."""
    seen = 0
    limits = dataclasses.replace(limits, total_timeout_s=min(limits.total_timeout_s,
                                                             limits.drain_timeout_s))
    try:
        async for chunk in _with_deadlines(body, limits):
            seen += len(chunk)
            if seen > limits.max_file_bytes + MAX_PARTS * MAX_FIELD_BYTES:
                return
    except (UploadTimeout, ClientDisconnect):
        return


async def read_body(body: AsyncIterator[bytes], limits: UploadLimits, max_bytes: int,
                    content_length: int | None = None) -> bytes:
    """A whole non-multipart body (JSON, urlencoded), under the upload's deadlines; past
    ``max_bytes`` (announced or streamed) :class:`FileTooLarge`, counted in the body's
    bytes."""
    if content_length is not None and content_length > max_bytes:
        raise FileTooLarge(content_length, max_bytes)
    received = bytearray()
    async for chunk in _with_deadlines(body, limits):
        received += chunk
        if len(received) > max_bytes:
            raise FileTooLarge(len(received), max_bytes)
    return bytes(received)


async def _with_deadlines(
    body: AsyncIterator[bytes], limits: UploadLimits
) -> AsyncIterator[bytes]:
    """The body's chunks, or :class:`UploadTimeout` when the next one comes too late: for
    the first, ``first_byte_timeout_s``; then ``idle_timeout_s``; never past the total
    deadline; and never below ``min_bytes_per_s`` on average once the first-byte grace is
    over (with R bytes received, the next chunk is due by start + grace + R / rate)."""
    start = time.monotonic()
    deadline = start + limits.total_timeout_s
    grace = limits.first_byte_timeout_s
    received = 0
    iterator = body.__aiter__()
    while True:
        now = time.monotonic()
        due = [deadline - now, limits.idle_timeout_s if received else grace - (now - start)]
        if limits.min_bytes_per_s > 0:
            due.append(start + grace + received / limits.min_bytes_per_s - now)
        remaining = min(due)
        if remaining <= 0:
            raise UploadTimeout()
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout() from None
        received += len(chunk)
        yield chunk


class FormUpload:
    """The removal use case's upload reader for a multipart request (``POST /rmbg``)."""

    def __init__(self, request: Request, limits: UploadLimits) -> None:
        self.request = request
        self.limits = limits

    async def read(self) -> Upload:
        return await read_upload(
            self.request.headers.get("content-type", ""),
            declared_length(self.request.headers.get("content-length")),
            self.request.stream(), self.limits,
        )

    async def discard(self) -> None:
        await drain(self.request.stream(), self.limits)
