"""GET /api/membership-usage over real HTTP, with the clock fixed: the contract's example,
every query mode, every 400, the 401 row."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alphacut import Engine, bootstrap
from alphacut.domain.clock import FixedClock, month_bounds
from alphacut.domain.principal import Channel
from alphacut.secret import resolve_secret
from alphacut.server import create_app
from alphacut.service.accounts import AccountService
from alphacut.service.tokens import TokenSigner
from alphacut.settings import Settings
from alphacut.storage.base import Store
from tests.conftest import fixture_bytes, make_settings
from tests.web.conftest import free_port

# The contract's example: a Stripe period of 30 days from 2025-02-25, seen on 2025-03-15.
PERIOD_START = 1_740_441_600  # 2025-02-25T00:00:00Z
PERIOD_END = 1_743_033_599  # 2025-03-26T23:59:59Z, just before the renewal
PREVIOUS_START = 1_737_763_200  # 2025-01-25T00:00:00Z, the cycle before
MID_MARCH_2025 = 1_742_040_000  # 2025-03-15T12:00:00Z
APRIL_2025 = 1_743_465_600  # 2025-04-01T00:00:00Z

CONTRACT_EXAMPLE = {
    "membership": "Premium-20000",
    "credits": 18500,
    "prepaidCredits": 2000,
    "app_usage": 8500,
    "api_usage": 10000,
    "billingCycle": {
        "periodStartUnix": 1740441600,
        "periodEndUnix": 1743033599,
        "appUsage": 4200,
        "apiUsage": 5100,
        "includedCredits": 18500,
        "prepaidCredits": 2000,
        "usedIncludedCredits": 9300,
        "remainingIncludedCredits": 9200,
        "stripeBillingSynced": True,
    },
}


# --- a real server whose clock and store the test holds --------------------------------


@dataclass
class Billing:
    base: str
    store: Store
    accounts: AccountService
    clock: FixedClock
    settings: Settings

    def usage(self, key: str | None, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["x-api-key"] = key
        return httpx.get(f"{self.base}/api/membership-usage", params=params or {},
                         headers=sent, timeout=30)

    def user_with_key(self, email: str, *, plan: str = "Premium-20000", included: int = 100,
                      prepaid: int = 0, verified: bool = True) -> tuple[str, str]:
        user = self.store.create_user(email, plan=plan, included_credits=included,
                                      prepaid_credits=prepaid, verified=verified,
                                      now=int(self.clock.now()))
        return user.id, self.accounts.create_key(user.id).key


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on loopback until the block ends (the lifespan warms the shared engine)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def billing_server(engine: Engine, data_dir: Path, **changes: object) -> Iterator[Billing]:
    settings = make_settings(data_dir, **changes)
    clock = FixedClock(MID_MARCH_2025)
    services = bootstrap.build(settings, engine=engine, clock=clock)
    with serve_app(create_app(services)) as base:
        yield Billing(base, services.store, services.accounts, clock, settings)


@pytest.fixture(scope="module")
def billing(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    with billing_server(engine, tmp_path_factory.mktemp("usage")) as served:
        yield served


@pytest.fixture(autouse=True)
def mid_march(billing: Billing) -> None:
    billing.clock.set(MID_MARCH_2025)


@pytest.fixture(scope="module")
def example_key(billing: Billing) -> str:
    """The contract's example account: 8500 app + 10000 api images in March 2025, of which
    4200 + 5100 in the Stripe cycle that started on 2025-02-25, the rest in the cycle before."""
    user_id, key = billing.user_with_key("example@example.com", included=18500, prepaid=2000)
    billing.store.set_billing_period(user_id, PERIOD_START, PERIOD_END)
    for channel, in_cycle, before in ((Channel.APP, 4200, 4300), (Channel.API, 5100, 4900)):
        for _ in range(in_cycle):
            billing.store.take_credit(user_id, channel, MID_MARCH_2025, PERIOD_START)
        for _ in range(before):  # March images still counted in the January cycle
            billing.store.take_credit(user_id, channel, MID_MARCH_2025, PREVIOUS_START)
    return key


# --- the contract's example, and its query modes -----------------------------------------


@pytest.mark.parametrize("params", [
    {"expand": "billing_cycle"},
    {"expand": " other , billing_cycle"},
    {"includeBillingCycle": "1"},
    {"includeBillingCycle": "true"},
    {"year": "2025", "month": "3", "expand": "billing_cycle"},
], ids=["expand", "expand-list", "include-1", "include-true", "explicit-month"])
def test_the_contracts_example(billing: Billing, example_key: str,
                               params: dict[str, str]) -> None:
    reply = billing.usage(example_key, params)
    assert reply.status_code == 200
    assert reply.json() == CONTRACT_EXAMPLE


def test_billing_cycle_is_absent_unless_asked_for(billing: Billing, example_key: str) -> None:
    for params in ({}, {"includeBillingCycle": "0"}, {"expand": "something_else"}):
        expected = {k: v for k, v in CONTRACT_EXAMPLE.items() if k != "billingCycle"}
        assert billing.usage(example_key, params).json() == expected


def test_year_and_month_default_to_the_current_utc_month(billing: Billing,
                                                        example_key: str) -> None:
    billing.clock.set(APRIL_2025)
    body = billing.usage(example_key).json()
    assert (body["app_usage"], body["api_usage"]) == (0, 0)
    march = billing.usage(example_key, {"year": "2025", "month": "3"}).json()
    assert (march["app_usage"], march["api_usage"]) == (8500, 10000)
    only_month = billing.usage(example_key, {"month": "3"}).json()  # the year defaults
    assert (only_month["app_usage"], only_month["api_usage"]) == (8500, 10000)
    assert billing.usage(example_key, {"year": "2024"}).json()["app_usage"] == 0


def test_period_start_reports_that_cycle(billing: Billing, example_key: str) -> None:
    current = billing.usage(example_key, {"periodStartUnix": str(PERIOD_START),
                                          "expand": "billing_cycle"}).json()
    assert (current["app_usage"], current["api_usage"]) == (4200, 5100)
    assert current["billingCycle"] == CONTRACT_EXAMPLE["billingCycle"]
    older = billing.usage(example_key, {"periodStartUnix": str(PREVIOUS_START),
                                        "includeBillingCycle": "true"}).json()
    assert (older["app_usage"], older["api_usage"]) == (4300, 4900)
    assert older["billingCycle"] == {
        "periodStartUnix": PREVIOUS_START, "periodEndUnix": PERIOD_START - 1,
        "appUsage": 4300, "apiUsage": 4900, "includedCredits": 18500, "prepaidCredits": 2000,
        "usedIncludedCredits": 9200, "remainingIncludedCredits": 9300,
        "stripeBillingSynced": True,
    }


def test_list_billing_cycles_answers_only_the_list(billing: Billing, example_key: str) -> None:
    expected = {"billingCycles": [
        {"periodStartUnix": PERIOD_START, "periodEndUnix": PERIOD_END,
         "appUsage": 4200, "apiUsage": 5100},
        {"periodStartUnix": PREVIOUS_START, "periodEndUnix": PERIOD_START - 1,
         "appUsage": 4300, "apiUsage": 4900},
    ]}
    for params in ({"listBillingCycles": "1"}, {"listBillingCycles": "true"},
                   {"listBillingCycles": "TRUE", "year": "abc", "month": "13",
                    "periodStartUnix": "-1", "expand": "billing_cycle"}):
        reply = billing.usage(example_key, params)
        assert (reply.status_code, reply.json()) == (200, expected)


def test_before_stripe_has_spoken_the_window_is_the_calendar_month(billing: Billing) -> None:
    _, key = billing.user_with_key("fresh@example.com", plan="Free", included=50)
    image = httpx.post(f"{billing.base}/rmbg", headers={"x-api-key": key}, data={"w": "64"},
                       files={"image": ("coffee.jpg", fixture_bytes("coffee"))}, timeout=120)
    assert image.status_code == 200
    start, end = month_bounds(2025, 3)
    body = billing.usage(key, {"expand": "billing_cycle"}).json()
    assert body == {
        "membership": "Free", "credits": 50, "prepaidCredits": 0, "app_usage": 0,
        "api_usage": 1,
        "billingCycle": {
            "periodStartUnix": start, "periodEndUnix": end, "appUsage": 0, "apiUsage": 1,
            "includedCredits": 50, "prepaidCredits": 0, "usedIncludedCredits": 1,
            "remainingIncludedCredits": 49, "stripeBillingSynced": False,
        },
    }
    assert billing.usage(key, {"listBillingCycles": "1"}).json() == {"billingCycles": [
        {"periodStartUnix": start, "periodEndUnix": end, "appUsage": 0, "apiUsage": 1}]}


def test_a_new_user_lists_no_cycles(billing: Billing) -> None:
    _, key = billing.user_with_key("new@example.com")
    assert billing.usage(key, {"listBillingCycles": "1"}).json() == {"billingCycles": []}


def test_used_included_credits_count_prepaid_images_too(billing: Billing) -> None:
    user_id, key = billing.user_with_key("over@example.com", included=2, prepaid=5)
    for _ in range(3):  # two included, then one prepaid
        billing.store.take_credit(user_id, Channel.APP, MID_MARCH_2025,
                                  month_bounds(2025, 3)[0])
    cycle = billing.usage(key, {"expand": "billing_cycle"}).json()["billingCycle"]
    assert (cycle["usedIncludedCredits"], cycle["remainingIncludedCredits"],
            cycle["prepaidCredits"]) == (3, 0, 4)


# --- 400: every bad parameter, in the contract's error shape ------------------------------


@pytest.mark.parametrize(("params", "message"), [
    ({"year": "abc"}, "'year' must be an integer, got: 'abc'"),
    ({"year": "0"}, "'year' must be between 1 and 9999, got: 0"),
    ({"year": "10000"}, "'year' must be between 1 and 9999, got: 10000"),
    ({"year": "２０２５"}, "'year' must be an integer, got: '２０２５'"),
    ({"month": "13"}, "'month' must be between 1 and 12, got: 13"),
    ({"month": "0"}, "'month' must be between 1 and 12, got: 0"),
    ({"month": "3.0"}, "'month' must be an integer, got: '3.0'"),
    ({"periodStartUnix": "-1"},
     "'periodStartUnix' must be between 0 and 253402300799, got: -1"),
    ({"periodStartUnix": "1e9"}, "'periodStartUnix' must be an integer, got: '1e9'"),
    ({"periodStartUnix": "9" * 30},
     f"'periodStartUnix' must be between 0 and 253402300799, got: {'9' * 30}"),
    ({"periodStartUnix": "1740441600", "year": "2025"},
     "Cannot use 'periodStartUnix' together with 'year' or 'month'. Choose one or the other."),
    ({"periodStartUnix": "1740441600", "month": "3"},
     "Cannot use 'periodStartUnix' together with 'year' or 'month'. Choose one or the other."),
    ({"includeBillingCycle": "maybe"},
     "'includeBillingCycle' must be a boolean (true/false, 1/0, yes/no), got: 'maybe'"),
    ({"listBillingCycles": "2"},
     "'listBillingCycles' must be a boolean (true/false, 1/0, yes/no), got: '2'"),
], ids=lambda value: str(value)[:40])
def test_a_bad_parameter_is_a_400(billing: Billing, example_key: str,
                                  params: dict[str, str], message: str) -> None:
    reply = billing.usage(example_key, params)
    assert (reply.status_code, reply.json()) == (400, {"error": message, "status": 400})


def test_every_bad_parameter_is_reported_at_once(billing: Billing, example_key: str) -> None:
    reply = billing.usage(example_key, {"year": "0", "month": "may"})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "Multiple validation errors",
        "details": [
            {"field": "year", "message": "'year' must be between 1 and 9999, got: 0"},
            {"field": "month", "message": "'month' must be an integer, got: 'may'"},
        ],
        "status": 400,
    }


def test_empty_values_count_as_not_given(billing: Billing, example_key: str) -> None:
    body = billing.usage(example_key, {"year": "", "month": "", "periodStartUnix": ""}).json()
    assert (body["app_usage"], body["api_usage"]) == (8500, 10000)


# --- who: x-api-key only ----------------------------------------------------------------------


INVALID_KEY = {"error": "invalid api key", "status": 401}


def test_no_key_is_a_401(billing: Billing) -> None:
    reply = billing.usage(None, {"year": "abc"})  # the key is checked before the parameters
    assert (reply.status_code, reply.json()) == (401, INVALID_KEY)


def test_an_unknown_or_revoked_key_is_a_401(billing: Billing) -> None:
    assert billing.usage("ac_not-a-real-key").json() == INVALID_KEY
    _, key = billing.user_with_key("revoked@example.com")
    assert billing.usage(key).status_code == 200
    billing.accounts.revoke_key(key[:11])
    reply = billing.usage(key)
    assert (reply.status_code, reply.json()) == (401, INVALID_KEY)


def test_a_user_token_is_not_accepted_here(billing: Billing) -> None:
    user_id, key = billing.user_with_key("token@example.com")
    token = TokenSigner(resolve_secret(billing.settings).value, 3600).issue(user_id)
    reply = billing.usage(None, headers={"authorization": f"Bearer {token}"})
    assert (reply.status_code, reply.json()) == (401, INVALID_KEY)
    both = billing.usage(key, headers={"authorization": f"Bearer {token}"})
    assert (both.status_code, both.json()) == (400, {
        "error": "This is a mistake: Cannot use both API key and user token", "status": 400})


def test_an_unverified_email_is_a_403(billing: Billing) -> None:
    _, key = billing.user_with_key("unverified@example.com", verified=False)
    reply = billing.usage(key)
    assert reply.status_code == 403
    assert reply.json()["error"] == "Email address not verified – please check your inbox"


def test_the_operation_is_documented(billing: Billing) -> None:
    document = httpx.get(f"{billing.base}/api/openapi").json()
    operation = document["paths"]["/api/membership-usage"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "year", "month", "periodStartUnix", "expand", "includeBillingCycle",
        "listBillingCycles"}
    assert operation["security"] == [{"ApiKey": []}]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    assert "usedIncludedCredits" in schemas["BillingCycleBody"]["properties"]
    webhook = document["paths"]["/api/stripe/webhook"]["post"]
    assert {"200", "400", "404", "422"} <= set(webhook["responses"])
