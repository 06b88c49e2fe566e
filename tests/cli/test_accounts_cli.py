"""``alphacut users / credits / keys`` through click's runner, on a throw-away store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from alphacut.cli.main import cli
from alphacut.domain.accounts import MAX_CREDITS
from alphacut.errors import InvalidApiKey
from alphacut.service.keys import key_hash
from alphacut.service.tokens import TokenSigner
from alphacut.storage.base import Store
from alphacut.storage.factory import DEFAULT_SQLITE_FILE, open_store
from tests.conftest import resolve, resolver

USER_FIELDS = {"id", "email", "email_verified", "plan", "included_credits", "prepaid_credits",
               "created_at"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALPHACUT_DATA_DIR", str(tmp_path))
    for variable in ("ALPHACUT_STORE_URL", "ALPHACUT_DEFAULT_PLAN",
                     "ALPHACUT_DEFAULT_INCLUDED_CREDITS"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    """The store the commands write to, opened the way the server opens it."""
    opened = open_store(None, data_dir)
    yield opened
    opened.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def create_user(email: str = "ann@example.com", *options: str) -> dict[str, Any]:
    user: dict[str, Any] = run_json("users", "create", "--email", email, *options)
    return user


def create_key(user_id: str) -> dict[str, Any]:
    key: dict[str, Any] = run_json("keys", "create", user_id)
    return key


# --- users ---------------------------------------------------------------------


def test_users_create_uses_the_configured_defaults() -> None:
    before = int(time.time())
    user = create_user("  Ann@Example.COM ")
    assert isinstance(user["id"], str) and user["id"]
    assert isinstance(user["created_at"], int) and before <= user["created_at"] <= time.time()
    assert user == {"id": user["id"], "email": "ann@example.com", "email_verified": False,
                    "plan": "Free", "included_credits": 50, "prepaid_credits": 0,
                    "created_at": user["created_at"]}


def test_users_create_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHACUT_DEFAULT_PLAN", "Trial")
    monkeypatch.setenv("ALPHACUT_DEFAULT_INCLUDED_CREDITS", "7")
    user = create_user()
    assert (user["plan"], user["included_credits"]) == ("Trial", 7)


def test_users_create_with_every_option() -> None:
    user = create_user("bob@example.com", "--plan", "Premium-20000", "--credits", "20000",
                       "--prepaid", "300", "--verified")
    assert set(user) == USER_FIELDS
    assert {k: user[k] for k in ("email_verified", "plan", "included_credits",
                                 "prepaid_credits")} == {
        "email_verified": True, "plan": "Premium-20000", "included_credits": 20000,
        "prepaid_credits": 300}


def test_users_create_prints_the_user_for_people() -> None:
    result = run("users", "create", "--email", "ann@example.com", "--plan", "Pro")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "1"]
    assert lines[1].split() == ["email", "ann@example.com"]
    assert "email verified    no" in result.stdout
    assert lines[3].split() == ["plan", "Pro"]
    assert "50 per billing period" in result.stdout


def test_users_list_is_oldest_first() -> None:
    assert run_json("users", "list") == []
    ann = create_user("ann@example.com")
    bob = create_user("bob@example.com", "--verified")
    assert run_json("users", "list") == [ann, bob]
    table = run("users", "list").stdout.splitlines()
    assert table[0].split() == ["id", "email", "verified", "plan", "included", "prepaid",
                                "created"]
    assert table[1].split()[:6] == [ann["id"], "ann@example.com", "no", "Free", "50", "0"]
    assert table[2].split()[:6] == [bob["id"], "bob@example.com", "yes", "Free", "50", "0"]


def test_users_show() -> None:
    ann = create_user()
    assert run_json("users", "show", ann["id"]) == ann
    assert "ann@example.com" in run("users", "show", ann["id"]).stdout


def test_users_verify() -> None:
    ann = create_user()
    assert run_json("users", "verify", ann["id"]) == {**ann, "email_verified": True}
    assert run_json("users", "show", ann["id"])["email_verified"] is True


def test_users_plan() -> None:
    ann = create_user()
    changed = run_json("users", "plan", ann["id"], "Premium-20000", "--credits", "20000")
    assert changed == {**ann, "plan": "Premium-20000", "included_credits": 20000}
    assert run_json("users", "show", ann["id"]) == changed


def test_credits_add_is_prepaid() -> None:
    ann = create_user("ann@example.com", "--prepaid", "2")
    assert run_json("credits", "add", ann["id"], "10") == {**ann, "prepaid_credits": 12}
    result = run("credits", "add", ann["id"], "1")
    assert result.exit_code == 0
    assert result.stdout == (f"Added 1 prepaid credits to user {ann['id']} (ann@example.com); "
                             "prepaid balance: 13.\n")


# --- keys ----------------------------------------------------------------------


def test_keys_create_prints_a_key_that_authenticates(store: Store) -> None:
    ann = create_user("ann@example.com", "--verified")
    before = int(time.time())
    created = create_key(ann["id"])
    secret = created["key"]
    assert isinstance(secret, str) and secret.startswith(created["prefix"])
    assert isinstance(created["created_at"], int) and created["created_at"] >= before
    assert created == {"key": secret, "prefix": created["prefix"], "user_id": ann["id"],
                       "created_at": created["created_at"]}
    record = store.find_key_by_hash(key_hash(secret))
    assert record is not None and record.user_id == ann["id"]
    principal = resolve(resolver(store, TokenSigner("test", 60)),
        secret, None, "127.0.0.1", int(time.time()))
    assert principal.user_id == ann["id"]


def test_keys_create_shows_the_key_once_on_stdout_and_the_note_on_stderr(store: Store) -> None:
    ann = create_user()
    result = run("keys", "create", ann["id"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert "\n" not in secret and secret.startswith("ac_")
    assert store.find_key_by_hash(key_hash(secret)) is not None
    assert "cannot be shown again" in result.stderr
    assert secret not in result.stderr and key_hash(secret) not in result.output


def test_keys_list_never_shows_a_secret_or_its_hash() -> None:
    ann = create_user()
    # Oldest first; keys made in the same second come in prefix order.
    first, second = sorted((create_key(ann["id"]), create_key(ann["id"])),
                           key=lambda key: (key["created_at"], key["prefix"]))
    listed = run_json("keys", "list", ann["id"])
    assert listed == [
        {"prefix": key["prefix"], "user_id": ann["id"], "created_at": key["created_at"],
         "last_used_at": None, "revoked_at": None, "active": True}
        for key in (first, second)
    ]
    table = run("keys", "list", ann["id"])
    assert table.stdout.splitlines()[0].split() == ["prefix", "created", "last", "used",
                                                    "revoked"]
    assert table.stdout.splitlines()[1].split()[0] == first["prefix"]
    assert table.stdout.splitlines()[1].split()[-2:] == ["never", "no"]
    for key in (first, second):
        secret = key["key"]
        for output in (json.dumps(listed), table.output):
            assert secret not in output and key_hash(secret) not in output


def test_keys_list_shows_the_last_use(store: Store) -> None:
    ann = create_user("ann@example.com", "--verified")
    key = create_key(ann["id"])
    resolve(resolver(store, TokenSigner("test", 60)), key["key"], None, "::1",
                                                          1_700_000_000)
    listed = run_json("keys", "list", ann["id"])
    assert listed[0]["last_used_at"] == 1_700_000_000
    assert "2023-11-14 22:13:20 UTC" in run("keys", "list", ann["id"]).stdout


def test_keys_revoke(store: Store) -> None:
    ann = create_user("ann@example.com", "--verified")
    key = create_key(ann["id"])
    prefix = key["prefix"]
    assert run_json("keys", "revoke", prefix) == {"revoked": prefix}
    [listed] = run_json("keys", "list", ann["id"])
    assert listed["active"] is False and isinstance(listed["revoked_at"], int)
    with pytest.raises(InvalidApiKey):
        resolve(resolver(store, TokenSigner("test", 60)), key["key"], None, "::1", 0)
    assert run("keys", "list", ann["id"]).stdout.splitlines()[1].split()[-1] == "UTC"
    other = create_key(ann["id"])
    result = run("keys", "revoke", other["prefix"])
    assert (result.exit_code, result.stdout) == (0, f"Revoked {other['prefix']}.\n")


# --- the store, errors ---------------------------------------------------------------


def test_commands_use_the_store_url(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHACUT_STORE_URL", "sqlite:///elsewhere.db")
    create_user()
    assert (data_dir / "elsewhere.db").is_file()
    assert not (data_dir / "alphacut.sqlite3").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["users", "show", "999"], "No user with id '999'."),
    (["users", "verify", "999"], "No user with id '999'."),
    (["users", "plan", "999", "Pro", "--credits", "1"], "No user with id '999'."),
    (["credits", "add", "999", "1"], "No user with id '999'."),
    (["keys", "create", "999"], "No user with id '999'."),
    (["keys", "list", "999"], "No user with id '999'."),
    (["keys", "revoke", "ac_nothing"], "No active API key with the prefix 'ac_nothing'."),
    (["users", "create", "--email", "ANN@example.com"],
     "A user with the e-mail address 'ann@example.com' already exists."),
    (["users", "create", "--email", "not-an-address"], "'not-an-address' is not an e-mail "
                                                       "address."),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_errors_are_one_line_on_stderr_and_exit_1(args: list[str], message: str,
                                                  as_json: bool) -> None:
    create_user("ann@example.com")
    result = run(*args, *(["--json"] if as_json else []))
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")


def test_revoking_twice_is_an_error() -> None:
    ann = create_user()
    prefix = create_key(ann["id"])["prefix"]
    assert run("keys", "revoke", prefix).exit_code == 0
    result = run("keys", "revoke", prefix)
    assert (result.exit_code, result.stderr) == (
        1, f"Error: No active API key with the prefix '{prefix}'.\n")


def test_an_unusable_store_url_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHACUT_STORE_URL", "postgres://user:hunter2@db/alphacut")
    result = run("users", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Unsupported store URL: scheme 'postgres'")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("args", [
    ["users", "create"],
    ["users", "create", "--email", "a@b.c", "--credits", "-1"],
    ["users", "plan", "1", "Pro"],
    ["users", "show"],
    ["credits", "add", "1", "0"],
    ["credits", "add", "1", "many"],
    ["keys", "create"],
    ["keys", "revoke"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).exit_code == 2


# --- the credit maximum ------------------------------------------------------------


@pytest.mark.parametrize(("args", "range_"), [
    (["credits", "add", "{id}", str(MAX_CREDITS + 1)], f"1<=x<={MAX_CREDITS}"),
    (["credits", "add", "{id}", str(2**62)], f"1<=x<={MAX_CREDITS}"),
    (["credits", "add", "{id}", str(2**64)], f"1<=x<={MAX_CREDITS}"),
    (["users", "create", "--email", "b@b.c", "--credits", str(MAX_CREDITS + 1)],
     f"0<=x<={MAX_CREDITS}"),
    (["users", "create", "--email", "b@b.c", "--prepaid", str(2**63)], f"0<=x<={MAX_CREDITS}"),
    (["users", "plan", "{id}", "Pro", "--credits", str(MAX_CREDITS + 1)],
     f"0<=x<={MAX_CREDITS}"),
])
def test_credit_counts_over_the_maximum_are_usage_errors(args: list[str], range_: str) -> None:
    ann = create_user()
    result = run(*(arg.format(id=ann["id"]) for arg in args))
    assert result.exit_code == 2, result.output
    assert range_ in result.stderr
    assert run_json("users", "list") == [ann]


def test_credits_add_stops_at_the_maximum() -> None:
    ann = create_user("ann@example.com", "--prepaid", str(MAX_CREDITS - 1))
    assert run_json("credits", "add", ann["id"], "1")["prepaid_credits"] == MAX_CREDITS
    for count in ("1", str(MAX_CREDITS)):
        result = run("credits", "add", ann["id"], count)
        assert (result.exit_code, result.stderr) == (
            1, f"Error: The balance would exceed the maximum of {MAX_CREDITS} credits.\n")
    assert run_json("users", "show", ann["id"])["prepaid_credits"] == MAX_CREDITS


def test_a_balance_an_older_version_corrupted_still_lists_and_shows(data_dir: Path) -> None:
    ann = create_user("ann@example.com", "--prepaid", "5")
    # What adding 2**62 twice left: SQLite keeps an INTEGER overflow as a REAL.
    with sqlite3.connect(data_dir / DEFAULT_SQLITE_FILE) as conn:
        conn.execute("UPDATE users SET prepaid_credits = prepaid_credits + ? + ? WHERE id = ?",
                     (2**62, 2**62, int(ann["id"])))
        assert conn.execute("SELECT typeof(prepaid_credits) FROM users").fetchone() == ("real",)
    shown = run_json("users", "show", ann["id"])
    assert shown == {**ann, "prepaid_credits": 2**63 - 1}  # the nearest 64-bit integer
    assert run_json("users", "list") == [shown]
    table = run("users", "list")
    assert table.exit_code == 0 and str(2**63 - 1) in table.stdout
    assert str(2**63 - 1) in run("users", "show", ann["id"]).stdout
    result = run("credits", "add", ann["id"], "1")  # refused cleanly, not a crash
    assert (result.exit_code, result.stderr) == (
        1, f"Error: The balance would exceed the maximum of {MAX_CREDITS} credits.\n")
