"""The live-server fixtures of tests/web, and an API key of our own on the session server.

The fixtures are found by name. ``account`` is deliberately not re-exported: its
definition would run a second time here (one cache per conftest) and create the
same e-mail address twice in the session's store.
"""

from __future__ import annotations

import pytest

from alphacut.service.accounts import AccountService
from tests.web.conftest import accounts, served, server, server_with  # noqa: F401


@pytest.fixture(scope="session")
def api_key(accounts: AccountService) -> str:  # noqa: F811
    """A verified user with plenty of credits, on the store of the session's ``server``."""
    user = accounts.create_user("sdk@example.com", "Premium-20000", 100_000, verified=True)
    return accounts.create_key(user.id).key
