"""Billing rules as plain values: the usage query, billing windows and the price tables.

No I/O. A window is inclusive, ``[start, end]`` in unix seconds (UTC): the
contract's ``periodEndUnix`` is "the end of the window, just before the next
renewal", so a window that Stripe reports as ``[start, renewal)`` ends at
``renewal - 1``, and a calendar month ends at its last second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alphacut.domain.accounts import CycleUsage, Usage
from alphacut.domain.clock import month_bounds, utc_year_month
from alphacut.domain.options import parse_bool
from alphacut.errors import FieldErrors, InvalidField

MAX_YEAR = 9999
LAST_UNIX = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second a `year` can name
BILLING_CYCLE = "billing_cycle"  # the one `expand` flag this server knows
_INTEGER = re.compile(r"[+-]?[0-9]+")


# --- the price tables --------------------------------------------------------------


@dataclass(frozen=True)
class PlanPrice:
    """What one Stripe subscription price buys: a plan label and included credits a period."""

    plan: str
    credits: int

    def __post_init__(self) -> None:
        if not self.plan.strip():
            raise ValueError("the plan label cannot be empty")
        if self.credits < 0:
            raise ValueError(f"credits cannot be negative, got {self.credits}")


# --- windows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: int
    end: int  # inclusive: the last second of the window

    @classmethod
    def from_stripe(cls, start: int, renewal: int) -> Window:
        """Stripe's ``[current_period_start, current_period_end)`` as an inclusive window."""
        return cls(start, max(start, renewal - 1))

    @classmethod
    def calendar_month(cls, moment: int) -> Window:
        """The UTC calendar month that holds ``moment``: the window before Stripe has spoken."""
        return cls(*month_bounds(*utc_year_month(moment)))


@dataclass(frozen=True)
class CycleWindow:
    """One row of ``listBillingCycles``."""

    window: Window
    usage: Usage


def window_starting_at(start: int, known_starts: Iterable[int], current: Window) -> Window:
    """The window that starts at ``start``, by the contract's rule for window ends.

    The current window keeps its own end; any other ends one second before the
    next known window starts; one with nothing after it (a start no counter or
    Stripe period names) ends with its UTC calendar month, the fallback windowing.
    """
    if start == current.start:
        return current
    later = [s for s in (*known_starts, current.start) if s > start]
    if later:
        return Window(start, min(later) - 1)
    return Window(start, Window.calendar_month(start).end)


def list_cycles(cycles: Iterable[CycleUsage], stripe_period: Window | None) -> list[CycleWindow]:
    """Every window that has counters or is the current Stripe period, newest first.

    A window ends one second before the next (newer) one starts, or at the
    Stripe period end for the current one; the newest, when it is not Stripe's,
    ends with its calendar month (the calendar fallback).
    """
    usage = {cycle.period_start: cycle.usage for cycle in cycles}
    if stripe_period is not None:
        usage.setdefault(stripe_period.start, Usage())
    starts = sorted(usage, reverse=True)
    rows: list[CycleWindow] = []
    for index, start in enumerate(starts):
        if stripe_period is not None and start == stripe_period.start:
            window = stripe_period
        elif index > 0:
            window = Window(start, starts[index - 1] - 1)
        else:
            window = Window(start, Window.calendar_month(start).end)
        rows.append(CycleWindow(window, usage[start]))
    return rows


# --- the answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class BillingCycle:
    window: Window
    usage: Usage
    included_credits: int
    prepaid_credits: int
    stripe_synced: bool

    @property
    def used_included(self) -> int:
        """The contract: appUsage + apiUsage within the window (prepaid use is not added)."""
        return self.usage.total

    @property
    def remaining_included(self) -> int:
        return max(0, self.included_credits - self.used_included)


@dataclass(frozen=True)
class UsageReport:
    plan: str
    included_credits: int
    prepaid_credits: int
    usage: Usage  # the calendar month asked for, or the cycle named by periodStartUnix
    billing_cycle: BillingCycle | None = None


# --- the query ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageQuery:
    """GET /api/membership-usage's parameters, checked; None means "not given"."""

    year: int | None = None
    month: int | None = None
    period_start: int | None = None
    billing_cycle: bool = False
    list_cycles: bool = False


def parse_integer(name: str, raw: str, low: int, high: int) -> int:
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidField(name, f"'{name}' must be an integer, got: '{raw}'")
    value = int(text)
    if not low <= value <= high:
        raise InvalidField(name, f"'{name}' must be between {low} and {high}, got: {value}")
    return value


def parse_usage_query(params: Mapping[str, str]) -> UsageQuery:
    """Check every parameter, report every bad one at once (the contract's error shape).

    ``listBillingCycles`` first: when on, every other parameter is ignored,
    even an invalid one. Empty values count as not given; unknown parameters
    and unknown ``expand`` flags are ignored.
    """
    def raw(name: str) -> str:
        return params.get(name) or ""

    if parse_bool("listBillingCycles", raw("listBillingCycles"), False):
        return UsageQuery(list_cycles=True)
    errors = FieldErrors()
    attempt = errors.attempt

    def number(name: str, low: int, high: int) -> int | None:
        if not raw(name).strip():
            return None
        return attempt(lambda: parse_integer(name, raw(name), low, high), None)

    year = number("year", 1, MAX_YEAR)
    month = number("month", 1, 12)
    period_start = number("periodStartUnix", 0, LAST_UNIX)
    flags = {flag.strip().lower() for flag in raw("expand").split(",")}
    included = attempt(lambda: parse_bool("includeBillingCycle", raw("includeBillingCycle"),
                                          False), False)
    if raw("periodStartUnix").strip() and (raw("year").strip() or raw("month").strip()):
        errors.add(InvalidField(
            "periodStartUnix", "Cannot use 'periodStartUnix' together with 'year' or 'month'. "
            "Choose one or the other."))
    errors.raise_any()
    return UsageQuery(year, month, period_start, BILLING_CYCLE in flags or included)
