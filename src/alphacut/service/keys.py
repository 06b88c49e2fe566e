"""API key secrets: generated here, shown once, stored only as a one-way hash."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX_CHARS = 8
_MARK = "ac_"


def new_key() -> str:
    """A random key (256 bits). Its first characters, the prefix, tell keys apart."""
    return _MARK + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """SHA-256 is enough: keys are random and long, so there is nothing to brute-force.
    (Passwords, being guessable, get a slow hash instead.)"""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key[: len(_MARK) + KEY_PREFIX_CHARS]
