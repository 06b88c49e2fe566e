"""Stripe credit packs and plans cannot push a balance past the maximum (hardening:
huge credit values corrupted an account for good)."""

from __future__ import annotations

from typing import Any

import pytest

from alphacut.domain.accounts import MAX_CREDITS
from alphacut.domain.billing import PlanPrice
from alphacut.domain.clock import FixedClock
from alphacut.domain.principal import Channel
from alphacut.errors import CreditsNotApplied
from alphacut.service.billing import StripeConfig, StripeWebhook
from alphacut.storage.base import Store

NOW = 1_742_040_000
CONFIG = StripeConfig("whsec_x", 300, {"price_p": PlanPrice("Premium-20000", 20000),
                                       "price_huge": PlanPrice("Huge", MAX_CREDITS + 1)},
                      {"price_k": 5000, "price_max": MAX_CREDITS, "price_over": 2**62},
                      PlanPrice("Free", 50))


@pytest.fixture
def webhook(store: Store) -> StripeWebhook:
    return StripeWebhook(store, FixedClock(NOW), CONFIG)


@pytest.fixture
def uid(store: Store) -> str:
    return store.create_user("ada@example.com", plan="Free", included_credits=50,
                             verified=True, now=NOW).id


def event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": NOW,
            "data": {"object": obj}}


def pack(uid: str, price: str, session: str) -> dict[str, Any]:
    return event("checkout.session.completed", {
        "id": session, "object": "checkout.session", "mode": "payment",
        "payment_status": "paid", "metadata": {"price_id": price, "user_id": uid}},
        f"evt_{session}")


def test_a_pack_over_the_maximum_is_422_unmarked_and_adds_nothing(
        webhook: StripeWebhook, store: Store, uid: str) -> None:
    assert webhook.handle(pack(uid, "price_max", "cs_1")).detail is not None
    for price, session in (("price_k", "cs_2"), ("price_over", "cs_3")):
        with pytest.raises(CreditsNotApplied) as raised:
            webhook.handle(pack(uid, price, session))
        assert raised.value.status == 422
        assert f"over the maximum of {MAX_CREDITS}" in raised.value.message
        assert raised.value.message.endswith("Stripe will retry it.")
        assert not store.has_event(f"evt_{session}")  # Stripe retries it
    user = store.get_user(uid)
    assert user is not None and user.prepaid_credits == MAX_CREDITS
    assert store.list_users() == [user]


def test_a_refused_pack_is_credited_by_a_retry_once_it_fits(
        webhook: StripeWebhook, store: Store, uid: str) -> None:
    store.add_prepaid(uid, MAX_CREDITS - 4999)
    with pytest.raises(CreditsNotApplied):
        webhook.handle(pack(uid, "price_k", "cs_1"))
    store.set_plan(uid, "Free", 0)
    store.take_credit(uid, Channel.API, NOW, 0)
    assert "balance 1000000000000" in (webhook.handle(pack(uid, "price_k", "cs_1")).detail or "")


def test_a_plan_over_the_maximum_is_422(webhook: StripeWebhook, store: Store, uid: str) -> None:
    sub = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
           "metadata": {"user_id": uid},
           "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_huge"}}]}}
    with pytest.raises(CreditsNotApplied) as raised:
        webhook.handle(event("customer.subscription.created", sub))
    assert raised.value.status == 422
    user = store.get_user(uid)
    assert user is not None and user.plan == "Free"
