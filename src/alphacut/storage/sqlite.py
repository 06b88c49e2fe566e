"""The embedded store: one SQLite file, safe for several worker processes on one machine.

- WAL journal, so readers never wait for the writer; ``synchronous=NORMAL``
  (a process crash loses nothing; a power cut may lose the last commits).
- Every change that reads then writes runs in one ``BEGIN IMMEDIATE``
  transaction: it takes the write lock before the first read, so two workers
  can never both see the last credit. Waiting writers retry for up to
  ``busy_timeout_s`` before StorageUnavailable.
- A small pool: a connection serves one call at a time, so their number is
  bounded by concurrent calls (a forked child opens its own).
- The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` is
  the ordered list of steps, applied in one transaction at open.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alphacut.domain.accounts import (
    MAX_CREDITS,
    ApiKey,
    Charge,
    CreditSource,
    CycleUsage,
    Usage,
    User,
    check_credit_amount,
    normalize_email,
)
from alphacut.domain.clock import utc_year_month
from alphacut.domain.principal import Channel
from alphacut.errors import (
    CreditLimitExceeded,
    CustomerConflict,
    DuplicateEmail,
    KeyConflict,
    SchemaError,
    StorageUnavailable,
    UnknownUser,
)
from alphacut.storage.base import (
    RateDecision,
    check_not_negative,
    check_positive,
    check_window,
    fixed_window,
)

# Each step is a list of statements run in order, inside the migration's
# transaction. Append new steps; never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: accounts, API keys, usage counters
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            email TEXT NOT NULL UNIQUE,
            email_verified INTEGER NOT NULL DEFAULT 0,
            plan TEXT NOT NULL,
            included_credits INTEGER NOT NULL DEFAULT 0 CHECK (included_credits >= 0),
            prepaid_credits INTEGER NOT NULL DEFAULT 0 CHECK (prepaid_credits >= 0),
            created_at INTEGER NOT NULL,
            billing_period_start INTEGER,
            billing_period_end INTEGER
        )""",
        """CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            prefix TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL REFERENCES users (id),
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            revoked_at INTEGER
        ) WITHOUT ROWID""",
        "CREATE INDEX api_keys_by_user ON api_keys (user_id)",
        """CREATE TABLE usage_month (
            user_id INTEGER NOT NULL REFERENCES users (id),
            year INTEGER NOT NULL,
            month INTEGER NOT NULL,
            app INTEGER NOT NULL DEFAULT 0 CHECK (app >= 0),
            api INTEGER NOT NULL DEFAULT 0 CHECK (api >= 0),
            PRIMARY KEY (user_id, year, month)
        ) WITHOUT ROWID""",
        """CREATE TABLE usage_cycle (
            user_id INTEGER NOT NULL REFERENCES users (id),
            period_start INTEGER NOT NULL,
            app INTEGER NOT NULL DEFAULT 0 CHECK (app >= 0),
            api INTEGER NOT NULL DEFAULT 0 CHECK (api >= 0),
            prepaid INTEGER NOT NULL DEFAULT 0 CHECK (prepaid >= 0),
            PRIMARY KEY (user_id, period_start)
        ) WITHOUT ROWID""",
    ),
    # 2: Stripe webhooks, rate limits, fields for the web app
    (
        "ALTER TABLE users ADD COLUMN password_hash TEXT",
        "ALTER TABLE users ADD COLUMN stripe_customer_id TEXT",
        """CREATE UNIQUE INDEX users_by_stripe_customer ON users (stripe_customer_id)
            WHERE stripe_customer_id IS NOT NULL""",
        """CREATE TABLE webhook_events (
            id TEXT PRIMARY KEY,
            processed_at INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE rate_limits (
            bucket TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (bucket, window_start)
        ) WITHOUT ROWID""",
        "CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at)",
    ),
    # 3: Stripe billing: event order of plan changes, purchases granted once
    (
        "ALTER TABLE users ADD COLUMN plan_as_of INTEGER",
        """CREATE TABLE prepaid_grants (
            user_id INTEGER NOT NULL REFERENCES users (id),
            grant_id TEXT NOT NULL,
            credits INTEGER NOT NULL CHECK (credits > 0),
            granted_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, grant_id)
        ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# The credit counts are read through CAST: a row an older alphacut corrupted (an INTEGER
# overflow that SQLite turned into a REAL, e.g. 9.2e18) still reads, as the nearest
# 64-bit integer, so it can be listed, shown and used.
_CREDITS = "CAST(included_credits AS INTEGER), CAST(prepaid_credits AS INTEGER)"
_USER_COLUMNS = (
    f"id, email, email_verified, plan, {_CREDITS}, created_at, "
    "billing_period_start, billing_period_end, password_hash, stripe_customer_id"
)
_MAX_ROWID = 2**63 - 1  # SQLite's largest INTEGER; a longer id names no row
_KEY_COLUMNS = "hash, prefix, user_id, created_at, last_used_at, revoked_at"
_PRUNE_EVERY = 512  # rate-limit hits between two sweeps of expired windows


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema to ``target`` in one write transaction; the version found.

    Safe when several processes open the same file at once: the version is
    read after the write lock is taken, so each step runs exactly once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > len(MIGRATIONS):
            raise SchemaError(
                f"The database schema is version {found}; this alphacut knows up to "
                f"{len(MIGRATIONS)}. Upgrade alphacut, or point it at another data dir."
            )
        for step in MIGRATIONS[found:target]:
            for statement in step:
                conn.execute(statement)
        if target > found:
            conn.execute(f"PRAGMA user_version = {int(target)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


class _Pool:
    """Connections checked out for one call each; a few idle ones are kept.

    Bounded by how many calls run at once, not by how many threads ever ran
    (server thread pools retire idle threads and start new ones). A forked
    child never uses or closes its parent's connections: it opens its own.
    """

    def __init__(self, path: Path, busy_timeout_s: float, keep: int = 8) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn)

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StorageUnavailable(f"the store at {self._path} is closed")
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            reuse = (not self._closed and self._pid == os.getpid()
                     and not conn.in_transaction and len(self._idle) < self._keep)
            if reuse:
                self._idle.append(conn)
                return
        conn.close()

    def _open(self) -> sqlite3.Connection:
        # timeout= is SQLite's busy_timeout. isolation_level=None: no implicit
        # transactions, we BEGIN explicitly. check_same_thread=False: a pooled
        # connection serves one call at a time, on whichever thread makes it.
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            ours = self._pid == os.getpid()
        for conn in idle if ours else ():
            conn.close()


class SqliteStore:
    """The :class:`~alphacut.storage.base.Store` on one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds key hashes
        self._pool = _Pool(path, busy_timeout_s)
        self._hits = itertools.count(1)
        try:
            with self._pool.connection() as conn:
                # WAL is a property of the file; setting it again is a no-op.
                conn.execute("PRAGMA journal_mode = WAL")
                migrate(conn)
        except sqlite3.DatabaseError as exc:  # not a database, locked, read-only
            self._pool.close()
            raise StorageUnavailable(f"cannot open {path}: {exc}") from exc
        except BaseException:
            self._pool.close()
            raise

    # --- plumbing ---------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock before the first read."""
        with self._translated(), self._pool.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Autocommit reads: each statement sees one consistent snapshot."""
        with self._translated(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, I/O, read-only
            raise StorageUnavailable(f"SQLite at {self.path}: {exc}") from exc

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def close(self) -> None:
        self._pool.close()

    # --- users --------------------------------------------------------------------

    def create_user(
        self,
        email: str,
        *,
        plan: str,
        included_credits: int,
        now: int,
        prepaid_credits: int = 0,
        verified: bool = False,
        password_hash: str | None = None,
    ) -> User:
        address = normalize_email(email)
        check_not_negative("included_credits", included_credits)
        check_not_negative("prepaid_credits", prepaid_credits)
        check_credit_amount(included_credits, minimum=0)
        check_credit_amount(prepaid_credits, minimum=0)
        try:
            with self._write() as conn:
                cursor = conn.execute(
                    "INSERT INTO users (email, email_verified, plan, included_credits, "
                    "prepaid_credits, created_at, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (address, int(verified), plan, included_credits, prepaid_credits, now,
                     password_hash),
                )
                user_id = str(cursor.lastrowid)
        except sqlite3.IntegrityError as exc:
            if "users.email" in str(exc):
                raise DuplicateEmail(address) from exc
            raise
        return User(user_id, address, verified, plan, included_credits, prepaid_credits, now,
                    password_hash=password_hash)

    def get_user(self, user_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (_int_id(user_id),)
            ).fetchone()
        return None if row is None else _user(row)

    def get_user_by_email(self, email: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (normalize_email(email),)
            ).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id").fetchall()
        return [_user(row) for row in rows]

    def set_verified(self, user_id: str) -> None:
        self._update_user(user_id, "email_verified = 1", ())

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._update_user(user_id, "password_hash = ?", (password_hash,))

    def set_plan(self, user_id: str, plan: str, included_credits: int) -> None:
        check_not_negative("included_credits", included_credits)
        check_credit_amount(included_credits, minimum=0)
        self._update_user(user_id, "plan = ?, included_credits = ?", (plan, included_credits))

    def add_prepaid(self, user_id: str, credits: int) -> int:
        check_positive("credits", credits)
        with self._write() as conn:
            if not _user_exists(conn, user_id):
                raise UnknownUser(user_id)
            return _add_prepaid(conn, user_id, credits)

    def set_billing_period(self, user_id: str, start: int, end: int) -> bool:
        check_window(start, end)
        with self._write() as conn:
            return _set_period(conn, user_id, start, end)

    def set_plan_as_of(
        self,
        user_id: str,
        plan: str,
        included_credits: int,
        as_of: int,
        period: tuple[int, int] | None = None,
    ) -> bool:
        check_not_negative("included_credits", included_credits)
        check_credit_amount(included_credits, minimum=0)
        if period is not None:
            check_window(*period)
        with self._write() as conn:
            row = conn.execute(
                "SELECT plan_as_of FROM users WHERE id = ?", (_int_id(user_id),)
            ).fetchone()
            if row is None:
                raise UnknownUser(user_id)
            if row[0] is not None and as_of < row[0]:
                return False
            conn.execute(
                "UPDATE users SET plan = ?, included_credits = ?, plan_as_of = ? WHERE id = ?",
                (plan, included_credits, as_of, _int_id(user_id)),
            )
            if period is not None:
                _set_period(conn, user_id, *period)
        return True

    def set_stripe_customer(self, user_id: str, customer_id: str) -> None:
        try:
            self._update_user(user_id, "stripe_customer_id = ?", (customer_id,))
        except sqlite3.IntegrityError as exc:
            holder = self.find_user_by_stripe_customer(customer_id)
            raise CustomerConflict(customer_id, holder.id if holder else "?") from exc

    def find_user_by_stripe_customer(self, customer_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE stripe_customer_id = ?", (customer_id,)
            ).fetchone()
        return None if row is None else _user(row)

    def add_prepaid_once(self, user_id: str, credits: int, grant_id: str, now: int) -> int | None:
        check_positive("credits", credits)
        if credits > MAX_CREDITS:  # also past what a grant row's INTEGER holds
            raise CreditLimitExceeded(MAX_CREDITS)
        with self._write() as conn:
            if not _user_exists(conn, user_id):
                raise UnknownUser(user_id)
            cursor = conn.execute(
                "INSERT OR IGNORE INTO prepaid_grants (user_id, grant_id, credits, granted_at) "
                "VALUES (?, ?, ?, ?)",
                (_int_id(user_id), grant_id, credits, now),
            )
            if cursor.rowcount == 0:
                return None
            # Over the maximum: raises, and the transaction (the grant too) rolls back.
            return _add_prepaid(conn, user_id, credits)

    def _update_user(self, user_id: str, assignments: str, values: tuple[object, ...]) -> None:
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE users SET {assignments} WHERE id = ?", (*values, _int_id(user_id))
            )
            if cursor.rowcount == 0:
                raise UnknownUser(user_id)

    # --- API keys -----------------------------------------------------------------

    def add_key(self, user_id: str, key_hash: str, prefix: str, now: int) -> ApiKey:
        with self._write() as conn:
            if not _user_exists(conn, user_id):
                raise UnknownUser(user_id)
            clash = conn.execute(
                "SELECT 1 FROM api_keys WHERE hash = ? OR prefix = ?", (key_hash, prefix)
            ).fetchone()
            if clash is not None:
                raise KeyConflict(prefix)
            conn.execute(
                "INSERT INTO api_keys (hash, prefix, user_id, created_at) VALUES (?, ?, ?, ?)",
                (key_hash, prefix, _int_id(user_id), now),
            )
        return ApiKey(key_hash, prefix, user_id, now)

    def find_key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE hash = ?", (key_hash,)
            ).fetchone()
        return None if row is None else _key(row)

    def list_keys(self, user_id: str) -> list[ApiKey]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE user_id = ? "
                "ORDER BY created_at, prefix",
                (_int_id(user_id),),
            ).fetchall()
        return [_key(row) for row in rows]

    def revoke_key(self, prefix: str, now: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
                (now, prefix),
            )
            return cursor.rowcount == 1

    def touch_key(self, key_hash: str, now: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = ? WHERE hash = ?", (now, key_hash))

    # --- credits and usage ----------------------------------------------------------

    def take_credit(
        self, user_id: str, channel: Channel, now: int, period_start: int
    ) -> Charge | None:
        uid = _int_id(user_id)
        year, month = utc_year_month(now)
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_CREDITS} FROM users WHERE id = ?", (uid,)
            ).fetchone()
            if row is None:
                raise UnknownUser(user_id)
            included, prepaid = int(row[0]), int(row[1])
            row = conn.execute(
                "SELECT app + api FROM usage_cycle WHERE user_id = ? AND period_start = ?",
                (uid, period_start),
            ).fetchone()
            used = 0 if row is None else int(row[0])
            if used < included:
                source = CreditSource.INCLUDED
            elif prepaid > 0:
                source = CreditSource.PREPAID
                conn.execute(
                    "UPDATE users SET prepaid_credits = prepaid_credits - 1 WHERE id = ?", (uid,)
                )
            else:
                return None
            charge = Charge(user_id, channel, source, year, month, period_start)
            _count_up(conn, charge)
        return charge

    def refund(self, charge: Charge) -> None:
        uid = _int_id(charge.user_id)
        with self._write() as conn:
            _count_down(conn, charge)
            row = conn.execute(
                "SELECT prepaid FROM usage_cycle WHERE user_id = ? AND period_start = ?",
                (uid, charge.period_start),
            ).fetchone()
            if row is not None and row[0] > 0:  # see Store.refund: give one back
                conn.execute(
                    "UPDATE usage_cycle SET prepaid = prepaid - 1 "
                    "WHERE user_id = ? AND period_start = ?",
                    (uid, charge.period_start),
                )
                conn.execute(
                    "UPDATE users SET prepaid_credits = prepaid_credits + 1 WHERE id = ?", (uid,)
                )

    def month_usage(self, user_id: str, year: int, month: int) -> Usage:
        with self._read() as conn:
            row = conn.execute(
                "SELECT app, api FROM usage_month WHERE user_id = ? AND year = ? AND month = ?",
                (_int_id(user_id), year, month),
            ).fetchone()
        return Usage() if row is None else Usage(int(row[0]), int(row[1]))

    def cycle_usage(self, user_id: str, period_start: int) -> Usage:
        with self._read() as conn:
            row = conn.execute(
                "SELECT app, api FROM usage_cycle WHERE user_id = ? AND period_start = ?",
                (_int_id(user_id), period_start),
            ).fetchone()
        return Usage() if row is None else Usage(int(row[0]), int(row[1]))

    def list_cycles(self, user_id: str) -> list[CycleUsage]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT period_start, app, api FROM usage_cycle WHERE user_id = ? "
                "ORDER BY period_start DESC",
                (_int_id(user_id),),
            ).fetchall()
        return [CycleUsage(int(start), Usage(int(app), int(api))) for start, app, api in rows]

    # --- webhook events, rate limits ----------------------------------------------------

    def mark_event(self, event_id: str, now: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO webhook_events (id, processed_at) VALUES (?, ?)",
                (event_id, now),
            )
            return cursor.rowcount == 1

    def has_event(self, event_id: str) -> bool:
        with self._read() as conn:
            row = conn.execute("SELECT 1 FROM webhook_events WHERE id = ?", (event_id,)).fetchone()
        return row is not None

    def hit(self, bucket: str, limit: int, window_s: int, now: float) -> RateDecision:
        start, reset_at = fixed_window(now, window_s)
        with self._write() as conn:
            row = conn.execute(
                "SELECT hits FROM rate_limits WHERE bucket = ? AND window_start = ?",
                (bucket, start),
            ).fetchone()
            hits = 0 if row is None else int(row[0])
            if hits >= limit:
                return RateDecision(False, limit, 0, reset_at)
            conn.execute(
                "INSERT INTO rate_limits (bucket, window_start, hits, expires_at) "
                "VALUES (?, ?, 1, ?) ON CONFLICT (bucket, window_start) "
                "DO UPDATE SET hits = hits + 1",
                (bucket, start, reset_at),
            )
            if next(self._hits) % _PRUNE_EVERY == 0:
                conn.execute("DELETE FROM rate_limits WHERE expires_at < ?", (int(now),))
        return RateDecision(True, limit, limit - hits - 1, reset_at)


# --- rows ---------------------------------------------------------------------------


def _int_id(user_id: str) -> int:
    """Ids are integers as strings; anything else, or one past SQLite's 64-bit INTEGER
    (SQLite could not even be asked about it), names no user (-1 matches no row)."""
    if not (user_id.isascii() and user_id.isdecimal()) or len(user_id) > len(str(_MAX_ROWID)):
        return -1
    value = int(user_id)
    return value if value <= _MAX_ROWID else -1


def _add_prepaid(conn: sqlite3.Connection, user_id: str, credits: int) -> int:
    """Add to an existing user's balance unless it would pass MAX_CREDITS (inside a write
    transaction); the new balance. The bound is in the UPDATE itself, so no interleaving of
    adds can pass it. Raises CreditLimitExceeded, changing nothing."""
    if credits > MAX_CREDITS:
        raise CreditLimitExceeded(MAX_CREDITS)
    uid = _int_id(user_id)
    # A balance an older alphacut left over the maximum (an overflow SQLite stored as a
    # REAL, 9.2e18) is not <= the bound: it is kept, never grown.
    cursor = conn.execute(
        "UPDATE users SET prepaid_credits = prepaid_credits + ? "
        "WHERE id = ? AND prepaid_credits <= ?",
        (credits, uid, MAX_CREDITS - credits),
    )
    if cursor.rowcount == 0:
        raise CreditLimitExceeded(MAX_CREDITS)
    row = conn.execute("SELECT prepaid_credits FROM users WHERE id = ?", (uid,)).fetchone()
    return int(row[0])


def _user_exists(conn: sqlite3.Connection, user_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM users WHERE id = ?", (_int_id(user_id),)).fetchone()
    return row is not None


def _set_period(conn: sqlite3.Connection, user_id: str, start: int, end: int) -> bool:
    """Store the window unless it starts before the stored one (inside a write transaction)."""
    row = conn.execute(
        "SELECT billing_period_start FROM users WHERE id = ?", (_int_id(user_id),)
    ).fetchone()
    if row is None:
        raise UnknownUser(user_id)
    if row[0] is not None and start < row[0]:
        return False
    conn.execute(
        "UPDATE users SET billing_period_start = ?, billing_period_end = ? WHERE id = ?",
        (start, end, _int_id(user_id)),
    )
    return True


def _count_up(conn: sqlite3.Connection, charge: Charge) -> None:
    """Add the charge to its calendar-month and cycle counters (rows made on first use)."""
    app, api = _split(charge.channel)
    prepaid = int(charge.source is CreditSource.PREPAID)
    uid = _int_id(charge.user_id)
    conn.execute(
        "INSERT INTO usage_month (user_id, year, month, app, api) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id, year, month) DO UPDATE SET app = app + ?, api = api + ?",
        (uid, charge.year, charge.month, app, api, app, api),
    )
    conn.execute(
        "INSERT INTO usage_cycle (user_id, period_start, app, api, prepaid) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, period_start) "
        "DO UPDATE SET app = app + ?, api = api + ?, prepaid = prepaid + ?",
        (uid, charge.period_start, app, api, prepaid, app, api, prepaid),
    )


def _count_down(conn: sqlite3.Connection, charge: Charge) -> None:
    """Take the charge back off its counters; max(0, ...) guards against a double refund."""
    app, api = _split(charge.channel)
    uid = _int_id(charge.user_id)
    conn.execute(
        "UPDATE usage_month SET app = max(0, app - ?), api = max(0, api - ?) "
        "WHERE user_id = ? AND year = ? AND month = ?",
        (app, api, uid, charge.year, charge.month),
    )
    conn.execute(
        "UPDATE usage_cycle SET app = max(0, app - ?), api = max(0, api - ?) "
        "WHERE user_id = ? AND period_start = ?",
        (app, api, uid, charge.period_start),
    )


def _split(channel: Channel) -> tuple[int, int]:
    return (1, 0) if channel is Channel.APP else (0, 1)


def _user(row: Sequence[object]) -> User:
    (uid, email, verified, plan, included, prepaid, created, start, end, password,
     customer) = row
    return User(
        id=str(uid),
        email=str(email),
        email_verified=bool(verified),
        plan=str(plan),
        included_credits=_as_int(included),
        prepaid_credits=_as_int(prepaid),
        created_at=_as_int(created),
        billing_period_start=_opt_int(start),
        billing_period_end=_opt_int(end),
        password_hash=None if password is None else str(password),
        stripe_customer_id=None if customer is None else str(customer),
    )


def _key(row: Sequence[object]) -> ApiKey:
    key_hash, prefix, uid, created, used, revoked = row
    return ApiKey(str(key_hash), str(prefix), str(uid), _as_int(created), _opt_int(used),
                  _opt_int(revoked))


def _as_int(value: object) -> int:
    if not isinstance(value, int):
        raise SchemaError(f"expected an integer column, found {value!r}")
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else _as_int(value)
