"""Signed Stripe events that are valid JSON but hostile: a top-level array, numbers past
64 bits, impossible billing windows. Each is a 4xx that changes nothing (hardening)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.test_stripe_webhook import (
    P1,
    PREMIUM,
    event,
    new_user,
    send,
    subscription,
)
from tests.web.test_stripe_webhook import billing as billing
from tests.web.test_stripe_webhook import in_p1 as in_p1


def sub_event(user_id: str, period: tuple[int, int], **changes: Any) -> dict[str, Any]:
    created = subscription("cus_hostile", PREMIUM, period, metadata={"user_id": user_id})
    created.update(changes)
    return event("customer.subscription.created", created, created=P1[0])


@pytest.mark.parametrize("body", [
    "[]", "[1, 2]", '"event"', "null", "1e999999",
    json.dumps({"id": "evt_x", "object": "event", "type": "customer.subscription.created",
                "created": 2**70, "data": {"object": {}}}),
], ids=["empty-array", "array", "string", "null", "huge-float", "huge-created"])
def test_a_signed_body_that_is_no_usable_event_is_a_4xx(billing: Any, body: str) -> None:
    reply = send(billing.base, body)
    assert 400 <= reply.status_code < 500, reply.text
    assert reply.json()["status"] == reply.status_code


@pytest.mark.parametrize("period", [
    (P1[1], P1[0]),          # ends before it starts
    (2**70, 2**71),           # past 64 bits
    (-5, 10),                 # before 1970
    (P1[0], P1[0] + 10 * 366 * 86_400),  # a ten-year "month"
], ids=["reversed", "huge", "negative", "ten-years"])
def test_an_impossible_billing_window_changes_nothing(billing: Any,
                                                      period: tuple[int, int]) -> None:
    user_id, key, _ = new_user(billing)
    before = billing.usage(key, {"expand": "billing_cycle"}).json()
    reply = send(billing.base, sub_event(user_id, period))
    assert reply.status_code < 500, reply.text
    after = billing.usage(key, {"expand": "billing_cycle"}).json()
    assert after["billingCycle"]["periodStartUnix"] == before["billingCycle"]["periodStartUnix"]
    assert after["billingCycle"]["periodEndUnix"] == before["billingCycle"]["periodEndUnix"]
