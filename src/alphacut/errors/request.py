"""The upload and its fields: the contract's messages, byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from alphacut.errors.base import BadRequest, HttpError

T = TypeVar("T")

ALLOWED_EXTENSIONS = ("webp", "bmp", "png", "jpg", "jpeg")


# --- the image and its fields -------------------------------------------------


class NoImage(BadRequest):
    def __init__(self) -> None:
        super().__init__(
            "No image file provided. Please include an 'image' field in your form data."
        )


class NoFileSelected(BadRequest):
    def __init__(self) -> None:
        super().__init__("No file selected. Please choose an image file to upload.")


class UnsupportedExtension(BadRequest):
    def __init__(self, extension: str) -> None:
        super().__init__(
            f"File type '{extension}' is not supported. "
            f"Allowed formats: {', '.join(ALLOWED_EXTENSIONS)}"
        )


class InvalidSignature(BadRequest):
    def __init__(self) -> None:
        super().__init__("File does not appear to be a valid image (invalid file signature)")
        self.received: str | None = None
        """What the bytes look like (``pdf``, ``mp4``, ``gif``...) when known."""


class EmptyFile(BadRequest):
    def __init__(self) -> None:
        super().__init__("Uploaded file is empty (0 bytes).")


class FileTooLarge(BadRequest):
    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        size_mb = size_bytes / (1024 * 1024)
        limit_mb = limit_bytes // (1024 * 1024)
        super().__init__(
            f"File size ({size_mb:.1f} MB) exceeds the maximum allowed size of {limit_mb} MB."
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class SideTooLarge(BadRequest):
    """One side over the limit, in the contract's words: "Image width (12000px) exceeds
    the maximum allowed width of 10000px." (``Output`` for the result's sides)."""

    subject = "Image"
    side = "width"

    def __init__(self, value: int, limit: int) -> None:
        super().__init__(f"{self.subject} {self.side} ({value}px) exceeds the maximum "
                         f"allowed {self.side} of {limit}px.")


class ImageTooWide(SideTooLarge):
    pass


class ImageTooTall(SideTooLarge):
    side = "height"


class OutputTooWide(SideTooLarge):
    """The result would be wider than the side limit (after resize and rotation)."""

    subject = "Output"


class OutputTooTall(SideTooLarge):
    subject, side = "Output", "height"


class OutputTooLarge(BadRequest):
    """The result would hold more pixels than the operator's budget."""

    def __init__(self, width: int, height: int, limit: int) -> None:
        super().__init__(
            f"Output size ({width}x{height} = {width * height}px) exceeds the maximum "
            f"allowed of {limit}px."
        )


class CorruptImage(BadRequest):
    """The signature matched but the bytes do not decode (truncated, damaged)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"The image could not be decoded: {detail}")


class UploadTimeout(HttpError):
    """The sender went silent, or took too long in total (see docs/api.md)."""

    status = 408

    def __init__(self) -> None:
        super().__init__("The upload was too slow and timed out. Please retry.")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidField(BadRequest):
    """One invalid form field; several are gathered into MultipleValidationErrors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MultipleValidationErrors(BadRequest):
    def __init__(self, details: list[FieldError]) -> None:
        super().__init__("Multiple validation errors")
        self.details = details

    def to_body(self) -> dict[str, object]:
        return {
            "error": self.message,
            "details": [{"field": d.field, "message": d.message} for d in self.details],
            "status": self.status,
        }


class FieldErrors:
    """Collects every field error of one request, so all are reported together."""

    def __init__(self) -> None:
        self.errors: list[InvalidField] = []

    def attempt(self, parse: Callable[[], T], default: T) -> T:
        """The parsed value, or ``default`` with the error kept for later."""
        try:
            return parse()
        except InvalidField as err:
            self.errors.append(err)
            return default

    def add(self, error: InvalidField) -> None:
        self.errors.append(error)

    def raise_any(self) -> None:
        if self.errors:
            raise field_errors(self.errors)


def field_errors(errors: list[InvalidField]) -> BadRequest:
    """One error stays itself; several become the contract's 'Multiple validation errors'."""
    if len(errors) == 1:
        return errors[0]
    return MultipleValidationErrors([FieldError(e.field, e.message) for e in errors])
