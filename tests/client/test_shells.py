"""Client and AsyncClient with a scripted server (httpx.MockTransport): retries, re-sent
bodies, error mapping and typed usage, the same for both shells."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from alphacut.client import (
    AsyncClient,
    BadRequestError,
    BillingCycles,
    Client,
    MembershipUsage,
    NetworkError,
    NetworkTimeoutError,
    ProgressEvent,
    RateLimitError,
    RemovalResult,
    RetryPolicy,
    ServiceUnavailableError,
)
from tests.client.test_core import CONTRACT_EXAMPLE
from tests.conftest import fixture_bytes

JPEG = fixture_bytes("chelsea")
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=1)


def _png() -> httpx.Response:
    return httpx.Response(200, content=b"\x89PNG fake", headers={
        "content-type": "image/png", "x-width": "3", "x-height": "4"})


def _busy(retry_after: str = "0") -> httpx.Response:
    return httpx.Response(503, json={"error": "The server is busy. Please retry shortly.",
                                     "status": 503}, headers={"retry-after": retry_after})


class Script:
    """Answers requests in order (raising exceptions given in place of answers) and keeps
    every request it saw, bodies read."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers: Iterator[httpx.Response | Exception] = iter(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


Remove = Callable[..., RemovalResult]


def _sync_remove(script: Script, retries: RetryPolicy | None, **kwargs: Any) -> RemovalResult:
    with Client("http://test", "key", transport=httpx.MockTransport(script),
                retries=retries) as client:
        return client.remove_background(JPEG, **kwargs)


def _async_remove(script: Script, retries: RetryPolicy | None, **kwargs: Any) -> RemovalResult:
    async def go() -> RemovalResult:
        async with AsyncClient("http://test", "key", transport=httpx.MockTransport(script),
                               retries=retries) as client:
            return await client.remove_background(JPEG, **kwargs)
    return asyncio.run(go())


@pytest.fixture(params=[_sync_remove, _async_remove], ids=["sync", "async"])
def remove(request: pytest.FixtureRequest) -> Callable[..., RemovalResult]:
    chosen: Callable[..., RemovalResult] = request.param
    return chosen


def test_retries_resend_the_whole_body(remove: Remove) -> None:
    script = Script(_busy(), _busy(), _png())
    events: list[ProgressEvent] = []
    result = remove(script, FAST, on_upload_progress=events.append)
    assert len(script.seen) == 3
    bodies = {request.content for request in script.seen}
    assert len(bodies) == 1 and JPEG in bodies.pop()
    assert script.seen[0].headers["x-api-key"] == "key"
    assert "transfer-encoding" not in script.seen[0].headers
    finals = [e for e in events if e.progress == 1.0]
    assert len(finals) == 3 and all(e.direction == "upload" for e in events)
    result.cleanup()


def test_gives_up_after_max_attempts(remove: Remove) -> None:
    script = Script(_busy(), _busy(), _busy())
    with pytest.raises(ServiceUnavailableError) as caught:
        remove(script, FAST)
    assert (len(script.seen), caught.value.retry_after) == (3, 0)


@pytest.mark.parametrize("retries", [None, RetryPolicy(max_attempts=1)])
def test_retrying_can_be_turned_off(remove: Remove, retries: RetryPolicy | None) -> None:
    script = Script(_busy())
    with pytest.raises(ServiceUnavailableError):
        remove(script, retries)
    assert len(script.seen) == 1


def test_no_retry_on_400(remove: Remove) -> None:
    script = Script(httpx.Response(400, json={"error": "bad", "status": 400}), _png())
    with pytest.raises(BadRequestError):
        remove(script, FAST)
    assert len(script.seen) == 1


def test_a_long_retry_after_is_not_waited_for(remove: Remove) -> None:
    daily = httpx.Response(429, headers={"retry-after": "3600"}, json={
        "error": "You've reached your daily limit. Please sign up for more access.",
        "status": 429})
    script = Script(daily)
    with pytest.raises(RateLimitError) as caught:
        remove(script, FAST)
    assert caught.value.retry_after == 3600 and len(script.seen) == 1


def test_connection_errors_are_retried(remove: Remove) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.RemoteProtocolError("closed"),
                    _png())
    with remove(script, FAST) as result:
        assert result.content == b"\x89PNG fake" and len(script.seen) == 3


def test_a_read_timeout_is_not_retried(remove: Remove) -> None:
    script = Script(httpx.ReadTimeout("slow"), _png())
    with pytest.raises(NetworkTimeoutError) as caught:
        remove(script, FAST)
    assert isinstance(caught.value, NetworkError) and len(script.seen) == 1


def test_result_file_and_base64(remove: Remove) -> None:
    with remove(Script(_png()), FAST) as result:
        assert result.path is not None and result.path.suffix == ".png"
        assert result.path.read_bytes() == b"\x89PNG fake"
        assert (result.width, result.height, result.base64_image) == (3, 4, None)
    assert not result.path.exists()
    encoded = remove(Script(_png()), FAST, return_base64=True)
    assert encoded.path is None
    assert encoded.base64_image == "data:image/png;base64,iVBORyBmYWtl"


def _usage_script() -> Script:
    return Script(httpx.Response(200, content=CONTRACT_EXAMPLE),
                  httpx.Response(200, json={"billingCycles": []}))


def test_membership_usage_sync() -> None:
    script = _usage_script()
    with Client("http://test", "key", transport=httpx.MockTransport(script)) as client:
        usage = client.membership_usage(2025, 3, expand_billing_cycle=True)
        cycles = client.membership_usage(list_billing_cycles=True)
    _check_usage(script, usage, cycles)


def test_membership_usage_async() -> None:
    script = _usage_script()

    async def go() -> tuple[MembershipUsage, BillingCycles]:
        async with AsyncClient("http://test", "key",
                               transport=httpx.MockTransport(script)) as client:
            return (await client.membership_usage(2025, 3, expand_billing_cycle=True),
                    await client.membership_usage(list_billing_cycles=True))
    _check_usage(script, *asyncio.run(go()))


def _check_usage(script: Script, usage: MembershipUsage, cycles: BillingCycles) -> None:
    assert isinstance(usage, MembershipUsage) and usage.billing_cycle is not None
    assert usage.billing_cycle.remaining_included_credits == 9200
    assert isinstance(cycles, BillingCycles) and len(cycles) == 0
    first, second = script.seen
    assert (first.method, first.url.path, dict(first.url.params)) == (
        "GET", "/api/membership-usage", {"year": "2025", "month": "3",
                                         "expand": "billing_cycle"})
    assert dict(second.url.params) == {"listBillingCycles": "true"}
    assert first.headers["x-api-key"] == "key"


def test_a_base_url_with_a_path_prefix() -> None:
    script = Script(_png())
    with Client("http://test/bg/", None, transport=httpx.MockTransport(script)) as client:
        client.remove_background(JPEG, return_base64=True)
    assert script.seen[0].url == "http://test/bg/rmbg"
    assert "x-api-key" not in script.seen[0].headers
