"""User tokens for the web app: signed, expiring, carrying only the user id."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class TokenSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="alphacut-user-token")
        self.ttl_s = ttl_s

    def issue(self, user_id: str) -> str:
        return self._serializer.dumps({"uid": user_id})

    def user_id(self, token: str) -> str | None:
        """The user id of a valid, unexpired token; None otherwise."""
        try:
            payload = self._serializer.loads(token, max_age=self.ttl_s)
        except (SignatureExpired, BadSignature):
            return None
        uid = payload.get("uid") if isinstance(payload, dict) else None
        return uid if isinstance(uid, str) else None
