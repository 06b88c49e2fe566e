"""User tokens (the web app's session, or ``Authorization: Bearer``): signed, expiring,
carrying the user id and a fingerprint of the user's password hash.

The fingerprint makes a stateless token revocable the one way that matters: when the
password changes (a reset, or a new sign-up of a not yet verified address), every token
issued before stops working. Users without a password (made by the CLI or the admin API)
get the fingerprint of "no password", a fixed value, so their tokens keep working.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    password: str  # fingerprint of the password hash the token was issued against


class TokenSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="alphacut-user-token")
        self._key = hashlib.sha256(b"alphacut-password-fingerprint|" + secret.encode()).digest()
        self.ttl_s = ttl_s

    def fingerprint(self, password_hash: str | None) -> str:
        """A short keyed digest of the password hash (never the hash itself: the token's
        payload is readable by whoever holds it)."""
        mac = hmac.new(self._key, (password_hash or "").encode(), hashlib.sha256)
        return mac.hexdigest()[:16]

    def issue(self, user_id: str, password_hash: str | None = None) -> str:
        return self._serializer.dumps({"uid": user_id, "pw": self.fingerprint(password_hash)})

    def claims(self, token: str) -> TokenClaims | None:
        """What a valid, unexpired token says; None otherwise."""
        try:
            payload = self._serializer.loads(token, max_age=self.ttl_s)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(payload, dict):
            return None
        uid, pw = payload.get("uid"), payload.get("pw")
        if not isinstance(uid, str) or not isinstance(pw, str):
            return None
        return TokenClaims(uid, pw)

    def user_id(self, token: str) -> str | None:
        """The user id of a valid, unexpired token (not yet checked against the user's
        password: see ``matches``); None otherwise."""
        found = self.claims(token)
        return found.user_id if found else None

    def matches(self, claims: TokenClaims, password_hash: str | None) -> bool:
        """Whether the token was issued against this password hash (still the user's)."""
        return hmac.compare_digest(claims.password, self.fingerprint(password_hash))
