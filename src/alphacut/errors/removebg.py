"""The remove.bg API's own refusals: each carries remove.bg's ``code`` and ``title`` (its
API reference's words) and alphacut's ``detail``.

Errors of the shared pipeline (a file too large, a bad crop_margin...) are worded for
remove.bg where they are answered (``alphacut.web.removebg.errors``); these are the
ones only that API has.
"""

from __future__ import annotations

from alphacut.errors.base import BadRequest


class RemoveBgRefusal(BadRequest):
    """A 400 of the remove.bg API with its code and title."""

    code = "invalid_request"
    title = "Invalid request"

    def __init__(self, detail: str = "", title: str | None = None) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        if title is not None:
            self.title = title


class MissingSource(RemoveBgRefusal):
    code = "missing_source"
    title = "No image given"

    def __init__(self) -> None:
        super().__init__("Please provide the source image in the image_url, image_file or "
                         "image_file_b64 parameter.")


class MultipleSources(RemoveBgRefusal):
    code = "multiple_sources"
    title = ("Multiple image sources given: Please provide either the image_url, image_file "
             "or image_file_b64 parameter.")

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"Given: {', '.join(names)}.")


class MultipleBgSources(RemoveBgRefusal):
    code = "multiple_bg_sources"
    title = ("Multiple background sources given: Please provide either the bg_color, the "
             "bg_image_url or the bg_image_file parameter.")

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"Given: {', '.join(names)}.")


class InvalidImageUrl(RemoveBgRefusal):
    code = "invalid_image_url"
    title = "Invalid image_url: Please provide a valid URL."


class InvalidBgImageUrl(RemoveBgRefusal):
    code = "invalid_bg_image_url"
    title = "Invalid bg_image_url: Please provide a valid URL."


class FailedImageDownload(RemoveBgRefusal):
    code = "failed_image_download"
    title = "Failed to download image from given image_url"


class FailedBgDownload(RemoveBgRefusal):
    code = "failed_bg_download"
    title = "Failed to download background image from given bg_image_url"


class InvalidBase64(RemoveBgRefusal):
    code = "failed_to_read_image"
    title = "There was an error reading the image."

    def __init__(self) -> None:
        super().__init__("image_file_b64 is not valid base64.")


class UnknownForeground(RemoveBgRefusal):
    code = "unknown_foreground"
    title = ("Could not identify foreground in image. For details and recommendations see "
             "https://www.remove.bg/supported-images.")

    def __init__(self) -> None:
        super().__init__("No subject was found in the image (or inside the roi).")


class BodyNotReadable(RemoveBgRefusal):
    code = "invalid_request"
    title = "The request body could not be read"
