"""What the service layer needs from persistence, as narrow Protocols.

Two implementations satisfy :class:`Store`: :mod:`alphacut.storage.sqlite`
(embedded, the default) and :mod:`alphacut.storage.redis` (a shared server for
a fleet). One contract test suite (``tests/storage/``) runs against both.

Every method that changes more than one value does it atomically; every
timestamp is unix seconds (UTC) and is passed in by the caller, so a test (or
a replay) decides what "now" is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from alphacut.domain.accounts import ApiKey, Charge, CycleUsage, Usage, User
from alphacut.domain.principal import Channel

# --- values ------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one rate-limit hit; a refused hit is not counted."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix second the current window ends (and the count starts over)

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window resets, at least 1 (for ``Retry-After``)."""
        return max(1, math.ceil(self.reset_at - now))


# --- protocols ---------------------------------------------------------------


class UserStore(Protocol):
    def create_user(
        self,
        email: str,
        *,
        plan: str,
        included_credits: int,
        now: int,
        prepaid_credits: int = 0,
        verified: bool = False,
        password_hash: str | None = None,
    ) -> User:
        """A new user; the e-mail is stored normalised. Raises DuplicateEmail, and
        CreditAmountOutOfRange for credits over ``MAX_CREDITS``."""
        ...

    def get_user(self, user_id: str) -> User | None: ...

    def get_user_by_email(self, email: str) -> User | None: ...

    def list_users(self) -> list[User]:
        """Every user, oldest first."""
        ...

    def set_verified(self, user_id: str) -> None:
        """Mark the e-mail address verified. Raises UnknownUser."""
        ...

    def set_plan(self, user_id: str, plan: str, included_credits: int) -> None:
        """Raises UnknownUser; CreditAmountOutOfRange over ``MAX_CREDITS``."""
        ...

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the user's password hash (a reset). Raises UnknownUser."""
        ...

    def add_prepaid(self, user_id: str, credits: int) -> int:
        """Add ``credits`` (> 0) to the prepaid balance; the new balance. Raises UnknownUser.

        The balance never passes ``domain.accounts.MAX_CREDITS``: an add that would raises
        CreditLimitExceeded and changes nothing, checked in the same atomic step as the
        write, so concurrent adds cannot pass it either. A balance an older alphacut left
        over the maximum (or corrupted: SQLite keeps an overflow as a REAL) is kept, never
        grown, and still reads.
        """
        ...

    def add_prepaid_once(self, user_id: str, credits: int, grant_id: str, now: int) -> int | None:
        """Add ``credits`` (> 0) for one purchase named ``grant_id``, exactly once per user.

        The new balance, or None when this grant was already added (nothing
        changes), so a purchase delivered twice, or by two events, pays once.
        Raises UnknownUser; CreditLimitExceeded as :meth:`add_prepaid` does, and then the
        grant is not recorded (a later delivery may still add it).
        """
        ...

    def set_billing_period(self, user_id: str, start: int, end: int) -> bool:
        """Store the billing window unless ``start`` is older than the stored start.

        Webhooks arrive late and out of order; a window never moves backwards.
        True when stored. Raises UnknownUser.
        """
        ...

    def set_plan_as_of(
        self,
        user_id: str,
        plan: str,
        included_credits: int,
        as_of: int,
        period: tuple[int, int] | None = None,
    ) -> bool:
        """Set the plan as it stood at ``as_of``, unless a later such change is already stored.

        One atomic step for a (Stripe) event created at ``as_of``: a late event
        never undoes a newer one; the same moment applies again (a replay is
        harmless). With ``period``, the billing window is stored too, by
        :meth:`set_billing_period`'s rule. True when the plan was stored.
        :meth:`set_plan` (an operator's change) leaves ``as_of`` alone.
        Raises UnknownUser.
        """
        ...

    def set_stripe_customer(self, user_id: str, customer_id: str) -> None:
        """Link the user to a Stripe customer id, replacing the one it had.

        One customer belongs to one user: raises CustomerConflict when another
        user has it, UnknownUser when there is no such user.
        """
        ...

    def find_user_by_stripe_customer(self, customer_id: str) -> User | None:
        """The user whose current Stripe customer id this is."""
        ...


class KeyStore(Protocol):
    def add_key(self, user_id: str, key_hash: str, prefix: str, now: int) -> ApiKey:
        """Store a key by its one-way hash. Raises UnknownUser, KeyConflict (prefix or hash)."""
        ...

    def find_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key, revoked or not (the caller checks ``active``)."""
        ...

    def list_keys(self, user_id: str) -> list[ApiKey]:
        """A user's keys, oldest first, revoked ones included."""
        ...

    def revoke_key(self, prefix: str, now: int) -> bool:
        """Revoke the key with this exact prefix; False when none or already revoked."""
        ...

    def touch_key(self, key_hash: str, now: int) -> None:
        """Record a use; nothing happens for an unknown hash."""
        ...


class CreditStore(Protocol):
    def take_credit(
        self, user_id: str, channel: Channel, now: int, period_start: int
    ) -> Charge | None:
        """Use one credit for one image, or None (nothing changed) when there is none.

        Included credits first, while the billing cycle starting at
        ``period_start`` has used (app + api) fewer than ``included_credits``;
        then prepaid. On success the channel's counters for the UTC calendar
        month of ``now`` and for the cycle both grow by one. Raises UnknownUser.
        """
        ...

    def refund(self, charge: Charge) -> None:
        """Undo this charge, as if it had never been taken; once per failed image.

        Its month and cycle counters go down by one. One prepaid credit comes
        back when the cycle has prepaid use outstanding, whatever the charge's
        own source: if an included charge fails while a later image was paid
        with prepaid, that later image now fits in the included credits. So a
        cycle's prepaid use stays ``max(0, used - included_credits)`` under any
        interleaving of takes and refunds.
        """
        ...

    def month_usage(self, user_id: str, year: int, month: int) -> Usage: ...

    def cycle_usage(self, user_id: str, period_start: int) -> Usage: ...

    def list_cycles(self, user_id: str) -> list[CycleUsage]:
        """Every billing cycle that has counters, newest first."""
        ...


class EventStore(Protocol):
    def mark_event(self, event_id: str, now: int) -> bool:
        """True the first time an (e.g. Stripe webhook) event id is seen, False after."""
        ...

    def has_event(self, event_id: str) -> bool:
        """Whether :meth:`mark_event` has seen this id (a read; marks nothing)."""
        ...


class RateLimiter(Protocol):
    def hit(self, bucket: str, limit: int, window_s: int, now: float) -> RateDecision:
        """Count one hit in ``bucket``'s fixed window, unless ``limit`` is reached.

        Windows are aligned to multiples of ``window_s`` since the epoch, so a
        ``window_s`` of 86400 is the UTC day.
        """
        ...


class Store(UserStore, KeyStore, CreditStore, EventStore, RateLimiter, Protocol):
    """Everything, as one object the composition root opens and closes."""

    def ping(self) -> None:
        """Raise StorageUnavailable unless the store answers (readiness)."""
        ...

    def close(self) -> None: ...


# --- rules both backends share ---------------------------------------------------


def fixed_window(now: float, window_s: int) -> tuple[int, int]:
    """(start, end) of the fixed window that contains ``now``; end is exclusive."""
    if window_s < 1:
        raise ValueError(f"window_s must be at least 1, got {window_s}")
    start = math.floor(now / window_s) * window_s
    return start, start + window_s


def check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def check_not_negative(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} cannot be negative, got {value}")


def check_window(start: int, end: int) -> None:
    if end < start:
        raise ValueError(f"a billing period cannot end ({end}) before it starts ({start})")
