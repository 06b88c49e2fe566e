"""The Redis key layout: the contract's usage keys, plus our own records and indexes.

Every key of one user carries the hash tag ``{uid}`` (``user:{42}:...``), so a
Lua script that touches a user's record and counters together names keys of a
single cluster slot. Directory-wide indexes live in their own tagged slots
(``{accounts}``, ``{api_keys}``); an API key's record is tagged by its hash, so
the hot lookup (``find_key_by_hash``) is one command on one key.

The usage counters are exactly the hosted service's layout (contract, section
3); ``{month}`` is written without a leading zero (``2026:3``).
"""

from __future__ import annotations

from alphacut.domain.principal import Channel

SCHEMA_VERSION = "schema_version"

# {accounts} slot: the user directory.
NEXT_USER_ID = "{accounts}:next_user_id"
USER_IDS = "{accounts}:user_ids"  # set of user ids (list_users)
EMAIL_TO_USER = "{accounts}:email_to_user"  # hash: normalised e-mail -> user id

# {api_keys} slot: visible prefix -> key hash (prefixes are unique).
KEY_PREFIXES = "{api_keys}:prefix_to_hash"


def user(uid: str) -> str:
    """Hash: the user's record, with ``billing_period_start`` / ``billing_period_end``."""
    return f"user:{{{uid}}}"


def usage_month(uid: str, channel: Channel, year: int, month: int) -> str:
    return f"user:{{{uid}}}:{channel.value}_usage:{year}:{month}"


def usage_cycle(uid: str, channel: Channel, period_start: int) -> str:
    return f"user:{{{uid}}}:{channel.value}_usage:cycle:{period_start}"


def prepaid_cycle(uid: str, period_start: int) -> str:
    """How many of the cycle's standing charges were paid with prepaid credits."""
    return f"user:{{{uid}}}:prepaid_usage:cycle:{period_start}"


def usage_cycles(uid: str) -> str:
    """Sorted set of the cycle starts that have counters (score = member = start)."""
    return f"user:{{{uid}}}:usage_cycles"


def user_api_keys(uid: str) -> str:
    """Set of the hashes of the user's API keys."""
    return f"user:{{{uid}}}:api_keys"


def api_key(key_hash: str) -> str:
    """Hash: one API key's record (user_id, prefix, created_at, last_used_at, revoked_at)."""
    return f"api_key:{{{key_hash}}}"


def webhook_event(event_id: str) -> str:
    return f"webhook_event:{event_id}"


def rate_limit(bucket: str, window_start: int) -> str:
    """Counter of one fixed window; it expires soon after the window ends."""
    return f"rate_limit:{bucket}:{window_start}"
