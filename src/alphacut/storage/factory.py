"""Open the store a URL names: SQLite by default, Redis for a fleet.

| URL | store |
|---|---|
| unset, empty, ``sqlite://`` | SQLite file ``<data_dir>/alphacut.sqlite3`` |
| ``sqlite:///relative/file.db`` | SQLite, the path relative to ``data_dir`` |
| ``sqlite:////absolute/file.db`` | SQLite, an absolute path (SQLAlchemy's convention) |
| ``redis://[user:password@]host:port/db``, ``rediss://...`` | Redis (``rediss`` is TLS) |
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from alphacut.errors import UnsupportedStoreUrl
from alphacut.storage.base import Store

DEFAULT_SQLITE_FILE = "alphacut.sqlite3"


def open_store(url: str | None, data_dir: Path) -> Store:
    """Open (and migrate) the store; raises UnsupportedStoreUrl or StorageUnavailable."""
    if not url:
        return _sqlite(data_dir / DEFAULT_SQLITE_FILE)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        return _sqlite(sqlite_path(url, data_dir))
    if scheme in ("redis", "rediss"):
        from alphacut.storage.redis import RedisStore

        return RedisStore.from_url(url)
    raise UnsupportedStoreUrl(
        f"scheme '{scheme}' in {redact(url)}; use sqlite:///FILE, redis:// or rediss://"
    )


def sqlite_path(url: str, data_dir: Path) -> Path:
    """The file a ``sqlite://`` URL names; relative paths are under ``data_dir``."""
    parts = urlsplit(url)
    if parts.netloc:
        raise UnsupportedStoreUrl(f"{url} names a host; write sqlite:///FILE or sqlite:////ABS")
    # sqlite:///x -> "/x" -> "x" (relative); sqlite:////abs/x -> "//abs/x" -> "/abs/x"
    path = parts.path.removeprefix("/")
    if path == ":memory:":
        raise UnsupportedStoreUrl("an in-memory SQLite store is not shared between threads")
    if not path:
        return data_dir / DEFAULT_SQLITE_FILE
    named = Path(path)
    return named if named.is_absolute() else data_dir / named


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _sqlite(path: Path) -> Store:
    from alphacut.storage.sqlite import SqliteStore

    return SqliteStore(path)
