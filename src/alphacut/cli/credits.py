"""``alphacut credits``: add prepaid credits to a user's balance."""

from __future__ import annotations

import click

from alphacut.cli.store import account_service, echo_json, json_option, user_json
from alphacut.domain.accounts import MAX_CREDITS
from alphacut.settings import Settings


@click.group()
def credits() -> None:
    """Prepaid credits (used once a period's included credits are gone; never reset)."""


@credits.command("add")
@click.argument("user_id", metavar="ID")
@click.argument("count", metavar="N", type=click.IntRange(min=1, max=MAX_CREDITS))
@json_option
def add(user_id: str, count: int, as_json: bool) -> None:
    """Add N prepaid credits to the user ID.

    N is 1 to 1000000000000, and the balance cannot pass that maximum either.
    """
    with account_service(Settings()) as accounts:
        user = accounts.add_prepaid(user_id, count)
    if as_json:
        echo_json(user_json(user))
    else:
        click.echo(f"Added {count} prepaid credits to user {user.id} ({user.email}); "
                   f"prepaid balance: {user.prepaid_credits}.")
