"""ChargedRemoval on a real SQLite store and the real engine: one credit per image,
none for an image that fails, none for an upload that is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from alphacut.domain.clock import FixedClock, month_bounds
from alphacut.domain.principal import Channel, Principal
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Engine
from alphacut.engine.runner import Runner
from alphacut.errors import AlphacutError, InvalidField
from alphacut.service.quota import Limits, QuotaService
from alphacut.service.removal import Charged, ChargedRemoval, RemovalService
from alphacut.storage.base import Store
from tests.conftest import fixture_bytes

NOW = 1_773_532_800  # 2026-03-15


@pytest.fixture
def charged(engine: Engine, store: Store) -> Iterator[ChargedRemoval]:
    runner = Runner(2, 4)
    quota = QuotaService(store, Limits(60, 100, 100, {}, 100))
    yield ChargedRemoval(RemovalService(engine, runner), quota, FixedClock(NOW))
    runner.shutdown()


def user(store: Store, credits: int) -> Principal:
    made = store.create_user("a@example.com", plan="Basic", included_credits=credits, now=NOW,
                             verified=True)
    return Principal("127.0.0.1", made.id, Channel.API, made.plan)


def upload(content: bytes, **fields: str) -> Upload:
    return Upload(fields=fields, has_image=True, filename="a.jpg", content=content)


def run(charged: ChargedRemoval, store: Store, principal: Principal, image: Upload
        ) -> Charged:
    rate = store.hit(principal.rate_bucket, 100, 60, NOW)
    return asyncio.run(charged(principal, rate, image))


def test_a_good_image_costs_one_credit(charged: ChargedRemoval, store: Store) -> None:
    principal = user(store, 5)
    answer = run(charged, store, principal, upload(fixture_bytes("coffee"), format="png"))
    assert answer.result.media_type == "image/png"
    assert answer.credits_left == 4
    assert store.cycle_usage(principal.user_id or "", month_bounds(2026, 3)[0]).api == 1


def test_a_failed_image_costs_nothing(charged: ChargedRemoval, store: Store,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    principal = user(store, 5)
    good = fixture_bytes("coffee")
    given_back = []
    real_give_back = charged.quota.give_back
    monkeypatch.setattr(charged.quota, "give_back",
                        lambda admission: (given_back.append(admission),
                                           real_give_back(admission)))
    with pytest.raises(AlphacutError):  # signature and header fine, pixels cut off
        run(charged, store, principal, upload(good[: len(good) // 3]))
    assert len(given_back) == 1 and given_back[0].charge is not None  # taken, then returned
    assert store.cycle_usage(principal.user_id or "", month_bounds(2026, 3)[0]).api == 0
    with pytest.raises(InvalidField):  # refused before any credit is taken
        run(charged, store, principal, upload(good, w="abc"))
    assert len(given_back) == 1
    answer = run(charged, store, principal, upload(good))
    assert answer.credits_left == 4


def test_anonymous_images_report_no_credits(charged: ChargedRemoval, store: Store) -> None:
    answer = run(charged, store, Principal("10.0.0.1"), upload(fixture_bytes("coffee")))
    assert answer.credits_left is None
