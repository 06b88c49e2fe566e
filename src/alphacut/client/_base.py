"""The client's core: build requests and read replies. No I/O here.

``Client`` and ``AsyncClient`` only move the bytes this module prepares and hand
back what arrived; everything about the contract (form fields, headers, the
error body, the usage JSON) lives here once, for both.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO, Literal

import httpx

from alphacut.client.errors import (
    ApiError,
    ErrorDetail,
    NetworkError,
    NetworkTimeoutError,
    UnexpectedResponseError,
    error_class,
)
from alphacut.client.models import (
    BillingCycle,
    BillingCycles,
    Box,
    CycleUsage,
    MembershipUsage,
    ProgressCallback,
    ProgressEvent,
    RateLimit,
    RemovalResult,
)

CHUNK_SIZE = 64 * 1024
API_KEY_HEADER = "x-api-key"
USER_AGENT = "alphacut-python-client"
RMBG_PATH = "/rmbg"
USAGE_PATH = "/api/membership-usage"
# Inference may wait in the server's queue: a generous read timeout, a short connect one.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Mapping[str, str]
"""A path, the encoded bytes, a binary file object, or ``{"base64": ...}`` (raw or a
``data:`` URL)."""

_KINDS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "bmp": "image/bmp"}
_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp",
             "image/bmp": ".bmp"}


# --- the image ---------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


def input_source(image: ImageInput) -> Path | bytes | BinaryIO:
    """What to read: a path, bytes already in hand (base64 decoded), or a file object."""
    if isinstance(image, str | os.PathLike):
        return Path(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, Mapping):
        if "base64" not in image:
            raise TypeError("an input mapping needs a 'base64' key")
        return decode_base64(image["base64"])
    if callable(getattr(image, "read", None)):
        return image
    raise TypeError(
        f"input_image must be a path, bytes, a binary file or {{'base64': ...}}, "
        f"not {type(image).__name__}")


def decode_base64(text: str) -> bytes:
    """Raw base64 or a ``data:...;base64,`` URL; whitespace and missing padding are fine."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"input_image['base64'] is not valid base64: {exc}") from exc


def sniff_kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    return None


def upload_of(data: bytes, name: str | None = None) -> Upload:
    """The image part. A real file name is kept (the server checks its extension); bytes
    without one are named after their signature (the server trusts the signature)."""
    kind = sniff_kind(data)
    content_type = _KINDS.get(kind or "", "application/octet-stream")
    filename = PurePath(name).name if name else ""
    return Upload(filename or f"image.{'jpg' if kind == 'jpeg' else kind or 'png'}",
                  content_type, data)


# --- the request ---------------------------------------------------------------


@dataclass(frozen=True)
class RemoveParams:
    """The form fields, sent the way the official Node client sends them: ``w``/``h`` 0
    when unset, the booleans always, ``expand`` true unless told."""

    format: str | None = None
    return_base64: bool = False
    return_mask: bool = False
    w: int | None = None
    h: int | None = None
    exact_resize: bool = False
    angle: float | None = None
    expand: bool | None = None
    bg_color: str | None = None
    # alphacut's extensions, sent only when given (None = the server's setting).
    model: str | None = None
    refine: bool | None = None
    decontaminate: bool | None = None
    tta: bool | None = None
    feather: int | None = None
    # Layout (remove.bg's names and text forms, e.g. roi="0% 0% 100% 100%",
    # crop_margin="10px 5%", scale="80%", position="center"), sent only when given.
    roi: str | None = None
    crop: bool | None = None
    crop_margin: str | None = None
    scale: str | None = None
    position: str | None = None
    add_shadow: bool | None = None
    shadow_opacity: int | None = None
    shadow_softness: int | None = None
    semitransparency: bool | None = None

    def form_fields(self) -> list[tuple[str, str]]:
        fields = [("exact_resize", _flag(self.exact_resize)), ("w", str(self.w or 0)),
                  ("h", str(self.h or 0)), ("mask", _flag(self.return_mask)),
                  ("return_base64", _flag(self.return_base64)),
                  ("expand", _flag(True if self.expand is None else self.expand))]
        if self.angle is not None:
            fields.append(("angle", str(self.angle)))
        if self.bg_color is not None:
            fields.append(("bg_color", self.bg_color))
        if self.format is not None:
            fields.append(("format", self.format))
        if self.model is not None:
            fields.append(("model", self.model))
        for name, text in (("roi", self.roi), ("crop_margin", self.crop_margin),
                           ("scale", self.scale), ("position", self.position)):
            if text is not None:
                fields.append((name, text))
        for name, number in (("feather", self.feather), ("shadow_opacity", self.shadow_opacity),
                             ("shadow_softness", self.shadow_softness)):
            if number is not None:
                fields.append((name, str(number)))
        for name, value in (("refine", self.refine), ("decontaminate", self.decontaminate),
                            ("tta", self.tta), ("crop", self.crop),
                            ("add_shadow", self.add_shadow),
                            ("semitransparency", self.semitransparency)):
            if value is not None:
                fields.append((name, _flag(value)))
        return fields


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class MultipartBody:
    """A ``multipart/form-data`` body, kept in three pieces so the image is never copied
    whole and can be streamed (again, on a retry) in chunks."""

    boundary: str
    head: bytes = field(repr=False)
    data: bytes = field(repr=False)
    tail: bytes = field(repr=False)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self.head) + len(self.data) + len(self.tail)

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        yield self.head
        view = memoryview(self.data)
        for start in range(0, len(view), size):
            yield bytes(view[start:start + size])
        yield self.tail


def encode_multipart(
    fields: list[tuple[str, str]], upload: Upload, boundary: str | None = None
) -> MultipartBody:
    boundary = boundary or secrets.token_hex(16)
    dash = f"--{boundary}\r\n".encode()
    head = b"".join(
        dash + f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode() + b"\r\n"
        for name, value in fields)
    head += dash + (
        f'Content-Disposition: form-data; name="image"; filename="{_quote(upload.filename)}"'
        f"\r\nContent-Type: {upload.content_type}\r\n\r\n").encode()
    return MultipartBody(boundary, head, upload.data, f"\r\n--{boundary}--\r\n".encode())


def _quote(filename: str) -> str:
    """Escape a file name for a quoted header parameter the way browsers do (WHATWG)."""
    return (filename.replace("\\", "\\\\").replace('"', "%22")
            .replace("\r", "%0D").replace("\n", "%0A"))


@dataclass(frozen=True)
class RequestSpec:
    method: Literal["GET", "POST"]
    path: str
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    body: MultipartBody | None = None

    @property
    def all_headers(self) -> dict[str, str]:
        if self.body is None:
            return self.headers
        # An explicit length: the server can refuse an oversize upload at once, and
        # httpx sends the streamed body with it instead of chunked encoding.
        return self.headers | {"content-type": self.body.content_type,
                               "content-length": str(self.body.length)}


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {API_KEY_HEADER: api_key} if api_key else {}


def removal_request(upload: Upload, params: RemoveParams, api_key: str | None) -> RequestSpec:
    body = encode_multipart(params.form_fields(), upload)
    return RequestSpec("POST", RMBG_PATH, auth_headers(api_key), body=body)


def usage_request(
    api_key: str | None, *, year: int | None, month: int | None,
    period_start_unix: int | None, expand_billing_cycle: bool, list_billing_cycles: bool,
) -> RequestSpec:
    params: dict[str, str] = {}
    if list_billing_cycles:
        params["listBillingCycles"] = "true"
    else:
        for name, value in (("year", year), ("month", month),
                            ("periodStartUnix", period_start_unix)):
            if value is not None:
                params[name] = str(value)
        if expand_billing_cycle:
            params["expand"] = "billing_cycle"
    return RequestSpec("GET", USAGE_PATH, auth_headers(api_key) | {"accept": "application/json"},
                       params)


def upload_chunks(body: MultipartBody, on_progress: ProgressCallback | None) -> Iterator[bytes]:
    """The body in chunks; ``on_progress`` fires as each one has been taken for sending."""
    loaded = 0
    for chunk in body.chunks():
        yield chunk
        loaded += len(chunk)
        if on_progress is not None:
            on_progress(ProgressEvent.of(loaded, body.length, "upload"))


# --- the reply -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str] = field(repr=False)  # case-insensitive (httpx.Headers)
    content: bytes = field(repr=False)


def content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def check(reply: Reply) -> Reply:
    """The reply itself when it is a success, else its error raised."""
    if 200 <= reply.status < 300:
        return reply
    raise api_error(reply)


def api_error(reply: Reply) -> ApiError:
    body: object
    try:
        body = json.loads(reply.content)
    except ValueError:
        body = reply.content.decode("utf-8", "replace")
    message, details = _error_message(body)
    return error_class(reply.status)(
        reply.status, message or _fallback_message(reply), details,
        request_id=reply.headers.get("x-request-id"),
        retry_after=retry_after(reply.headers), body=body)


def _error_message(body: object) -> tuple[str, list[ErrorDetail]]:
    if not isinstance(body, dict):
        return (body.strip()[:500] if isinstance(body, str) else ""), []
    message = body.get("error") or body.get("detail") or body.get("message") or ""
    details = [ErrorDetail(str(d.get("field", "")), str(d.get("message", "")))
               for d in body.get("details") or [] if isinstance(d, dict)]
    return str(message), details


def _fallback_message(reply: Reply) -> str:
    return f"HTTP {reply.status}"


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    values = [headers.get(f"x-ratelimit-{name}", "") for name in ("limit", "remaining", "reset")]
    if not all(v.isdigit() for v in values):
        return None
    return RateLimit(*(int(v) for v in values))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name, "")
    return int(value) if value.isdigit() else None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers.get(name, ""))
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def foreground(headers: Mapping[str, str]) -> Box | None:
    """The subject's box from ``X-Foreground-*``; None without a subject (or the headers:
    a plain RemBG server)."""
    left, top, width, height = (_int_header(headers, f"x-foreground-{side}")
                                for side in ("left", "top", "width", "height"))
    if left is None or top is None or width is None or height is None:
        return None
    return Box(left, top, width, height)


def removal_result(reply: Reply, *, return_base64: bool) -> RemovalResult:
    """The result without a file (the shell writes the temp file when one is wanted)."""
    media_type = reply.headers.get("content-type", "").partition(";")[0].strip()
    if not media_type.startswith("image/"):
        raise UnexpectedResponseError(
            f"expected an image from {RMBG_PATH}, got {media_type or 'no content type'}")
    encoded = base64.b64encode(reply.content).decode("ascii") if return_base64 else None
    return RemovalResult(
        content=reply.content, media_type=media_type,
        width=_int_header(reply.headers, "x-width"), height=_int_header(reply.headers, "x-height"),
        request_id=reply.headers.get("x-request-id"), rate_limit=rate_limit(reply.headers),
        foreground=foreground(reply.headers),
        uncertainty=_float_header(reply.headers, "x-uncertainty-score"),
        model=reply.headers.get("x-model") or None,
        base64_image=f"data:{media_type};base64,{encoded}" if encoded is not None else None,
        headers=dict(reply.headers.items()))


def suffix_for(media_type: str) -> str:
    return _SUFFIXES.get(media_type, ".bin")


# --- plan and usage ------------------------------------------------------------------


def membership_usage(reply: Reply) -> MembershipUsage:
    body = _json_object(reply)
    cycle = body.get("billingCycle")
    membership = body.get("membership")
    return MembershipUsage(
        membership=membership if isinstance(membership, str) else None,
        credits=_int(body, "credits"), prepaid_credits=_int(body, "prepaidCredits"),
        app_usage=_int(body, "app_usage"), api_usage=_int(body, "api_usage"),
        billing_cycle=_billing_cycle(cycle) if isinstance(cycle, dict) else None, raw=body)


def _billing_cycle(data: dict[str, object]) -> BillingCycle:
    return BillingCycle(
        period_start_unix=_int(data, "periodStartUnix"),
        period_end_unix=_int(data, "periodEndUnix"),
        app_usage=_int(data, "appUsage"), api_usage=_int(data, "apiUsage"),
        included_credits=_int(data, "includedCredits"),
        prepaid_credits=_int(data, "prepaidCredits"),
        used_included_credits=_int(data, "usedIncludedCredits"),
        remaining_included_credits=_int(data, "remainingIncludedCredits"),
        stripe_billing_synced=bool(data.get("stripeBillingSynced", False)))


def billing_cycles(reply: Reply) -> BillingCycles:
    body = _json_object(reply)
    listed = body.get("billingCycles")
    if not isinstance(listed, list):
        raise UnexpectedResponseError("the answer has no 'billingCycles' list")
    cycles = tuple(
        CycleUsage(_int(c, "periodStartUnix"), _int(c, "periodEndUnix"),
                   _int(c, "appUsage"), _int(c, "apiUsage"))
        for c in listed if isinstance(c, dict))
    return BillingCycles(cycles, raw=body)


def _json_object(reply: Reply) -> dict[str, object]:
    try:
        body = json.loads(reply.content)
    except ValueError as exc:
        raise UnexpectedResponseError(f"{USAGE_PATH} did not answer JSON") from exc
    if not isinstance(body, dict):
        raise UnexpectedResponseError(f"{USAGE_PATH} did not answer a JSON object")
    return body


def _int(data: dict[str, object], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnexpectedResponseError(f"'{key}' is missing or not a number in the answer")
    return int(value)


# --- failures without an answer -----------------------------------------------------


def network_error(exc: httpx.TransportError, base_url: str) -> NetworkError:
    """Ours, from httpx's. Retryable only where the request cannot have run: no
    connection was made, or it closed before the server said anything."""
    where = f"{base_url}: {type(exc).__name__}: {exc}" if str(exc) else (
        f"{base_url}: {type(exc).__name__}")
    if isinstance(exc, httpx.TimeoutException):
        retryable = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
        return NetworkTimeoutError(f"timed out talking to {where}", retryable=retryable)
    retryable = isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError)
    return NetworkError(f"could not reach {where}", retryable=retryable)
