"""GET /api/membership-usage: plan, credits and usage (contract, section 4).

Authenticated with ``x-api-key`` only. The parameters are read by hand (and
documented by hand below) so that every bad one is reported in the contract's
error shape, all at once, after the key is checked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from alphacut.domain.billing import (
    LAST_UNIX,
    MAX_YEAR,
    BillingCycle,
    CycleWindow,
    UsageReport,
    parse_usage_query,
)
from alphacut.http.credentials import credentials
from alphacut.http.services import ServicesDep

router = APIRouter(tags=["account"])


# --- the answer's shape ---------------------------------------------------------------


class BillingCycleBody(BaseModel):
    periodStartUnix: int = Field(description="First second of the window (unix seconds).")
    periodEndUnix: int = Field(description="Last second of the window, just before the next "
                                           "renewal (not a cancellation date).")
    appUsage: int = Field(description="Images through the web app (user token) in the window.")
    apiUsage: int = Field(description="Images through API keys in the window.")
    includedCredits: int = Field(description="Included credits per billing period (the "
                                             "user's current plan).")
    prepaidCredits: int = Field(description="Prepaid credit balance (does not reset).")
    usedIncludedCredits: int = Field(description="appUsage + apiUsage.")
    remainingIncludedCredits: int = Field(description="max(0, includedCredits - "
                                                      "usedIncludedCredits).")
    stripeBillingSynced: bool = Field(description="False until Stripe has reported a billing "
                                                  "period: the window is then the current UTC "
                                                  "calendar month.")


class MembershipUsage(BaseModel):
    membership: str = Field(description="The plan label, e.g. Premium-20000.")
    credits: int = Field(description="Included credits per billing period.")
    prepaidCredits: int = Field(description="Prepaid credit balance.")
    app_usage: int = Field(description="Web-app images in the requested calendar month, or in "
                                       "the cycle named by periodStartUnix.")
    api_usage: int = Field(description="API-key images in the same month or cycle.")
    billingCycle: BillingCycleBody | None = Field(
        None, description="Only with expand=billing_cycle or includeBillingCycle=true.")


class CycleRow(BaseModel):
    periodStartUnix: int
    periodEndUnix: int = Field(description="The next window's start minus 1, or the Stripe "
                                           "period end for the current window.")
    appUsage: int
    apiUsage: int


class BillingCycles(BaseModel):
    billingCycles: list[CycleRow] = Field(description="Newest first.")


def _cycle_body(cycle: BillingCycle) -> BillingCycleBody:
    return BillingCycleBody(
        periodStartUnix=cycle.window.start, periodEndUnix=cycle.window.end,
        appUsage=cycle.usage.app, apiUsage=cycle.usage.api,
        includedCredits=cycle.included_credits, prepaidCredits=cycle.prepaid_credits,
        usedIncludedCredits=cycle.used_included,
        remainingIncludedCredits=cycle.remaining_included,
        stripeBillingSynced=cycle.stripe_synced,
    )


def _report_body(report: UsageReport) -> MembershipUsage:
    cycle = report.billing_cycle
    return MembershipUsage(
        membership=report.plan, credits=report.included_credits,
        prepaidCredits=report.prepaid_credits, app_usage=report.usage.app,
        api_usage=report.usage.api, billingCycle=_cycle_body(cycle) if cycle else None,
    )


def _cycles_body(rows: list[CycleWindow]) -> BillingCycles:
    return BillingCycles(billingCycles=[
        CycleRow(periodStartUnix=row.window.start, periodEndUnix=row.window.end,
                 appUsage=row.usage.app, apiUsage=row.usage.api) for row in rows])


# --- its OpenAPI operation: the parameters and errors FastAPI cannot infer ---------------


def _error(description: str, examples: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}, "examples": examples}}}


def _example(message: str, status: int) -> dict[str, Any]:
    return {"value": {"error": message, "status": status}}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_FLAG = {"type": "string", "enum": ["1", "true", "0", "false"]}

USAGE_OPERATION: dict[str, Any] = {
    "security": [{"ApiKey": []}],
    "parameters": [
        _param("year", {"type": "integer", "minimum": 1, "maximum": MAX_YEAR},
               "Calendar year; default the current UTC year. Not with periodStartUnix."),
        _param("month", {"type": "integer", "minimum": 1, "maximum": 12},
               "Calendar month 1-12; default the current UTC month. Not with periodStartUnix."),
        _param("periodStartUnix", {"type": "integer", "minimum": 0, "maximum": LAST_UNIX},
               "Start of a billing window (unix seconds): report that cycle's counters "
               "(list them with listBillingCycles). Not with year or month."),
        _param("expand", {"type": "string", "example": "billing_cycle"},
               "Comma-separated flags; billing_cycle adds the billingCycle object (the current "
               "window, or the one named by periodStartUnix). Unknown flags are ignored."),
        _param("includeBillingCycle", _FLAG, "1/true: the same as expand=billing_cycle."),
        _param("listBillingCycles", _FLAG,
               "1/true: answer only {\"billingCycles\": [...]}, newest first, and ignore every "
               "other parameter."),
    ],
    "responses": {
        "400": _error("A parameter is invalid (all of them are reported), or both an API key "
                      "and a user token were sent.", {
            "not_integer": _example("'year' must be an integer, got: 'abc'", 400),
            "out_of_range": _example("'month' must be between 1 and 12, got: 13", 400),
            "both_window_kinds": _example(
                "Cannot use 'periodStartUnix' together with 'year' or 'month'. "
                "Choose one or the other.", 400),
            "multiple": {"value": {
                "error": "Multiple validation errors",
                "details": [
                    {"field": "year", "message": "'year' must be between 1 and 9999, got: 0"},
                    {"field": "month", "message": "'month' must be an integer, got: 'may'"},
                ],
                "status": 400,
            }},
        }),
        "401": _error("No API key, or an unknown or revoked one (a user token is not accepted "
                      "here).", {"invalid_key": _example("invalid api key", 401)}),
        "403": _error("The account's e-mail address is not verified.", {"unverified": _example(
            "Email address not verified – please check your inbox", 403)}),
        "503": _error("The account store is unavailable.", {"store": _example(
            "The account store is unavailable: ...", 503)}),
    },
}


# --- the route ---------------------------------------------------------------------------


@router.get(
    "/api/membership-usage", summary="Plan, credits and usage of the API key's user",
    response_model=MembershipUsage | BillingCycles, openapi_extra=USAGE_OPERATION,
)
async def membership_usage(request: Request, services: ServicesDep) -> JSONResponse:
    """The calendar month (default: the current UTC month), or one billing cycle with
    `periodStartUnix`; `expand=billing_cycle` adds the window's credits; `listBillingCycles`
    lists every window instead."""
    principal = await services.offload(services.principals.key_holder, credentials(request),
                                       int(services.clock.now()))
    query = parse_usage_query(request.query_params)
    user_id = principal.user_id or ""
    if query.list_cycles:
        rows = await services.offload(services.usage.cycles, user_id)
        return JSONResponse(_cycles_body(rows).model_dump())
    report = await services.offload(services.usage.report, user_id, query)
    return JSONResponse(_report_body(report).model_dump(exclude_none=True))
