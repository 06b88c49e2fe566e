"""Rate limits and credits around one image: admit before, settle after.

A short-window rate limit per user (or per anonymous address) first; then the
anonymous daily allowance, or one credit for a user (included first, then
prepaid).

A user's credit is **checked** before the work (no hold) and **taken** only once the
image is made, atomically, just before its answer starts (:meth:`QuotaService.charge`):
a crash before that charges nothing, and with K credits left, N > K requests at once
give exactly K images (the others did their work for nothing and get the limit error).
The anonymous daily allowance is counted at admission (it is not money).
"""

from __future__ import annotations

from dataclasses import dataclass

from alphacut.domain.accounts import Charge, User
from alphacut.domain.clock import month_bounds, utc_year_month
from alphacut.domain.principal import Principal
from alphacut.errors import DailyLimitReached, MonthlyLimitReached, RateLimited
from alphacut.storage.base import RateDecision, Store

DAY_S = 86400


@dataclass(frozen=True)
class Limits:
    window_s: int
    anonymous_per_window: int
    user_per_window: int
    plan_per_window: dict[str, int]
    anonymous_per_day: int

    def for_principal(self, principal: Principal) -> int:
        if principal.anonymous:
            return self.anonymous_per_window
        return self.plan_per_window.get(principal.plan or "", self.user_per_window)


@dataclass(frozen=True)
class Admission:
    rate: RateDecision
    charge: Charge | None = None


def billing_window(user: User, now: float) -> tuple[int, int]:
    """Stripe's current period while it lasts, else the current UTC calendar month (a period
    that ended without a renewal, e.g. a cancelled plan, stops counting)."""
    start, end = user.billing_period_start, user.billing_period_end
    if start is not None and end is not None and start <= now <= end:
        return start, end
    return month_bounds(*utc_year_month(now))


class QuotaService:
    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits

    def check_rate(self, principal: Principal, now: float) -> RateDecision:
        decision = self.store.hit(principal.rate_bucket, self.limits.for_principal(principal),
                                  self.limits.window_s, now)
        if not decision.allowed:
            raise RateLimited(decision.retry_after(now), decision.limit, decision.remaining,
                              decision.reset_at)
        return decision

    def admit(self, principal: Principal, rate: RateDecision, now: float) -> Admission:
        """Before the work: use the anonymous allowance, or check that the user has a
        credit left (nothing is held); else the contract's 429."""
        if principal.user_id is None:
            daily = self.store.hit(f"daily:anon:{principal.network}",
                                   self.limits.anonymous_per_day, DAY_S, now)
            if not daily.allowed:
                raise DailyLimitReached(daily.retry_after(now))
            return Admission(rate)
        user = self.store.get_user(principal.user_id)
        if user is None:
            raise MonthlyLimitReached()
        start, end = billing_window(user, now)
        used = self.store.cycle_usage(user.id, start).total
        if max(0, user.included_credits - used) + user.prepaid_credits <= 0:
            raise MonthlyLimitReached(max(1, int(end - now) + 1))
        return Admission(rate)

    def charge(self, principal: Principal, admission: Admission, now: float) -> Admission:
        """The image is made: take its credit, atomically, or raise the contract's 429
        (a concurrent request took the last one; this image is dropped)."""
        if principal.user_id is None:
            return admission
        user = self.store.get_user(principal.user_id)
        if user is None:
            raise MonthlyLimitReached()
        start, end = billing_window(user, now)
        charge = self.store.take_credit(user.id, principal.channel, int(now), start)
        if charge is None:
            raise MonthlyLimitReached(max(1, int(end - now) + 1))
        return Admission(admission.rate, charge)

    def balance(self, user_id: str, now: float) -> tuple[int, int]:
        """Included credits left in the user's current window, and prepaid credits (the
        same figures as ``/api/membership-usage``'s billing cycle)."""
        user = self.store.get_user(user_id)
        if user is None:
            return 0, 0
        start, _ = billing_window(user, now)
        used = self.store.cycle_usage(user.id, start).total
        return max(0, user.included_credits - used), user.prepaid_credits

    def credits_left(self, admission: Admission, now: float) -> int | None:
        """Included credits left in the window plus prepaid, after this image (users only)."""
        charge = admission.charge
        if charge is None:
            return None
        user = self.store.get_user(charge.user_id)
        if user is None:
            return None
        used = self.store.cycle_usage(user.id, charge.period_start).total
        return max(0, user.included_credits - used) + user.prepaid_credits
