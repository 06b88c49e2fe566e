"""The admin HTTP API over real HTTP: off without a token, 401 with a wrong one, every
endpoint's body, and keys it (or the CLI) creates working on /rmbg until revoked."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from alphacut.cli.main import cli
from alphacut.cli.store import key_json, user_json
from alphacut.domain.accounts import MAX_CREDITS, ApiKey, User
from alphacut.service.keys import key_prefix
from alphacut.web.routes.admin import ApiKeyRecord, UserRecord
from tests.conftest import fixture_bytes

TOKEN = "s3cret"
ServerWith = Callable[..., AbstractContextManager[str]]
_emails = count(1)

ENDPOINTS = [
    ("POST", "/admin/users"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/1"),
    ("POST", "/admin/users/1/verify"),
    ("PUT", "/admin/users/1/plan"),
    ("POST", "/admin/users/1/credits"),
    ("POST", "/admin/users/1/keys"),
    ("GET", "/admin/users/1/keys"),
    ("DELETE", "/admin/keys/ac_whatever"),
]


@pytest.fixture(scope="module")
def admin_server(server_with: ServerWith) -> Iterator[str]:
    with server_with(admin_token=TOKEN) as base:
        yield base


@pytest.fixture
def admin(admin_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=admin_server, timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


def new_email() -> str:
    return f"person{next(_emails)}@example.com"


def created_user(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    reply = admin.post("/admin/users", json={"email": new_email(), **fields})
    assert reply.status_code == 201, reply.text
    user: dict[str, Any] = reply.json()
    return user


def error(message: str, status: int) -> dict[str, Any]:
    return {"error": message, "status": status}


def rmbg(base: str, key: str) -> httpx.Response:
    return httpx.post(f"{base}/rmbg", headers={"x-api-key": key}, timeout=60,
                      files={"image": ("coffee.jpg", fixture_bytes("coffee"), "image/jpeg")})


# --- on, off, who ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_route_is_404_when_no_admin_token_is_set(server: str, method: str,
                                                       path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}"}):
        reply = httpx.request(method, f"{server}{path}", headers=headers, content=b"{oops",
                              timeout=60)
        assert (reply.status_code, reply.json()) == (404, error("Not Found", 404))


@pytest.mark.parametrize("authorization", [
    None, b"", b"Bearer", b"Bearer wrong", b"Bearer s3cretx", b"Bearer s3cre", b"Basic s3cret",
    b"s3cret", b"Bearer s3cr\xe9t",
])
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_missing_or_wrong_token_is_401_before_the_body_is_read(
    admin_server: str, method: str, path: str, authorization: bytes | None
) -> None:
    headers = {} if authorization is None else {b"Authorization": authorization}
    reply = httpx.request(method, f"{admin_server}{path}", headers=headers, content=b"{oops",
                          timeout=60)
    assert (reply.status_code, reply.json()) == (401, error("invalid admin token", 401))


def test_the_bearer_scheme_is_case_insensitive(admin_server: str) -> None:
    reply = httpx.get(f"{admin_server}/admin/users", headers={"Authorization": f"bearer {TOKEN}"})
    assert reply.status_code == 200


# --- users -----------------------------------------------------------------------


def test_create_user_with_the_defaults(admin: httpx.Client) -> None:
    before = int(time.time())
    reply = admin.post("/admin/users", json={"email": "  Admin.Ann@Example.COM "})
    assert reply.status_code == 201
    user = reply.json()
    assert isinstance(user["id"], str)
    assert before <= user["created_at"] <= time.time()
    assert user == {"id": user["id"], "email": "admin.ann@example.com", "email_verified": False,
                    "plan": "Free", "included_credits": 50, "prepaid_credits": 0,
                    "created_at": user["created_at"]}


def test_create_user_with_every_field(admin: httpx.Client) -> None:
    email = new_email()
    user = created_user(admin, email=email, plan="Premium-20000", credits=20000, prepaid=300,
                        verified=True)
    assert user == {"id": user["id"], "email": email, "email_verified": True,
                    "plan": "Premium-20000", "included_credits": 20000, "prepaid_credits": 300,
                    "created_at": user["created_at"]}


def test_list_and_show_users(admin: httpx.Client) -> None:
    first, second = created_user(admin), created_user(admin)
    listed = admin.get("/admin/users").json()
    assert listed.index(first) < listed.index(second)  # oldest first
    assert admin.get(f"/admin/users/{first['id']}").json() == first


def test_verify(admin: httpx.Client) -> None:
    user = created_user(admin)
    reply = admin.post(f"/admin/users/{user['id']}/verify")
    assert (reply.status_code, reply.json()) == (200, {**user, "email_verified": True})


def test_set_plan(admin: httpx.Client) -> None:
    user = created_user(admin)
    reply = admin.put(f"/admin/users/{user['id']}/plan",
                      json={"plan": "Premium-20000", "credits": 20000})
    changed = {**user, "plan": "Premium-20000", "included_credits": 20000}
    assert (reply.status_code, reply.json()) == (200, changed)
    assert admin.get(f"/admin/users/{user['id']}").json() == changed


def test_add_prepaid_credits(admin: httpx.Client) -> None:
    user = created_user(admin, prepaid=5)
    reply = admin.post(f"/admin/users/{user['id']}/credits", json={"credits": 10})
    assert (reply.status_code, reply.json()) == (200, {**user, "prepaid_credits": 15})


def test_a_duplicate_email_is_409_whatever_its_case(admin: httpx.Client) -> None:
    user = created_user(admin)
    reply = admin.post("/admin/users", json={"email": user["email"].upper()})
    message = f"A user with the e-mail address '{user['email']}' already exists."
    assert (reply.status_code, reply.json()) == (409, error(message, 409))


def test_not_an_email_address_is_400(admin: httpx.Client) -> None:
    reply = admin.post("/admin/users", json={"email": "nobody"})
    assert (reply.status_code, reply.json()) == (
        400, error("'nobody' is not an e-mail address.", 400))


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/admin/users/999999", None),
    ("POST", "/admin/users/999999/verify", None),
    ("PUT", "/admin/users/999999/plan", {"plan": "Pro", "credits": 1}),
    ("POST", "/admin/users/999999/credits", {"credits": 1}),
    ("POST", "/admin/users/999999/keys", None),
    ("GET", "/admin/users/999999/keys", None),
])
def test_an_unknown_user_is_404(admin: httpx.Client, method: str, path: str,
                                body: dict[str, Any] | None) -> None:
    reply = admin.request(method, path, json=body)
    assert (reply.status_code, reply.json()) == (404, error("No user with id '999999'.", 404))


@pytest.mark.parametrize(("method", "path", "body", "problem"), [
    ("POST", "/admin/users", b"{oops", "not valid JSON"),
    ("POST", "/admin/users", b"", "body: Field required"),
    ("POST", "/admin/users", b'{"credits": 1}', "email: Field required"),
    ("POST", "/admin/users", b'{"email": "a@b.c", "credits": -1}',
     "credits: Input should be greater than or equal to 0"),
    ("PUT", "/admin/users/1/plan", b'{"plan": "Pro"}', "credits: Field required"),
    ("POST", "/admin/users/1/credits", b'{"credits": 0}',
     "credits: Input should be greater than or equal to 1"),
    ("POST", "/admin/users/1/credits", b'{"credits": "many"}',
     "credits: Input should be a valid integer, unable to parse string as an integer"),
])
def test_a_bad_body_is_422_in_the_error_shape(admin: httpx.Client, method: str, path: str,
                                              body: bytes, problem: str) -> None:
    reply = admin.request(method, path, content=body,
                          headers={"content-type": "application/json"})
    assert (reply.status_code, reply.json()) == (
        422, error(f"Invalid request body: {problem}", 422))


# --- keys ------------------------------------------------------------------------


def test_create_list_and_revoke_keys(admin: httpx.Client) -> None:
    user = created_user(admin)
    before = int(time.time())
    reply = admin.post(f"/admin/users/{user['id']}/keys")
    assert reply.status_code == 201
    key = reply.json()
    assert key["key"].startswith(key["prefix"]) and key["prefix"].startswith("ac_")
    assert before <= key["created_at"] <= time.time()
    assert key == {"key": key["key"], "prefix": key["prefix"], "user_id": user["id"],
                   "created_at": key["created_at"]}
    listed = admin.get(f"/admin/users/{user['id']}/keys").json()
    assert listed == [{"prefix": key["prefix"], "user_id": user["id"],
                       "created_at": key["created_at"], "last_used_at": None,
                       "revoked_at": None, "active": True}]
    reply = admin.delete(f"/admin/keys/{key['prefix']}")
    assert (reply.status_code, reply.json()) == (200, {"revoked": key["prefix"]})
    [revoked] = admin.get(f"/admin/users/{user['id']}/keys").json()
    assert revoked["active"] is False and before <= revoked["revoked_at"] <= time.time()
    reply = admin.delete(f"/admin/keys/{key['prefix']}")
    message = f"No active API key with the prefix '{key['prefix']}'."
    assert (reply.status_code, reply.json()) == (404, error(message, 404))


def test_a_key_from_the_admin_api_works_on_rmbg_until_revoked(admin: httpx.Client,
                                                              admin_server: str) -> None:
    user = created_user(admin, verified=True, credits=10)
    key = admin.post(f"/admin/users/{user['id']}/keys").json()
    reply = rmbg(admin_server, key["key"])
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/webp"
    [listed] = admin.get(f"/admin/users/{user['id']}/keys").json()
    assert isinstance(listed["last_used_at"], int)
    assert admin.delete(f"/admin/keys/{key['prefix']}").status_code == 200
    reply = rmbg(admin_server, key["key"])
    assert (reply.status_code, reply.json()) == (401, error("invalid api key", 401))


def test_a_key_from_the_cli_works_on_a_server_sharing_its_store(
    server_with: ServerWith, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"  # absolute: sqlite:////tmp/...
    monkeypatch.setenv("ALPHACUT_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("ALPHACUT_STORE_URL", store_url)
    runner = CliRunner()
    created = runner.invoke(cli, ["users", "create", "--email", "cli@example.com",
                                  "--verified", "--json"])
    user_id = json.loads(created.stdout)["id"]
    secret = runner.invoke(cli, ["keys", "create", user_id]).stdout.strip()
    with server_with(store_url=store_url, admin_token=TOKEN) as base:
        users = httpx.get(f"{base}/admin/users",
                          headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert [user["email"] for user in users] == ["cli@example.com"]
        assert rmbg(base, secret).status_code == 200
        revoked = runner.invoke(cli, ["keys", "revoke", key_prefix(secret)])
        assert revoked.exit_code == 0, revoked.output
        reply = rmbg(base, secret)
        assert (reply.status_code, reply.json()) == (401, error("invalid api key", 401))


def test_the_cli_and_the_api_render_the_same_fields() -> None:
    user = User("1", "a@b.c", True, "Free", 50, 0, 1_700_000_000, password_hash="secret")
    key = ApiKey("hash", "ac_12345678", "1", 1_700_000_000)
    assert user_json(user) == UserRecord.of(user).model_dump()
    assert key_json(key) == ApiKeyRecord.of(key).model_dump()


# --- the document ----------------------------------------------------------------


def test_the_openapi_document_lists_the_admin_api(admin: httpx.Client) -> None:
    document = admin.get("/api/openapi").json()
    operations = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if path.startswith("/admin")}
    expected = {(method, path.replace("/1", "/{user_id}").replace("ac_whatever", "{prefix}"))
                for method, path in ENDPOINTS}
    assert operations == expected
    for path, item in document["paths"].items():
        for operation in item.values() if path.startswith("/admin") else ():
            assert operation["tags"] == ["admin"]
            assert operation["security"] == [{"AdminToken": []}]
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
    schemas = document["components"]["schemas"]
    assert set(schemas["CreateUser"]["properties"]) == {"email", "plan", "credits", "prepaid",
                                                        "verified"}
    assert schemas["CreateUser"]["required"] == ["email"]
    assert set(schemas["SetPlan"]["required"]) == {"plan", "credits"}
    assert schemas["AddCredits"]["properties"]["credits"]["minimum"] == 1
    assert "key" not in schemas["ApiKeyRecord"]["properties"]


def test_the_openapi_document_declares_the_admin_token_scheme(admin: httpx.Client) -> None:
    schemes = admin.get("/api/openapi").json()["components"]["securitySchemes"]
    assert schemes["AdminToken"]["type"] == "http"
    assert schemes["AdminToken"]["scheme"] == "bearer"
    assert {"ApiKey", "UserToken"} <= set(schemes)


# --- the credit maximum ----------------------------------------------------------


def out_of_range(amount: int, minimum: int = 1) -> dict[str, Any]:
    return error(f"Credit amount must be between {minimum} and {MAX_CREDITS}, got: {amount}",
                 400)


BALANCE_FULL = error(f"The balance would exceed the maximum of {MAX_CREDITS} credits.", 400)


def test_adding_2_to_the_62_twice_is_400_and_the_user_stays_readable(
        admin: httpx.Client) -> None:
    user = created_user(admin, prepaid=5)
    for _ in range(2):
        reply = admin.post(f"/admin/users/{user['id']}/credits", json={"credits": 2**62})
        assert (reply.status_code, reply.json()) == (400, out_of_range(2**62))
    assert admin.get(f"/admin/users/{user['id']}").json() == user
    listed = admin.get("/admin/users")
    assert listed.status_code == 200 and user in listed.json()
    reply = admin.post(f"/admin/users/{user['id']}/credits", json={"credits": 2**64})
    assert (reply.status_code, reply.json()) == (400, out_of_range(2**64))


def test_the_balance_stops_at_the_maximum(admin: httpx.Client) -> None:
    user = created_user(admin, prepaid=MAX_CREDITS - 1)
    path = f"/admin/users/{user['id']}/credits"
    reply = admin.post(path, json={"credits": 1})
    assert (reply.status_code, reply.json()) == (200, {**user, "prepaid_credits": MAX_CREDITS})
    for credits in (1, MAX_CREDITS):
        reply = admin.post(path, json={"credits": credits})
        assert (reply.status_code, reply.json()) == (400, BALANCE_FULL)
    assert admin.get(f"/admin/users/{user['id']}").json()["prepaid_credits"] == MAX_CREDITS


def test_credit_counts_over_the_maximum_are_400(admin: httpx.Client) -> None:
    for fields, amount in (({"credits": MAX_CREDITS + 1}, MAX_CREDITS + 1),
                           ({"prepaid": 2**63}, 2**63)):
        reply = admin.post("/admin/users", json={"email": new_email(), **fields})
        assert (reply.status_code, reply.json()) == (400, out_of_range(amount, 0))
    user = created_user(admin, credits=MAX_CREDITS, prepaid=MAX_CREDITS)  # the maximum itself
    reply = admin.put(f"/admin/users/{user['id']}/plan",
                      json={"plan": "Pro", "credits": MAX_CREDITS + 1})
    assert (reply.status_code, reply.json()) == (400, out_of_range(MAX_CREDITS + 1, 0))
    assert admin.get(f"/admin/users/{user['id']}").json() == user


def test_the_schema_names_the_maximum(admin: httpx.Client) -> None:
    schemas = admin.get("/api/openapi").json()["components"]["schemas"]
    for schema, field in (("AddCredits", "credits"), ("SetPlan", "credits"),
                          ("CreateUser", "prepaid")):
        assert schemas[schema]["properties"][field]["maximum"] == MAX_CREDITS


@pytest.mark.parametrize("user_id", [str(2**63), str(2**64), "9" * 40])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/admin/users/{id}", None),
    ("POST", "/admin/users/{id}/verify", None),
    ("PUT", "/admin/users/{id}/plan", {"plan": "Pro", "credits": 1}),
    ("POST", "/admin/users/{id}/credits", {"credits": 1}),
    ("POST", "/admin/users/{id}/keys", None),
    ("GET", "/admin/users/{id}/keys", None),
])
def test_a_path_id_past_64_bits_is_404(admin: httpx.Client, method: str, path: str,
                                       body: dict[str, Any] | None, user_id: str) -> None:
    reply = admin.request(method, path.format(id=user_id), json=body)
    assert (reply.status_code, reply.json()) == (404, error(f"No user with id '{user_id}'.",
                                                            404))


@pytest.mark.parametrize(("method", "path", "message"), [
    ("GET", "/admin/users/{id}", "No user with id '{start}...'."),
    ("POST", "/admin/users/{id}/credits", "No user with id '{start}...'."),
    ("GET", "/admin/users/{id}/keys", "No user with id '{start}...'."),
    ("DELETE", "/admin/keys/{id}", "No active API key with the prefix '{start}...'."),
])
def test_an_absurdly_long_path_id_is_404_and_not_echoed(admin: httpx.Client, method: str,
                                                        path: str, message: str) -> None:
    long_id = "9" * 5000
    reply = admin.request(method, path.format(id=long_id),
                          json={"credits": 1} if method == "POST" else None)
    assert (reply.status_code, reply.json()) == (
        404, error(message.format(start=long_id[:20]), 404))


def test_a_balance_an_older_version_corrupted_still_reads(server_with: ServerWith,
                                                          tmp_path: Path) -> None:
    database = tmp_path / "legacy.db"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with server_with(store_url=f"sqlite:///{database}", admin_token=TOKEN) as base, \
            httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        user = http.post("/admin/users", json={"email": "old@example.com", "prepaid": 5,
                                               "verified": True}).json()
        key = http.post(f"/admin/users/{user['id']}/keys").json()["key"]
        # What adding 2**62 twice left: SQLite keeps an INTEGER overflow as a REAL.
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE users SET prepaid_credits = prepaid_credits + ? + ? "
                         "WHERE id = ?", (2**62, 2**62, int(user["id"])))
        shown = {**user, "prepaid_credits": 2**63 - 1}  # the nearest 64-bit integer
        assert http.get("/admin/users").json() == [shown]
        assert http.get(f"/admin/users/{user['id']}").json() == shown
        reply = http.post(f"/admin/users/{user['id']}/credits", json={"credits": 1})
        assert (reply.status_code, reply.json()) == (400, BALANCE_FULL)
        usage = httpx.get(f"{base}/api/membership-usage", headers={"x-api-key": key})
        assert usage.status_code == 200, usage.text
        assert usage.json()["prepaidCredits"] == 2**63 - 1
