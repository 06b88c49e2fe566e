"""GET /api/membership-usage's use case: a user's plan, credits and usage, computed.

The current billing window is :func:`alphacut.service.quota.billing_window`'s,
the very window credits are taken in: Stripe's period once a webhook has
reported one, else the current UTC calendar month.
"""

from __future__ import annotations

from alphacut.domain.accounts import User
from alphacut.domain.billing import (
    BillingCycle,
    CycleWindow,
    UsageQuery,
    UsageReport,
    Window,
    list_cycles,
    window_starting_at,
)
from alphacut.domain.clock import Clock, utc_year_month
from alphacut.errors import UnknownUser
from alphacut.service.quota import billing_window
from alphacut.storage.base import Store


class UsageService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def report(self, user_id: str, query: UsageQuery) -> UsageReport:
        user = self._user(user_id)
        now = self.clock.now()
        if query.period_start is not None:
            usage = self.store.cycle_usage(user.id, query.period_start)
        else:
            this_year, this_month = utc_year_month(now)
            usage = self.store.month_usage(user.id, query.year or this_year,
                                           query.month or this_month)
        cycle = self._cycle(user, query.period_start, now) if query.billing_cycle else None
        return UsageReport(user.plan, user.included_credits, user.prepaid_credits, usage, cycle)

    def cycles(self, user_id: str) -> list[CycleWindow]:
        """Every window with counters or that is the current Stripe period, newest first."""
        user = self._user(user_id)
        return list_cycles(self.store.list_cycles(user.id), _stripe_period(user))

    def _cycle(self, user: User, period_start: int | None, now: float) -> BillingCycle:
        """The current window, or the one that starts at ``period_start``."""
        current = Window(*billing_window(user, now))
        window = current
        if period_start is not None:
            starts = [cycle.period_start for cycle in self.store.list_cycles(user.id)]
            window = window_starting_at(period_start, starts, current)
        usage = self.store.cycle_usage(user.id, window.start)
        return BillingCycle(window, usage, user.included_credits, user.prepaid_credits,
                            user.billing_synced)

    def _user(self, user_id: str) -> User:
        user = self.store.get_user(user_id)
        if user is None:
            raise UnknownUser(user_id)
        return user


def _stripe_period(user: User) -> Window | None:
    if user.billing_period_start is None or user.billing_period_end is None:
        return None
    return Window(user.billing_period_start, user.billing_period_end)
