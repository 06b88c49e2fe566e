"""What only the Redis store has: the contract's key layout, hash tags, AOF restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from alphacut.domain.accounts import Usage
from alphacut.domain.principal import Channel
from alphacut.errors import SchemaError, StorageUnavailable
from alphacut.storage import keys
from alphacut.storage.factory import open_store
from alphacut.storage.redis import SCHEMA_VERSION, RedisStore
from tests.storage.support import MARCH_2026, NOW, RedisServer, free_port, new_user, start_redis


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    with redis_server.client() as client:
        client.flushall()
    return redis_server


@pytest.fixture
def raw(server: RedisServer) -> Iterator[redis.Redis]:
    with server.client() as client:
        yield client


@pytest.fixture
def store(server: RedisServer, tmp_path: Path) -> Iterator[RedisStore]:
    opened = open_store(server.url, tmp_path)
    assert isinstance(opened, RedisStore)
    yield opened
    opened.close()


def test_usage_lives_under_the_contracts_keys(store: RedisStore, raw: redis.Redis) -> None:
    user = new_user(store, included=5)
    store.take_credit(user.id, Channel.API, NOW, MARCH_2026)
    store.take_credit(user.id, Channel.APP, NOW, MARCH_2026)
    uid = user.id
    assert raw.get(f"user:{{{uid}}}:api_usage:2026:3") == "1"
    assert raw.get(f"user:{{{uid}}}:app_usage:2026:3") == "1"
    assert raw.get(f"user:{{{uid}}}:api_usage:cycle:{MARCH_2026}") == "1"
    assert raw.get(f"user:{{{uid}}}:app_usage:cycle:{MARCH_2026}") == "1"


def test_the_billing_period_is_two_fields_of_the_users_hash(store: RedisStore,
                                                            raw: redis.Redis) -> None:
    user = new_user(store)
    store.set_billing_period(user.id, 1740441600, 1743033599)
    assert raw.hmget(f"user:{{{user.id}}}", ["billing_period_start", "billing_period_end"]) == [
        "1740441600", "1743033599"]


def test_every_key_of_a_user_is_in_one_cluster_slot() -> None:
    names = [keys.user("42"), keys.usage_month("42", Channel.API, 2026, 11),
             keys.usage_month("42", Channel.APP, 2026, 11),
             keys.usage_cycle("42", Channel.API, MARCH_2026),
             keys.usage_cycle("42", Channel.APP, MARCH_2026),
             keys.prepaid_cycle("42", MARCH_2026), keys.usage_cycles("42"),
             keys.user_api_keys("42")]
    assert keys.usage_month("42", Channel.API, 2026, 11) == "user:{42}:api_usage:2026:11"
    assert {key_slot(name.encode()) for name in names} == {key_slot(b"42")}


def test_the_schema_version_is_a_key(store: RedisStore, raw: redis.Redis) -> None:
    assert raw.get("schema_version") == str(SCHEMA_VERSION)


def test_data_from_a_newer_alphacut_is_refused(server: RedisServer, raw: redis.Redis,
                                               tmp_path: Path) -> None:
    raw.set("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(SchemaError, match="Upgrade alphacut"):
        open_store(server.url, tmp_path)


def test_an_email_claimed_by_a_crashed_create_is_completed(store: RedisStore,
                                                           raw: redis.Redis) -> None:
    raw.hset(keys.EMAIL_TO_USER, "ada@example.com", "77")  # claim, then the process died
    raw.sadd(keys.USER_IDS, "77")
    assert store.get_user_by_email("ada@example.com") is None
    user = new_user(store)
    assert user.id == "77"
    assert store.get_user_by_email("ada@example.com") == user
    assert store.list_users() == [user]


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="Redis"):
        open_store(f"redis://127.0.0.1:{free_port()}/0", tmp_path)


def test_a_server_going_away_is_unavailable(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    store = open_store(server.url, tmp_path)
    server.stop()
    with pytest.raises(StorageUnavailable):
        store.ping()
    store.close()


def test_a_killed_server_with_aof_loses_no_balance_or_counter(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis", appendonly=True)
    store = open_store(server.url, tmp_path)
    user = new_user(store, included=2, prepaid=5)
    for _ in range(4):
        store.take_credit(user.id, Channel.API, NOW, MARCH_2026)
    store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    store.close()
    server.stop(kill=True)  # SIGKILL: no shutdown save, only what the AOF holds

    restarted = start_redis(tmp_path / "redis", appendonly=True)
    store = open_store(restarted.url, tmp_path)
    try:
        after = store.get_user(user.id)
        assert after is not None and after.prepaid_credits == 3
        assert store.cycle_usage(user.id, MARCH_2026) == Usage(api=4)
        assert store.month_usage(user.id, 2026, 3) == Usage(api=4)
        assert store.find_key_by_hash("a" * 64) is not None
    finally:
        store.close()
        restarted.stop()
