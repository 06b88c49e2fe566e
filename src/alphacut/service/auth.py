"""Who is asking, by the contract's rules: key and token together is a mistake (400),
an unknown or revoked key is 401, an unverified e-mail is 403, nothing is anonymous."""

from __future__ import annotations

import hmac

from alphacut.domain.accounts import User
from alphacut.domain.principal import Channel, Principal
from alphacut.errors import EmailNotVerified, InvalidApiKey, KeyAndToken, Unauthorized
from alphacut.service.keys import key_hash
from alphacut.service.tokens import TokenSigner
from alphacut.storage.base import Store


class InvalidUserToken(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid user token")


class Authenticator:
    def __init__(self, store: Store, tokens: TokenSigner) -> None:
        self.store = store
        self.tokens = tokens

    def resolve(self, api_key: str | None, bearer: str | None, client: str,
                now: int, session: bool = False) -> Principal:
        """``session``: the token came from the web app's session cookie, where a stale
        one (expired, or issued before the password changed) is anonymous, not a 401."""
        if api_key and bearer:
            raise KeyAndToken()
        if api_key:
            return self._by_key(api_key, client, now)
        if bearer:
            return self._by_token(bearer, client, session)
        return Principal(client_address=client)

    def _by_key(self, api_key: str, client: str, now: int) -> Principal:
        digest = key_hash(api_key)
        record = self.store.find_key_by_hash(digest)
        # The lookup is by hash; the compare is constant-time all the same.
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise InvalidApiKey()
        if not record.active:
            raise InvalidApiKey()
        user = self._verified(record.user_id)
        self.store.touch_key(digest, now)
        return Principal(client, user.id, Channel.API, user.plan)

    def _by_token(self, token: str, client: str, session: bool) -> Principal:
        user = self.token_user(token)
        if user is None and session:
            return Principal(client_address=client)
        if user is None:
            raise InvalidUserToken()
        if not user.email_verified:
            raise EmailNotVerified()
        return Principal(client, user.id, Channel.APP, user.plan)

    def token_user(self, token: str) -> User | None:
        """The user of a valid, unexpired user token issued against the user's current
        password hash (a changed password ends every earlier token); None otherwise.
        Verified or not: callers decide what an unverified user may do."""
        claims = self.tokens.claims(token)
        if claims is None:
            return None
        user = self.store.get_user(claims.user_id)
        if user is None or not self.tokens.matches(claims, user.password_hash):
            return None
        return user

    def _verified(self, user_id: str) -> User:
        user = self.store.get_user(user_id)
        if user is None:
            raise InvalidApiKey()
        if not user.email_verified:
            raise EmailNotVerified()
        return user
