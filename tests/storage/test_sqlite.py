"""What only the SQLite store has: a file, WAL, migrations, locks, and its URLs."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from alphacut.domain.accounts import Usage
from alphacut.domain.principal import Channel
from alphacut.errors import SchemaError, StorageUnavailable, UnsupportedStoreUrl
from alphacut.storage.factory import DEFAULT_SQLITE_FILE, open_store, redact, sqlite_path
from alphacut.storage.sqlite import SCHEMA_VERSION, SqliteStore, migrate
from tests.storage.support import MARCH_2026, NOW, new_user
from tests.storage.workers import open_and_create


def pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_the_default_store_is_a_wal_file_under_the_data_dir(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "data")
    store.close()
    path = tmp_path / "data" / DEFAULT_SQLITE_FILE
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_reopening_the_file_loses_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")
    user = new_user(store, included=1, prepaid=3)
    store.take_credit(user.id, Channel.APP, NOW, MARCH_2026)
    store.take_credit(user.id, Channel.API, NOW, MARCH_2026)
    store.add_key(user.id, "a" * 64, "ac_aaaaa", NOW)
    store.mark_event("evt_1", NOW)
    store.close()

    reopened = SqliteStore(tmp_path / "a.db")
    again = reopened.get_user(user.id)
    assert again is not None and again.prepaid_credits == 2
    assert reopened.cycle_usage(user.id, MARCH_2026) == Usage(app=1, api=1)
    assert reopened.month_usage(user.id, 2026, 3) == Usage(app=1, api=1)
    assert reopened.find_key_by_hash("a" * 64) is not None
    assert not reopened.mark_event("evt_1", NOW)
    reopened.close()


def test_migrating_a_version_1_file_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        assert migrate(conn, target=1) == 0
        conn.execute("INSERT INTO users (email, email_verified, plan, included_credits, "
                     "prepaid_credits, created_at, billing_period_start, billing_period_end) "
                     "VALUES ('old@example.com', 1, 'Premium-20000', 20000, 7, 100, 200, 300)")
        conn.execute("INSERT INTO usage_cycle (user_id, period_start, app, api) "
                     "VALUES (1, 200, 4, 5)")
    conn.close()
    assert pragma(path, "user_version") == 1

    store = SqliteStore(path)
    user = store.get_user_by_email("old@example.com")
    assert user is not None
    assert (user.plan, user.included_credits, user.prepaid_credits, user.billing_period_start,
            user.billing_period_end, user.password_hash) == ("Premium-20000", 20000, 7, 200, 300,
                                                             None)
    assert store.cycle_usage(user.id, 200) == Usage(app=4, api=5)
    assert store.mark_event("evt_new", NOW)  # a table version 2 added
    assert store.hit("ip:a", 1, 60, NOW).allowed
    store.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_workers_starting_together_on_a_fresh_file_all_open_it(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    workers = [context.Process(target=open_and_create,
                               args=(str(tmp_path), f"worker{i}@example.com", start))
               for i in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    store = open_store(None, tmp_path)
    assert len(store.list_users()) == 3
    store.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_threads_that_come_and_go_do_not_pile_up_connections(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")
    user = new_user(store, included=1000)

    def open_files() -> int:
        links = (os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink())
        return sum(link == str(tmp_path / "a.db") for link in links)

    for _ in range(40):  # each a new thread, as a server's thread pool makes them
        worker = threading.Thread(
            target=store.take_credit, args=(user.id, Channel.API, NOW, MARCH_2026))
        worker.start()
        worker.join()
    assert store.cycle_usage(user.id, MARCH_2026).total == 40
    assert open_files() <= 2
    store.close()
    assert open_files() == 0


def test_a_file_from_a_newer_alphacut_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="Upgrade alphacut"):
        SqliteStore(path)


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageUnavailable, match=r"junk\.db"):
        SqliteStore(path)


def test_a_write_lock_held_too_long_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db", busy_timeout_s=0.05)
    user = new_user(store, included=1)
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageUnavailable, match="locked"):
            store.take_credit(user.id, Channel.API, NOW, MARCH_2026)
        assert store.get_user(user.id) is not None  # WAL: readers never wait
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.take_credit(user.id, Channel.API, NOW, MARCH_2026) is not None
    store.close()


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")
    store.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        store.ping()


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite://", "DATA/alphacut.sqlite3"),
    ("sqlite:///accounts.db", "DATA/accounts.db"),
    ("sqlite:///sub/accounts.db", "DATA/sub/accounts.db"),
    ("sqlite:////var/lib/alphacut/accounts.db", "/var/lib/alphacut/accounts.db"),
])
def test_sqlite_urls_name_a_file(url: str, expected: str) -> None:
    assert sqlite_path(url, Path("DATA")) == Path(expected)


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://host/x.db", "postgres://db/x",
                                 "memcached://localhost"])
def test_other_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedStoreUrl):
        open_store(url, tmp_path)


def test_a_password_never_reaches_a_message() -> None:
    assert redact("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact("redis://host:6379") == "redis://host:6379"
    with pytest.raises(UnsupportedStoreUrl) as raised:
        open_store("mysql://root:s3cret@db/x", Path("."))
    assert "s3cret" not in raised.value.message
