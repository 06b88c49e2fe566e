"""Account records as plain values: users, API keys, charges and usage counts.

These are what the storage layer returns and the service layer reasons about.
They hold no connection and do no I/O; all timestamps are unix seconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from alphacut.domain.principal import Channel
from alphacut.errors import CreditAmountOutOfRange

# The most credits any count holds: an amount added at once, a prepaid balance, a plan's
# included credits. Far above any real purchase, far below where a 64-bit integer (SQLite's,
# Redis's) overflows, so no sum of two allowed values can corrupt a stored count.
MAX_CREDITS = 10**12


def check_credit_amount(amount: int, minimum: int = 1) -> None:
    """Refuse an amount outside ``minimum``..:data:`MAX_CREDITS` (CreditAmountOutOfRange, 400)."""
    if not minimum <= amount <= MAX_CREDITS:
        raise CreditAmountOutOfRange(amount, minimum, MAX_CREDITS)


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in: trimmed, lower case.

    Uniqueness is case-insensitive because people type their address in
    whatever case; every backend stores this form, so they agree.
    """
    return email.strip().lower()


@dataclass(frozen=True)
class User:
    id: str
    email: str
    email_verified: bool
    plan: str
    included_credits: int
    prepaid_credits: int
    created_at: int
    # The billing window Stripe last reported; None until it has (then the
    # window is the current UTC calendar month, ``stripeBillingSynced: false``).
    billing_period_start: int | None = None
    billing_period_end: int | None = None
    password_hash: str | None = None
    stripe_customer_id: str | None = None

    @property
    def billing_synced(self) -> bool:
        return self.billing_period_start is not None and self.billing_period_end is not None


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the secret, only its one-way hash and a visible prefix."""

    key_hash: str
    prefix: str
    user_id: str
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class CreditSource(Enum):
    INCLUDED = "included"
    PREPAID = "prepaid"


@dataclass(frozen=True)
class Charge:
    """One credit taken for one image; enough to reverse it exactly (``refund``).

    It names the counters it incremented (the calendar month of the moment it
    was taken and the billing cycle it was taken in), so a refund made after
    midnight on the last day of a month still reverses the right month.
    """

    user_id: str
    channel: Channel
    source: CreditSource
    year: int
    month: int
    period_start: int


@dataclass(frozen=True)
class Usage:
    app: int = 0
    api: int = 0

    @property
    def total(self) -> int:
        return self.app + self.api


@dataclass(frozen=True)
class CycleUsage:
    """The counters of one billing cycle, named by the unix second it starts at."""

    period_start: int
    usage: Usage
