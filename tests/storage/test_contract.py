"""The storage contract: every backend (SQLite, Redis, Redis Cluster) passes all of it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from alphacut.domain.accounts import MAX_CREDITS, Charge, CreditSource, CycleUsage, Usage
from alphacut.domain.principal import Channel
from alphacut.errors import (
    CreditAmountOutOfRange,
    CreditLimitExceeded,
    CustomerConflict,
    DuplicateEmail,
    KeyConflict,
    UnknownUser,
)
from alphacut.storage import keys
from alphacut.storage.base import Store
from alphacut.storage.redis import RedisStore
from alphacut.storage.sqlite import SqliteStore
from tests.storage.support import APRIL_2026, MARCH_2026, NOW, new_user

API, APP = Channel.API, Channel.APP
DAY = 86_400


def take(store: Store, user_id: str, channel: Channel = API, *, now: int = NOW,
         period: int = MARCH_2026) -> Charge | None:
    return store.take_credit(user_id, channel, now, period)


# --- users --------------------------------------------------------------------------


def test_a_created_user_reads_back(store: Store) -> None:
    made = store.create_user("  Ada@Example.COM ", plan="Premium-20000", included_credits=20000,
                             prepaid_credits=5, now=NOW, password_hash="argon2$x")
    assert made.email == "ada@example.com"
    assert made.id.isdecimal()
    assert store.get_user(made.id) == made
    assert store.get_user_by_email("ADA@example.com") == made
    assert (made.email_verified, made.plan, made.included_credits, made.prepaid_credits,
            made.created_at, made.password_hash) == (False, "Premium-20000", 20000, 5, NOW,
                                                     "argon2$x")
    assert not made.billing_synced and made.stripe_customer_id is None


def test_unknown_users_are_none(store: Store) -> None:
    assert store.get_user("12345") is None
    assert store.get_user("not-an-id") is None
    assert store.get_user_by_email("nobody@example.com") is None


def test_an_email_is_unique_whatever_its_case(store: Store) -> None:
    first = new_user(store)
    with pytest.raises(DuplicateEmail) as raised:
        new_user(store, email="ADA@example.com")
    assert raised.value.email.lower() == "ada@example.com"
    assert not hasattr(raised.value, "status")  # the store knows nothing of HTTP
    assert store.list_users() == [first]


def test_users_list_oldest_first_with_distinct_ids(store: Store) -> None:
    made = [new_user(store, email=f"user{i}@example.com") for i in range(12)]
    assert store.list_users() == made
    assert len({user.id for user in made}) == 12


def test_verify_plan_and_prepaid_change_the_user(store: Store) -> None:
    user = new_user(store, included=10, prepaid=1)
    store.set_verified(user.id)
    store.set_plan(user.id, "Premium-20000", 20000)
    assert store.add_prepaid(user.id, 500) == 501
    changed = store.get_user(user.id)
    assert changed is not None
    assert (changed.email_verified, changed.plan, changed.included_credits,
            changed.prepaid_credits) == (True, "Premium-20000", 20000, 501)


def test_a_password_hash_is_replaced(store: Store) -> None:
    user = store.create_user("pw@example.com", plan="Free", included_credits=1, now=NOW,
                             password_hash="argon2$old")
    store.set_password_hash(user.id, "argon2$new")
    changed = store.get_user(user.id)
    assert changed is not None and changed.password_hash == "argon2$new"
    assert changed == store.get_user_by_email("pw@example.com")


def test_prepaid_must_grow(store: Store) -> None:
    user = new_user(store)
    with pytest.raises(ValueError, match="at least 1"):
        store.add_prepaid(user.id, 0)


def test_credits_cannot_be_negative(store: Store) -> None:
    with pytest.raises(ValueError, match="negative"):
        store.create_user("neg@example.com", plan="x", included_credits=-1, now=NOW)
    user = new_user(store)
    with pytest.raises(ValueError, match="negative"):
        store.set_plan(user.id, "x", -5)
    assert store.list_users() == [user]


CHANGES: dict[str, Callable[[Store, str], object]] = {
    "set_verified": lambda store, uid: store.set_verified(uid),
    "set_plan": lambda store, uid: store.set_plan(uid, "Basic", 10),
    "set_password_hash": lambda store, uid: store.set_password_hash(uid, "argon2$y"),
    "add_prepaid": lambda store, uid: store.add_prepaid(uid, 1),
    "set_billing_period": lambda store, uid: store.set_billing_period(uid, NOW, NOW + DAY),
    "add_key": lambda store, uid: store.add_key(uid, "f" * 64, "ac_fffff", NOW),
    "take_credit": lambda store, uid: take(store, uid),
    "set_plan_as_of": lambda store, uid: store.set_plan_as_of(uid, "Basic", 10, NOW),
    "set_stripe_customer": lambda store, uid: store.set_stripe_customer(uid, "cus_1"),
    "add_prepaid_once": lambda store, uid: store.add_prepaid_once(uid, 5, "cs_1", NOW),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_changing_an_unknown_user_is_an_error(store: Store,
                                             change: Callable[[Store, str], object]) -> None:
    with pytest.raises(UnknownUser):
        change(store, "999")


# --- billing period -------------------------------------------------------------------


def test_the_billing_period_never_moves_backwards(store: Store) -> None:
    user = new_user(store)
    assert store.set_billing_period(user.id, 2000, 2999)
    assert not store.set_billing_period(user.id, 1000, 1999)  # a late, older webhook
    assert store.set_billing_period(user.id, 2000, 3099)  # the same period, corrected
    current = store.get_user(user.id)
    assert current is not None
    assert (current.billing_period_start, current.billing_period_end) == (2000, 3099)
    assert current.billing_synced
    assert store.set_billing_period(user.id, 3100, 4099)
    renewed = store.get_user(user.id)
    assert renewed is not None and renewed.billing_period_start == 3100


def test_a_billing_period_cannot_end_before_it_starts(store: Store) -> None:
    user = new_user(store)
    with pytest.raises(ValueError, match="before it starts"):
        store.set_billing_period(user.id, 2000, 1999)


def test_a_plan_change_never_undoes_a_later_one(store: Store) -> None:
    user = new_user(store, included=10)
    assert store.set_plan_as_of(user.id, "Premium-20000", 20000, as_of=NOW + 20)
    assert not store.set_plan_as_of(user.id, "Basic-1000", 1000, as_of=NOW + 10)  # late event
    assert store.set_plan_as_of(user.id, "Premium-20000", 20000, as_of=NOW + 20)  # a replay
    current = store.get_user(user.id)
    assert current is not None
    assert (current.plan, current.included_credits) == ("Premium-20000", 20000)
    assert not current.billing_synced  # no period given, none stored


def test_a_plan_change_stores_its_window_by_the_window_rule(store: Store) -> None:
    user = new_user(store)
    assert store.set_plan_as_of(user.id, "A", 1, as_of=NOW, period=(3000, 3999))
    assert store.set_plan_as_of(user.id, "B", 2, as_of=NOW + 1, period=(2000, 2999))
    current = store.get_user(user.id)
    assert current is not None
    assert (current.plan, current.billing_period_start, current.billing_period_end) == (
        "B", 3000, 3999)  # the plan is newer; the window never moves backwards
    assert not store.set_plan_as_of(user.id, "C", 3, as_of=NOW, period=(4000, 4999))
    unchanged = store.get_user(user.id)
    assert unchanged is not None and unchanged.billing_period_start == 3000


def test_an_operators_plan_change_leaves_the_event_order(store: Store) -> None:
    user = new_user(store)
    store.set_plan_as_of(user.id, "Premium-20000", 20000, as_of=NOW)
    store.set_plan(user.id, "Comped", 99)
    assert not store.set_plan_as_of(user.id, "Old", 1, as_of=NOW - 1)
    assert store.set_plan_as_of(user.id, "Free", 50, as_of=NOW + 1)


# --- Stripe customers -------------------------------------------------------------------


def test_a_stripe_customer_finds_its_user(store: Store) -> None:
    user = new_user(store)
    assert store.find_user_by_stripe_customer("cus_A") is None
    store.set_stripe_customer(user.id, "cus_A")
    store.set_stripe_customer(user.id, "cus_A")  # the same link again is fine
    found = store.find_user_by_stripe_customer("cus_A")
    assert found is not None and found.id == user.id and found.stripe_customer_id == "cus_A"


def test_a_new_customer_replaces_the_users_old_one(store: Store) -> None:
    user = new_user(store)
    store.set_stripe_customer(user.id, "cus_A")
    store.set_stripe_customer(user.id, "cus_B")
    assert store.find_user_by_stripe_customer("cus_A") is None
    found = store.find_user_by_stripe_customer("cus_B")
    assert found is not None and found.id == user.id
    other = new_user(store, email="other@example.com")
    store.set_stripe_customer(other.id, "cus_A")  # the released id may go to another user
    again = store.find_user_by_stripe_customer("cus_A")
    assert again is not None and again.id == other.id


def test_a_customer_belongs_to_one_user(store: Store) -> None:
    first = new_user(store)
    second = new_user(store, email="second@example.com")
    store.set_stripe_customer(first.id, "cus_A")
    with pytest.raises(CustomerConflict) as raised:
        store.set_stripe_customer(second.id, "cus_A")
    assert raised.value.user_id == first.id
    holder = store.find_user_by_stripe_customer("cus_A")
    assert holder is not None and holder.id == first.id
    assert store.get_user(second.id) == second


# --- prepaid purchases --------------------------------------------------------------------


def test_a_purchase_adds_prepaid_credits_once(store: Store) -> None:
    user = new_user(store, prepaid=3)
    assert store.add_prepaid_once(user.id, 5000, "cs_1", NOW) == 5003
    assert store.add_prepaid_once(user.id, 5000, "cs_1", NOW + 1) is None
    assert store.add_prepaid_once(user.id, 100, "cs_2", NOW) == 5103
    other = new_user(store, email="other@example.com")
    assert store.add_prepaid_once(other.id, 7, "cs_1", NOW) == 7  # grants are per user
    current = store.get_user(user.id)
    assert current is not None and current.prepaid_credits == 5103
    with pytest.raises(ValueError, match="at least 1"):
        store.add_prepaid_once(user.id, 0, "cs_3", NOW)


# --- API keys -------------------------------------------------------------------------


def test_a_key_is_found_by_its_hash_and_listed(store: Store) -> None:
    user, other = new_user(store), new_user(store, email="bob@example.com")
    first = store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    second = store.add_key(user.id, "b" * 64, "ac_bbbbb", NOW + 1)
    store.add_key(other.id, "c" * 64, "ac_ccccc", NOW)
    assert store.find_key_by_hash("a" * 64) == first
    assert first.active and first.user_id == user.id and first.last_used_at is None
    assert store.find_key_by_hash("d" * 64) is None
    assert store.list_keys(user.id) == [first, second]
    assert store.list_keys("999") == []


def test_a_revoked_key_stays_revoked(store: Store) -> None:
    user = new_user(store)
    store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    assert store.revoke_key("ac_aaaaa", NOW + 5)
    assert not store.revoke_key("ac_aaaaa", NOW + 9)  # already revoked: the first time stays
    assert not store.revoke_key("ac_zzzzz", NOW)
    revoked = store.find_key_by_hash("a" * 64)
    assert revoked is not None and not revoked.active and revoked.revoked_at == NOW + 5


@pytest.mark.parametrize(("key_hash", "prefix"), [("a" * 64, "ac_other"), ("b" * 64, "ac_aaaaa")],
                         ids=["same-hash", "same-prefix"])
def test_a_key_must_differ_in_hash_and_prefix(store: Store, key_hash: str, prefix: str) -> None:
    user = new_user(store)
    store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    with pytest.raises(KeyConflict):
        store.add_key(user.id, key_hash, prefix, NOW)
    assert [key.key_hash for key in store.list_keys(user.id)] == ["a" * 64]


def test_a_refused_key_leaves_its_prefix_free(store: Store) -> None:
    with pytest.raises(UnknownUser):
        store.add_key("999", "a" * 64, "ac_aaaaa", NOW)
    user = new_user(store)
    assert store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW).prefix == "ac_aaaaa"


def test_touch_records_the_last_use(store: Store) -> None:
    user = new_user(store)
    store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    store.touch_key("a" * 64, NOW + 60)
    store.touch_key("e" * 64, NOW + 60)  # unknown: nothing happens, nothing is created
    touched = store.find_key_by_hash("a" * 64)
    assert touched is not None and touched.last_used_at == NOW + 60
    assert store.find_key_by_hash("e" * 64) is None


# --- credits and usage -------------------------------------------------------------------


def test_included_credits_first_then_prepaid_then_refused(store: Store) -> None:
    user = new_user(store, included=2, prepaid=1)
    sources = [take(store, user.id, APP), take(store, user.id), take(store, user.id)]
    assert [c.source if c else None for c in sources] == [
        CreditSource.INCLUDED, CreditSource.INCLUDED, CreditSource.PREPAID]
    assert take(store, user.id) is None
    after = store.get_user(user.id)
    assert after is not None and after.prepaid_credits == 0
    assert store.month_usage(user.id, 2026, 3) == Usage(app=1, api=2)
    assert store.cycle_usage(user.id, MARCH_2026) == Usage(app=1, api=2)


def test_a_refusal_changes_nothing(store: Store) -> None:
    user = new_user(store)
    assert take(store, user.id) is None
    assert store.month_usage(user.id, 2026, 3) == Usage()
    assert store.list_cycles(user.id) == []


def test_a_charge_names_what_it_counted(store: Store) -> None:
    user = new_user(store, included=1)
    assert take(store, user.id, APP) == Charge(user.id, APP, CreditSource.INCLUDED, 2026, 3,
                                               MARCH_2026)


def test_the_calendar_month_is_the_utc_month_of_now(store: Store) -> None:
    user = new_user(store, included=5)
    take(store, user.id, now=APRIL_2026 - 1)
    take(store, user.id, now=APRIL_2026)
    assert store.month_usage(user.id, 2026, 3) == Usage(api=1)
    assert store.month_usage(user.id, 2026, 4) == Usage(api=1)
    assert store.cycle_usage(user.id, MARCH_2026) == Usage(api=2)  # one cycle across both


def test_a_new_cycle_brings_included_credits_back(store: Store) -> None:
    user = new_user(store, included=1)
    assert take(store, user.id) is not None
    assert take(store, user.id) is None
    renewed = take(store, user.id, now=APRIL_2026, period=APRIL_2026)
    assert renewed is not None and renewed.source is CreditSource.INCLUDED


def test_a_bigger_plan_mid_cycle_adds_included_credits(store: Store) -> None:
    user = new_user(store, included=1)
    take(store, user.id)
    store.set_plan(user.id, "Premium-2", 2)
    charge = take(store, user.id)
    assert charge is not None and charge.source is CreditSource.INCLUDED


def test_a_refund_reverses_an_included_charge(store: Store) -> None:
    user = new_user(store, included=1)
    charge = take(store, user.id, APP)
    assert charge is not None
    store.refund(charge)
    assert store.month_usage(user.id, 2026, 3) == Usage()
    assert store.cycle_usage(user.id, MARCH_2026) == Usage()
    again = take(store, user.id)
    assert again is not None and again.source is CreditSource.INCLUDED


def test_a_refund_gives_prepaid_back(store: Store) -> None:
    user = new_user(store, prepaid=1)
    charge = take(store, user.id)
    assert charge is not None and charge.source is CreditSource.PREPAID
    store.refund(charge)
    after = store.get_user(user.id)
    assert after is not None and after.prepaid_credits == 1
    assert store.cycle_usage(user.id, MARCH_2026) == Usage()


def test_a_failed_included_image_frees_a_prepaid_credit_used_meanwhile(store: Store) -> None:
    user = new_user(store, included=1, prepaid=1)
    first, second = take(store, user.id), take(store, user.id)
    assert first is not None and second is not None
    assert (first.source, second.source) == (CreditSource.INCLUDED, CreditSource.PREPAID)
    store.refund(first)  # the second image now fits in the included credit
    middle = store.get_user(user.id)
    assert middle is not None and middle.prepaid_credits == 1
    store.refund(second)  # and its own refund gives nothing back twice
    after = store.get_user(user.id)
    assert after is not None and after.prepaid_credits == 1
    assert store.cycle_usage(user.id, MARCH_2026) == Usage()


def test_a_refund_after_midnight_reverses_the_charges_month(store: Store) -> None:
    user = new_user(store, included=5)
    late = take(store, user.id, now=APRIL_2026 - 1)
    take(store, user.id, now=APRIL_2026)
    assert late is not None
    store.refund(late)
    assert store.month_usage(user.id, 2026, 3) == Usage()
    assert store.month_usage(user.id, 2026, 4) == Usage(api=1)


def test_a_counter_never_goes_below_zero(store: Store) -> None:
    user = new_user(store, included=5)
    charge = take(store, user.id)
    assert charge is not None
    store.refund(charge)
    store.refund(charge)  # a bug upstream must not create credit out of thin air
    assert store.cycle_usage(user.id, MARCH_2026) == Usage()
    assert take(store, user.id) is not None
    assert store.cycle_usage(user.id, MARCH_2026) == Usage(api=1)


def test_cycles_list_newest_first_with_their_counters(store: Store) -> None:
    user = new_user(store, included=10)
    take(store, user.id, APP)
    take(store, user.id, now=APRIL_2026, period=APRIL_2026)
    take(store, user.id, now=APRIL_2026, period=APRIL_2026)
    assert store.list_cycles(user.id) == [
        CycleUsage(APRIL_2026, Usage(api=2)), CycleUsage(MARCH_2026, Usage(app=1))]
    assert store.list_cycles("999") == []


def test_usage_of_nothing_is_zero(store: Store) -> None:
    assert store.month_usage("999", 2026, 3) == Usage()
    assert store.cycle_usage("999", MARCH_2026) == Usage()


# --- webhook events ---------------------------------------------------------------------


def test_an_event_is_new_only_once(store: Store) -> None:
    assert not store.has_event("evt_1")
    assert store.mark_event("evt_1", NOW)
    assert store.has_event("evt_1") and not store.has_event("evt_2")
    assert not store.mark_event("evt_1", NOW + 1)
    assert store.mark_event("evt_2", NOW)


# --- rate limits ---------------------------------------------------------------------


def test_a_window_allows_up_to_its_limit(store: Store) -> None:
    now = NOW + 7.5  # inside the 10 s window [NOW, NOW + 10)
    decisions = [store.hit("ip:203.0.113.9", 3, 10, now) for _ in range(5)]
    assert [(d.allowed, d.remaining) for d in decisions] == [
        (True, 2), (True, 1), (True, 0), (False, 0), (False, 0)]
    assert {(d.limit, d.reset_at) for d in decisions} == {(3, NOW + 10)}
    assert decisions[-1].retry_after(now) == 3


def test_the_next_window_starts_afresh(store: Store) -> None:
    for _ in range(4):
        store.hit("ip:a", 2, 10, NOW)
    fresh = store.hit("ip:a", 2, 10, NOW + 10)
    assert (fresh.allowed, fresh.remaining, fresh.reset_at) == (True, 1, NOW + 20)


def test_buckets_count_apart(store: Store) -> None:
    assert store.hit("ip:a", 1, 60, NOW).allowed
    assert store.hit("ip:b", 1, 60, NOW).allowed
    assert not store.hit("ip:a", 1, 60, NOW).allowed


def test_a_day_window_is_the_utc_day(store: Store) -> None:
    noon = NOW + DAY // 2
    decision = store.hit("anon:2001:db8::1", 10, DAY, noon)
    assert decision.reset_at == NOW + DAY
    assert decision.retry_after(noon) == DAY // 2


def test_a_zero_limit_refuses_everything(store: Store) -> None:
    assert not store.hit("ip:a", 0, 60, NOW).allowed


def test_the_store_answers_ping(store: Store) -> None:
    store.ping()


# --- the credit maximum -------------------------------------------------------------------


def test_prepaid_grows_up_to_the_maximum_and_no_further(store: Store) -> None:
    user = new_user(store, prepaid=1)
    assert store.add_prepaid(user.id, MAX_CREDITS - 1) == MAX_CREDITS
    for credits in (1, MAX_CREDITS):
        with pytest.raises(CreditLimitExceeded, match=f"maximum of {MAX_CREDITS} credits"):
            store.add_prepaid(user.id, credits)
    assert store.get_user(user.id) == store.list_users()[0]
    assert store.list_users()[0].prepaid_credits == MAX_CREDITS


@pytest.mark.parametrize("credits", [2**62, 2**63, 2**64, 10**40])
def test_a_huge_add_is_refused_and_changes_nothing(store: Store, credits: int) -> None:
    user = new_user(store, prepaid=5)
    for _ in range(2):  # twice: the second add of 2**62 was the one that corrupted
        with pytest.raises(CreditLimitExceeded):
            store.add_prepaid(user.id, credits)
        with pytest.raises(CreditLimitExceeded):
            store.add_prepaid_once(user.id, credits, "cs_huge", NOW)
    assert store.list_users() == [user]
    assert store.add_prepaid_once(user.id, 1, "cs_huge", NOW) == 6  # the grant was not kept


def test_a_purchase_over_the_maximum_is_not_recorded(store: Store) -> None:
    user = new_user(store, prepaid=10)
    assert store.add_prepaid_once(user.id, MAX_CREDITS - 10, "cs_1", NOW) == MAX_CREDITS
    with pytest.raises(CreditLimitExceeded):
        store.add_prepaid_once(user.id, 1, "cs_2", NOW)
    assert store.add_prepaid_once(user.id, 1, "cs_1", NOW) is None  # a replay is still one
    charge = take(store, user.id)
    assert charge is not None and charge.source is CreditSource.PREPAID
    assert store.add_prepaid_once(user.id, 1, "cs_2", NOW) == MAX_CREDITS  # its retry fits now


def test_concurrent_adds_never_pass_the_maximum(store: Store) -> None:
    user = new_user(store)
    third = MAX_CREDITS // 3

    def add(i: int) -> bool:
        try:
            if i % 2:
                store.add_prepaid(user.id, third)
            else:
                store.add_prepaid_once(user.id, third, f"cs_{i}", NOW)
        except CreditLimitExceeded:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        added = list(pool.map(add, range(16)))
    assert added.count(True) == 3
    current = store.get_user(user.id)
    assert current is not None and current.prepaid_credits == 3 * third


@pytest.mark.parametrize("credits", [MAX_CREDITS + 1, 2**63, 2**64])
def test_credit_counts_over_the_maximum_are_refused(store: Store, credits: int) -> None:
    message = f"between 0 and {MAX_CREDITS}, got: {credits}"
    with pytest.raises(CreditAmountOutOfRange, match=message):
        store.create_user("big@example.com", plan="x", included_credits=credits, now=NOW)
    with pytest.raises(CreditAmountOutOfRange, match=message):
        store.create_user("big@example.com", plan="x", included_credits=1,
                          prepaid_credits=credits, now=NOW)
    user = new_user(store, included=MAX_CREDITS, prepaid=MAX_CREDITS)  # the maximum itself
    with pytest.raises(CreditAmountOutOfRange, match=message):
        store.set_plan(user.id, "x", credits)
    with pytest.raises(CreditAmountOutOfRange, match=message):
        store.set_plan_as_of(user.id, "x", credits, NOW)
    assert store.list_users() == [user]


@pytest.mark.parametrize("user_id", [str(2**63), str(2**64), "9" * 30, "9" * 5000])
def test_an_id_past_64_bits_names_no_user(store: Store, user_id: str) -> None:
    assert store.get_user(user_id) is None
    assert store.list_keys(user_id) == []
    for change in CHANGES.values():
        with pytest.raises(UnknownUser):
            change(store, user_id)


def _store_raw_prepaid(store: Store, user_id: str) -> None:
    """What an older alphacut could leave: SQLite turned an overflowing INTEGER into a REAL
    (2**62 added twice); Redis kept the first 2**62 and refused the second."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE users SET prepaid_credits = ? WHERE id = ?",
                         (2.0**63, int(user_id)))
    else:
        assert isinstance(store, RedisStore)
        store._client.hset(keys.user(user_id), "prepaid_credits", str(2**62))


def test_a_balance_an_older_version_left_over_the_maximum_still_reads(store: Store) -> None:
    user = new_user(store, prepaid=1)
    _store_raw_prepaid(store, user.id)
    found = store.get_user(user.id)
    assert found is not None and found.prepaid_credits >= 2**62
    assert store.list_users() == [found]
    assert store.get_user_by_email(user.email) == found
    with pytest.raises(CreditLimitExceeded):
        store.add_prepaid(user.id, 1)
    with pytest.raises(CreditLimitExceeded):
        store.add_prepaid_once(user.id, 1, "cs_1", NOW)
    charge = take(store, user.id)  # the user's requests still work
    assert charge is not None and charge.source is CreditSource.PREPAID
    store.refund(charge)
    assert store.get_user(user.id) is not None
