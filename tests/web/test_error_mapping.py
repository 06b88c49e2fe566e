"""The store's errors know nothing of HTTP; the web layer gives each its status, and
hides what the store said when it was down."""

from __future__ import annotations

import pytest

from alphacut.errors import (
    AlphacutError,
    CustomerConflict,
    DuplicateEmail,
    KeyConflict,
    StorageUnavailable,
    UnknownUser,
)
from alphacut.http.errors import STORE_UNAVAILABLE, error_body, status_of


@pytest.mark.parametrize(("error", "status"), [
    (UnknownUser("7"), 404),
    (DuplicateEmail("a@example.com"), 409),
    (KeyConflict("ac_1234"), 409),
    (CustomerConflict("cus_A", "1"), 409),
    (StorageUnavailable("redis: connection refused at 10.0.0.5:6379"), 503),
])
def test_each_store_error_has_its_status(error: AlphacutError, status: int) -> None:
    assert not hasattr(error, "status")
    assert status_of(error) == status
    assert error_body(error)["status"] == status


def test_an_outage_does_not_show_the_store_s_own_words() -> None:
    body = error_body(StorageUnavailable("redis: connection refused at 10.0.0.5:6379"))
    assert body == {"error": STORE_UNAVAILABLE, "status": 503}
