"""A token signed with the published placeholder secret opens nothing: the server signs
with its own secret (hardening: the default secret was public)."""

from __future__ import annotations

import httpx

from alphacut import bootstrap
from alphacut.service.tokens import TokenSigner
from alphacut.settings import PLACEHOLDER_SECRET, Settings


def test_a_token_forged_with_the_placeholder_is_refused(server: str, settings: Settings) -> None:
    """Today's default environment: the server signs with its own generated secret."""
    services = bootstrap.build(settings)
    try:
        user = services.accounts.create_user("forged@example.com", "Premium-20000", 10, True)
    finally:
        services.close()
    forged = TokenSigner(PLACEHOLDER_SECRET, 3600).issue(user.id)
    reply = httpx.post(f"{server}/rmbg", headers={"authorization": f"Bearer {forged}"},
                       files={"image": ("a.png", b"\x89PNG\r\n\x1a\n")})
    assert reply.status_code == 401 and reply.json() == {"error": "invalid user token",
                                                         "status": 401}
