"""Read a remove.bg request: multipart, urlencoded or JSON; exactly one image source.

The sources are ``image_file`` (a file part), ``image_file_b64`` (base64 text, limited
by its decoded size) and ``image_url`` (fetched only when the operator allows it, see
``alphacut.service.url_fetch``); the background's are ``bg_color``, ``bg_image_file`` and
``bg_image_url``. What is read becomes an :class:`Upload` whose ``content`` is the
image and whose ``files["bg_image_file"]`` is the background image, so the removal use
case treats every body alike (a URL is fetched inside the upload's place and
deadlines, like a slow upload).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from alphacut.domain.removebg import parse_removebg
from alphacut.domain.upload import Upload, UploadLimits
from alphacut.errors import FileTooLarge, InvalidField, NoImage
from alphacut.errors.fetch import FetchDisabled, FetchFailed, UrlRefused
from alphacut.errors.removebg import (
    BodyNotReadable,
    FailedBgDownload,
    FailedImageDownload,
    InvalidBase64,
    InvalidBgImageUrl,
    InvalidImageUrl,
    MissingSource,
    MultipleBgSources,
    MultipleSources,
    RemoveBgRefusal,
)
from alphacut.http.headers import declared_length
from alphacut.service.offload import Offload
from alphacut.service.removebg import BG_FILE
from alphacut.web.upload import MAX_FIELD_BYTES, MAX_PARTS, drain, read_body, read_upload

IMAGE_FILE = "image_file"
B64_FIELD = "image_file_b64"
_SOURCES = (IMAGE_FILE, B64_FIELD, "image_url")
_BG_SOURCES = ("bg_color", "bg_image_url", BG_FILE)
_DATA_URL = re.compile(r"data:[\w.+/-]*(;[\w=.+-]*)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")

Fetch = Callable[[str], Awaitable[bytes]]


def decoded_size(base64_chars: int) -> int:
    """The bytes ``base64_chars`` characters of base64 decode to (at most)."""
    return base64_chars * 3 // 4


def base64_limit(max_bytes: int) -> int:
    """Characters of base64 that decode to at most ``max_bytes``: padding included, and
    room for MIME's line breaks (CRLF every 76 characters) and a ``data:`` prefix."""
    text = 4 * math.ceil(max_bytes / 3)
    return text + text // 38 + 1024


class RemoveBgUpload:
    """The removal use case's upload reader for ``POST /v1.0/removebg``. ``offload`` runs
    the CPU-bound parts (a JSON or form body, a base64 image: tens of MB) off the event
    loop."""

    def __init__(self, request: Request, limits: UploadLimits, fetch: Fetch,
                 offload: Offload) -> None:
        self.request = request
        self.limits = limits
        self.fetch = fetch
        self.offload = offload

    async def read(self) -> Upload:
        upload = await self._body()
        self._check_sources(upload)
        if upload.repeated:  # which of two values was meant? Not ours to guess
            name = upload.repeated[0]
            raise InvalidField(name, f"'{name}' was sent more than once; send each field "
                                     "once.")
        # Every field checked before anything is decoded or fetched.
        await self.offload(parse_removebg, upload.fields)
        b64 = upload.fields.pop("image_file_b64", "")
        url = upload.fields.pop("image_url", "").strip()
        if b64.strip():
            upload.content = await self.offload(decode_base64, b64,
                                                self.limits.max_file_bytes)
            del b64
        elif url:
            upload.content = await self._fetched(url, InvalidImageUrl, FailedImageDownload)
        upload.has_image = True
        bg_url = upload.fields.pop("bg_image_url", "").strip()
        if bg_url:
            upload.files[BG_FILE] = await self._fetched(bg_url, InvalidBgImageUrl,
                                                        FailedBgDownload)
        return upload

    async def discard(self) -> None:
        await drain(self.request.stream(), self.limits)

    async def _body(self) -> Upload:
        headers = self.request.headers
        kind, _ = parse_options_header(headers.get("content-type", ""))
        length = declared_length(headers.get("content-length"))
        b64_limit = base64_limit(self.limits.max_file_bytes)
        if kind == b"multipart/form-data":
            try:
                return await read_upload(headers.get("content-type", ""), length,
                                         self.request.stream(), self.limits,
                                         image_field=IMAGE_FILE, other_files=(BG_FILE,),
                                         field_limits={B64_FIELD: b64_limit})
            except NoImage:  # not the multipart its header announced
                raise MissingSource() from None
            except FileTooLarge as err:
                if err.limit_bytes == self.limits.max_file_bytes:
                    raise
                # image_file_b64 as a form field: said in the image's bytes.
                raise FileTooLarge(decoded_size(err.size_bytes),
                                   self.limits.max_file_bytes) from None
        # A base64 image and a few fields: the decoded image's limit, in base64.
        most = b64_limit + MAX_PARTS * MAX_FIELD_BYTES
        try:
            body = await read_body(self.request.stream(), self.limits, most, length)
        except FileTooLarge as err:
            # Said in the image's bytes, as an upload's would be.
            raise FileTooLarge(decoded_size(err.size_bytes), self.limits.max_file_bytes) from None
        if kind == b"application/json":
            return await self.offload(json_fields, body, self.limits.max_file_bytes)
        if kind in (b"application/x-www-form-urlencoded", b""):
            return await self.offload(form_fields, body, self.limits.max_file_bytes)
        raise BodyNotReadable("Send multipart/form-data, application/x-www-form-urlencoded "
                              "or application/json.")

    @staticmethod
    def _check_sources(upload: Upload) -> None:
        if upload.has_image and not upload.content:
            upload.has_image = False  # an empty part (a browser's empty file input)
        if not upload.files.get(BG_FILE, b"x"):
            del upload.files[BG_FILE]
        given = [name for name in _SOURCES
                 if (upload.has_image if name == IMAGE_FILE else _set(upload, name))]
        if not given:
            raise MissingSource()
        if len(given) > 1:
            raise MultipleSources(given)
        backgrounds = [name for name in _BG_SOURCES
                       if (BG_FILE in upload.files if name == BG_FILE else _set(upload, name))]
        if len(backgrounds) > 1:
            raise MultipleBgSources(backgrounds)

    async def _fetched(self, url: str, invalid: type[RemoveBgRefusal],
                       failed: type[RemoveBgRefusal]) -> bytes:
        try:
            return await self.fetch(url)
        except (FetchDisabled, UrlRefused) as err:
            raise invalid(err.message) from None
        except FetchFailed as err:
            raise failed(err.message) from None


def _set(upload: Upload, name: str) -> bool:
    return bool(upload.fields.get(name, "").strip())


def decode_base64(text: str, max_bytes: int) -> bytes:
    """Standard or URL-safe base64, whitespace and a ``data:...;base64,`` prefix allowed,
    padding optional; :class:`FileTooLarge` by the decoded size, before decoding."""
    raw = text.strip()
    prefix = _DATA_URL.match(raw)
    if prefix:
        raw = raw[prefix.end():]
    data = _WHITESPACE.sub(b"", raw.encode("ascii", "replace"))
    size = decoded_size(len(data.rstrip(b"=")))
    if size > max_bytes:
        raise FileTooLarge(size, max_bytes)
    data = data.replace(b"-", b"+").replace(b"_", b"/")
    data += b"=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64() from None


def json_fields(body: bytes, max_file_bytes: int) -> Upload:
    """A JSON object's members as text: booleans as ``true``/``false``, numbers as
    written, null as absent; anything nested is refused, a member sent twice too."""
    upload = Upload()

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name, value in pairs:
            if name in seen and name not in upload.repeated:
                upload.repeated.append(name)
            seen.setdefault(name, value)
        return seen

    try:
        document = json.loads(body, object_pairs_hook=members)
    except (ValueError, RecursionError):
        raise BodyNotReadable("The body is not valid JSON.") from None
    del body
    if not isinstance(document, dict):
        raise BodyNotReadable("The JSON body must be an object.")
    for name, value in document.items():
        if value is None:
            continue
        if isinstance(value, bool):
            upload.fields[name] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            upload.fields[name] = _bounded(name, str(value), max_file_bytes)
        else:
            raise BodyNotReadable(f"The JSON member '{name}' must be a string, a number or "
                                  "a boolean.")
    return upload


def form_fields(body: bytes, max_file_bytes: int) -> Upload:
    """An urlencoded body's fields (a field sent twice is noted, its first value kept)."""
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=MAX_PARTS)
    except ValueError:
        raise BodyNotReadable(f"Too many form fields (more than {MAX_PARTS}).") from None
    del body
    upload = Upload()
    for name, value in pairs:
        if name in upload.fields:
            if name not in upload.repeated:
                upload.repeated.append(name)
            continue
        upload.fields[name] = _bounded(name, value, max_file_bytes)
    return upload


def _bounded(name: str, value: str, max_file_bytes: int) -> str:
    """A field's text, refused past the multipart fields' limit (the base64 image past its
    own: the upload limit, in base64; said in the image's bytes, as an upload's would be)."""
    if name == B64_FIELD:
        if len(value) > base64_limit(max_file_bytes):
            raise FileTooLarge(decoded_size(len(value)), max_file_bytes)
    elif len(value) > MAX_FIELD_BYTES:
        raise BodyNotReadable(f"Field '{name[:50]}' is too large.")
    return value
