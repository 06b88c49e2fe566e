"""User tokens (the web app's session, or ``Authorization: Bearer``): signed, expiring,
carrying the user id and a fingerprint of the user's password hash.

The fingerprint makes a stateless token revocable the one way that matters: when the
password changes (a reset, or a new sign-up of a not yet verified address), every token
issued before stops working. Users without a password (made by the CLI or the admin API)
get a fingerprint of "no password" bound to their own id (not one value shared by all),
so their tokens keep working until they set one.
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


class PasswordFingerprint:
    """A short keyed digest of a password hash (never the hash itself: the payloads of
    tokens and mailed links that carry it are readable by whoever holds them)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"alphacut-password-fingerprint|" + secret.encode()).digest()

    def __call__(self, password_hash: str | None, user_id: str = "") -> str:
        subject = password_hash or f"\0no-password\0{user_id}"
        mac = hmac.new(self._key, subject.encode(), hashlib.sha256)
        return mac.hexdigest()[:16]


class TokenSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="alphacut-user-token")
        self.fingerprint = PasswordFingerprint(secret)
        self.ttl_s = ttl_s

    def issue(self, user_id: str, password_hash: str | None = None) -> str:
        return self._serializer.dumps({"uid": user_id,
                                       "pw": self.fingerprint(password_hash, user_id)})

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

    def matches(self, claims: TokenClaims, password_hash: str | None) -> bool:
        """Whether the token was issued against this password hash (still the user's)."""
        return hmac.compare_digest(claims.password,
                                   self.fingerprint(password_hash, claims.user_id))
