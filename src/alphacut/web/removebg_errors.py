"""Every refusal of the remove.bg API in remove.bg's shape:
``{"errors": [{"title", "code", "detail"}]}``, with its statuses (400 with the
documented codes, 402 for used-up credits, 403 for a missing or wrong key, 429 with
Retry-After). The titles are remove.bg's reference's; the detail is alphacut's message.
Nothing is charged on any of them (credits are taken only at delivery).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from alphacut.errors import (
    AlphacutError,
    CorruptImage,
    DailyLimitReached,
    EmailNotVerified,
    EmptyFile,
    FileTooLarge,
    InvalidApiKey,
    InvalidField,
    InvalidSignature,
    KeyAndToken,
    MonthlyLimitReached,
    MultipleValidationErrors,
    OutputTooLarge,
    RateLimited,
    SideTooLarge,
    UnsupportedExtension,
)
from alphacut.errors.removebg import RemoveBgRefusal
from alphacut.http.errors import error_headers, log_error, public_message, status_of
from alphacut.imaging.sniff import ALL_KINDS

_FIELD_TITLES = {
    "size": ("invalid_size", "Invalid value for parameter 'size'"),
    "channels": ("invalid_channels", "Invalid value for parameter 'channels'"),
    "bg_color": ("invalid_bg_color", "Invalid bg_color parameter given"),
    "crop_margin": ("invalid_crop_margin", "Invalid crop_margin parameter given"),
    "format": ("invalid_format", "Invalid format parameter given"),
    "position": ("invalid_position", "Invalid position parameter given"),
    "roi": ("invalid_roi", "Invalid roi parameter given"),
    "scale": ("invalid_scale", "Invalid scale parameter given"),
    "semitransparency": ("invalid_semitransparency",
                         "Invalid semitransparency parameter given"),
}
_CODE_TITLES = {
    "roi_exceeds_bounds": "ROI exceeds image bounds",
    "roi_region_empty": "ROI region is empty",
}
_CREDITS_TITLE = "Insufficient credits"
EXPECTED_TYPES = "/".join(sorted(ALL_KINDS))


def entry(code: str, title: str, detail: str) -> dict[str, str]:
    return {"title": title, "code": code, "detail": detail}


def field_entry(field: str, message: str, code: str | None = None) -> dict[str, str]:
    """A field's error: remove.bg's code and title where it has them, else
    ``invalid_<field>`` (alphacut's extensions and the fields remove.bg gives no code)."""
    default = (f"invalid_{field}", f"Invalid {field} parameter given")
    known_code, title = _FIELD_TITLES.get(field, default)
    if code is not None:
        return entry(code, _CODE_TITLES.get(code, title), message)
    return entry(known_code, title, message)


def removebg_error(err: AlphacutError, key_sent: bool) -> tuple[int, list[dict[str, str]]]:
    """The status and ``errors`` list of one refusal."""
    if isinstance(err, RemoveBgRefusal):
        return 400, [entry(err.code, err.title, err.detail)]
    if isinstance(err, InvalidField):
        return 400, [field_entry(err.field, err.message, getattr(err, "code", None))]
    if isinstance(err, MultipleValidationErrors):
        return 400, [field_entry(d.field, d.message) for d in err.details]
    if isinstance(err, InvalidApiKey | EmailNotVerified | KeyAndToken):
        title = "API Key invalid" if key_sent else "Missing API Key"
        return 403, [entry("auth_failed", title, err.message if key_sent else
                           "Send your API key in the X-Api-Key header.")]
    if isinstance(err, MonthlyLimitReached | DailyLimitReached):
        return 402, [entry("insufficient_credits", _CREDITS_TITLE, err.message)]
    if isinstance(err, RateLimited):
        return 429, [entry("rate_limit_exceeded", "Rate limit exceeded", err.message)]
    if isinstance(err, FileTooLarge):
        limit_mb = err.limit_bytes // 2**20
        return 400, [entry("file_too_large", "File too large",
                           f"File exceeds limit of {limit_mb}MB")]
    if isinstance(err, InvalidSignature | EmptyFile | UnsupportedExtension):
        received = getattr(err, "received", None) or "something else"
        if isinstance(err, EmptyFile):
            received = "an empty file"
        return 400, [entry("invalid_file_type", "Invalid file type",
                           f"Expected {EXPECTED_TYPES}, received {received}")]
    if isinstance(err, CorruptImage):
        return 400, [entry("failed_to_read_image", "There was an error reading the image.",
                           err.message)]
    if isinstance(err, SideTooLarge | OutputTooLarge):
        return 400, [entry("resolution_too_high", "Image resolution too high", err.message)]
    status = status_of(err)
    code = "invalid_request" if status < 500 else "server_error"
    message = public_message(err)
    return status, [entry(code, message, message)]


def removebg_error_response(err: AlphacutError, key_sent: bool) -> JSONResponse:
    log_error(err)
    status, errors = removebg_error(err, key_sent)
    # remove.bg's 402 says nothing about when to retry (our monthly 429 would).
    headers = {} if status == 402 else error_headers(err)
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["title"],
        "properties": {
            "title": {"type": "string", "description": "remove.bg's error message."},
            "code": {"type": "string", "description": "remove.bg's error code, e.g. "
                                                      "file_too_large."},
            "detail": {"type": "string", "description": "alphacut's detailed message."},
        }}}},
}
