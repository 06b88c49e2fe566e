"""Sign-up, e-mail verification, log-in and password reset for the web app.

Passwords get a slow, salted hash (Argon2id, argon2-cffi's RFC 9106 profile).
Verification and reset links are signed, expiring tokens with their own salts, so
neither is ever valid as a session (user) token, nor as the other. A reset link
carries a fingerprint of the password hash it was issued against: once the
password changes, every earlier link is dead (single use); a verification link
too, so it confirms only the password chosen at the sign-up that mailed it. A
sign-up again with an address not verified yet takes the new password and
revokes the account's keys (nobody but the mailbox owner keeps a foothold in an
account that is not theirs yet); sessions end with the old password hash
(service/tokens.py). What this module does
not reveal: whether an address has an account (sign-up and reset answer the same
either way; the mailbox owner learns it by mail) and which half of a log-in was
wrong.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from alphacut.domain.accounts import User, normalize_email
from alphacut.domain.clock import Clock
from alphacut.errors import (
    DuplicateEmail,
    InvalidCredentials,
    InvalidEmail,
    InvalidLink,
    MailUnavailable,
    TooManyAttempts,
    WeakPassword,
)
from alphacut.service.mail import Mail, Mailer
from alphacut.service.tokens import PasswordFingerprint
from alphacut.storage.base import Store

log = logging.getLogger("alphacut.identity")

MAX_PASSWORD_CHARS = 1024  # beyond any real password; bounds the hashing work per request
MAIL_WINDOW_S = 3600
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
VERIFY_SALT = "alphacut-verify-email"
RESET_SALT = "alphacut-password-reset"


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityPolicy:
    password_min_length: int = 10
    verify_ttl_s: int = 2 * 86400
    reset_ttl_s: int = 3600
    login_limit: int = 10
    login_window_s: int = 900
    mail_limit: int = 5
    default_plan: str = "Free"
    default_credits: int = 50


def _serializer(secret: str, salt: str, clock: Clock) -> URLSafeTimedSerializer:
    """Timestamps from our clock (not time.time()), so expiry follows the clock tests set."""
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now())
    return URLSafeTimedSerializer(secret, salt=salt, signer=ClockSigner)


class IdentityService:
    def __init__(self, store: Store, clock: Clock, secret: str, policy: IdentityPolicy,
                 mailer: Mailer, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.mailer = mailer
        self.hasher = hasher or PasswordHasher()
        self._verify = _serializer(secret, VERIFY_SALT, clock)
        self._reset = _serializer(secret, RESET_SALT, clock)
        self._fingerprint = PasswordFingerprint(secret)
        self._dummy_hash: str | None = None

    # --- sign-up and verification -------------------------------------------------------

    def signup(self, email: str, password: str, client: str, base_url: str | None) -> None:
        """Create an unverified user and mail the link. The same answer when the address
        is taken: its owner gets a mail instead (the link again, or "you have an account").

        Taken but not verified yet: the new password replaces the old one and the account's
        keys are revoked, so whoever signed up first with someone else's address loses the
        password, sessions and keys they had; only the mailbox owner can verify. ``base_url``
        None (no safe base for links): the account is made, no mail is sent (logged)."""
        address = self._checked_email(email)
        self._check_password(password)
        self._limit_requests(client)
        password_hash = self.hasher.hash(password)
        try:
            user = self.store.create_user(
                address, plan=self.policy.default_plan,
                included_credits=self.policy.default_credits, now=int(self.clock.now()),
                password_hash=password_hash)
        except DuplicateEmail:
            existing = self.store.get_user_by_email(address)
            if existing is not None and not existing.email_verified:
                self._take_over_unverified(existing, password_hash)
                self._send_verification(self._user(existing.id), base_url, again=True)
            elif existing is not None and base_url is not None:
                self._send(Mail(existing.email, "You already have an alphacut account",
                                _ALREADY.format(login=f"{base_url}/login",
                                                reset=f"{base_url}/reset")))
            elif existing is not None:
                _no_link_base()
            return
        self._send_verification(user, base_url)

    def _take_over_unverified(self, user: User, password_hash: str) -> None:
        """A new sign-up of an address nobody has verified: the new password wins (ending
        every session: they carry the old hash's fingerprint), and no key survives."""
        self.store.set_password_hash(user.id, password_hash)
        now = int(self.clock.now())
        revoked = [key.prefix for key in self.store.list_keys(user.id)
                   if key.active and self.store.revoke_key(key.prefix, now)]
        log.info("sign-up again for an unverified account: password replaced, %d key(s) "
                 "revoked", len(revoked))

    def resend_verification(self, user_id: str, client: str, base_url: str | None) -> None:
        user = self.store.get_user(user_id)
        if user is None or user.email_verified:
            return
        self._limit_requests(client)
        self._send_verification(user, base_url)

    def verify(self, token: str) -> User:
        payload = self._load(self._verify, token, self.policy.verify_ttl_s)
        user = self._owner(payload)
        if user is None or user.email != payload.get("email"):
            raise InvalidLink()
        if not user.email_verified and payload.get("pw") != self._fingerprint(
                user.password_hash, user.id):
            raise InvalidLink()  # the password changed since (a later sign-up): not this link
        if not user.email_verified:
            self.store.set_verified(user.id)
        return self._user(user.id)

    def verification_link(self, user: User, base_url: str) -> str:
        token = self._verify.dumps({"uid": user.id, "email": user.email,
                                    "pw": self._fingerprint(user.password_hash, user.id)})
        return f"{base_url}/verify?token={token}"

    # --- log-in ---------------------------------------------------------------------------

    def login(self, email: str, password: str, client: str) -> User:
        """The user, or InvalidCredentials whichever half was wrong; rate-limited per
        client address and per e-mail address (TooManyAttempts). Unverified users may
        log in: their images answer the contract's 403 until they verify."""
        address = normalize_email(email)
        now = self.clock.now()
        for bucket in (f"login:addr:{client}", f"login:email:{address}"):
            decision = self.store.hit(bucket, self.policy.login_limit,
                                      self.policy.login_window_s, now)
            if not decision.allowed:
                raise TooManyAttempts(decision.retry_after(now))
        user = self.store.get_user_by_email(address) if _EMAIL.fullmatch(address) else None
        if user is None or user.password_hash is None:
            self._verify_password(self._dummy(), password)  # the same work: no timing hint
            raise InvalidCredentials()
        if not self._verify_password(user.password_hash, password):
            raise InvalidCredentials()
        if self.hasher.check_needs_rehash(user.password_hash):
            # A new hash ends the user's other sessions; the caller issues the new one
            # against the hash returned here.
            self.store.set_password_hash(user.id, self.hasher.hash(password))
            return self._user(user.id)
        return user

    # --- password reset -------------------------------------------------------------------

    def request_reset(self, email: str, client: str, base_url: str | None) -> None:
        """Mail a reset link when the address has an account; the same answer when not."""
        self.send_reset(self.check_reset_request(email, client), base_url)

    def check_reset_request(self, email: str, client: str) -> str:
        """The half of a reset request that may answer an error (a bad address, too many
        requests), the same for every address: the normalised address."""
        address = self._checked_email(email)
        self._limit_requests(client)
        return address

    def send_reset(self, address: str, base_url: str | None) -> None:
        """The half that depends on whether the address has an account: it never raises
        (a mail failure is logged, not shown), so the answer cannot tell. The pages run it
        after answering, so its duration cannot tell either."""
        user = self.store.get_user_by_email(address)
        if user is None:
            log.info("password reset asked for an address without an account")
            return
        if base_url is None:
            _no_link_base()
            return
        try:
            self._send(Mail(user.email, "Reset your alphacut password",
                            _RESET.format(link=self.reset_link(user, base_url),
                                          minutes=self.policy.reset_ttl_s // 60)))
        except MailUnavailable:
            log.error("password reset mail could not be sent (the requester is not told)")

    def reset_link(self, user: User, base_url: str) -> str:
        token = self._reset.dumps({"uid": user.id,
                                   "pw": self._fingerprint(user.password_hash, user.id)})
        return f"{base_url}/reset/confirm?token={token}"

    def check_reset(self, token: str) -> User:
        """The user a reset link is for, while it is valid and unused."""
        payload = self._load(self._reset, token, self.policy.reset_ttl_s)
        user = self._owner(payload)
        if user is None or payload.get("pw") != self._fingerprint(user.password_hash, user.id):
            raise InvalidLink()
        return user

    def reset_password(self, token: str, password: str) -> User:
        """Set a new password; the link proves the mailbox, so the address is verified too."""
        user = self.check_reset(token)
        self._check_password(password)
        self.store.set_password_hash(user.id, self.hasher.hash(password))
        if not user.email_verified:
            self.store.set_verified(user.id)
        return self._user(user.id)

    # --- helpers ----------------------------------------------------------------------------

    def _checked_email(self, email: str) -> str:
        address = normalize_email(email)
        if len(address) > 254 or not _EMAIL.fullmatch(address):
            raise InvalidEmail()
        return address

    def _check_password(self, password: str) -> None:
        if len(password) < self.policy.password_min_length or len(password) > MAX_PASSWORD_CHARS:
            raise WeakPassword(self.policy.password_min_length)

    def _limit_requests(self, client: str) -> None:
        """Requests that send mail, per client address (the visible limit)."""
        now = self.clock.now()
        decision = self.store.hit(f"mail:addr:{client}", self.policy.mail_limit,
                                  MAIL_WINDOW_S, now)
        if not decision.allowed:
            raise TooManyAttempts(decision.retry_after(now))

    def _send(self, mail: Mail) -> None:
        """At most ``mail_limit`` mails an hour to one address, silently (no hint either way)."""
        decision = self.store.hit(f"mail:to:{mail.to}", self.policy.mail_limit, MAIL_WINDOW_S,
                                  self.clock.now())
        if not decision.allowed:
            log.info("mail to one address over its hourly limit; not sent")
            return
        self.mailer.send(mail)

    def _send_verification(self, user: User, base_url: str | None, again: bool = False) -> None:
        if base_url is None:
            _no_link_base()
            return
        hours = self.policy.verify_ttl_s // 3600
        self._send(Mail(user.email, "Confirm your e-mail address for alphacut",
                        _VERIFY.format(link=self.verification_link(user, base_url),
                                       hours=hours, again=_AGAIN if again else "")))

    def _verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password[:MAX_PASSWORD_CHARS])
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not-a-password-of-anyone")
        return self._dummy_hash

    def _load(self, serializer: URLSafeTimedSerializer, token: str, ttl_s: int) -> dict[str, Any]:
        try:
            payload = serializer.loads(token, max_age=ttl_s)
        except BadSignature as exc:  # SignatureExpired is a BadSignature
            raise InvalidLink() from exc
        if not isinstance(payload, dict):
            raise InvalidLink()
        return payload

    def _owner(self, payload: dict[str, Any]) -> User | None:
        uid = payload.get("uid")
        return self.store.get_user(uid) if isinstance(uid, str) else None

    def _user(self, user_id: str) -> User:
        user = self.store.get_user(user_id)
        if user is None:
            raise InvalidLink()
        return user


def _no_link_base() -> None:
    log.error("MAIL NOT SENT: ALPHACUT_PUBLIC_URL is unset and the request's Host is not a "
              "loopback address or the server's own host, so no safe link can be built; set "
              "ALPHACUT_PUBLIC_URL")


_VERIFY = """Hello,

please confirm your e-mail address for alphacut by opening this link:

{link}
{again}
The link works for {hours} hours. If you did not sign up, ignore this message.
"""

_AGAIN = """
Someone signed up again with this address before it was confirmed: the
password chosen at that latest sign-up is the account's password now, and
links in earlier messages no longer work. If that was not you, do not open
the link.
"""

_ALREADY = """Hello,

someone (probably you) tried to sign up for alphacut with this address, which
already has an account. Log in at {login}
or, if you forgot your password, reset it at {reset}

If it was not you, ignore this message.
"""

_RESET = """Hello,

to choose a new password for your alphacut account, open this link:

{link}

The link works for {minutes} minutes and only once. If you did not ask for it,
ignore this message: your password stays as it is.
"""
