"""service/identity.py on a real SQLite store with a fixed clock and a recording mailer."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer

from alphacut.domain.clock import FixedClock
from alphacut.errors import (
    InvalidApiKey,
    InvalidCredentials,
    InvalidEmail,
    InvalidLink,
    InvalidUserToken,
    KeysNeedVerifiedEmail,
    MailUnavailable,
    TooManyAttempts,
    WeakPassword,
)
from alphacut.service.accounts import AccountService
from alphacut.service.identity import (
    RESET_SALT,
    VERIFY_SALT,
    IdentityPolicy,
    IdentityService,
)
from alphacut.service.keys import key_hash
from alphacut.service.mail import Mail
from alphacut.service.tokens import TokenSigner
from alphacut.storage.sqlite import SqliteStore
from tests.conftest import resolve, resolver

SECRET = "test-secret"
BASE = "https://cut.example"
NOW = 1_774_000_000
PASSWORD = "a long enough password"
CHEAP = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


class Outbox:
    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)

    def link(self, path: str) -> str:
        found = re.search(rf"{re.escape(BASE + path)}\?token=(\S+)", self.sent[-1].body)
        assert found, self.sent[-1].body
        return found.group(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def identity(store: SqliteStore, clock: FixedClock, outbox: Outbox) -> IdentityService:
    policy = IdentityPolicy(login_limit=3, login_window_s=900, mail_limit=3)
    return IdentityService(store, clock, SECRET, policy, outbox, CHEAP)


def signed_up(identity: IdentityService, outbox: Outbox, email: str = "ann@example.com") -> str:
    identity.signup(email, PASSWORD, "10.0.0.1", BASE)
    return outbox.link("/verify")


def test_signup_stores_an_argon2_hash_and_mails_a_link(identity: IdentityService,
                                                       outbox: Outbox,
                                                       store: SqliteStore) -> None:
    token = signed_up(identity, outbox, " Ann@Example.com ")
    user = store.get_user_by_email("ann@example.com")
    assert user is not None and not user.email_verified
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert outbox.sent[-1].to == "ann@example.com"
    assert identity.verify(token).email_verified


@pytest.mark.parametrize(("email", "password", "error"), [
    ("not-an-address", PASSWORD, InvalidEmail),
    ("a@b", PASSWORD, InvalidEmail),
    ("ann@example.com", "short", WeakPassword),
    ("ann@example.com", "x" * 2000, WeakPassword),
])
def test_signup_refuses_bad_input(identity: IdentityService, store: SqliteStore, email: str,
                                  password: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        identity.signup(email, password, "10.0.0.1", BASE)
    assert store.list_users() == []


def test_weak_password_says_how_long(identity: IdentityService) -> None:
    with pytest.raises(WeakPassword, match="at least 10 characters"):
        identity.signup("ann@example.com", "short", "10.0.0.1", BASE)


def test_signup_with_a_taken_address_answers_the_same_and_mails_the_owner(
        identity: IdentityService, outbox: Outbox, store: SqliteStore) -> None:
    identity.verify(signed_up(identity, outbox))
    identity.signup("ann@example.com", "another password!", "10.0.0.2", BASE)  # no error
    assert outbox.sent[-1].subject == "You already have an alphacut account"
    assert f"{BASE}/reset" in outbox.sent[-1].body
    assert len(store.list_users()) == 1
    identity.login("ann@example.com", PASSWORD, "10.0.0.1")  # the password did not change


def test_signup_again_before_verifying_sends_the_link_again(identity: IdentityService,
                                                            outbox: Outbox) -> None:
    signed_up(identity, outbox)
    token = signed_up(identity, outbox)
    assert identity.verify(token).email_verified


def test_signup_again_before_verifying_takes_the_new_password_and_revokes_keys(
        identity: IdentityService, outbox: Outbox, store: SqliteStore) -> None:
    """The pre-hijack: someone signs up first with the owner's address and their own
    password; the owner's later sign-up must leave them nothing."""
    first_link = signed_up(identity, outbox)  # the squatter's password: PASSWORD
    squatter = store.get_user_by_email("ann@example.com")
    assert squatter is not None
    sessions = TokenSigner(SECRET, 3600)
    session = sessions.issue(squatter.id, squatter.password_hash)
    key = AccountService(store, FixedClock(NOW)).create_key(squatter.id)  # e.g. by an admin
    identity.signup("ann@example.com", "the owner's password", "10.0.0.2", BASE)
    owner_link = outbox.link("/verify")
    assert "signed up again" in outbox.sent[-1].body
    with pytest.raises(InvalidLink):  # issued for the squatter's password
        identity.verify(first_link)
    assert identity.verify(owner_link).email_verified
    identity.login("ann@example.com", "the owner's password", "10.0.0.3")
    with pytest.raises(InvalidCredentials):
        identity.login("ann@example.com", PASSWORD, "10.0.0.4")
    assert not any(k.active for k in store.list_keys(squatter.id))
    assert store.find_key_by_hash(key_hash(key.key)) is not None
    auth = resolver(store, sessions)
    assert auth.token_user(session) is None
    with pytest.raises(InvalidApiKey):
        resolve(auth, key.key, None, "10.0.0.1", NOW)
    with pytest.raises(InvalidUserToken, match="invalid user token"):
        resolve(auth, None, session, "10.0.0.1", NOW)


def test_keys_wait_for_a_verified_address(identity: IdentityService, outbox: Outbox,
                                          store: SqliteStore) -> None:
    token = signed_up(identity, outbox)
    user = store.get_user_by_email("ann@example.com")
    assert user is not None
    accounts = AccountService(store, FixedClock(NOW))
    with pytest.raises(KeysNeedVerifiedEmail, match="confirm your e-mail address"):
        accounts.create_key(user.id, require_verified=True)
    assert store.list_keys(user.id) == []
    identity.verify(token)
    assert accounts.create_key(user.id, require_verified=True).key.startswith("ac_")


def test_sessions_end_when_the_password_is_reset(identity: IdentityService, outbox: Outbox,
                                                 store: SqliteStore) -> None:
    identity.verify(signed_up(identity, outbox))
    user = identity.login("ann@example.com", PASSWORD, "10.0.0.1")
    sessions = TokenSigner(SECRET, 3600)
    auth = resolver(store, sessions)
    token = sessions.issue(user.id, user.password_hash)
    assert resolve(auth, None, token, "10.0.0.1", NOW).user_id == user.id
    identity.request_reset("ann@example.com", "10.0.0.1", BASE)
    identity.reset_password(outbox.link("/reset/confirm"), "a brand new password")
    with pytest.raises(InvalidUserToken, match=r"^invalid user token$"):
        resolve(auth, None, token, "10.0.0.1", NOW)
    fresh = identity.login("ann@example.com", "a brand new password", "10.0.0.1")
    assert auth.token_user(sessions.issue(fresh.id, fresh.password_hash)) is not None


def test_tokens_of_users_without_a_password_keep_working(store: SqliteStore) -> None:
    user = AccountService(store, FixedClock(NOW)).create_user("cli@example.com", "Free", 10,
                                                              verified=True)
    sessions = TokenSigner(SECRET, 3600)
    token = sessions.issue(user.id)
    assert resolve(resolver(store, sessions), None, token, "::1", NOW).user_id == user.id
    store.set_password_hash(user.id, CHEAP.hash(PASSWORD))  # now it has one: token ends
    assert resolver(store, sessions).token_user(token) is None


def test_tokens_and_links_do_not_show_the_password_hash(identity: IdentityService,
                                                         outbox: Outbox,
                                                         store: SqliteStore) -> None:
    verify = signed_up(identity, outbox)
    user = store.get_user_by_email("ann@example.com")
    assert user is not None and user.password_hash is not None
    token = TokenSigner(SECRET, 3600).issue(user.id, user.password_hash)
    identity.request_reset("ann@example.com", "10.0.0.1", BASE)
    unkeyed = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    for readable, salt in ((token, "alphacut-user-token"), (verify, VERIFY_SALT),
                           (outbox.link("/reset/confirm"), RESET_SALT)):
        # Tokens and mailed links carry a keyed digest: its hash cannot be tested offline.
        payload = URLSafeTimedSerializer(SECRET, salt=salt).loads(readable)
        assert user.password_hash not in readable and user.password_hash not in str(payload)
        assert payload["pw"] == TokenSigner(SECRET, 3600).fingerprint(user.password_hash)
        assert payload["pw"] != unkeyed


def test_a_rehash_at_login_returns_the_current_hash(store: SqliteStore, clock: FixedClock,
                                                    outbox: Outbox) -> None:
    weak = IdentityService(store, clock, SECRET, IdentityPolicy(), outbox, CHEAP)
    weak.signup("ann@example.com", PASSWORD, "10.0.0.1", BASE)
    stronger = PasswordHasher(time_cost=2, memory_cost=64, parallelism=1)
    identity = IdentityService(store, clock, SECRET, IdentityPolicy(), outbox, stronger)
    user = identity.login("ann@example.com", PASSWORD, "10.0.0.1")
    stored = store.get_user(user.id)
    assert stored is not None and user.password_hash == stored.password_hash
    assert not stronger.check_needs_rehash(user.password_hash or "")


def test_verification_links_expire(identity: IdentityService, outbox: Outbox,
                                   clock: FixedClock) -> None:
    token = signed_up(identity, outbox)
    clock.advance(2 * 86400 + 1)
    with pytest.raises(InvalidLink):
        identity.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_a_forged_link_is_invalid(identity: IdentityService, token: str) -> None:
    with pytest.raises(InvalidLink):
        identity.verify(token)
    with pytest.raises(InvalidLink):
        identity.check_reset(token)


def test_links_are_never_session_tokens_and_vice_versa(identity: IdentityService,
                                                        outbox: Outbox,
                                                        store: SqliteStore) -> None:
    verify_token = signed_up(identity, outbox)
    user = store.get_user_by_email("ann@example.com")
    assert user is not None
    sessions = TokenSigner(SECRET, 3600)
    assert sessions.claims(verify_token) is None
    identity.request_reset("ann@example.com", "10.0.0.1", BASE)
    reset_token = outbox.link("/reset/confirm")
    assert sessions.claims(reset_token) is None
    with pytest.raises(InvalidLink):
        identity.verify(reset_token)
    with pytest.raises(InvalidLink):
        identity.check_reset(verify_token)
    with pytest.raises(InvalidLink):
        identity.verify(sessions.issue(user.id))


def test_login_failures_look_the_same(identity: IdentityService, outbox: Outbox) -> None:
    signed_up(identity, outbox)
    with pytest.raises(InvalidCredentials) as wrong_password:
        identity.login("ann@example.com", "wrong password!", "10.0.0.1")
    with pytest.raises(InvalidCredentials) as unknown:
        identity.login("bob@example.com", PASSWORD, "10.0.0.2")
    assert wrong_password.value.message == unknown.value.message == \
        "Wrong e-mail address or password."
    assert wrong_password.value.status == unknown.value.status == 401


def test_an_unverified_user_may_log_in(identity: IdentityService, outbox: Outbox) -> None:
    signed_up(identity, outbox)
    assert not identity.login("ANN@example.com", PASSWORD, "10.0.0.1").email_verified


def test_login_is_rate_limited_per_address_and_per_email(identity: IdentityService,
                                                         outbox: Outbox,
                                                         clock: FixedClock) -> None:
    signed_up(identity, outbox)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            identity.login("ann@example.com", "wrong password!", "10.0.0.1")
    with pytest.raises(TooManyAttempts) as refused:  # even the right password, for now
        identity.login("ann@example.com", PASSWORD, "10.0.0.1")
    assert 1 <= refused.value.retry_after <= 900
    with pytest.raises(TooManyAttempts):  # another address, the same account
        identity.login("ann@example.com", PASSWORD, "10.0.0.9")
    clock.advance(900)
    assert identity.login("ann@example.com", PASSWORD, "10.0.0.1").email == "ann@example.com"


def test_reset_sets_a_new_password_once(identity: IdentityService, outbox: Outbox) -> None:
    signed_up(identity, outbox)  # not verified: the reset link proves the mailbox
    identity.request_reset("ann@example.com", "10.0.0.1", BASE)
    token = outbox.link("/reset/confirm")
    assert identity.check_reset(token).email == "ann@example.com"
    with pytest.raises(WeakPassword):
        identity.reset_password(token, "short")
    user = identity.reset_password(token, "a brand new password")
    assert user.email_verified
    identity.login("ann@example.com", "a brand new password", "10.0.0.1")
    with pytest.raises(InvalidCredentials):
        identity.login("ann@example.com", PASSWORD, "10.0.0.1")
    with pytest.raises(InvalidLink):  # used: the password it was issued for is gone
        identity.reset_password(token, "yet another password")


def test_reset_links_expire(identity: IdentityService, outbox: Outbox,
                            clock: FixedClock) -> None:
    signed_up(identity, outbox)
    identity.request_reset("ann@example.com", "10.0.0.1", BASE)
    token = outbox.link("/reset/confirm")
    clock.advance(3601)
    with pytest.raises(InvalidLink):
        identity.reset_password(token, "a brand new password")


def test_reset_for_an_unknown_address_sends_nothing(identity: IdentityService,
                                                    outbox: Outbox) -> None:
    identity.request_reset("nobody@example.com", "10.0.0.1", BASE)
    assert outbox.sent == []


class BrokenMailer:
    def send(self, mail: Mail) -> None:
        raise MailUnavailable()


def test_a_reset_never_shows_a_mail_failure(store: SqliteStore, clock: FixedClock,
                                            outbox: Outbox,
                                            caplog: pytest.LogCaptureFixture) -> None:
    IdentityService(store, clock, SECRET, IdentityPolicy(), outbox, CHEAP).signup(
        "ann@example.com", PASSWORD, "10.0.0.1", BASE)
    broken = IdentityService(store, clock, SECRET, IdentityPolicy(), BrokenMailer(), CHEAP)
    with caplog.at_level(logging.ERROR, logger="alphacut.identity"):
        broken.request_reset("ann@example.com", "10.0.0.1", BASE)  # no MailUnavailable
        broken.request_reset("nobody@example.com", "10.0.0.1", BASE)
    assert "could not be sent" in caplog.text


def test_no_safe_base_url_no_mail(identity: IdentityService, outbox: Outbox, store: SqliteStore,
                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="alphacut.identity"):
        identity.signup("ann@example.com", PASSWORD, "10.0.0.1", None)
        identity.request_reset("ann@example.com", "10.0.0.1", None)
    assert store.get_user_by_email("ann@example.com") is not None
    assert outbox.sent == []
    assert "MAIL NOT SENT: ALPHACUT_PUBLIC_URL is unset" in caplog.text


def test_mail_requests_are_limited_per_client_address(identity: IdentityService,
                                                      outbox: Outbox) -> None:
    for n in range(3):
        identity.request_reset(f"x{n}@example.com", "10.0.0.1", BASE)
    with pytest.raises(TooManyAttempts):
        identity.request_reset("x9@example.com", "10.0.0.1", BASE)


def test_mail_to_one_address_is_capped_silently(identity: IdentityService,
                                                outbox: Outbox) -> None:
    signed_up(identity, outbox)
    for n in range(5):
        identity.request_reset("ann@example.com", f"10.0.1.{n}", BASE)
    assert len(outbox.sent) == 3  # the verification mail + 2 resets; the rest dropped
