"""The contract's auth, limit and credit rows over real HTTP, status and body exactly."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import httpx
import pytest
import requests

from alphacut.domain.principal import Channel
from alphacut.secret import resolve_secret
from alphacut.service.tokens import TokenSigner
from tests.conftest import fixture_bytes
from tests.web.conftest import Served

Serve = Callable[..., AbstractContextManager[Served]]
IMAGE = {"image": ("coffee.jpg", fixture_bytes("coffee"))}
SMALL = {"w": "64"}


def rmbg(base: str, headers: dict[str, str] | None = None,
         files: dict[str, tuple[str, bytes]] | None = None) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", headers=headers or {}, files=files or IMAGE, data=SMALL,
                      timeout=120)


def user_with_key(s: Served, *, credits: int = 100, prepaid: int = 0,
                  verified: bool = True, email: str = "u@example.com") -> tuple[str, str]:
    user = s.accounts.create_user(email, "Premium-20000", credits, verified, prepaid=prepaid)
    return user.id, s.accounts.create_key(user.id).key


def this_month() -> tuple[int, int]:
    now = datetime.now(UTC)
    return now.year, now.month


def test_key_and_token_together(server: str) -> None:
    reply = rmbg(server, {"x-api-key": "a", "authorization": "Bearer b"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "This is a mistake: Cannot use both API key and user token",
                            "status": 400}


def test_unknown_key(server: str) -> None:
    reply = rmbg(server, {"x-api-key": "ac_not-a-real-key"})
    assert (reply.status_code, reply.json()) == (401, {"error": "invalid api key", "status": 401})


def test_revoked_key(served: Serve) -> None:
    with served() as s:
        _, key = user_with_key(s)
        assert rmbg(s.base, {"x-api-key": key}).status_code == 200
        s.accounts.revoke_key(key[:11])
        reply = rmbg(s.base, {"x-api-key": key})
    assert (reply.status_code, reply.json()) == (401, {"error": "invalid api key", "status": 401})


def test_unverified_email(served: Serve) -> None:
    with served() as s:
        _, key = user_with_key(s, verified=False)
        reply = rmbg(s.base, {"x-api-key": key})
    assert reply.status_code == 403
    assert reply.json() == {"error": "Email address not verified – please check your inbox",
                            "status": 403}


def test_user_token_counts_as_app_usage_and_key_as_api(served: Serve) -> None:
    with served() as s:
        user_id, key = user_with_key(s)
        token = TokenSigner(resolve_secret(s.settings).value, 3600).issue(user_id)
        assert rmbg(s.base, {"authorization": f"Bearer {token}"}).status_code == 200
        assert rmbg(s.base, {"x-api-key": key}).status_code == 200
        assert rmbg(s.base, {"x-api-key": key}).status_code == 200
        usage = s.accounts.store.month_usage(user_id, *this_month())
    assert (usage.app, usage.api) == (1, 2)


def test_bad_user_token(server: str) -> None:
    reply = rmbg(server, {"authorization": "Bearer forged.token"})
    assert (reply.status_code, reply.json()) == (
        401, {"error": "invalid user token", "status": 401})


# Windows are fixed and aligned to the epoch: one that ends in 2038 cannot roll over
# between a test's requests (an hour-long one did, at 21:00, and the test failed).
NO_ROLLOVER_S = 2**31


def test_short_window_rate_limit(served: Serve) -> None:
    with served(rate_limit_user=2, rate_window_s=NO_ROLLOVER_S) as s:
        _, key = user_with_key(s)
        first = rmbg(s.base, {"x-api-key": key})
        second = rmbg(s.base, {"x-api-key": key})
        third = rmbg(s.base, {"x-api-key": key})
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        "2", "1")
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert int(first.headers["x-ratelimit-reset"]) > datetime.now(UTC).timestamp()
    assert third.status_code == 429
    assert third.json() == {
        "error": "You're making requests too quickly, Please Upgrade or slow down.",
        "status": 429}
    assert 1 <= int(third.headers["retry-after"]) <= NO_ROLLOVER_S
    assert third.headers["x-ratelimit-remaining"] == "0"


def test_anonymous_rate_limit_per_address(served: Serve) -> None:
    with served(rate_limit_anonymous=1, rate_window_s=NO_ROLLOVER_S) as s:
        first = rmbg(s.base)
        assert first.status_code == 200 and "x-credits-charged" not in first.headers
        reply = rmbg(s.base)
    assert reply.status_code == 429 and "too quickly" in reply.json()["error"]


def test_anonymous_daily_allowance(served: Serve) -> None:
    with served(anonymous_daily_limit=1) as s:
        assert rmbg(s.base).status_code == 200
        reply = rmbg(s.base)
    assert reply.status_code == 429
    assert reply.json() == {
        "error": "You've reached your daily limit. Please sign up for more access.",
        "status": 429}
    assert int(reply.headers["retry-after"]) <= 86400


def test_included_then_prepaid_then_monthly_limit(served: Serve) -> None:
    with served() as s:
        user_id, key = user_with_key(s, credits=1, prepaid=1)
        first = rmbg(s.base, {"x-api-key": key})
        assert first.status_code == 200
        assert (first.headers["x-credits-charged"], first.headers["x-credits-remaining"]) == (
            "1", "1")
        assert s.accounts.user(user_id).prepaid_credits == 1  # included first
        second = rmbg(s.base, {"x-api-key": key})
        assert second.headers["x-credits-remaining"] == "0"
        assert s.accounts.user(user_id).prepaid_credits == 0
        reply = rmbg(s.base, {"x-api-key": key})
        usage = s.accounts.store.month_usage(user_id, *this_month())
    assert reply.status_code == 429
    assert reply.json() == {
        "error": "You've reached your monthly limit. Consider purchasing more credits.",
        "status": 429}
    assert (usage.app, usage.api) == (0, 2)


def test_a_failed_image_costs_nothing(served: Serve) -> None:
    good = fixture_bytes("coffee")
    broken = good[: len(good) // 3]  # valid signature and header, pixels cut off
    with served() as s:
        user_id, key = user_with_key(s, credits=1)
        failed = rmbg(s.base, {"x-api-key": key}, {"image": ("a.jpg", broken)})
        invalid = rmbg(s.base, {"x-api-key": key}, {"image": ("a.gif", b"GIF89a")})
        after = s.accounts.store.month_usage(user_id, *this_month())
        ok = rmbg(s.base, {"x-api-key": key})
    assert failed.status_code == 400 and "could not be decoded" in failed.json()["error"]
    assert invalid.status_code == 400
    assert after.api == 0
    assert ok.status_code == 200


@pytest.mark.parametrize(("credits", "requests"), [(3, 8)])
def test_exactly_k_of_n_concurrent_requests_succeed(served: Serve, credits: int,
                                                    requests: int) -> None:
    with served(max_queue=32) as s:
        user_id, key = user_with_key(s, credits=credits)
        with ThreadPoolExecutor(requests) as pool:
            replies = list(pool.map(lambda _: rmbg(s.base, {"x-api-key": key}), range(requests)))
        usage = s.accounts.store.month_usage(user_id, *this_month())
        user = s.accounts.user(user_id)
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * credits + [429] * (requests - credits)
    assert usage.api == credits and user.prepaid_credits == 0
    assert Channel.API.value == "api"


def test_refused_key_with_a_large_upload_still_gets_its_answer(server: str) -> None:
    """The body is read and dropped before the 401, so the client sees it, not a reset."""
    big = fixture_bytes("coffee") + bytes(20 * 1024 * 1024)
    reply = requests.post(f"{server}/rmbg", headers={"x-api-key": "ac_wrong"},
                          files={"image": ("big.jpg", big)}, timeout=120)
    assert (reply.status_code, reply.json()) == (401, {"error": "invalid api key", "status": 401})
