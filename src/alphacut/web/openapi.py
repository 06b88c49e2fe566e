"""The OpenAPI 3.1 document: FastAPI's generated paths plus the hand-written parts that
a streamed multipart endpoint cannot infer: its form fields (from the removal options'
schema, ``alphacut.domain.options``) and every error."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from alphacut.domain.options import options_of

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "The message (part of the contract)."},
        "status": {"type": "integer", "description": "Equal to the HTTP status."},
        "details": {
            "type": "array",
            "description": "Present only for 'Multiple validation errors'.",
            "items": {
                "type": "object", "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_BOOL = {"type": "boolean"}


def _example(message: str, status: int) -> dict[str, Any]:
    return {"value": {"error": message, "status": status}}


ERROR_EXAMPLES_400: dict[str, Any] = {
    "no_image": _example(
        "No image file provided. Please include an 'image' field in your form data.", 400),
    "no_file_selected": _example("No file selected. Please choose an image file to upload.", 400),
    "bad_extension": _example(
        "File type '.exe' is not supported. Allowed formats: webp, bmp, png, jpg, jpeg", 400),
    "bad_signature": _example(
        "File does not appear to be a valid image (invalid file signature)", 400),
    "empty": _example("Uploaded file is empty (0 bytes).", 400),
    "too_large": _example(
        "File size (55.2 MB) exceeds the maximum allowed size of 50 MB.", 400),
    "too_wide": _example(
        "Image width (12000px) exceeds the maximum allowed width of 10000px.", 400),
    "too_tall": _example(
        "Image height (15000px) exceeds the maximum allowed height of 10000px.", 400),
    "output_too_tall": _example(
        "Output height (26667px) exceeds the maximum allowed height of 10000px.", 400),
    "output_too_many_pixels": _example(
        "Output size (10000x10000 = 100000000px) exceeds the maximum allowed of 50000000px.",
        400),
    "bad_format": _example("Invalid format 'gif'. Allowed formats: PNG, JPEG, WEBP, BMP", 400),
    "bad_color": _example(
        "Invalid color format '#12345'. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA", 400),
    "mask_and_color": _example(
        "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other.", 400),
    "key_and_token": _example("This is a mistake: Cannot use both API key and user token", 400),
    "model_not_installed": _example(
        "Model 'u2net' is not installed on this server. Installed models: u2netp.", 400),
    "multiple": {"value": {
        "error": "Multiple validation errors",
        "details": [
            {"field": "w", "message": "'w' must be an integer, got: 'abc'"},
            {"field": "angle",
             "message": "'angle' must be between -360 and 360 degrees, got: 500.0"},
        ],
        "status": 400,
    }},
}


def _error(description: str, examples: dict[str, Any],
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}, "examples": examples}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer"}}}

def _form_properties() -> dict[str, Any]:
    """The upload, every removal option's field (from its schema row, in its order), and
    the Node client's ``return_base64``."""
    properties: dict[str, Any] = {
        "image": {"type": "string", "format": "binary",
                  "description": "The input image: webp, bmp, png, jpg or jpeg (at most 50 MB "
                                 "and 10000 px a side). The type is read from the bytes."},
    }
    for _, spec in options_of():
        properties[spec.form.name] = {**spec.form.schema, "description": spec.form.description}
    properties["return_base64"] = {
        **_BOOL, "default": False,
        "description": "Accepted for the official Node client and ignored: the answer is "
                       "always binary image bytes."}
    return properties


RMBG_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["image"],
    "properties": _form_properties(),
}

RMBG_OPERATION: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": RMBG_FORM}},
    },
    "security": [{}, {"ApiKey": []}, {"UserToken": []}],
    "responses": {
        "200": {
            "description": "The processed image, in the requested format.",
            "headers": {
                "X-Width": {"description": "Output width in px.", "schema": {"type": "integer"}},
                "X-Height": {"description": "Output height in px.",
                             "schema": {"type": "integer"}},
                **{f"X-Foreground-{side}": {
                    "description": "The subject's box in the result (alphacut extension, "
                                   "remove.bg's header); absent when there is no subject.",
                    "schema": {"type": "integer"}} for side in ("Left", "Top", "Width",
                                                                 "Height")},
                "X-Uncertainty-Score": {
                    "description": "How unsure the model was about this image: 0 = confident, "
                                   "1 = unsure (docs/quality.md).",
                    "schema": {"type": "number", "minimum": 0, "maximum": 1}},
                "X-Model": {"description": "The model that answered (the cascade's choice, "
                                           "or the one asked for).",
                            "schema": {"type": "string"}},
                "X-Request-Id": {"description": "Id of this request (also in the server log).",
                                 "schema": {"type": "string"}},
                "Server-Timing": {"description": "decode, inference, encode... in ms.",
                                  "schema": {"type": "string"}},
                "X-RateLimit-Limit": {"description": "Images allowed per rate window.",
                                      "schema": {"type": "integer"}},
                "X-RateLimit-Remaining": {"description": "Images left in this window.",
                                          "schema": {"type": "integer"}},
                "X-RateLimit-Reset": {"description": "Unix second the window restarts.",
                                      "schema": {"type": "integer"}},
                "X-Credits-Charged": {"description": "Credits used (key or token only).",
                                      "schema": {"type": "integer"}},
                "X-Credits-Remaining": {"description": "Included (this window) + prepaid "
                                        "credits left (key or token only).",
                                        "schema": {"type": "integer"}},
            },
            "content": {m: {"schema": {"type": "string", "format": "binary"}}
                        for m in ("image/webp", "image/png", "image/jpeg", "image/bmp")},
        },
        "400": _error("Invalid request: the upload or a field.", ERROR_EXAMPLES_400),
        "401": _error("Unknown or revoked API key.", {"invalid_key": _example("invalid api key",
                                                                                401)}),
        "403": _error("The account's e-mail address is not verified.", {"unverified": _example(
            "Email address not verified – please check your inbox", 403)}),
        "408": _error("The upload was too slow.", {"timeout": _example(
            "The upload was too slow and timed out. Please retry.", 408)}),
        "429": _error("A rate limit or allowance is used up.", {
            "too_fast": _example(
                "You're making requests too quickly, Please Upgrade or slow down.", 429),
            "daily": _example(
                "You've reached your daily limit. Please sign up for more access.", 429),
            "monthly": _example(
                "You've reached your monthly limit. Consider purchasing more credits.", 429),
        }, _RETRY_AFTER),
        "503": _error("The server is busy (queue full) or the model is unavailable.", {
            "busy": _example("The server is busy. Please retry shortly.", 503)}, _RETRY_AFTER),
    },
}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
            components.setdefault("securitySchemes", {}).update({
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                           "description": "Your API key. Without one, requests are anonymous."},
                "UserToken": {"type": "http", "scheme": "bearer",
                              "description": "A web-app user token (counts as app usage)."},
            })
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
