"""POST /api/stripe/webhook over real HTTP: real Stripe-format events, signed with the
``stripe`` library's own scheme (nothing leaves the machine); outcomes checked through
GET /api/membership-usage and the store."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from alphacut import Engine
from alphacut.domain.billing import PlanPrice
from tests.conftest import fixture_bytes
from tests.web.test_membership_usage import Billing, billing_server

SECRET = "whsec_test_alphacut_0123456789abcdef"
PREMIUM, BASIC, PACK = "price_1PremiumMonthly", "price_1BasicMonthly", "price_1Pack5000"
PLANS = {PREMIUM: PlanPrice("Premium-20000", 20000), BASIC: PlanPrice("Basic-1000", 1000)}

DAY = 86_400
P1 = (1_740_441_600, 1_743_033_600)  # Stripe's [start, renewal): 2025-02-25 .. 2025-03-27
P2 = (1_743_033_600, 1_745_712_000)  # the next month: 2025-03-27 .. 2025-04-27
IN_P1, IN_P2 = P1[0] + 5 * DAY, P2[0] + DAY
_ids = itertools.count(1)


# --- Stripe-format objects (API version 2024-06-20 unless a test says otherwise) ----------


def event(kind: str, obj: dict[str, Any], *, created: int, event_id: str | None = None,
          ) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_1Test{next(_ids):08d}", "object": "event",
        "api_version": "2024-06-20", "created": created, "data": {"object": obj},
        "livemode": False, "pending_webhooks": 1,
        "request": {"id": f"req_{next(_ids)}", "idempotency_key": None}, "type": kind,
    }


def subscription(customer: str, price: str, period: tuple[int, int], *,
                 status: str = "active", metadata: dict[str, str] | None = None,
                 ) -> dict[str, Any]:
    start, end = period
    return {
        "id": f"sub_1Test{customer}", "object": "subscription", "customer": customer,
        "status": status, "metadata": metadata or {}, "cancel_at_period_end": False,
        "billing_cycle_anchor": P1[0], "created": P1[0], "currency": "usd",
        "current_period_start": start, "current_period_end": end, "livemode": False,
        "items": {"object": "list", "has_more": False, "total_count": 1,
                  "url": "/v1/subscription_items?subscription=sub_1Test", "data": [{
                      "id": "si_1Test", "object": "subscription_item", "quantity": 1,
                      "price": {"id": price, "object": "price", "active": True,
                                "currency": "usd", "unit_amount": 1500, "type": "recurring",
                                "recurring": {"interval": "month", "interval_count": 1}},
                  }]},
    }


def invoice(customer: str, period: tuple[int, int], *, email: str | None = None,
            ) -> dict[str, Any]:
    start, end = period
    return {
        "id": f"in_1Test{next(_ids)}", "object": "invoice", "customer": customer,
        "customer_email": email, "subscription": f"sub_1Test{customer}", "status": "paid",
        "billing_reason": "subscription_cycle", "paid": True, "metadata": {},
        # The invoice's own period is the one billed in arrears; the lines hold the new one.
        "period_start": start - 30 * DAY, "period_end": start,
        "lines": {"object": "list", "has_more": False, "total_count": 1, "data": [{
            "id": "il_1Test", "object": "line_item", "type": "subscription",
            "proration": False, "period": {"start": start, "end": end},
            "price": {"id": PREMIUM, "object": "price"}, "quantity": 1,
        }]},
    }


def checkout(*, session_id: str, metadata: dict[str, str], email: str | None = None,
             customer: str | None = None, mode: str = "payment",
             payment_status: str = "paid") -> dict[str, Any]:
    return {
        "id": session_id, "object": "checkout.session", "mode": mode,
        "payment_status": payment_status, "status": "complete", "customer": customer,
        "customer_email": None, "client_reference_id": None, "metadata": metadata,
        "customer_details": {"email": email, "name": "Ada Lovelace", "address": None},
        "amount_total": 2000, "currency": "usd", "livemode": False,
    }


# --- sending -----------------------------------------------------------------------------------


def send(base: str, body: dict[str, Any] | str, *, secret: str = SECRET,
         timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    payload = body if isinstance(body, str) else json.dumps(body, indent=2)
    header = signature if signature is not None else \
        stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return httpx.post(f"{base}/api/stripe/webhook", content=payload.encode(),
                      headers={"Stripe-Signature": header, "Content-Type": "application/json",
                               "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
                      timeout=30)


@pytest.fixture(scope="module")
def billing(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    with billing_server(engine, tmp_path_factory.mktemp("stripe"), stripe_webhook_secret=SECRET,
                        stripe_plans=PLANS, stripe_credit_packs={PACK: 5000}) as served:
        yield served


@pytest.fixture(autouse=True)
def in_p1(billing: Billing) -> None:
    billing.clock.set(IN_P1)


_emails = itertools.count(1)


def new_user(billing: Billing, **changes: Any) -> tuple[str, str, str]:
    """(user id, API key, e-mail) of a fresh Free user."""
    email = f"buyer{next(_emails)}@example.com"
    user_id, key = billing.user_with_key(email, plan="Free", included=50, **changes)
    return user_id, key, email


def cycle_of(billing: Billing, key: str) -> dict[str, Any]:
    body: dict[str, Any] = billing.usage(key, {"expand": "billing_cycle"}).json()
    return body


def premium_from(user_id: str, customer: str) -> dict[str, Any]:
    created = subscription(customer, PREMIUM, P1, metadata={"user_id": user_id})
    return event("customer.subscription.created", created, created=P1[0])


# --- signatures ----------------------------------------------------------------------------------


def test_a_signed_subscription_sets_plan_window_and_customer(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    reply = send(billing.base, premium_from(user_id, "cus_Sig1"))
    assert reply.status_code == 200
    assert reply.json()["received"] is True
    body = cycle_of(billing, key)
    assert (body["membership"], body["credits"]) == ("Premium-20000", 20000)
    assert body["billingCycle"] == {
        "periodStartUnix": P1[0], "periodEndUnix": P1[1] - 1, "appUsage": 0, "apiUsage": 0,
        "includedCredits": 20000, "prepaidCredits": 0, "usedIncludedCredits": 0,
        "remainingIncludedCredits": 20000, "stripeBillingSynced": True}
    user = billing.store.get_user(user_id)
    assert user is not None and user.stripe_customer_id == "cus_Sig1"


@pytest.mark.parametrize("case", ["wrong-secret", "altered-body", "no-v1", "garbage", "empty"])
def test_a_bad_signature_is_a_400_and_changes_nothing(billing: Billing, case: str) -> None:
    user_id, key, _ = new_user(billing)
    body = premium_from(user_id, "cus_Bad1")
    payload = json.dumps(body)
    signature = {
        "wrong-secret": stripe.WebhookSignature.generate_signature_header(payload, "whsec_x"),
        "altered-body": stripe.WebhookSignature.generate_signature_header(
            payload.replace(PREMIUM, BASIC), SECRET),
        "no-v1": f"t={int(time.time())},v0=abc",
        "garbage": "nonsense",
        "empty": "",
    }[case]
    reply = send(billing.base, payload, signature=signature)
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("Invalid Stripe webhook: the Stripe-Signature does "
                                            "not verify")
    assert cycle_of(billing, key)["membership"] == "Free"
    assert not billing.store.has_event(body["id"])


def test_a_stale_timestamp_is_a_400_and_changes_nothing(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    body = premium_from(user_id, "cus_Stale1")
    reply = send(billing.base, body, timestamp=int(time.time()) - 301)  # tolerance: 300 s
    assert reply.status_code == 400
    assert "Timestamp outside the tolerance zone" in reply.json()["error"]
    assert cycle_of(billing, key)["membership"] == "Free"
    fresh = send(billing.base, body, timestamp=int(time.time()) - 60)  # Stripe's retry
    assert fresh.status_code == 200
    assert cycle_of(billing, key)["membership"] == "Premium-20000"


def test_a_signed_body_that_is_not_an_event_is_a_400(billing: Billing) -> None:
    reply = send(billing.base, "{not json")
    assert (reply.status_code, reply.json()) == (400, {
        "error": "Invalid Stripe webhook: the body is not a Stripe event.", "status": 400})


def test_an_unknown_event_type_is_received_and_ignored(billing: Billing) -> None:
    reply = send(billing.base, event("charge.succeeded", {"id": "ch_1", "object": "charge"},
                                     created=IN_P1))
    assert (reply.status_code, reply.json()) == (200, {"received": True, "ignored": True})


def test_the_webhook_is_off_without_a_secret(server: str) -> None:
    reply = httpx.post(f"{server}/api/stripe/webhook", content=b"{}",
                       headers={"Stripe-Signature": "t=1,v1=00"})
    assert reply.status_code == 404
    assert reply.json()["status"] == 404


def test_an_oversized_body_is_a_413(billing: Billing) -> None:
    reply = httpx.post(f"{billing.base}/api/stripe/webhook", content=b" " * (1024 * 1024 + 1),
                       headers={"Stripe-Signature": "t=1,v1=00"}, timeout=30)
    assert reply.status_code == 413


# --- idempotency and order ------------------------------------------------------------------------


def test_a_replayed_event_changes_nothing(billing: Billing) -> None:
    _, key, email = new_user(billing)
    bought = event("checkout.session.completed",
                   checkout(session_id="cs_test_Replay1", metadata={"price_id": PACK},
                            email=email, customer="cus_Replay1"), created=IN_P1)
    first = send(billing.base, bought)
    assert first.status_code == 200 and "duplicate" not in first.json()
    again = send(billing.base, bought)  # Stripe retries: same event id
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    assert cycle_of(billing, key)["prepaidCredits"] == 5000
    assert billing.store.has_event(bought["id"])


def test_a_replay_of_an_old_event_does_not_undo_a_newer_one(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    basic = event("customer.subscription.updated",
                  subscription("cus_Replay2", BASIC, P1, metadata={"user_id": user_id}),
                  created=P1[0] + 10)
    premium = event("customer.subscription.updated",
                    subscription("cus_Replay2", PREMIUM, P1, metadata={"user_id": user_id}),
                    created=P1[0] + 20)
    assert send(billing.base, basic).status_code == 200
    assert send(billing.base, premium).status_code == 200
    assert send(billing.base, basic).json()["duplicate"] is True
    assert cycle_of(billing, key)["membership"] == "Premium-20000"


def test_out_of_order_updates_never_move_back(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    meta = {"user_id": user_id}
    upgrade = event("customer.subscription.updated",
                    subscription("cus_Order1", PREMIUM, P1, metadata=meta), created=P1[0] + 100)
    downgrade = event("customer.subscription.updated",
                      subscription("cus_Order1", BASIC, P1, metadata=meta), created=P1[0] + 200)
    renewed = event("customer.subscription.updated",
                    subscription("cus_Order1", BASIC, P2, metadata=meta), created=P2[0])
    for sent in (renewed, downgrade, upgrade):  # delivered newest first
        assert send(billing.base, sent).status_code == 200
    billing.clock.set(IN_P2)
    body = cycle_of(billing, key)
    assert (body["membership"], body["credits"]) == ("Basic-1000", 1000)
    assert (body["billingCycle"]["periodStartUnix"], body["billingCycle"]["periodEndUnix"]) == (
        P2[0], P2[1] - 1)


def test_a_deleted_subscription_falls_back_to_the_free_plan(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    send(billing.base, premium_from(user_id, "cus_Del1"))
    ended = subscription("cus_Del1", PREMIUM, P1, status="canceled")  # no metadata: by customer
    reply = send(billing.base, event("customer.subscription.deleted", ended,
                                     created=P1[0] + 3 * DAY))
    assert reply.status_code == 200
    body = cycle_of(billing, key)
    assert (body["membership"], body["credits"]) == ("Free", 50)
    assert body["billingCycle"]["periodStartUnix"] == P1[0]  # the window stays
    late = event("customer.subscription.updated",
                 subscription("cus_Del1", PREMIUM, P1), created=P1[0] + DAY)
    assert send(billing.base, late).status_code == 200  # an older update, delivered late
    assert cycle_of(billing, key)["membership"] == "Free"


# --- renewals -------------------------------------------------------------------------------------


def test_invoice_paid_opens_a_new_window_and_the_old_one_stays_listable(
        billing: Billing) -> None:
    user_id, key, email = new_user(billing)
    send(billing.base, premium_from(user_id, "cus_Renew1"))
    image = httpx.post(f"{billing.base}/rmbg", headers={"x-api-key": key}, data={"w": "64"},
                       files={"image": ("coffee.jpg", fixture_bytes("coffee"))}, timeout=120)
    assert image.status_code == 200  # counted in P1
    billing.clock.set(IN_P2)
    paid = send(billing.base, event("invoice.paid", invoice("cus_Renew1", P2, email=email),
                                    created=P2[0] + 60))
    assert paid.status_code == 200
    body = cycle_of(billing, key)["billingCycle"]
    assert (body["periodStartUnix"], body["periodEndUnix"], body["apiUsage"]) == (
        P2[0], P2[1] - 1, 0)
    assert billing.usage(key, {"listBillingCycles": "1"}).json() == {"billingCycles": [
        {"periodStartUnix": P2[0], "periodEndUnix": P2[1] - 1, "appUsage": 0, "apiUsage": 0},
        {"periodStartUnix": P1[0], "periodEndUnix": P2[0] - 1, "appUsage": 0, "apiUsage": 1},
    ]}
    old = billing.usage(key, {"periodStartUnix": str(P1[0])}).json()
    assert (old["app_usage"], old["api_usage"]) == (0, 1)
    late = send(billing.base, event("invoice.paid", invoice("cus_Renew1", P1),
                                    created=P1[0] + 60))  # last month's, delivered late
    assert late.status_code == 200
    assert cycle_of(billing, key)["billingCycle"]["periodStartUnix"] == P2[0]


def test_a_one_off_invoice_is_ignored(billing: Billing) -> None:
    one_off = invoice("cus_Nobody", P2) | {"subscription": None, "billing_reason": "manual"}
    reply = send(billing.base, event("invoice.paid", one_off, created=IN_P1))
    assert reply.json() == {"received": True, "ignored": True,
                            "detail": "not a subscription invoice"}


# --- credit packs and mapping -------------------------------------------------------------------


def test_a_credit_pack_adds_prepaid_credits_by_email(billing: Billing) -> None:
    user_id, key, email = new_user(billing)
    session = checkout(session_id="cs_test_Pack1", metadata={"price_id": PACK},
                       email=email.upper(), customer="cus_Pack1")
    reply = send(billing.base, event("checkout.session.completed", session, created=IN_P1))
    assert reply.status_code == 200
    assert cycle_of(billing, key)["prepaidCredits"] == 5000
    found = billing.store.find_user_by_stripe_customer("cus_Pack1")
    assert found is not None and found.id == user_id  # remembered for later events
    renewal = send(billing.base, event("invoice.paid", invoice("cus_Pack1", P2),
                                       created=P2[0]))  # no e-mail, no metadata: by customer
    assert renewal.status_code == 200
    renewed = billing.store.get_user(user_id)
    assert renewed is not None and renewed.billing_period_start == P2[0]


def test_a_delayed_payment_is_credited_once_when_it_settles(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    session = checkout(session_id="cs_test_Async1", metadata={"price_id": PACK,
                                                              "user_id": user_id},
                       payment_status="unpaid")
    pending = send(billing.base, event("checkout.session.completed", session, created=IN_P1))
    assert pending.json()["ignored"] is True
    settled = session | {"payment_status": "paid"}
    for kind in ("checkout.session.async_payment_succeeded", "checkout.session.completed"):
        assert send(billing.base, event(kind, settled, created=IN_P1 + 60)).status_code == 200
    assert cycle_of(billing, key)["prepaidCredits"] == 5000  # one session, one pack


def test_an_unknown_pack_price_is_a_422_so_stripe_retries(billing: Billing) -> None:
    user_id, key, _ = new_user(billing)
    bought = event("checkout.session.completed",
                   checkout(session_id="cs_test_Unknown1",
                            metadata={"price_id": "price_unknown", "user_id": user_id}),
                   created=IN_P1)
    reply = send(billing.base, bought)
    assert reply.status_code == 422
    assert "price_unknown" in reply.json()["error"]
    assert not billing.store.has_event(bought["id"])
    assert cycle_of(billing, key)["prepaidCredits"] == 0


def test_an_unmatched_customer_is_retried_until_it_is_linked(billing: Billing) -> None:
    _, key, email = new_user(billing)
    early = event("customer.subscription.created",
                  subscription("cus_Later1", PREMIUM, P1), created=P1[0])
    reply = send(billing.base, early)
    assert reply.status_code == 422
    assert reply.json()["error"] == ("No alphacut user matches this Stripe event (customer "
                                     "'cus_Later1'). Stripe will retry it.")
    linked = checkout(session_id="cs_test_Sub1", metadata={}, email=email,
                      customer="cus_Later1", mode="subscription")
    assert send(billing.base, event("checkout.session.completed", linked,
                                    created=P1[0] + 1)).status_code == 200
    assert send(billing.base, early).status_code == 200  # Stripe's retry
    assert cycle_of(billing, key)["membership"] == "Premium-20000"


def test_metadata_user_id_wins_over_the_email(billing: Billing) -> None:
    first_id, first_key, _ = new_user(billing)
    _, second_key, second_email = new_user(billing)
    session = checkout(session_id="cs_test_Meta1",
                       metadata={"price_id": PACK, "user_id": first_id}, email=second_email)
    assert send(billing.base, event("checkout.session.completed", session,
                                    created=IN_P1)).status_code == 200
    assert cycle_of(billing, first_key)["prepaidCredits"] == 5000
    assert cycle_of(billing, second_key)["prepaidCredits"] == 0
