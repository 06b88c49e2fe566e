"""Header values as a client may send them, read without trusting them."""

from __future__ import annotations

_MAX_LENGTH_DIGITS = 18
_PAST_EVERY_LIMIT: int = 10**_MAX_LENGTH_DIGITS


def declared_length(value: str | None) -> int | None:
    """A ``Content-Length`` as an int; None when absent or not plain ASCII digits (a value
    of thousands of digits, or a non-ASCII digit, would make ``int()`` raise). A length
    over 18 digits is far past every limit: it reads as 10**18."""
    if not value or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > _MAX_LENGTH_DIGITS:
        return _PAST_EVERY_LIMIT
    return int(digits)
