"""``alphacut users``: create, list, show and verify users; set their plan."""

from __future__ import annotations

import click

from alphacut.cli.store import (
    account_service,
    echo_json,
    json_option,
    table,
    user_details,
    user_json,
    when,
)
from alphacut.domain.accounts import MAX_CREDITS, User
from alphacut.settings import Settings

_COLUMNS = ("id", "email", "verified", "plan", "included", "prepaid", "created")
_CREDITS = click.IntRange(min=0, max=MAX_CREDITS)


def _show(user: User, as_json: bool) -> None:
    if as_json:
        echo_json(user_json(user))
    else:
        click.echo(user_details(user))


def _row(user: User) -> tuple[str, ...]:
    return (user.id, user.email, "yes" if user.email_verified else "no", user.plan,
            str(user.included_credits), str(user.prepaid_credits), when(user.created_at))


@click.group()
def users() -> None:
    """Manage users in the server's store (ALPHACUT_STORE_URL / ALPHACUT_DATA_DIR)."""


@users.command("create")
@click.option("--email", required=True, help="The user's e-mail address (unique, any case).")
@click.option("--plan", default=None, help="Plan label [default: ALPHACUT_DEFAULT_PLAN].")
@click.option("--credits", "included", type=_CREDITS, default=None,
              help="Included credits per billing period "
                   "[default: ALPHACUT_DEFAULT_INCLUDED_CREDITS].")
@click.option("--prepaid", type=_CREDITS, default=0, show_default=True,
              help="Prepaid credits to start with.")
@click.option("--verified", is_flag=True, help="Mark the e-mail address verified already.")
@json_option
def create(email: str, plan: str | None, included: int | None, prepaid: int, verified: bool,
           as_json: bool) -> None:
    """Create a user. Unverified users cannot use their API keys until `users verify`."""
    settings = Settings()
    with account_service(settings) as accounts:
        user = accounts.create_user(
            email, plan if plan is not None else settings.default_plan,
            included if included is not None else settings.default_included_credits,
            verified, prepaid=prepaid,
        )
    _show(user, as_json)


@users.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Every user, oldest first."""
    with account_service(Settings()) as accounts:
        found = accounts.users()
    if as_json:
        echo_json([user_json(user) for user in found])
    else:
        click.echo(table(_COLUMNS, [_row(user) for user in found]))


@users.command("show")
@click.argument("user_id", metavar="ID")
@json_option
def show(user_id: str, as_json: bool) -> None:
    """One user's plan, credits and status."""
    with account_service(Settings()) as accounts:
        user = accounts.user(user_id)
    _show(user, as_json)


@users.command("verify")
@click.argument("user_id", metavar="ID")
@json_option
def verify(user_id: str, as_json: bool) -> None:
    """Mark a user's e-mail address verified (their API keys start working)."""
    with account_service(Settings()) as accounts:
        user = accounts.verify(user_id)
    _show(user, as_json)


@users.command("plan")
@click.argument("user_id", metavar="ID")
@click.argument("label")
@click.option("--credits", "included", type=_CREDITS, required=True,
              help="Included credits per billing period on this plan.")
@json_option
def plan(user_id: str, label: str, included: int, as_json: bool) -> None:
    """Put a user on the plan LABEL with this many included credits per period."""
    with account_service(Settings()) as accounts:
        user = accounts.set_plan(user_id, label, included)
    _show(user, as_json)
