"""The admin HTTP API (``/admin/...``): the CLI's account commands, over HTTP.

Off unless ALPHACUT_ADMIN_TOKEN is set: every route then answers 404, like a
path that does not exist. When on, every call carries
``Authorization: Bearer <token>``. The token is checked before the body is
read, so someone without it learns nothing about a request, not even that its
body is malformed.

Credit counts are bounded by ``MAX_CREDITS`` (10^12): an amount outside it, or an
add that would take the balance past it, is a 400 (the service and the store
check; the schema says so). A path id no store could have assigned (longer than
any id) answers 404, as an unknown one does, without being echoed in full.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from alphacut.domain.accounts import MAX_CREDITS, ApiKey, User
from alphacut.errors import UnknownKey, UnknownUser, Unprocessable
from alphacut.http.credentials import credentials
from alphacut.http.services import ServicesDep, get_services

# --- errors --------------------------------------------------------------------


class InvalidBody(Unprocessable):
    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__("Invalid request body: " + "; ".join(_describe(e) for e in errors))


def _describe(error: Any) -> str:
    if error.get("type") == "json_invalid":
        return "not valid JSON"
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


# --- the gate ------------------------------------------------------------------


def _authorize(request: Request) -> None:
    get_services(request).principals.admin(credentials(request))


_MAX_PATH_ID = 64  # a user id is at most 19 digits, a key prefix 11 characters


def _check_path(params: dict[str, Any]) -> None:
    """A path id too long to be one names nothing: 404, echoing only its start."""
    user_id, prefix = params.get("user_id"), params.get("prefix")
    if isinstance(user_id, str) and len(user_id) > _MAX_PATH_ID:
        raise UnknownUser(user_id[:20] + "...")
    if isinstance(prefix, str) and len(prefix) > _MAX_PATH_ID:
        raise UnknownKey(prefix[:20] + "...")


class _AdminRoute(APIRoute):
    """Checks the token before FastAPI reads the body; renders a bad body as our error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def gated(request: Request) -> Response:
            _authorize(request)
            _check_path(request.path_params)
            try:
                return await handle(request)
            except RequestValidationError as exc:
                raise InvalidBody(exc.errors()) from exc

        return gated


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# The gate above does the checking; this dependency declares the scheme in the
# OpenAPI document (and Swagger UI's Authorize dialog).
_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken",
                     description="ALPHACUT_ADMIN_TOKEN (the admin API is off when unset).")

router = APIRouter(
    prefix="/admin", tags=["admin"], route_class=_AdminRoute, dependencies=[Depends(_bearer)],
    responses={401: _error("Missing or wrong admin token."),
               404: _error("The admin API is off (ALPHACUT_ADMIN_TOKEN is unset)."),
               422: _error("The JSON body is malformed or a field is out of range.")},
)

_UNKNOWN_USER: dict[int | str, dict[str, Any]] = {
    404: _error("The admin API is off, or no user has this id.")}
_CREDITS_OUT_OF_RANGE = _error(f"A credit count over the maximum ({MAX_CREDITS}).")
_BOUNDED: JsonDict = {"maximum": MAX_CREDITS}  # checked by the service: 400, not 422


# --- bodies ----------------------------------------------------------------------


class CreateUser(BaseModel):
    email: str = Field(min_length=3, max_length=320,
                       description="Unique whatever its case; stored trimmed, lower case.")
    plan: str | None = Field(None, min_length=1,
                             description="Plan label; default ALPHACUT_DEFAULT_PLAN.")
    credits: int | None = Field(None, ge=0, json_schema_extra=_BOUNDED,
                                description="Included credits per billing period; default "
                                "ALPHACUT_DEFAULT_INCLUDED_CREDITS.")
    prepaid: int = Field(0, ge=0, json_schema_extra=_BOUNDED,
                         description="Prepaid credits to start with.")
    verified: bool = Field(False, description="Mark the e-mail address verified already.")


class SetPlan(BaseModel):
    plan: str = Field(min_length=1, description="Plan label, e.g. Premium-20000.")
    credits: int = Field(ge=0, json_schema_extra=_BOUNDED,
                         description="Included credits per billing period.")


class AddCredits(BaseModel):
    credits: int = Field(ge=1, json_schema_extra=_BOUNDED,
                         description="Prepaid credits to add to the balance, which cannot "
                         f"pass {MAX_CREDITS} either.")


class UserRecord(BaseModel):
    id: str
    email: str
    email_verified: bool = Field(description="Unverified users' keys answer 403.")
    plan: str
    included_credits: int = Field(description="Per billing period; used first.")
    prepaid_credits: int = Field(description="Balance; used once included ones run out.")
    created_at: int = Field(description="Unix seconds (UTC).")

    @classmethod
    def of(cls, user: User) -> UserRecord:
        return cls(id=user.id, email=user.email, email_verified=user.email_verified,
                   plan=user.plan, included_credits=user.included_credits,
                   prepaid_credits=user.prepaid_credits, created_at=user.created_at)


class ApiKeyRecord(BaseModel):
    """A key as stored: its visible prefix, never the secret nor its hash."""

    prefix: str = Field(description="The key's first characters; names it for revocation.")
    user_id: str
    created_at: int = Field(description="Unix seconds (UTC).")
    last_used_at: int | None = Field(description="Unix seconds (UTC); null if never used.")
    revoked_at: int | None = Field(description="Unix seconds (UTC); null while active.")
    active: bool

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyRecord:
        return cls(prefix=key.prefix, user_id=key.user_id, created_at=key.created_at,
                   last_used_at=key.last_used_at, revoked_at=key.revoked_at,
                   active=key.active)


class NewApiKey(BaseModel):
    key: str = Field(description="The secret, in this answer only: it cannot be shown again.")
    prefix: str
    user_id: str
    created_at: int = Field(description="Unix seconds (UTC).")


class RevokedKey(BaseModel):
    revoked: str = Field(description="The prefix of the key revoked.")


# --- routes ----------------------------------------------------------------------


@router.post("/users", status_code=201, summary="Create a user",
             responses={400: _error(f"Not an e-mail address, or credits over {MAX_CREDITS}."),
                        409: _error("A user with this e-mail address exists.")})
async def create_user(body: CreateUser, services: ServicesDep) -> UserRecord:
    settings = services.settings
    user = await services.offload(
        services.accounts.create_user, body.email,
        body.plan if body.plan is not None else settings.default_plan,
        body.credits if body.credits is not None else settings.default_included_credits,
        body.verified, body.prepaid,
    )
    return UserRecord.of(user)


@router.get("/users", summary="List every user, oldest first")
async def list_users(services: ServicesDep) -> list[UserRecord]:
    found = await services.offload(services.accounts.users)
    return [UserRecord.of(user) for user in found]


@router.get("/users/{user_id}", summary="Show one user", responses=_UNKNOWN_USER)
async def show_user(user_id: str, services: ServicesDep) -> UserRecord:
    return UserRecord.of(await services.offload(services.accounts.user, user_id))


@router.post("/users/{user_id}/verify", summary="Mark a user's e-mail address verified",
             responses=_UNKNOWN_USER)
async def verify_user(user_id: str, services: ServicesDep) -> UserRecord:
    return UserRecord.of(await services.offload(services.accounts.verify, user_id))


@router.put("/users/{user_id}/plan", summary="Set a user's plan and included credits",
            responses={**_UNKNOWN_USER, 400: _CREDITS_OUT_OF_RANGE})
async def set_plan(user_id: str, body: SetPlan, services: ServicesDep) -> UserRecord:
    user = await services.offload(services.accounts.set_plan, user_id, body.plan, body.credits)
    return UserRecord.of(user)


@router.post("/users/{user_id}/credits", summary="Add prepaid credits",
             responses={**_UNKNOWN_USER, 400: _error(
                 f"Credits over {MAX_CREDITS}, or the balance would pass it (nothing added).")})
async def add_credits(user_id: str, body: AddCredits, services: ServicesDep) -> UserRecord:
    user = await services.offload(services.accounts.add_prepaid, user_id, body.credits)
    return UserRecord.of(user)


@router.post("/users/{user_id}/keys", status_code=201,
             summary="Create an API key (the secret is in this answer only)",
             responses=_UNKNOWN_USER)
async def create_key(user_id: str, services: ServicesDep) -> NewApiKey:
    new = await services.offload(services.accounts.create_key, user_id)
    return NewApiKey(key=new.key, prefix=new.record.prefix, user_id=new.record.user_id,
                     created_at=new.record.created_at)


@router.get("/users/{user_id}/keys", summary="List a user's API keys, revoked ones included",
            responses=_UNKNOWN_USER)
async def list_keys(user_id: str, services: ServicesDep) -> list[ApiKeyRecord]:
    found = await services.offload(services.accounts.keys, user_id)
    return [ApiKeyRecord.of(key) for key in found]


@router.delete("/keys/{prefix}", summary="Revoke an API key by its prefix",
               responses={404: _error("The admin API is off, or no active key has this "
                                      "prefix.")})
async def revoke_key(prefix: str, services: ServicesDep) -> RevokedKey:
    await services.offload(services.accounts.revoke_key, prefix)
    return RevokedKey(revoked=prefix)
