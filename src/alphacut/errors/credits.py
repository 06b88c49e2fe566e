"""Credit amounts and balances out of bounds (the maximum is ``domain.accounts.MAX_CREDITS``).

Rules on amounts, not failures of the store, so they carry their status (400) wherever
they are raised: a service's check, or the store's, which makes the balance check in the
same atomic step as the write.
"""

from __future__ import annotations

from alphacut.errors.base import BadRequest
from alphacut.errors.billing import UnprocessableEvent

_SHOWN_DIGITS = 30  # an absurd amount is named, not printed in full


def _shown(amount: int) -> str:
    if abs(amount) < 10**_SHOWN_DIGITS:
        return str(amount)
    return f"{'-' if amount < 0 else ''}a number of more than {_SHOWN_DIGITS} digits"


class CreditAmountOutOfRange(BadRequest):
    def __init__(self, amount: int, minimum: int, maximum: int) -> None:
        super().__init__(
            f"Credit amount must be between {minimum} and {maximum}, got: {_shown(amount)}")
        self.amount = amount


class CreditLimitExceeded(BadRequest):
    """Adding would take a prepaid balance over the maximum; nothing was added."""

    def __init__(self, maximum: int) -> None:
        super().__init__(f"The balance would exceed the maximum of {maximum} credits.")
        self.maximum = maximum


class CreditsNotApplied(UnprocessableEvent):
    """A Stripe event whose credits are out of bounds (a credit pack that would take the
    balance over the maximum, a pack or plan over it in the table): 422, unmarked, so
    Stripe retries it while the operator fixes the table or the balance."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The Stripe event cannot be applied: {reason} Stripe will retry it.")
