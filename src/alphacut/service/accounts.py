"""Account administration shared by the CLI and the admin HTTP API."""

from __future__ import annotations

from dataclasses import dataclass

from alphacut.domain.accounts import ApiKey, User, check_credit_amount
from alphacut.domain.clock import Clock
from alphacut.errors import (
    BadRequest,
    KeyConflict,
    KeysNeedVerifiedEmail,
    UnknownKey,
    UnknownUser,
)
from alphacut.service.keys import key_hash, key_prefix, new_key
from alphacut.storage.base import Store


@dataclass(frozen=True)
class NewKey:
    """The secret is here once, never stored."""

    key: str
    record: ApiKey


class AccountService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock.now())

    def create_user(self, email: str, plan: str, credits: int, verified: bool,
                    prepaid: int = 0) -> User:
        if "@" not in email:
            raise BadRequest(f"'{email}' is not an e-mail address.")
        check_credit_amount(credits, minimum=0)
        check_credit_amount(prepaid, minimum=0)
        return self.store.create_user(email, plan=plan, included_credits=credits,
                                      now=self._now(), prepaid_credits=prepaid,
                                      verified=verified)

    def user(self, user_id: str) -> User:
        found = self.store.get_user(user_id)
        if found is None:
            raise UnknownUser(user_id)
        return found

    def users(self) -> list[User]:
        return self.store.list_users()

    def verify(self, user_id: str) -> User:
        self.store.set_verified(user_id)
        return self.user(user_id)

    def set_plan(self, user_id: str, plan: str, credits: int) -> User:
        check_credit_amount(credits, minimum=0)
        self.store.set_plan(user_id, plan, credits)
        return self.user(user_id)

    def add_prepaid(self, user_id: str, credits: int) -> User:
        """Raises CreditAmountOutOfRange (not 1..MAX_CREDITS) or CreditLimitExceeded (the
        balance would pass MAX_CREDITS; checked by the store, atomically), both 400."""
        check_credit_amount(credits)
        self.store.add_prepaid(user_id, credits)
        return self.user(user_id)

    def create_key(self, user_id: str, *, require_verified: bool = False) -> NewKey:
        """A new key. ``require_verified`` (self-service, the account page): refused with
        KeysNeedVerifiedEmail until the address is verified, so nobody who signed up with
        someone else's address holds a key when its owner verifies it. The CLI and the admin
        API may still make keys for any user."""
        user = self.user(user_id)
        if require_verified and not user.email_verified:
            raise KeysNeedVerifiedEmail()
        for _ in range(5):  # a prefix collision is astronomically rare; retry anyway
            secret = new_key()
            try:
                record = self.store.add_key(user_id, key_hash(secret), key_prefix(secret),
                                            self._now())
            except KeyConflict:
                continue
            return NewKey(secret, record)
        raise KeyConflict("(repeated)")

    def keys(self, user_id: str) -> list[ApiKey]:
        self.user(user_id)
        return self.store.list_keys(user_id)

    def revoke_key(self, prefix: str) -> None:
        if not self.store.revoke_key(prefix, self._now()):
            raise UnknownKey(prefix)
