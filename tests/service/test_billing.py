"""StripeWebhook.handle on a real SQLite store: both Stripe API shapes, subscription
statuses, the race between two deliveries, and what an event must carry."""

from __future__ import annotations

from typing import Any

import pytest

from alphacut.domain.billing import PlanPrice
from alphacut.domain.clock import FixedClock
from alphacut.errors import InvalidWebhook, UnmatchedEvent
from alphacut.service.billing import StripeConfig, StripeWebhook
from alphacut.storage.base import Store

NOW = 1_742_040_000
START, RENEWAL = 1_740_441_600, 1_743_033_600
CONFIG = StripeConfig("whsec_x", 300, {"price_p": PlanPrice("Premium-20000", 20000)},
                      {"price_k": 5000}, PlanPrice("Free", 50))


@pytest.fixture
def webhook(store: Store) -> StripeWebhook:
    return StripeWebhook(store, FixedClock(NOW), CONFIG)


@pytest.fixture
def uid(store: Store) -> str:
    return store.create_user("ada@example.com", plan="Free", included_credits=50,
                             verified=True, now=NOW).id


def event(kind: str, obj: dict[str, Any], created: int = NOW, event_id: str = "evt_1",
          ) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": created,
            "data": {"object": obj}}


def basil_subscription(uid: str, status: str = "active") -> dict[str, Any]:
    """API 2025-03-31.basil and later: the period lives on the items."""
    return {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
            "metadata": {"user_id": uid},
            "items": {"object": "list", "data": [
                {"id": "si_1", "price": {"id": "price_p"}, "current_period_start": START,
                 "current_period_end": RENEWAL}]}}


def test_a_basil_subscription_reads_its_period_from_the_item(
        webhook: StripeWebhook, store: Store, uid: str) -> None:
    webhook.handle(event("customer.subscription.created", basil_subscription(uid)))
    user = store.get_user(uid)
    assert user is not None
    assert (user.plan, user.included_credits, user.billing_period_start,
            user.billing_period_end) == ("Premium-20000", 20000, START, RENEWAL - 1)


def test_a_basil_invoice_takes_the_newest_non_proration_line(
        webhook: StripeWebhook, store: Store, uid: str) -> None:
    store.set_stripe_customer(uid, "cus_1")
    lines = [
        {"id": "il_1", "period": {"start": RENEWAL, "end": RENEWAL + 30 * 86400},
         "parent": {"type": "subscription_item_details",
                    "subscription_item_details": {"proration": False}}},
        {"id": "il_2", "period": {"start": RENEWAL + 86400, "end": RENEWAL + 30 * 86400},
         "parent": {"type": "subscription_item_details",
                    "subscription_item_details": {"proration": True}}},
        {"id": "il_3", "period": {"start": RENEWAL + 2 * 86400, "end": RENEWAL + 40 * 86400},
         "parent": {"type": "invoice_item_details"}},
    ]
    invoice = {"id": "in_1", "object": "invoice", "customer": "cus_1",
               "parent": {"type": "subscription_details",
                          "subscription_details": {"subscription": "sub_1", "metadata": {}}},
               "lines": {"object": "list", "data": lines}}
    outcome = webhook.handle(event("invoice.paid", invoice))
    assert not outcome.ignored
    user = store.get_user(uid)
    assert user is not None and user.billing_period_start == RENEWAL


@pytest.mark.parametrize(("status", "plan"), [
    ("trialing", "Premium-20000"), ("past_due", "Premium-20000"), ("incomplete", "Free"),
])
def test_which_statuses_grant_the_plan(webhook: StripeWebhook, store: Store, uid: str,
                                       status: str, plan: str) -> None:
    webhook.handle(event("customer.subscription.updated", basil_subscription(uid, status)))
    user = store.get_user(uid)
    assert user is not None and user.plan == plan


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete_expired", "paused"])
def test_which_statuses_take_it_away(webhook: StripeWebhook, store: Store, uid: str,
                                     status: str) -> None:
    webhook.handle(event("customer.subscription.created", basil_subscription(uid), NOW))
    webhook.handle(event("customer.subscription.updated", basil_subscription(uid, status),
                         NOW + 1, "evt_2"))
    user = store.get_user(uid)
    assert user is not None
    assert (user.plan, user.included_credits, user.billing_period_start) == ("Free", 50, START)


def test_two_deliveries_at_once_apply_once(webhook: StripeWebhook, store: Store,
                                           uid: str) -> None:
    bought = event("checkout.session.completed", {
        "id": "cs_1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
        "metadata": {"price_id": "price_k", "user_id": uid}})
    assert webhook.handle(bought).body()["received"] is True
    # The twin delivery passed has_event before the first one marked the event:
    # it runs the handler again, which adds nothing, and says it was a duplicate.
    twin = StripeWebhook(_Unseen(store), FixedClock(NOW), CONFIG)
    assert twin.handle(bought).duplicate
    user = store.get_user(uid)
    assert user is not None and user.prepaid_credits == 5000


def test_an_event_needs_an_id_type_created_and_object(webhook: StripeWebhook) -> None:
    with pytest.raises(InvalidWebhook):
        webhook.handle({"type": "invoice.paid", "created": NOW, "data": {"object": {}}})
    with pytest.raises(InvalidWebhook):
        webhook.handle({"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})


def test_client_reference_id_names_the_user(webhook: StripeWebhook, store: Store,
                                            uid: str) -> None:
    webhook.handle(event("checkout.session.completed", {
        "id": "cs_2", "object": "checkout.session", "mode": "subscription",
        "customer": "cus_9", "client_reference_id": uid, "metadata": {}}))
    found = store.find_user_by_stripe_customer("cus_9")
    assert found is not None and found.id == uid


def test_nothing_to_match_is_unprocessable(webhook: StripeWebhook) -> None:
    with pytest.raises(UnmatchedEvent) as raised:
        webhook.handle(event("customer.subscription.updated", {
            "id": "sub_x", "customer": None, "status": "active", "metadata": {}}))
    assert raised.value.status == 422


class _Unseen:
    """The store as a second delivery saw it, a moment before the first marked the event."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def has_event(self, event_id: str) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
