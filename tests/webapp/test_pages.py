"""The pages over real HTTP: headers, CSRF, cookies, the login limit, and the editor's
cookie session on POST /rmbg (counted as app usage; unverified is the contract's 403)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from argon2 import PasswordHasher

from alphacut import Engine, bootstrap
from alphacut.server import create_app
from alphacut.service.accounts import AccountService
from alphacut.settings import Settings
from tests.conftest import fixture_bytes
from tests.web.conftest import Served, free_port
from tests.webapp.conftest import (
    PASSWORD,
    Sink,
    csrf_of,
    log_in,
    post_form,
    sign_up_and_verify,
)

Start = Callable[..., AbstractContextManager[Served]]
PAGES = ["/", "/signup", "/login", "/reset", "/verify?token=x", "/reset/confirm?token=x",
         "/app/static/app.css", "/app/static/editor.js"]


@pytest.fixture(scope="module")
def site(served: Callable[..., AbstractContextManager[Served]],
         smtp_sink: Sink) -> Iterator[Served]:
    """One server for the read-only checks of this module."""
    with served(smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_tls="none",
                mail_rate_limit=1000, login_rate_limit=1000) as running:
        yield running


@pytest.fixture
def http(site: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base, timeout=60) as client:
        yield client


def rmbg(http: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post("/rmbg", files={"image": ("cat.jpg", fixture_bytes("chelsea"))},
                     data={"format": "png", "w": "64"}, headers=headers or {})


def editor_headers(http: httpx.Client) -> dict[str, str]:
    """What the editor's script sends: the page's CSRF token (its cookie rides along)."""
    return {"X-CSRF-Token": csrf_of_meta(http.get("/").text)}


def csrf_of_meta(html: str) -> str:
    return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_page(http: httpx.Client, path: str) -> None:
    reply = http.get(path)
    assert reply.status_code in (200, 400)
    csp = reply.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "same-origin"
    assert reply.headers["x-content-type-options"] == "nosniff"


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_the_inline_script_check_catches_inline_scripts() -> None:
    assert INLINE_SCRIPT.search('<script>alert(1)</script>')
    assert INLINE_SCRIPT.search('<SCRIPT type="module">x()</SCRIPT>')
    assert not INLINE_SCRIPT.search('<script src="/app/static/editor.js" defer></script>')
    assert INLINE_HANDLER.search('<button onclick="x()">')


def test_pages_have_no_inline_script(http: httpx.Client, smtp_sink: Sink) -> None:
    pages = {path: http.get(path).text for path in ["/", "/signup", "/login", "/reset"]}
    sign_up_and_verify(http, smtp_sink, "inline@example.com")
    log_in(http, "inline@example.com")
    pages["/account"] = http.get("/account").text
    assert "Your account" in pages["/account"]
    pages["/account (new key)"] = post_form(http, "/account/keys", {}, page="/account").text
    for path, html in pages.items():
        assert not INLINE_SCRIPT.search(html), path
        assert not INLINE_HANDLER.search(html), path
        assert "style=" not in html and "<style" not in html, path


def test_the_reference_keeps_its_inline_starter_without_csp(http: httpx.Client) -> None:
    reply = http.get("/docs")
    assert "content-security-policy" not in reply.headers
    assert reply.headers["x-frame-options"] == "DENY"


def test_pages_are_not_in_the_openapi_document(http: httpx.Client) -> None:
    paths = http.get("/api/openapi").json()["paths"]
    assert not {"/", "/signup", "/login", "/account"} & set(paths)


FORM_POSTS = {
    "/login": {"email": "a@example.com", "password": PASSWORD},
    "/logout": {},
    "/signup": {"email": "csrf-new@example.com", "password": PASSWORD},
    "/verify/resend": {},
    "/reset": {"email": "csrf@example.com"},
    "/reset/confirm": {"token": "x", "password": "a brand new password"},
    "/account/keys": {},
    "/account/keys/revoke": {"prefix": "ac_AAAAAAAA"},
}


@pytest.fixture(scope="module")
def logged_in(site: Served, smtp_sink: Sink) -> Iterator[httpx.Client]:
    """A verified user's browser, logged in (its session and nonce cookies in the jar)."""
    with httpx.Client(base_url=site.base, timeout=60) as client:
        sign_up_and_verify(client, smtp_sink, "csrf@example.com")
        assert log_in(client, "csrf@example.com").status_code == 303
        yield client


@pytest.mark.parametrize("path", sorted(FORM_POSTS))
def test_a_form_without_its_csrf_token_is_refused(logged_in: httpx.Client, site: Served,
                                                  smtp_sink: Sink, path: str) -> None:
    """Every form post, from a logged-in browser that has its nonce cookie: no token, 403,
    and nothing happened (no key, no user, no mail)."""
    user = site.accounts.store.get_user_by_email("csrf@example.com")
    assert user is not None
    keys_before = site.accounts.store.list_keys(user.id)
    mail_before = len(smtp_sink.to("csrf@example.com") + smtp_sink.to("csrf-new@example.com"))
    reply = logged_in.post(path, data=FORM_POSTS[path])
    assert reply.status_code == 403 and "reload the page" in reply.text
    wrong = logged_in.post(path, data=FORM_POSTS[path] | {"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert site.accounts.store.list_keys(user.id) == keys_before
    assert site.accounts.store.get_user_by_email("csrf-new@example.com") is None
    assert logged_in.get("/account").status_code == 200  # still logged in
    if path in ("/signup", "/verify/resend", "/reset"):
        time.sleep(0.5)  # a mail would be sent after the answer, from a background task
    assert len(smtp_sink.to("csrf@example.com") + smtp_sink.to("csrf-new@example.com")) == \
        mail_before


def test_a_csrf_token_from_another_browser_is_refused(http: httpx.Client, site: Served) -> None:
    with httpx.Client(base_url=site.base) as other:
        stolen = csrf_of(other.get("/login").text)
    http.get("/login")
    reply = http.post("/login", data={"email": "a@example.com", "password": PASSWORD,
                                      "csrf_token": stolen})
    assert reply.status_code == 403


def test_a_form_from_a_browser_without_cookies_is_refused(site: Served) -> None:
    with httpx.Client(base_url=site.base) as first:
        token = csrf_of(first.get("/login").text)
    reply = httpx.post(f"{site.base}/login", data={"email": "a@example.com",
                                                   "password": PASSWORD, "csrf_token": token})
    assert reply.status_code == 403


def test_signup_rejects_a_short_password_in_plain_words(http: httpx.Client) -> None:
    reply = post_form(http, "/signup", {"email": "short@example.com", "password": "short"})
    assert reply.status_code == 400
    assert "at least 10 characters" in reply.text


def test_login_failures_read_the_same(http: httpx.Client, site: Served,
                                      smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "same@example.com")
    wrong_password = log_in(http, "same@example.com", "not the password")
    unknown = log_in(http, "nobody@example.com")
    assert wrong_password.status_code == unknown.status_code == 401
    assert "Wrong e-mail address or password." in wrong_password.text
    assert "Wrong e-mail address or password." in unknown.text


def test_session_cookie_flags(http: httpx.Client, smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "cookie@example.com")
    reply = log_in(http, "cookie@example.com")
    assert reply.status_code == 303 and reply.headers["location"] == "/account"
    cookie = next(c for c in reply.headers.get_list("set-cookie")
                  if c.startswith("alphacut_session="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http on loopback, by ALPHACUT_SESSION_COOKIE_SECURE=auto


def set_cookie(reply: httpx.Response, name: str) -> str:
    return next(c for c in reply.headers.get_list("set-cookie") if c.startswith(f"{name}="))


@pytest.mark.parametrize("changes", [
    {"session_cookie_secure": "always"},
    {"session_cookie_secure": "auto", "public_url": "https://cut.example.com"},
])
def test_secure_cookies_when_asked(webapp_server: Start, changes: dict[str, str]) -> None:
    """Both cookies, the session's too. The client speaks plain http, so it would not send
    Secure cookies back: the log-in form's nonce goes back by hand."""
    with webapp_server(**changes) as site, httpx.Client(base_url=site.base) as http:
        user = site.accounts.create_user("secure@example.com", "Free", 10, verified=True)
        site.accounts.store.set_password_hash(user.id, PasswordHasher().hash(PASSWORD))
        form = http.get("/login")
        nonce = set_cookie(form, "alphacut_csrf")
        assert "secure" in nonce.lower() and "httponly" in nonce.lower()
        nonce_value = nonce.split(";", 1)[0].split("=", 1)[1]
        reply = http.post("/login", data={"email": "secure@example.com", "password": PASSWORD,
                                          "csrf_token": csrf_of(form.text)},
                          headers={"Cookie": f"alphacut_csrf={nonce_value}"})
        assert reply.status_code == 303, reply.text
        flags = [f.strip().lower() for f in set_cookie(reply, "alphacut_session").split(";")]
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(flags)


def test_the_editors_edge_boxes_start_as_the_servers_settings(webapp_server: Start) -> None:
    def checked(page: str, name: str) -> bool:
        tag = re.search(rf'<input id="opt-{name}"[^>]*>', page)
        assert tag is not None, name
        return " checked" in tag.group(0)

    with webapp_server() as site:
        page = httpx.get(f"{site.base}/").text
        assert [checked(page, n) for n in ("refine", "decontaminate", "tta")] == [
            True, True, False]
    with webapp_server(refine=False, tta=True) as site:
        page = httpx.get(f"{site.base}/").text
        assert [checked(page, n) for n in ("refine", "decontaminate", "tta")] == [
            False, True, True]


def test_login_is_rate_limited(webapp_server: Start) -> None:
    with webapp_server(login_rate_limit=3) as site, httpx.Client(base_url=site.base) as http:
        for _ in range(3):
            assert log_in(http, "ann@example.com", "wrong password!").status_code == 401
        refused = log_in(http, "ann@example.com", "wrong password!")
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text
        assert int(refused.headers["retry-after"]) >= 1


def test_logout_ends_the_session(http: httpx.Client, smtp_sink: Sink) -> None:
    """In this browser (the cookie); ending the token everywhere takes a new password."""
    sign_up_and_verify(http, smtp_sink, "bye@example.com")
    log_in(http, "bye@example.com")
    assert http.get("/account").status_code == 200
    reply = post_form(http, "/logout", {}, page="/account")
    assert reply.status_code == 303
    assert http.get("/account").status_code == 303


def test_an_unverified_user_gets_the_contracts_403(http: httpx.Client) -> None:
    post_form(http, "/signup", {"email": "unverified@example.com", "password": PASSWORD})
    assert log_in(http, "unverified@example.com").status_code == 303
    assert "Confirm your e-mail address" in http.get("/account").text
    reply = rmbg(http, editor_headers(http))
    assert reply.status_code == 403
    assert reply.json() == {"error": "Email address not verified – please check your inbox",
                            "status": 403}


def test_the_editor_counts_as_app_usage(http: httpx.Client, site: Served,
                                        smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "editor@example.com")
    log_in(http, "editor@example.com")
    user = site.accounts.store.get_user_by_email("editor@example.com")
    assert user is not None
    key = site.accounts.create_key(user.id).key
    assert rmbg(http, editor_headers(http)).status_code == 200
    usage = httpx.get(f"{site.base}/api/membership-usage", headers={"x-api-key": key}).json()
    assert (usage["app_usage"], usage["api_usage"]) == (1, 0)


def test_a_cookie_without_the_csrf_header_is_anonymous(http: httpx.Client, site: Served,
                                                       smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "nocsrf@example.com")
    log_in(http, "nocsrf@example.com")
    reply = rmbg(http)
    assert reply.status_code == 200 and "x-credits-remaining" not in reply.headers
    forged = rmbg(http, {"X-CSRF-Token": "forged"})
    assert forged.status_code == 403 and "reload the page" in forged.json()["error"]


def test_keys_are_created_shown_once_and_revoked(http: httpx.Client, site: Served,
                                                  smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "keys@example.com")
    log_in(http, "keys@example.com")
    created = post_form(http, "/account/keys", {}, page="/account")
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    key = created.text.split('id="new-key" type="text" readonly value="', 1)[1].split('"')[0]
    assert key.startswith("ac_") and key not in http.get("/account").text
    assert key[:11] in http.get("/account").text
    revoked = post_form(http, "/account/keys/revoke", {"prefix": key[:11]}, page="/account")
    assert revoked.status_code == 303
    assert f"Key {key[:11]} revoked: it no longer works." in \
        http.get(revoked.headers["location"]).text
    assert rmbg(http, {"x-api-key": key}).status_code == 401


def test_no_one_revokes_someone_elses_key(http: httpx.Client, site: Served,
                                          smtp_sink: Sink) -> None:
    other = site.accounts.create_user("other@example.com", "Free", 10, verified=True)
    victim = site.accounts.create_key(other.id)
    sign_up_and_verify(http, smtp_sink, "mallory@example.com")
    log_in(http, "mallory@example.com")
    reply = post_form(http, "/account/keys/revoke", {"prefix": victim.record.prefix},
                      page="/account")
    assert reply.status_code == 404
    assert rmbg(http, {"x-api-key": victim.key}).status_code == 200


def test_keys_wait_for_a_verified_address(http: httpx.Client, site: Served) -> None:
    post_form(http, "/signup", {"email": "early@example.com", "password": PASSWORD})
    assert log_in(http, "early@example.com").status_code == 303
    page = http.get("/account").text
    assert 'id="create-key"' not in page and "Confirm your e-mail address to create" in page
    reply = post_form(http, "/account/keys", {}, page="/account")  # a hand-made post
    assert reply.status_code == 403
    assert "Please confirm your e-mail address before creating API keys" in reply.text
    assert 'id="new-key"' not in reply.text
    user = site.accounts.store.get_user_by_email("early@example.com")
    assert user is not None and site.accounts.store.list_keys(user.id) == []


def test_a_squatter_loses_the_account_when_the_owner_signs_up(
        site: Served, smtp_sink: Sink) -> None:
    """The pre-hijack: sign up with someone else's address, log in before it is verified,
    get a key (here from an admin: the page refuses). The owner's sign-up ends it all."""
    email = "owner@example.com"
    with httpx.Client(base_url=site.base, timeout=60) as squatter, \
            httpx.Client(base_url=site.base, timeout=60) as owner:
        post_form(squatter, "/signup", {"email": email, "password": "the squatter's pw"})
        assert log_in(squatter, email, "the squatter's pw").status_code == 303
        user = site.accounts.store.get_user_by_email(email)
        assert user is not None
        key = site.accounts.create_key(user.id).key
        session = squatter.cookies["alphacut_session"]

        assert post_form(owner, "/signup", {"email": email, "password": PASSWORD}
                         ).status_code == 200
        link = smtp_sink.wait_link(email, "/verify")
        assert "signed up again" in str(smtp_sink.to(email)[-1].get_payload(decode=True))
        assert owner.get(link).status_code == 200
        assert squatter.get("/account").status_code == 303  # the session is gone
        assert log_in(squatter, email, "the squatter's pw").status_code == 401
        assert log_in(owner, email).status_code == 303
        assert owner.get("/account").status_code == 200
    with httpx.Client(base_url=site.base, timeout=60) as anyone:
        assert rmbg(anyone, {"x-api-key": key}).status_code == 401
        bearer = rmbg(anyone, {"authorization": f"Bearer {session}"})
    assert (bearer.status_code, bearer.json()["error"]) == (401, "invalid user token")


def test_a_reset_ends_every_session(http: httpx.Client, site: Served,
                                    smtp_sink: Sink) -> None:
    email = "replay@example.com"
    sign_up_and_verify(http, smtp_sink, email)
    log_in(http, email)
    old_session = http.cookies["alphacut_session"]
    old_nonce = http.cookies["alphacut_csrf"]
    old_csrf = csrf_of_meta(http.get("/").text)
    assert rmbg(http, {"authorization": f"Bearer {old_session}"}).status_code == 200
    with httpx.Client(base_url=site.base, timeout=60) as elsewhere:
        post_form(elsewhere, "/reset", {"email": email})
        link = smtp_sink.wait_link(email, "/reset/confirm")
        form = elsewhere.get(link)
        done = elsewhere.post("/reset/confirm", data={
            "token": link.split("token=", 1)[1], "password": "the new password",
            "csrf_token": csrf_of(form.text)})
        assert done.status_code == 200 and "Password changed" in done.text
    cookies = f"alphacut_session={old_session}; alphacut_csrf={old_nonce}"
    with httpx.Client(base_url=site.base, timeout=60, headers={"Cookie": cookies}) as replay:
        assert replay.get("/account").status_code == 303  # anonymous: to the log-in page
        assert "Signed in as" not in replay.get("/").text
        cookie_call = rmbg(replay, {"X-CSRF-Token": old_csrf})
        assert cookie_call.status_code == 200 and "x-credits-remaining" not in \
            cookie_call.headers  # anonymous
    bearer = rmbg(http, {"authorization": f"Bearer {old_session}"})
    assert (bearer.status_code, bearer.json()) == (
        401, {"error": "invalid user token", "status": 401})


def test_reset_links_never_follow_a_foreign_host(http: httpx.Client, site: Served,
                                                 smtp_sink: Sink) -> None:
    """ALPHACUT_PUBLIC_URL unset: a Host other than loopback gets the same answer, and no
    mail at all (a link to evil.com would hand the reset token to evil.com)."""
    assert site.settings.public_url is None
    email = "hosted@example.com"
    sign_up_and_verify(http, smtp_sink, email)
    evil = {"Host": "evil.com"}
    form = http.get("/reset", headers=evil)
    asked = http.post("/reset", headers=evil, data={"email": email,
                                                    "csrf_token": csrf_of(form.text)})
    assert asked.status_code == 200 and "Check your inbox" in asked.text
    signup_form = http.get("/signup", headers=evil)
    http.post("/signup", headers=evil, data={"email": email, "password": PASSWORD,
                                             "csrf_token": csrf_of(signup_form.text)})
    post_form(http, "/reset", {"email": email})  # from loopback: a link, to loopback
    assert smtp_sink.wait_link(email, "/reset/confirm").startswith(site.base)
    bodies = [str(m.get_payload(decode=True)) for m in smtp_sink.messages]
    assert not [b for b in bodies if "evil.com" in b]
    assert len(smtp_sink.to(email)) == 2  # the verification link and the loopback reset


def test_a_reset_answers_the_same_when_mail_fails(webapp_server: Start) -> None:
    with webapp_server(smtp_port=free_port()) as site, \
            httpx.Client(base_url=site.base, timeout=60) as http:
        site.accounts.create_user("known@example.com", "Free", 10, verified=True)
        known = post_form(http, "/reset", {"email": "known@example.com"})
        unknown = post_form(http, "/reset", {"email": "unknown@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("known@", "unknown@") == unknown.text


def test_revoking_a_key_revoked_meanwhile_says_so(http: httpx.Client, site: Served,
                                                  smtp_sink: Sink,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sign_up_and_verify(http, smtp_sink, "race@example.com")
    log_in(http, "race@example.com")
    created = post_form(http, "/account/keys", {}, page="/account")
    key = created.text.split('id="new-key" type="text" readonly value="', 1)[1].split('"')[0]
    original = AccountService.revoke_key

    def revoked_in_between(self: AccountService, prefix: str) -> None:
        original(self, prefix)  # another tab, the CLI...
        original(self, prefix)  # ...then ours: UnknownKey

    monkeypatch.setattr(AccountService, "revoke_key", revoked_in_between)
    reply = post_form(http, "/account/keys/revoke", {"prefix": key[:11]}, page="/account")
    assert reply.status_code == 404
    assert "You have no active key with that prefix." in reply.text
    assert reply.headers["content-type"].startswith("text/html")


def test_the_api_core_does_not_import_the_web_app() -> None:
    code = ("import sys, alphacut.web.api, alphacut.http.credentials; "
            "print([m for m in sys.modules if m.startswith('alphacut.webapp')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_500_carries_the_security_headers(settings: Settings, engine: Engine) -> None:
    app = create_app(bootstrap.build(settings, engine=engine))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/boom")

    reply = asyncio.run(get())
    assert reply.status_code == 500
    assert reply.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_password_reset_over_http(http: httpx.Client, smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "reset@example.com")
    asked = post_form(http, "/reset", {"email": "reset@example.com"})
    unknown = post_form(http, "/reset", {"email": "nobody-here@example.com"})
    assert asked.status_code == unknown.status_code == 200
    link = smtp_sink.wait_link("reset@example.com", "/reset/confirm")
    form = http.get(link)
    token = link.split("token=", 1)[1]
    reply = http.post("/reset/confirm", data={"token": token, "password": "the new password",
                                              "csrf_token": csrf_of(form.text)})
    assert reply.status_code == 200 and "Password changed" in reply.text
    assert log_in(http, "reset@example.com", "the new password").status_code == 303
    assert http.get(link).status_code == 400  # used up


def test_signup_with_a_taken_address_answers_the_same(http: httpx.Client,
                                                      smtp_sink: Sink) -> None:
    sign_up_and_verify(http, smtp_sink, "taken@example.com")
    again = post_form(http, "/signup", {"email": "taken@example.com", "password": PASSWORD})
    fresh = post_form(http, "/signup", {"email": "fresh@example.com", "password": PASSWORD})
    assert again.status_code == fresh.status_code == 200
    assert again.text.replace("taken", "fresh") == fresh.text  # one browser: one CSRF token
    assert smtp_sink.to("taken@example.com")[-1]["Subject"] == \
        "You already have an alphacut account"
