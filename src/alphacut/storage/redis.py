"""The shared store: one Redis (or Redis Cluster slot layout) for a fleet of servers.

Every change that reads then writes is ONE Lua script, so it is atomic on the
server whatever the number of clients. Each script only names keys of one
cluster slot (see :mod:`alphacut.storage.keys`). Three operations span two
directories and so run as short, ordered sequences of single-slot steps:

- ``create_user``: claim the e-mail (and a fresh id) in ``{accounts}``, then
  create ``user:{uid}`` only if absent. A crash in between leaves a claim
  without a record; the next ``create_user`` of that address completes it.
- ``add_key``: claim the prefix in ``{api_keys}``, link the hash to the user,
  then create ``api_key:{hash}`` last, so a key only authenticates once
  everything it needs exists. A failed step releases the prefix.
- ``set_stripe_customer``: claim the customer id in ``{accounts}``, then write
  it on ``user:{uid}``. A claim whose holder does not carry that id is stale
  and may be taken over; ``find_user_by_stripe_customer`` checks the holder.

The schema is versioned by the ``schema_version`` key; :data:`MIGRATIONS` are
idempotent steps applied at open.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import redis
from redis.commands.core import Script

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
    UnsupportedStoreUrl,
)
from alphacut.storage import keys
from alphacut.storage.base import (
    RateDecision,
    check_not_negative,
    check_positive,
    check_window,
    fixed_window,
)

P = ParamSpec("P")
R = TypeVar("R")

# Step i takes the data from version i + 1 to i + 2; each must be safe to re-run.
MIGRATIONS: tuple[Callable[[redis.Redis], None], ...] = ()
SCHEMA_VERSION = 1 + len(MIGRATIONS)

# A rate-limit window's counter lives this much longer than the window, so
# servers whose clocks differ by a little still count into the same key.
_RATE_KEY_SLACK_S = 60

# --- scripts: KEYS are always named by the caller, all in one slot ----------------

_SCHEMA = """
local found = redis.call('GET', KEYS[1])
if not found then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return tonumber(found)
"""

_BUMP_SCHEMA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS: email index, user id set, id counter. ARGV: email -> the address's owner id
_CLAIM_EMAIL = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner then return owner end
local uid = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', KEYS[1], ARGV[1], uid)
redis.call('SADD', KEYS[2], uid)
return uid
"""

# KEYS: a hash. ARGV: field, value, ... -> 1 created, 0 it existed
_CREATE_HASH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: a hash. ARGV: field, value, ... -> 1 updated, 0 no such hash
_UPDATE_HASH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# Refuses (-3) unless the prepaid balance plus ARGV[1] stays within ARGV[2] (the maximum),
# in the same script as the write. Lua numbers are doubles: exact far past 2 * 10^12.
_FITS = """
local balance = tonumber(redis.call('HGET', KEYS[1], 'prepaid_credits') or '0') or 0
if balance > tonumber(ARGV[2]) - tonumber(ARGV[1]) then return -3 end
"""

# KEYS: user. ARGV: credits, maximum -> new balance, -1 no such user, -3 over the maximum
_ADD_PREPAID = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
""" + _FITS + """
return redis.call('HINCRBY', KEYS[1], 'prepaid_credits', ARGV[1])
"""

# KEYS: user. ARGV: start, end -> 1 stored, 0 older than the stored start, -1 no user
_SET_PERIOD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local stored = redis.call('HGET', KEYS[1], 'billing_period_start')
if stored and tonumber(ARGV[1]) < tonumber(stored) then return 0 end
redis.call('HSET', KEYS[1], 'billing_period_start', ARGV[1], 'billing_period_end', ARGV[2])
return 1
"""

# KEYS: user. ARGV: plan, credits, as_of, period start ('' for none), period end
# -> 1 stored, 0 a later change is stored, -1 no user
_SET_PLAN_AS_OF = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seen = redis.call('HGET', KEYS[1], 'plan_as_of')
if seen and tonumber(ARGV[3]) < tonumber(seen) then return 0 end
redis.call('HSET', KEYS[1], 'plan', ARGV[1], 'included_credits', ARGV[2], 'plan_as_of', ARGV[3])
if ARGV[4] ~= '' then
  local stored = redis.call('HGET', KEYS[1], 'billing_period_start')
  if not stored or tonumber(ARGV[4]) >= tonumber(stored) then
    redis.call('HSET', KEYS[1], 'billing_period_start', ARGV[4], 'billing_period_end', ARGV[5])
  end
end
return 1
"""

# KEYS: user, user's grants. ARGV: credits, maximum, grant id, now
# -> the new balance, -1 no user, -2 granted before, -3 over the maximum (nothing recorded)
_ADD_PREPAID_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return -2 end
""" + _FITS + """
local grown = redis.call('HINCRBY', KEYS[1], 'prepaid_credits', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return grown
"""

# KEYS: customer index. ARGV: customer, user id, a stale owner to replace ('' for none)
# -> the owner after the call
_CLAIM_CUSTOMER = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] and owner ~= ARGV[3] then return owner end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""

# KEYS: user, user's key set. ARGV: key hash -> 1 linked, 0 no user
_LINK_KEY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS: prefix index. ARGV: prefix, key hash (only the claim's owner releases it)
_RELEASE_PREFIX = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
"""

# KEYS: key record. ARGV: now -> 1 revoked now, 0 unknown or already revoked
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[1]) == 1 then return 1 end
return 0
"""

# KEYS: user, cycle app, cycle api, channel's month counter, channel's cycle
# counter, cycle index, cycle's prepaid use. ARGV: period start.
# -> 1 included, 2 prepaid, 0 refused, -1 no such user
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local included = tonumber(redis.call('HGET', KEYS[1], 'included_credits') or '0')
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  + tonumber(redis.call('GET', KEYS[3]) or '0')
local source = 1
if used >= included then
  if tonumber(redis.call('HGET', KEYS[1], 'prepaid_credits') or '0') <= 0 then return 0 end
  redis.call('HINCRBY', KEYS[1], 'prepaid_credits', -1)
  redis.call('INCR', KEYS[7])
  source = 2
end
redis.call('INCR', KEYS[4])
redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[1])
return source
"""

# KEYS: user, month counter, cycle counter, cycle's prepaid use (see Store.refund)
_REFUND = """
for i = 2, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
if tonumber(redis.call('GET', KEYS[4]) or '0') > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DECR', KEYS[4])
  redis.call('HINCRBY', KEYS[1], 'prepaid_credits', 1)
end
return 1
"""

# KEYS: window counter. ARGV: limit, ttl -> hits after this one, or -1 refused
_HIT = """
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits >= tonumber(ARGV[1]) then return -1 end
hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return hits
"""


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Redis's own errors (down, timeout, read-only replica, OOM) become StorageUnavailable."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"Redis: {exc}") from exc

    return wrapper


class RedisStore:
    """The :class:`~alphacut.storage.base.Store` on a Redis server."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        script = client.register_script
        self._schema, self._bump_schema = script(_SCHEMA), script(_BUMP_SCHEMA)
        self._claim_email, self._create_hash = script(_CLAIM_EMAIL), script(_CREATE_HASH)
        self._update_hash, self._add_prepaid = script(_UPDATE_HASH), script(_ADD_PREPAID)
        self._set_period, self._link_key = script(_SET_PERIOD), script(_LINK_KEY)
        self._release_prefix, self._revoke = script(_RELEASE_PREFIX), script(_REVOKE)
        self._take, self._refund, self._hit = script(_TAKE), script(_REFUND), script(_HIT)
        self._set_plan_as_of = script(_SET_PLAN_AS_OF)
        self._add_prepaid_once = script(_ADD_PREPAID_ONCE)
        self._claim_customer = script(_CLAIM_CUSTOMER)
        self._migrate()

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 5.0) -> RedisStore:
        """Connect and check (or set) the schema version; the client is a thread-safe pool."""
        try:
            client = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                health_check_interval=30,
            )
        except ValueError as exc:  # redis-py's word for a malformed URL
            raise UnsupportedStoreUrl(str(exc)) from exc
        try:
            return cls(client)
        except BaseException:
            client.close()
            raise

    @_translated
    def _migrate(self) -> None:
        found = int(self._run(self._schema, [keys.SCHEMA_VERSION], [SCHEMA_VERSION]))
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"The Redis data is schema version {found}; this alphacut knows up to "
                f"{SCHEMA_VERSION}. Upgrade alphacut, or point it at another database."
            )
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version - 1](self._client)
            self._run(self._bump_schema, [keys.SCHEMA_VERSION], [version, version + 1])

    def _run(self, script: Script, names: list[str], args: list[str | int]) -> Any:
        return script(keys=names, args=args, client=self._client)

    @_translated
    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()

    # --- users --------------------------------------------------------------------

    @_translated
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
        owner = self._run(
            self._claim_email, [keys.EMAIL_TO_USER, keys.USER_IDS, keys.NEXT_USER_ID], [address]
        )
        user = User(_text(owner), address, verified, plan, included_credits, prepaid_credits,
                    now, password_hash=password_hash)
        # The record is created only if absent: an owner that has one makes
        # this a duplicate; one without (a create that crashed after its
        # claim) is completed by this one.
        if not self._run(self._create_hash, [keys.user(user.id)], _user_fields(user)):
            raise DuplicateEmail(address)
        return user

    @_translated
    def get_user(self, user_id: str) -> User | None:
        return _user(user_id, self._client.hgetall(keys.user(user_id)))

    @_translated
    def get_user_by_email(self, email: str) -> User | None:
        owner = self._client.hget(keys.EMAIL_TO_USER, normalize_email(email))
        return None if owner is None else self.get_user(_text(owner))

    @_translated
    def list_users(self) -> list[User]:
        ids = sorted((_text(uid) for uid in self._client.smembers(keys.USER_IDS)), key=int)
        pipe = self._client.pipeline(transaction=False)
        for uid in ids:
            pipe.hgetall(keys.user(uid))
        found = (_user(uid, fields) for uid, fields in zip(ids, pipe.execute(), strict=True))
        return [user for user in found if user is not None]

    @_translated
    def set_verified(self, user_id: str) -> None:
        self._update_user(user_id, ["email_verified", 1])

    @_translated
    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._update_user(user_id, ["password_hash", password_hash])

    @_translated
    def set_plan(self, user_id: str, plan: str, included_credits: int) -> None:
        check_not_negative("included_credits", included_credits)
        check_credit_amount(included_credits, minimum=0)
        self._update_user(user_id, ["plan", plan, "included_credits", included_credits])

    def _update_user(self, user_id: str, fields: list[str | int]) -> None:
        if not self._run(self._update_hash, [keys.user(user_id)], fields):
            raise UnknownUser(user_id)

    @_translated
    def add_prepaid(self, user_id: str, credits: int) -> int:
        check_positive("credits", credits)
        if credits > MAX_CREDITS:
            raise CreditLimitExceeded(MAX_CREDITS)
        balance = int(self._run(self._add_prepaid, [keys.user(user_id)], [credits, MAX_CREDITS]))
        if balance == -1:
            raise UnknownUser(user_id)
        if balance == -3:
            raise CreditLimitExceeded(MAX_CREDITS)
        return balance

    @_translated
    def set_billing_period(self, user_id: str, start: int, end: int) -> bool:
        check_window(start, end)
        stored = int(self._run(self._set_period, [keys.user(user_id)], [start, end]))
        if stored < 0:
            raise UnknownUser(user_id)
        return stored == 1

    @_translated
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
        start, end = period if period is not None else ("", "")
        stored = int(self._run(self._set_plan_as_of, [keys.user(user_id)],
                               [plan, included_credits, as_of, start, end]))
        if stored < 0:
            raise UnknownUser(user_id)
        return stored == 1

    @_translated
    def add_prepaid_once(self, user_id: str, credits: int, grant_id: str, now: int) -> int | None:
        check_positive("credits", credits)
        if credits > MAX_CREDITS:
            raise CreditLimitExceeded(MAX_CREDITS)
        outcome = int(self._run(self._add_prepaid_once,
                                [keys.user(user_id), _prepaid_grants(user_id)],
                                [credits, MAX_CREDITS, grant_id, now]))
        if outcome == -1:
            raise UnknownUser(user_id)
        if outcome == -3:
            raise CreditLimitExceeded(MAX_CREDITS)
        return None if outcome == -2 else outcome

    @_translated
    def set_stripe_customer(self, user_id: str, customer_id: str) -> None:
        # Two slots: claim the customer in {accounts}, then write the user's
        # field. A claim whose holder does not carry the id (a crash between
        # the steps, or a holder that moved to another customer) is stale.
        if not self._client.exists(keys.user(user_id)):
            raise UnknownUser(user_id)
        owner = _text(self._run(self._claim_customer, [_CUSTOMER_TO_USER],
                                [customer_id, user_id, ""]))
        if owner != user_id:
            holder = self.get_user(owner)
            if holder is not None and holder.stripe_customer_id == customer_id:
                raise CustomerConflict(customer_id, owner)
            owner = _text(self._run(self._claim_customer, [_CUSTOMER_TO_USER],
                                    [customer_id, user_id, owner]))
            if owner != user_id:
                raise CustomerConflict(customer_id, owner)
        self._update_user(user_id, ["stripe_customer_id", customer_id])

    @_translated
    def find_user_by_stripe_customer(self, customer_id: str) -> User | None:
        owner = self._client.hget(_CUSTOMER_TO_USER, customer_id)
        if owner is None:
            return None
        user = self.get_user(_text(owner))
        return user if user is not None and user.stripe_customer_id == customer_id else None

    # --- API keys -----------------------------------------------------------------

    @_translated
    def add_key(self, user_id: str, key_hash: str, prefix: str, now: int) -> ApiKey:
        record = keys.api_key(key_hash)
        if self._client.exists(record) or not self._client.hsetnx(
            keys.KEY_PREFIXES, prefix, key_hash
        ):
            raise KeyConflict(prefix)
        key = ApiKey(key_hash, prefix, user_id, now)
        if not self._run(self._link_key, [keys.user(user_id), keys.user_api_keys(user_id)],
                         [key_hash]):
            self._run(self._release_prefix, [keys.KEY_PREFIXES], [prefix, key_hash])
            raise UnknownUser(user_id)
        fields: list[str | int] = ["user_id", user_id, "prefix", prefix, "created_at", now]
        if not self._run(self._create_hash, [record], fields):
            self._run(self._release_prefix, [keys.KEY_PREFIXES], [prefix, key_hash])
            raise KeyConflict(prefix)
        return key

    @_translated
    def find_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return _key(key_hash, self._client.hgetall(keys.api_key(key_hash)))

    @_translated
    def list_keys(self, user_id: str) -> list[ApiKey]:
        hashes = [_text(h) for h in self._client.smembers(keys.user_api_keys(user_id))]
        pipe = self._client.pipeline(transaction=False)
        for key_hash in hashes:
            pipe.hgetall(keys.api_key(key_hash))
        found = (_key(h, fields) for h, fields in zip(hashes, pipe.execute(), strict=True))
        mine = [key for key in found if key is not None and key.user_id == user_id]
        return sorted(mine, key=lambda key: (key.created_at, key.prefix))

    @_translated
    def revoke_key(self, prefix: str, now: int) -> bool:
        key_hash = self._client.hget(keys.KEY_PREFIXES, prefix)
        if key_hash is None:
            return False
        return bool(self._run(self._revoke, [keys.api_key(_text(key_hash))], [now]))

    @_translated
    def touch_key(self, key_hash: str, now: int) -> None:
        self._run(self._update_hash, [keys.api_key(key_hash)], ["last_used_at", now])

    # --- credits and usage ----------------------------------------------------------

    @_translated
    def take_credit(
        self, user_id: str, channel: Channel, now: int, period_start: int
    ) -> Charge | None:
        year, month = utc_year_month(now)
        names = [
            keys.user(user_id),
            keys.usage_cycle(user_id, Channel.APP, period_start),
            keys.usage_cycle(user_id, Channel.API, period_start),
            keys.usage_month(user_id, channel, year, month),
            keys.usage_cycle(user_id, channel, period_start),
            keys.usage_cycles(user_id),
            keys.prepaid_cycle(user_id, period_start),
        ]
        outcome = int(self._run(self._take, names, [period_start]))
        if outcome < 0:
            raise UnknownUser(user_id)
        if outcome == 0:
            return None
        source = CreditSource.INCLUDED if outcome == 1 else CreditSource.PREPAID
        return Charge(user_id, channel, source, year, month, period_start)

    @_translated
    def refund(self, charge: Charge) -> None:
        uid = charge.user_id
        names = [
            keys.user(uid),
            keys.usage_month(uid, charge.channel, charge.year, charge.month),
            keys.usage_cycle(uid, charge.channel, charge.period_start),
            keys.prepaid_cycle(uid, charge.period_start),
        ]
        self._run(self._refund, names, [])

    @_translated
    def month_usage(self, user_id: str, year: int, month: int) -> Usage:
        app, api = self._client.mget([
            keys.usage_month(user_id, Channel.APP, year, month),
            keys.usage_month(user_id, Channel.API, year, month),
        ])
        return Usage(_count(app), _count(api))

    @_translated
    def cycle_usage(self, user_id: str, period_start: int) -> Usage:
        app, api = self._client.mget([
            keys.usage_cycle(user_id, Channel.APP, period_start),
            keys.usage_cycle(user_id, Channel.API, period_start),
        ])
        return Usage(_count(app), _count(api))

    @_translated
    def list_cycles(self, user_id: str) -> list[CycleUsage]:
        members = self._client.zrevrange(keys.usage_cycles(user_id), 0, -1)
        starts = [int(_text(m)) for m in members if isinstance(m, str | bytes)]
        if not starts:
            return []
        names = [keys.usage_cycle(user_id, channel, start)
                 for start in starts for channel in (Channel.APP, Channel.API)]
        counts = self._client.mget(names)
        return [CycleUsage(start, Usage(_count(counts[2 * i]), _count(counts[2 * i + 1])))
                for i, start in enumerate(starts)]

    # --- webhook events, rate limits ----------------------------------------------------

    @_translated
    def mark_event(self, event_id: str, now: int) -> bool:
        return bool(self._client.set(keys.webhook_event(event_id), now, nx=True))

    @_translated
    def has_event(self, event_id: str) -> bool:
        return bool(self._client.exists(keys.webhook_event(event_id)))

    @_translated
    def hit(self, bucket: str, limit: int, window_s: int, now: float) -> RateDecision:
        start, reset_at = fixed_window(now, window_s)
        hits = int(self._run(self._hit, [keys.rate_limit(bucket, start)],
                             [limit, window_s + _RATE_KEY_SLACK_S]))
        if hits < 0:
            return RateDecision(False, limit, 0, reset_at)
        return RateDecision(True, limit, limit - hits, reset_at)


# --- keys of the Stripe records (belong in storage/keys.py with the rest) -------------

# {accounts} slot: Stripe customer id -> user id (checked against the user's own field).
_CUSTOMER_TO_USER = "{accounts}:stripe_customer_to_user"


def _prepaid_grants(uid: str) -> str:
    """Hash: purchase (grant) id -> unix second it was added, for add_prepaid_once."""
    return f"user:{{{uid}}}:prepaid_grants"


# --- records ------------------------------------------------------------------------


def _user_fields(user: User) -> list[str | int]:
    fields: list[str | int] = [
        "email", user.email,
        "email_verified", int(user.email_verified),
        "plan", user.plan,
        "included_credits", user.included_credits,
        "prepaid_credits", user.prepaid_credits,
        "created_at", user.created_at,
    ]
    if user.password_hash is not None:
        fields += ["password_hash", user.password_hash]
    return fields


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _count(value: bytes | str | None) -> int:
    return 0 if value is None else int(_text(value))


def _fields(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(name): _text(value) for name, value in raw.items()}


def _lenient_int(text: str) -> int:
    """A credit count as stored, whatever was stored (by hand, or by an older alphacut): an
    integer of any size as itself, a decimal number as its integer part, anything else as
    SQLite's CAST reads it (0; an infinity as the 64-bit bound), so a user always reads."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return 0
    if math.isnan(number):
        return 0
    if math.isinf(number):
        return 2**63 - 1 if number > 0 else -(2**63)
    return int(number)


def _opt_int(fields: Mapping[str, str], name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else int(value)


def _user(user_id: str, raw: Mapping[bytes | str, bytes | str]) -> User | None:
    if not raw:
        return None
    fields = _fields(raw)
    return User(
        id=user_id,
        email=fields["email"],
        email_verified=fields.get("email_verified") == "1",
        plan=fields.get("plan", ""),
        included_credits=_lenient_int(fields.get("included_credits", "0")),
        prepaid_credits=_lenient_int(fields.get("prepaid_credits", "0")),
        created_at=int(fields.get("created_at", "0")),
        billing_period_start=_opt_int(fields, "billing_period_start"),
        billing_period_end=_opt_int(fields, "billing_period_end"),
        password_hash=fields.get("password_hash"),
        stripe_customer_id=fields.get("stripe_customer_id"),
    )


def _key(key_hash: str, raw: Mapping[bytes | str, bytes | str]) -> ApiKey | None:
    if not raw:
        return None
    fields = _fields(raw)
    return ApiKey(
        key_hash=key_hash,
        prefix=fields["prefix"],
        user_id=fields["user_id"],
        created_at=int(fields["created_at"]),
        last_used_at=_opt_int(fields, "last_used_at"),
        revoked_at=_opt_int(fields, "revoked_at"),
    )
