"""The pages: the editor, sign-up, log-in and log-out, verification, password reset, the
account and its API keys. Server-rendered; every form carries a CSRF token; they call the
services and render what comes back (errors in plain words, next to the form)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask

from alphacut.bootstrap import Services
from alphacut.domain.accounts import User
from alphacut.domain.billing import UsageQuery
from alphacut.domain.network import is_loopback
from alphacut.errors import AlphacutError, CsrfRejected, FormTooLarge, NoSuchKey, UnknownKey
from alphacut.http.credentials import CSRF_FIELD, NONCE_COOKIE, SESSION_COOKIE, credentials
from alphacut.http.errors import error_headers, public_message, status_of
from alphacut.http.headers import declared_length
from alphacut.http.services import get_services
from alphacut.service.csrf import new_nonce
from alphacut.service.identity import IdentityService
from alphacut.settings import Settings
from alphacut.webapp.editor import editor_groups

T = TypeVar("T")
log = logging.getLogger("alphacut.webapp")
router = APIRouter(include_in_schema=False)

MAX_FORM_BYTES = 64 * 1024
_PREFIX = re.compile(r"ac_[A-Za-z0-9_-]{8}")


@dataclass(frozen=True)
class Visit:
    """Who is looking: the raw session cookie ('' when none), its user, the CSRF nonce."""

    session: str
    user: User | None
    nonce: str
    new_nonce: bool


class PageRefused(Exception):
    """A request a page cannot take (a bad CSRF token, a huge form): answered with an error
    page, not the API's JSON."""

    def __init__(self, error: AlphacutError) -> None:
        super().__init__(error.message)
        self.error = error


def utc_time(ts: int | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


# --- plumbing -----------------------------------------------------------------------------


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


async def _visit(request: Request) -> Visit:
    services = get_services(request)
    # Expired, forged, or issued before the password changed: no one.
    user = await services.offload(services.principals.visitor, credentials(request))
    nonce = request.cookies.get(NONCE_COOKIE)
    return Visit(request.cookies.get(SESSION_COOKIE, ""), user, nonce or new_nonce(), not nonce)


def _secure(request: Request, settings: Settings) -> bool:
    """``auto``: when the request came over https (a trusted proxy's X-Forwarded-Proto
    included), or the public URL is https."""
    mode = settings.session_cookie_secure
    if mode == "auto":
        return _scheme(request) == "https" or \
            (settings.public_url or "").lower().startswith("https://")
    return mode == "always"


def _set_cookie(response: Response, request: Request, name: str, value: str,
                max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=_secure(request, get_services(request).settings))


def _render(request: Request, visit: Visit, template: str, context: dict[str, Any] | None = None,
            status: int = 200, error: AlphacutError | None = None) -> HTMLResponse:
    services = get_services(request)
    values: dict[str, Any] = {
        "user": visit.user, "csrf_field": CSRF_FIELD,
        "csrf": services.csrf.token(visit.nonce, visit.session),
        "min_password": services.settings.password_min_length,
        "error": public_message(error) if error else None,
    }
    headers = {"Cache-Control": "no-store"} | (error_headers(error) if error else {})
    response = _templates(request).TemplateResponse(
        request, template, values | (context or {}),
        status_code=status_of(error) if error else status, headers=headers)
    if visit.new_nonce:
        _set_cookie(response, request, NONCE_COOKIE, visit.nonce, None)
    return response


async def _form(request: Request, visit: Visit) -> dict[str, str]:
    """The posted form's text fields, once its CSRF token checks out."""
    length = declared_length(request.headers.get("content-length"))
    if length is None or length > MAX_FORM_BYTES:
        raise PageRefused(FormTooLarge())
    form = await request.form(max_files=0, max_fields=20)
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    csrf = get_services(request).csrf
    if visit.new_nonce or not csrf.valid(visit.nonce, visit.session, fields.get(CSRF_FIELD)):
        raise PageRefused(CsrfRejected())
    return fields


async def _identity(request: Request, call: Callable[[IdentityService], T]) -> T:
    """A call of the identity service, off the event loop."""
    services = get_services(request)
    return await services.offload(call, services.identity)


def _client(request: Request) -> str:
    return get_services(request).principals.client_address(credentials(request))


def _scheme(request: Request) -> str:
    return get_services(request).principals.scheme(credentials(request))


def _is_local_host(host: str, bound: str) -> bool:
    return host == bound.lower().strip("[]") or is_loopback(host)


def _base_url(request: Request) -> str | None:
    """The base of links in mail: ALPHACUT_PUBLIC_URL; unset, the URL the request came to,
    but only when its Host is loopback or the address the server binds to (the Host header
    is the client's to choose: a link to another host would hand the token to that host).
    None otherwise: nothing is mailed (logged by the identity service)."""
    settings = get_services(request).settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = (request.url.hostname or "").lower().strip("[]")
    if _is_local_host(host, settings.host):
        return str(request.base_url.replace(scheme=_scheme(request))).rstrip("/")
    log.warning("request Host %r is not local and ALPHACUT_PUBLIC_URL is unset: no link "
                "is mailed", host[:100])
    return None


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


async def on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    visit = await _visit(request)
    return _render(request, visit, "message.html",
                   {"title": "Something went wrong", "message": exc.error.message},
                   status_of(exc.error))


# --- the editor -------------------------------------------------------------------------


@router.get("/")
async def editor(request: Request) -> HTMLResponse:
    settings = get_services(request).settings
    # Switches start as the server's settings.
    defaults = {"refine": settings.refine, "decontaminate": settings.decontaminate,
                "tta": settings.tta}
    return _render(request, await _visit(request), "editor.html",
                   {"daily": settings.anonymous_daily_limit,
                    "groups": editor_groups(defaults)})


@router.get("/app")
async def editor_alias() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)


# --- sign-up and verification -------------------------------------------------------------


@router.get("/signup")
async def signup_form(request: Request) -> HTMLResponse:
    return _render(request, await _visit(request), "signup.html")


@router.post("/signup")
async def signup(request: Request) -> HTMLResponse:
    visit = await _visit(request)
    form = await _form(request, visit)
    email = form.get("email", "")
    try:
        password, client, base = form.get("password", ""), _client(request), _base_url(request)
        await _identity(request, lambda identity: identity.signup(email, password, client, base))
    except AlphacutError as err:
        return _render(request, visit, "signup.html", {"email": email}, error=err)
    return _render(request, visit, "message.html", {
        "title": "Check your inbox",
        "message": f"We sent a link to {email.strip()}. Open it to confirm your address, "
                   "then log in."})


@router.get("/verify")
async def verify(request: Request, token: str = "") -> HTMLResponse:
    visit = await _visit(request)
    try:
        await _identity(request, lambda identity: identity.verify(token))
    except AlphacutError as err:
        return _render(request, visit, "message.html",
                       {"title": "Link not valid", "message": err.message}, status_of(err))
    return _render(request, visit, "message.html", {
        "title": "Address confirmed", "link": ("/login", "Log in"),
        "message": "Your e-mail address is confirmed. You can now use the editor and API "
                   "keys with your account."})


@router.post("/verify/resend")
async def resend(request: Request) -> Response:
    visit = await _visit(request)
    await _form(request, visit)
    if visit.user is None:
        return _to_login()
    try:
        user_id, client, base = visit.user.id, _client(request), _base_url(request)
        await _identity(request,
                        lambda identity: identity.resend_verification(user_id, client, base))
    except AlphacutError as err:
        return await _account(request, visit, error=err)
    return RedirectResponse("/account?sent=1", status_code=303)


# --- log-in and log-out -------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return _render(request, await _visit(request), "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    visit = await _visit(request)
    form = await _form(request, visit)
    email = form.get("email", "")
    services = get_services(request)
    try:
        user = await services.offload(services.identity.login, email, form.get("password", ""),
                                      _client(request))
    except AlphacutError as err:
        return _render(request, visit, "login.html", {"email": email}, error=err)
    response = RedirectResponse("/account", status_code=303)
    _set_cookie(response, request, SESSION_COOKIE,
                services.tokens.issue(user.id, user.password_hash),
                services.settings.user_token_ttl_s)
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    """Ends this browser's session (the cookie). The token itself is stateless: it stops
    working everywhere when the password changes (docs/webapp.md)."""
    await _form(request, await _visit(request))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_secure(request, get_services(request).settings))
    return response


# --- password reset -----------------------------------------------------------------------


@router.get("/reset")
async def reset_form(request: Request) -> HTMLResponse:
    return _render(request, await _visit(request), "reset.html")


@router.post("/reset")
async def reset(request: Request) -> HTMLResponse:
    visit = await _visit(request)
    form = await _form(request, visit)
    email = form.get("email", "")
    services = get_services(request)
    identity = services.identity
    try:
        address = await services.offload(identity.check_reset_request, email, _client(request))
    except AlphacutError as err:
        return _render(request, visit, "reset.html", {"email": email}, error=err)
    response = _render(request, visit, "message.html", {
        "title": "Check your inbox",
        "message": f"If {email.strip()} has an account, we sent it a link to choose a new "
                   "password."})
    # After the answer: whether the address has an account (and SMTP's pace or failure)
    # shows neither in the answer nor in its timing.
    response.background = BackgroundTask(identity.send_reset, address, _base_url(request))
    return response


@router.get("/reset/confirm")
async def reset_confirm_form(request: Request, token: str = "") -> HTMLResponse:
    visit = await _visit(request)
    try:
        await _identity(request, lambda identity: identity.check_reset(token))
    except AlphacutError as err:
        return _render(request, visit, "message.html", {
            "title": "Link not valid", "message": err.message, "link": ("/reset", "Ask again")},
            status_of(err))
    return _render(request, visit, "reset_confirm.html", {"token": token})


@router.post("/reset/confirm")
async def reset_confirm(request: Request) -> HTMLResponse:
    visit = await _visit(request)
    form = await _form(request, visit)
    token = form.get("token", "")
    try:
        password = form.get("password", "")
        await _identity(request, lambda identity: identity.reset_password(token, password))
    except AlphacutError as err:
        return _render(request, visit, "reset_confirm.html", {"token": token}, error=err)
    return _render(request, visit, "message.html", {
        "title": "Password changed", "link": ("/login", "Log in"),
        "message": "Your new password is set. Log in with it."})


# --- the account and its keys ---------------------------------------------------------------


def _account_data(services: Services, user: User) -> dict[str, Any]:
    report = services.usage.report(user.id, UsageQuery(billing_cycle=True))
    return {"account": user, "report": report, "cycle": report.billing_cycle,
            "cycles": services.usage.cycles(user.id),
            "keys": list(reversed(services.accounts.keys(user.id)))}


async def _account(request: Request, visit: Visit, extra: dict[str, Any] | None = None,
                   error: AlphacutError | None = None) -> HTMLResponse:
    assert visit.user is not None
    services = get_services(request)
    data = await services.offload(_account_data, services, visit.user)
    return _render(request, visit, "account.html", data | (extra or {}), error=error)


@router.get("/account")
async def account(request: Request, revoked: str = "", sent: str = "") -> Response:
    visit = await _visit(request)
    if visit.user is None:
        return _to_login()
    revoked = revoked if _PREFIX.fullmatch(revoked) else ""
    notice = (f"Key {revoked} revoked: it no longer works." if revoked
              else "We sent a new confirmation link." if sent else None)
    return await _account(request, visit, {"notice": notice})


@router.post("/account/keys")
async def create_key(request: Request) -> Response:
    visit = await _visit(request)
    await _form(request, visit)
    if visit.user is None:
        return _to_login()
    services = get_services(request)
    try:
        made = await services.offload(services.accounts.create_key, visit.user.id,
                                      require_verified=True)
    except AlphacutError as err:  # not verified yet (or the user vanished)
        return await _account(request, visit, error=err)
    # Rendered, not redirected: the secret is shown once and never lands in a URL.
    return await _account(request, visit, {"new_key": made.key})


@router.post("/account/keys/revoke")
async def revoke_key(request: Request) -> Response:
    visit = await _visit(request)
    form = await _form(request, visit)
    if visit.user is None:
        return _to_login()
    services = get_services(request)
    prefix = form.get("prefix", "")
    keys = await services.offload(services.accounts.keys, visit.user.id)
    if not any(key.prefix == prefix and key.active for key in keys):  # only one's own keys
        return await _account(request, visit, error=NoSuchKey())
    try:
        await services.offload(services.accounts.revoke_key, prefix)
    except UnknownKey:  # revoked in between (another tab, the CLI)
        return await _account(request, visit, error=NoSuchKey())
    return RedirectResponse(f"/account?revoked={prefix}", status_code=303)
