"""The usage rules and UsageService on a real SQLite store: windows, their ends, the query."""

from __future__ import annotations

import pytest

from alphacut.domain.accounts import CycleUsage, Usage
from alphacut.domain.billing import (
    CycleWindow,
    UsageQuery,
    Window,
    list_cycles,
    parse_usage_query,
    window_starting_at,
)
from alphacut.domain.clock import FixedClock, month_bounds
from alphacut.domain.principal import Channel
from alphacut.errors import InvalidField, MultipleValidationErrors, UnknownUser
from alphacut.service.usage import UsageService
from alphacut.storage.base import Store

MARCH_2026 = month_bounds(2026, 3)
APRIL_2026 = month_bounds(2026, 4)
STRIPE = Window(1_773_100_800, 1_775_692_799)  # 2026-03-10 .. 2026-04-08 23:59:59
MID_MARCH = 1_773_532_800  # 2026-03-15


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MID_MARCH)


def user_id(store: Store, included: int = 100) -> str:
    return store.create_user("ada@example.com", plan="Premium-20000", included_credits=included,
                             prepaid_credits=7, verified=True, now=MID_MARCH).id


# --- window ends ---------------------------------------------------------------------


def test_a_stripe_period_ends_just_before_the_renewal() -> None:
    assert Window.from_stripe(100, 200) == Window(100, 199)
    assert Window.from_stripe(100, 100) == Window(100, 100)  # degenerate, never backwards


def test_listed_windows_end_before_the_next_one_or_with_stripe() -> None:
    cycles = [CycleUsage(MARCH_2026[0], Usage(1, 2))]  # a calendar month, before Stripe
    assert list_cycles(cycles, STRIPE) == [
        CycleWindow(STRIPE, Usage()),  # the current Stripe period, listed without counters
        CycleWindow(Window(MARCH_2026[0], STRIPE.start - 1), Usage(1, 2)),
    ]


def test_without_stripe_the_newest_window_ends_with_its_month() -> None:
    cycles = [CycleUsage(APRIL_2026[0], Usage(api=3)), CycleUsage(MARCH_2026[0], Usage(app=1))]
    assert list_cycles(cycles, None) == [
        CycleWindow(Window(*APRIL_2026), Usage(api=3)),
        CycleWindow(Window(*MARCH_2026), Usage(app=1)),
    ]
    assert list_cycles([], None) == []


@pytest.mark.parametrize(("start", "expected"), [
    (STRIPE.start, STRIPE),  # the current window keeps its end
    (MARCH_2026[0], Window(MARCH_2026[0], STRIPE.start - 1)),  # ends before the next known
    (STRIPE.start + 86_400, Window(STRIPE.start + 86_400, MARCH_2026[1])),  # nothing after
])
def test_the_window_a_start_names(start: int, expected: Window) -> None:
    assert window_starting_at(start, [MARCH_2026[0]], STRIPE) == expected


# --- the query -----------------------------------------------------------------------------


def test_a_query_with_nothing_is_the_current_month() -> None:
    assert parse_usage_query({}) == UsageQuery()


def test_flags_and_numbers_are_read() -> None:
    assert parse_usage_query({"year": " 2025 ", "month": "+3", "expand": "a,BILLING_CYCLE"}) \
        == UsageQuery(year=2025, month=3, billing_cycle=True)
    assert parse_usage_query({"periodStartUnix": "0", "includeBillingCycle": "yes"}) \
        == UsageQuery(period_start=0, billing_cycle=True)


def test_list_billing_cycles_ignores_everything_else() -> None:
    assert parse_usage_query({"listBillingCycles": "1", "year": "x"}) == UsageQuery(
        list_cycles=True)


def test_one_bad_parameter_is_itself_several_are_gathered() -> None:
    with pytest.raises(InvalidField) as one:
        parse_usage_query({"month": "x"})
    assert (one.value.field, one.value.status) == ("month", 400)
    with pytest.raises(MultipleValidationErrors) as several:
        parse_usage_query({"year": "x", "month": "0", "periodStartUnix": "5"})
    assert [d.field for d in several.value.details] == ["year", "month", "periodStartUnix"]


# --- the service ---------------------------------------------------------------------------


def test_before_stripe_the_cycle_is_the_calendar_month(store: Store, clock: FixedClock) -> None:
    uid = user_id(store)
    store.take_credit(uid, Channel.APP, MID_MARCH, MARCH_2026[0])
    report = UsageService(store, clock).report(uid, UsageQuery(billing_cycle=True))
    assert report.usage == Usage(app=1)
    cycle = report.billing_cycle
    assert cycle is not None
    assert (cycle.window, cycle.usage, cycle.stripe_synced) == (Window(*MARCH_2026), Usage(1),
                                                                False)
    assert (cycle.used_included, cycle.remaining_included, cycle.prepaid_credits) == (1, 99, 7)


def test_after_stripe_the_cycle_is_stripes(store: Store, clock: FixedClock) -> None:
    uid = user_id(store, included=2)
    store.take_credit(uid, Channel.APP, MID_MARCH, MARCH_2026[0])  # before Stripe spoke
    store.set_billing_period(uid, STRIPE.start, STRIPE.end)
    for _ in range(3):
        store.take_credit(uid, Channel.API, MID_MARCH, STRIPE.start)
    usage = UsageService(store, clock)
    cycle = usage.report(uid, UsageQuery(billing_cycle=True)).billing_cycle
    assert cycle is not None
    assert (cycle.window, cycle.usage, cycle.used_included, cycle.remaining_included) == (
        STRIPE, Usage(api=3), 3, 0)
    assert usage.report(uid, UsageQuery()).usage == Usage(app=1, api=3)  # the month: both
    assert usage.cycles(uid) == [
        CycleWindow(STRIPE, Usage(api=3)),
        CycleWindow(Window(MARCH_2026[0], STRIPE.start - 1), Usage(app=1)),
    ]


def test_a_cycle_without_counters_reports_zero(store: Store, clock: FixedClock) -> None:
    uid = user_id(store)
    store.set_billing_period(uid, STRIPE.start, STRIPE.end)
    report = UsageService(store, clock).report(
        uid, UsageQuery(period_start=STRIPE.start - 86_400, billing_cycle=True))
    assert report.usage == Usage()
    assert report.billing_cycle is not None
    assert report.billing_cycle.window == Window(STRIPE.start - 86_400, STRIPE.start - 1)


def test_an_unknown_user_is_an_error(store: Store, clock: FixedClock) -> None:
    with pytest.raises(UnknownUser):
        UsageService(store, clock).report("999", UsageQuery())
