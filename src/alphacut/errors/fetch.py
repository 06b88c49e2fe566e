"""Fetching an image from a URL (remove.bg's ``image_url`` / ``bg_image_url``).

A message names at most the URL's host, never an address it resolved to or what an
internal server said: the caller wrote the URL, the rest is the server's business.
A body over the size limit is ``alphacut.errors.request.FileTooLarge``, as for an upload.
"""

from __future__ import annotations

from alphacut.errors.base import BadRequest


class FetchDisabled(BadRequest):
    def __init__(self) -> None:
        super().__init__("Fetching images from URLs is off on this server (ALPHACUT_URL_FETCH).")


class UrlRefused(BadRequest):
    """The URL, or a redirect it led to, is one this server will not fetch from."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The image URL was refused: {reason}.")
        self.reason = reason


class FetchFailed(BadRequest):
    """The URL was acceptable but the download did not succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The image could not be fetched from its URL: {reason}.")
        self.reason = reason
