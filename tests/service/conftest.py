"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alphacut.storage.base import Store
from alphacut.storage.factory import open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The embedded store (SQLite) in a throw-away folder."""
    opened = open_store(None, tmp_path)
    yield opened
    opened.close()
