"""``alphacut keys``: create (shown once), list and revoke a user's API keys."""

from __future__ import annotations

import click

from alphacut.cli.store import account_service, echo_json, json_option, key_json, table, when
from alphacut.domain.accounts import ApiKey
from alphacut.settings import Settings

_COLUMNS = ("prefix", "created", "last used", "revoked")


def _row(key: ApiKey) -> tuple[str, ...]:
    return (key.prefix, when(key.created_at), when(key.last_used_at, "never"),
            when(key.revoked_at, "no"))


@click.group()
def keys() -> None:
    """API keys: the secret is shown once; the store keeps only its SHA-256 hash."""


@keys.command("create")
@click.argument("user_id", metavar="ID")
@json_option
def create(user_id: str, as_json: bool) -> None:
    """Create an API key for the user ID and print it (stdout) this once."""
    with account_service(Settings()) as accounts:
        new = accounts.create_key(user_id)
    if as_json:
        echo_json({"key": new.key, "prefix": new.record.prefix, "user_id": new.record.user_id,
                   "created_at": new.record.created_at})
        return
    click.echo(new.key)
    # On stderr, so `KEY=$(alphacut keys create ID)` captures the key alone.
    click.echo(f"API key {new.record.prefix}... for user {user_id}. Store it now: "
               "it cannot be shown again.", err=True)


@keys.command("list")
@click.argument("user_id", metavar="ID")
@json_option
def list_keys(user_id: str, as_json: bool) -> None:
    """The user's keys, oldest first, revoked ones included."""
    with account_service(Settings()) as accounts:
        found = accounts.keys(user_id)
    if as_json:
        echo_json([key_json(key) for key in found])
    else:
        click.echo(table(_COLUMNS, [_row(key) for key in found]))


@keys.command("revoke")
@click.argument("prefix", metavar="KEY_PREFIX")
@json_option
def revoke(prefix: str, as_json: bool) -> None:
    """Revoke the key with this exact prefix (from `keys list`); it answers 401 from now on."""
    with account_service(Settings()) as accounts:
        accounts.revoke_key(prefix)
    if as_json:
        echo_json({"revoked": prefix})
    else:
        click.echo(f"Revoked {prefix}.")
