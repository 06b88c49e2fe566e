"""What the account commands share: the services ``alphacut.bootstrap.build`` makes from
the server's settings (so the same store), and one way to render users and keys (JSON for
scripts, text for people)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from alphacut import bootstrap
from alphacut.domain.accounts import ApiKey, User
from alphacut.errors import AlphacutError
from alphacut.secret import throw_away
from alphacut.service.accounts import AccountService
from alphacut.settings import Settings

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


@contextmanager
def account_service(settings: Settings) -> Iterator[AccountService]:
    """The store ALPHACUT_STORE_URL / ALPHACUT_DATA_DIR name, closed on the way out.

    Our errors (unknown user, duplicate e-mail, store unreachable) become one line
    on stderr and exit code 1, through click.
    """
    try:
        services = bootstrap.build(settings, secret=throw_away())
    except AlphacutError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        yield services.accounts
    except AlphacutError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        services.close()


def user_json(user: User) -> dict[str, object]:
    """The same fields as the admin API's ``User``; never a password hash."""
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "plan": user.plan,
        "included_credits": user.included_credits,
        "prepaid_credits": user.prepaid_credits,
        "created_at": user.created_at,
    }


def key_json(key: ApiKey) -> dict[str, object]:
    """The same fields as the admin API's ``ApiKey``; never the hash."""
    return {
        "prefix": key.prefix,
        "user_id": key.user_id,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "active": key.active,
    }


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2))


def when(unix_s: int | None, missing: str = "-") -> str:
    if unix_s is None:
        return missing
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def user_details(user: User) -> str:
    rows = [
        ("id", user.id),
        ("email", user.email),
        ("email verified", "yes" if user.email_verified else "no"),
        ("plan", user.plan),
        ("included credits", f"{user.included_credits} per billing period"),
        ("prepaid credits", str(user.prepaid_credits)),
        ("created", when(user.created_at)),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    cells = [header, *rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
