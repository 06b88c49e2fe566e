"""The removal use case on a real SQLite store and the real engine: one credit per image,
none for an image that fails, none for an upload that is refused."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from alphacut import Engine, bootstrap
from alphacut.bootstrap import Services
from alphacut.domain.clock import FixedClock, month_bounds
from alphacut.domain.options import RemovalOptions
from alphacut.domain.principal import Channel
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Result
from alphacut.errors import AlphacutError, InvalidField, MonthlyLimitReached
from alphacut.service.auth import Credentials
from alphacut.service.removal import Delivery
from alphacut.storage.base import Store
from tests.conftest import fixture_bytes, make_settings

NOW = 1_773_532_800  # 2026-03-15


class Given:
    """An upload already in hand (the web's reader streams one)."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.discarded = False

    async def read(self) -> Upload:
        return self.upload

    async def discard(self) -> None:
        self.discarded = True


@pytest.fixture
def services(engine: Engine, store: Store, tmp_path: Path) -> Iterator[Services]:
    built = bootstrap.build(make_settings(tmp_path, max_concurrency=2, max_queue=4),
                            engine=engine, store=store, clock=FixedClock(NOW))
    yield built
    built.close()


def user_key(services: Services, credits: int) -> tuple[str, str]:
    made = services.accounts.create_user("a@example.com", "Basic", credits, verified=True)
    return made.id, services.accounts.create_key(made.id).key


def upload(content: bytes, **fields: str) -> Given:
    return Given(Upload(fields=fields, has_image=True, filename="a.jpg", content=content))


def run(services: Services, key: str | None, image: Given, client: str = "127.0.0.1"
        ) -> Delivery:
    return asyncio.run(services.removal(Credentials(peer=client, api_key=key), image))


def test_a_good_image_costs_one_credit(services: Services, store: Store) -> None:
    user_id, key = user_key(services, 5)
    answer = run(services, key, upload(fixture_bytes("coffee"), format="png"))
    assert answer.result.media_type == "image/png"
    assert answer.credits_left == 4
    assert store.cycle_usage(user_id, month_bounds(2026, 3)[0]).api == 1


def test_a_failed_image_costs_nothing(services: Services, store: Store,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    user_id, key = user_key(services, 5)
    good = fixture_bytes("coffee")
    taken = []
    real_take = services.store.take_credit
    monkeypatch.setattr(services.store, "take_credit",
                        lambda *args: taken.append(args) or real_take(*args))
    with pytest.raises(AlphacutError):  # signature and header fine, pixels cut off
        run(services, key, upload(good[: len(good) // 3]))
    assert taken == []  # charged only once an image is made: nothing to give back
    assert store.cycle_usage(user_id, month_bounds(2026, 3)[0]).api == 0
    with pytest.raises(InvalidField):
        run(services, key, upload(good, w="abc"))
    assert taken == []
    answer = run(services, key, upload(good))
    assert answer.credits_left == 4 and len(taken) == 1


def test_the_last_credit_taken_meanwhile_drops_the_image(
        services: Services, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Admitted with one credit left; while its image is made, a concurrent request is
    charged the last one: this image gets the limit error, and nothing more is taken."""
    user_id, key = user_key(services, 1)
    real_remove = services.engine.remove

    def remove_while_another_is_charged(content: bytes, options: RemovalOptions) -> Result:
        result = real_remove(content, options)
        user = store.get_user(user_id)
        assert user is not None
        assert store.take_credit(user_id, Channel.API, NOW,
                                 month_bounds(2026, 3)[0]) is not None
        return result

    monkeypatch.setattr(services.engine, "remove", remove_while_another_is_charged)
    with pytest.raises(MonthlyLimitReached):
        run(services, key, upload(fixture_bytes("coffee")))
    assert store.cycle_usage(user_id, month_bounds(2026, 3)[0]).api == 1



def test_anonymous_images_report_no_credits(services: Services) -> None:
    answer = run(services, None, upload(fixture_bytes("coffee")), client="10.0.0.1")
    assert answer.credits_left is None and answer.credits_charged == 0


def test_a_refused_caller_drops_the_upload_unread(services: Services) -> None:
    image = upload(fixture_bytes("coffee"))
    with pytest.raises(AlphacutError, match="invalid api key"):
        run(services, "ac_not-a-key", image)
    assert image.discarded


def test_the_work_is_weighed_by_its_input_and_result_pixels(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    weights: list[int] = []
    real_run = services.runner.run

    async def weighed(work: Any, pixels: int = 0) -> Any:
        weights.append(pixels)
        return await real_run(work, pixels)

    monkeypatch.setattr(services.runner, "run", weighed)
    run(services, None, upload(fixture_bytes("coffee"), w="64"), client="10.9.9.9")
    width, height = Image.open(io.BytesIO(fixture_bytes("coffee"))).size
    assert weights == [width * height + 64 * round(height * 64 / width)]
