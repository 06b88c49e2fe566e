"""The OpenAPI entries of the remove.bg API (tag ``remove.bg``): its three request bodies,
its answers and headers, and its errors, in remove.bg's words."""

from __future__ import annotations

from typing import Any

from alphacut.domain.removebg import FORMATS, SHADOW_TYPES, SIZES, TYPE_LEVELS, TYPES
from alphacut.web.removebg_errors import ERROR_SCHEMA


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_BOOL_TEXT = {"type": "boolean"}

_FIELDS: dict[str, Any] = {
    "image_file_b64": _text("The source image as base64 (its decoded size is limited like an "
                            "upload's)."),
    "image_url": _text("The source image's URL; fetched only when the operator enabled "
                       "ALPHACUT_URL_FETCH (else invalid_image_url), never from private or "
                       "loopback addresses unless allow-listed."),
    "size": _text("Result size: preview/small/regular (at most 0.25 MP), medium (1.5 MP), "
                  "hd (4 MP), full/4k/auto/50mp (the image's own size).",
                  enum=list(SIZES), default="preview"),
    "type": _text("Accepted and reported in X-Type (auto reports 'other'); with car, the "
                  "shadow's default opacity is 90 instead of 50.", enum=list(TYPES),
                  default="auto"),
    "type_level": _text("none leaves X-Type out.", enum=list(TYPE_LEVELS), default="1"),
    "format": _text("auto: PNG when the result has transparency, else JPG; zip: color.jpg "
                    "+ alpha.png.", enum=list(FORMATS), default="auto"),
    "roi": _text("Region of interest 'x1 y1 x2 y2', px or %: only pixels inside can be "
                 "foreground.", default="0% 0% 100% 100%"),
    "crop": {**_BOOL_TEXT, "default": False, "description": "Crop to the subject."},
    "crop_margin": _text("Margin around the cropped subject: 1, 2 or 4 values (CSS order), "
                         "px or % of the subject, each at most 500px or 50%.", default="0"),
    "scale": _text("The subject's size against the canvas: 10%-100% or original; implies "
                   "position=center.", default="original"),
    "position": _text("original, center, or one or two of 0%-100% (horizontal, vertical).",
                      default="original"),
    "channels": _text("rgba: the cut-out; alpha: the matte only.", enum=["rgba", "alpha"],
                      default="rgba"),
    "bg_color": _text("Background colour: hex with 3, 4, 6 or 8 digits (no # needed) or a "
                      "colour name."),
    "bg_image_url": _text("A background image's URL (fetched as image_url is), scaled to "
                          "cover the canvas."),
    "add_shadow": {**_BOOL_TEXT, "default": False,
                   "description": "A soft contact shadow under the subject (any subject)."},
    "shadow_type": _text("Any value but none adds the shadow.", enum=list(SHADOW_TYPES)),
    "shadow_opacity": _text("0-100 or auto (50; 90 for type=car)."),
    "semitransparency": {**_BOOL_TEXT, "default": True,
                         "description": "false: no semi-transparent pixels (alpha cut at "
                                        "50%)."},
    "shadow_softness": {"type": "integer", "minimum": 0, "maximum": 500,
                        "description": "alphacut extension: the shadow's blur in px."},
}

_FILES = {
    "image_file": {"type": "string", "format": "binary",
                   "description": "The source image: jpg, png, webp, bmp, heic/heif, avif, "
                                  "tiff or gif (first frame); its type is read from the "
                                  "bytes."},
    "bg_image_file": {"type": "string", "format": "binary",
                      "description": "A background image, scaled to cover the canvas."},
}


def _error(description: str, title: str, code: str,
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {
        "schema": ERROR_SCHEMA,
        "example": {"errors": [{"title": title, "code": code, "detail": "..."}]}}}}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


_RATE = {
    "X-RateLimit-Limit": _header("Images per window for this key's plan."),
    "X-RateLimit-Remaining": _header("Images left in this window."),
    "X-RateLimit-Reset": _header("Unix second the window starts over."),
}
_AUTH = _error("No API key, or a wrong or revoked one (no anonymous tier here).",
               "API Key invalid", "auth_failed")

REMOVEBG_OPERATION: dict[str, Any] = {
    "security": [{"ApiKey": []}],
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object",
                                           "properties": {**_FILES, **_FIELDS}}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object",
                                                         "properties": _FIELDS}},
        "application/json": {"schema": {"type": "object", "properties": _FIELDS}},
    }},
    "responses": {
        "200": {
            "description": "The result: image bytes, or with `Accept: application/json` "
                           "the JSON below. One credit charged (X-Credits-Charged).",
            "content": {
                "image/*": {"schema": {"type": "string", "format": "binary"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object", "properties": {
                    "data": {"type": "object", "properties": {
                        "result_b64": {"type": "string"},
                        "foreground_top": {"type": "integer"},
                        "foreground_left": {"type": "integer"},
                        "foreground_width": {"type": "integer"},
                        "foreground_height": {"type": "integer"},
                    }}}}},
            },
            "headers": {
                "X-Credits-Charged": _header("Credits charged for this image (1).", "number"),
                "X-Width": _header("Result width."), "X-Height": _header("Result height."),
                "X-Type": _header("The type asked for ('other' for auto); absent with "
                                  "type_level=none.", "string"),
                "X-Uncertainty-Score": _header("alphacut: how unsure the model was, 0-1.",
                                               "number"),
                "X-Model": _header("alphacut: the model that answered.", "string"),
                "X-Foreground-Top": _header("The subject's box in the result."),
                "X-Foreground-Left": _header("The subject's box in the result."),
                "X-Foreground-Width": _header("The subject's box in the result."),
                "X-Foreground-Height": _header("The subject's box in the result."),
                **_RATE,
            },
        },
        "400": _error("Invalid parameters or input (no credits charged); every invalid field "
                      "is listed.", "Invalid crop_margin parameter given",
                      "invalid_crop_margin"),
        "402": _error("No credits left (no credits charged).", "Insufficient credits",
                      "insufficient_credits"),
        "403": _AUTH,
        "408": _error("The upload was too slow.", "The upload was too slow and timed out. "
                      "Please retry.", "invalid_request"),
        "429": _error("Rate limited (no credits charged).", "Rate limit exceeded",
                      "rate_limit_exceeded",
                      {"Retry-After": _header("Seconds to wait."), **_RATE}),
        "503": _error("The server is busy or its store is unavailable; retry later.",
                      "The server is busy. Please retry shortly.", "server_error",
                      {"Retry-After": _header("Seconds to wait.")}),
    },
}

ACCOUNT_OPERATION: dict[str, Any] = {
    "security": [{"ApiKey": []}],
    "responses": {
        "200": {"description": "The key's user's credits.", "content": {"application/json": {
            "example": {"data": {"attributes": {
                "credits": {"total": 200, "subscription": 150, "payg": 50, "enterprise": 0},
                "api": {"free_calls": 0, "sizes": "all"}}}}}}},
        "403": _AUTH,
    },
}
