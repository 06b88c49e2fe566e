"""Which secret signs user tokens, CSRF tokens and mailed links, decided once at start.

- ``ALPHACUT_SECRET_KEY`` given: that one (the published placeholder and anything shorter
  than 16 characters are refused).
- Not given, the embedded SQLite store, development mode: a random secret generated on
  first start into ``DATA_DIR/secret_key`` (mode 0600, created atomically, so workers
  starting together agree on one), read back on every later start.
- Not given and a Redis store (a fleet: every server must sign with the same secret), or
  production mode, or a bind address other than loopback with no generated secret yet:
  start-up is refused, with the reason.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alphacut.domain.network import is_loopback
from alphacut.settings import PLACEHOLDER_SECRET, Settings

SECRET_FILE = "secret_key"
MIN_LENGTH = 16
_HINT = "set ALPHACUT_SECRET_KEY (e.g. `python -c 'import secrets; " \
        "print(secrets.token_urlsafe(32))'`), the same on every server"


class SecretKeyError(RuntimeError):
    """No usable secret: the message says why and what to set."""


@dataclass(frozen=True)
class Secret:
    value: str
    source: Literal["given", "generated", "data dir", "throw-away"]
    path: Path | None = None

    def describe(self) -> str:
        """Which secret is in use, never its value."""
        if self.source == "given":
            return "secret key: ALPHACUT_SECRET_KEY"
        if self.source == "throw-away":
            return "secret key: a throw-away one (this process signs nothing kept)"
        verb = "generated into" if self.source == "generated" else "read from"
        return f"secret key: {verb} {self.path}"


def throw_away() -> Secret:
    """For commands that build the services but sign nothing a server will read (the CLI's
    account commands): they must work on a fleet's store without the fleet's secret."""
    return Secret(secrets.token_urlsafe(48), "throw-away")


def resolve_secret(settings: Settings, *, create: bool = True) -> Secret:
    """The secret to sign with (see the module's doc), or :class:`SecretKeyError`.
    ``create=False`` writes nothing: a secret still to be generated comes back with an
    empty value (for ``alphacut doctor``)."""
    given = settings.secret_key
    if given is not None:
        if given == PLACEHOLDER_SECRET:
            raise SecretKeyError(f"ALPHACUT_SECRET_KEY is the published placeholder; {_HINT}.")
        if len(given) < MIN_LENGTH:
            raise SecretKeyError(f"ALPHACUT_SECRET_KEY is shorter than {MIN_LENGTH} "
                                 f"characters; {_HINT}.")
        return Secret(given, "given")
    if is_shared_store(settings.store_url):
        raise SecretKeyError(f"ALPHACUT_SECRET_KEY is not set and the store is Redis: every "
                             f"server of a fleet must sign with the same secret; {_HINT}.")
    if settings.environment != "development":
        raise SecretKeyError(f"ALPHACUT_SECRET_KEY is not set (production mode); {_HINT}.")
    path = settings.data_dir / SECRET_FILE
    stored = _read(path)
    if stored is not None:
        return Secret(stored, "data dir", path)
    if not is_loopback(settings.host):
        raise SecretKeyError(f"ALPHACUT_SECRET_KEY is not set and the server binds "
                             f"{settings.host}, not loopback; {_HINT}.")
    if not create:
        return Secret("", "generated", path)
    return _generate(path)


def is_shared_store(url: str | None) -> bool:
    return url is not None and url.split(":", 1)[0].lower() in ("redis", "rediss")


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if len(text) < MIN_LENGTH:
        raise SecretKeyError(f"{path} holds no usable secret (shorter than {MIN_LENGTH} "
                             f"characters); delete it to generate a new one, or {_HINT}.")
    return text


def _generate(path: Path) -> Secret:
    """Write a new secret beside the store, atomically: it is written whole to a private
    temporary file, then linked into place; if another worker linked first, its secret
    wins and is read back. A data dir that cannot be written is a :class:`SecretKeyError`."""
    try:
        return _write_new(path)
    except OSError as err:
        raise SecretKeyError(f"cannot write a generated secret into {path} "
                             f"({err.strerror or err}); {_HINT}.") from err


def _write_new(path: Path) -> Secret:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
            source: Literal["generated", "data dir"] = "generated"
        except FileExistsError:
            source = "data dir"
    finally:
        temporary.unlink(missing_ok=True)
    stored = _read(path)
    assert stored is not None
    return Secret(stored, source, path)
