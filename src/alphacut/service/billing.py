"""Stripe webhooks: verify the signature, then keep plans, billing windows and prepaid
credits true.

Exactly once, without losing an event:

- An event id already processed (``has_event``) changes nothing at all.
- Otherwise the event is handled first and marked processed after
  (``mark_event``). Marking first would lose the event if the process died in
  between (Stripe's retry would find it marked); handling first can only
  handle it twice, and every handler is safe to run twice: a plan change
  carries its event's ``created`` time and never undoes a later one
  (``set_plan_as_of``), a billing window never moves backwards
  (``set_billing_period``), a purchase is added once per Checkout Session id
  (``add_prepaid_once``), and linking a customer is a plain overwrite. The
  same holds for two deliveries of one event at the same moment.

An event for which no user can be found is answered 422, unmarked, so Stripe
retries it (for up to three days): ``customer.subscription.created`` often
arrives before the ``checkout.session.completed`` that links the customer.
So is one whose credits are out of bounds (``MAX_CREDITS``): a pack that would
take the prepaid balance over the maximum, a pack or plan in the table over it.
Nothing is added, nothing is lost; the error is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from alphacut.domain.accounts import MAX_CREDITS, User
from alphacut.domain.billing import PlanPrice, Window
from alphacut.domain.clock import Clock
from alphacut.errors import (
    CreditAmountOutOfRange,
    CreditLimitExceeded,
    CreditsNotApplied,
    CustomerConflict,
    InvalidWebhook,
    UnknownPackPrice,
    UnmatchedEvent,
)
from alphacut.storage.base import Store

log = logging.getLogger("alphacut.billing")

Json = Mapping[str, Any]

# Subscription statuses that grant the plan, and those that take it away.
# ``incomplete`` (first payment pending) does neither: its ``active`` update will.
LIVE = frozenset({"active", "trialing", "past_due"})
ENDED = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
SETTLED = frozenset({"paid", "no_payment_required"})  # a Checkout Session's payment_status


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeConfig:
    webhook_secret: str
    tolerance_s: int
    plans: Mapping[str, PlanPrice]  # subscription price id -> plan
    credit_packs: Mapping[str, int]  # one-off price id -> prepaid credits
    free_plan: PlanPrice  # what a user falls back to when the subscription ends


@dataclass(frozen=True)
class Outcome:
    """What a delivery did, for the reply (Stripe shows it in the event's delivery log)."""

    detail: str | None = None
    ignored: bool = False
    duplicate: bool = False

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"received": True}
        if self.duplicate:
            body["duplicate"] = True
        if self.ignored:
            body["ignored"] = True
        if self.detail:
            body["detail"] = self.detail
        return body


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    object: Json

    @classmethod
    def parse(cls, event: Json) -> Event:
        event_id, kind, created = event.get("id"), event.get("type"), _int(event.get("created"))
        body = _map(event.get("data")).get("object")
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise InvalidWebhook("the event has no id or type")
        if created is None or not isinstance(body, Mapping):
            raise InvalidWebhook(f"the event {event_id} has no created time or data.object")
        return cls(event_id, kind, created, body)


# --- the use case ------------------------------------------------------------------------


class StripeWebhook:
    def __init__(self, store: Store, clock: Clock, config: StripeConfig) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self._handlers: dict[str, Callable[[Event], Outcome]] = {
            "customer.subscription.created": self._subscription,
            "customer.subscription.updated": self._subscription,
            "customer.subscription.deleted": self._subscription,
            "invoice.paid": self._invoice,
            "checkout.session.completed": self._checkout,
            "checkout.session.async_payment_succeeded": self._checkout,
        }

    def verify(self, payload: bytes, signature: str | None) -> Json:
        """The event, if Stripe signed this very body within the tolerance; else 400. The
        signature is checked by Stripe's library; the body must then be a JSON object (a
        signed array, string or number is no event)."""
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidWebhook("the body is not a Stripe event.") from exc
        try:
            stripe.WebhookSignature.verify_header(text, signature or "",
                                                  self.config.webhook_secret,
                                                  tolerance=self.config.tolerance_s)
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(f"the Stripe-Signature does not verify ({exc}).") from exc
        try:
            event = json.loads(text)
        except (ValueError, RecursionError) as exc:  # not JSON, or numbers past any limit
            raise InvalidWebhook("the body is not a Stripe event.") from exc
        if not isinstance(event, dict) or event.get("object") != "event":
            raise InvalidWebhook("the body is not a Stripe event.")
        return event

    def handle(self, payload: Json) -> Outcome:
        event = Event.parse(payload)
        handler = self._handlers.get(event.type)
        if handler is None:
            return Outcome(ignored=True)
        if self.store.has_event(event.id):
            return Outcome(duplicate=True)
        try:
            outcome = handler(event)
        except CreditAmountOutOfRange as err:  # a plan's credits in the table
            log.error("stripe event %s (%s) not applied: %s", event.id, event.type, err.message)
            raise CreditsNotApplied(err.message) from err
        if not self.store.mark_event(event.id, self._now()):
            return Outcome(outcome.detail, outcome.ignored, duplicate=True)  # a racing delivery
        log.info("stripe event %s (%s): %s", event.id, event.type,
                 outcome.detail or "ignored")
        return outcome

    # --- subscriptions -----------------------------------------------------------------

    def _subscription(self, event: Event) -> Outcome:
        sub = event.object
        status = _str(sub.get("status")) or ""
        user = self._user_for(sub, _str(_map(sub.get("metadata")).get("user_id")), None)
        if event.type == "customer.subscription.deleted" or status in ENDED:
            free = self.config.free_plan
            applied = self.store.set_plan_as_of(user.id, free.plan, free.credits, event.created)
            return self._plan_outcome(user, applied, free, None, f"subscription {status}")
        if status not in LIVE:
            return Outcome(f"subscription status '{status}' grants nothing yet", ignored=True)
        items = [_map(item) for item in _list(sub.get("items"))]
        prices = [_id(item.get("price")) for item in items]
        priced = next((item for item, price in zip(items, prices, strict=True)
                       if price in self.config.plans), None)
        period = _subscription_period(sub, priced or (items[0] if items else {}))
        if priced is None:
            log.warning("stripe subscription for user %s: no price of %s is in "
                        "ALPHACUT_STRIPE_PLANS; plan unchanged", user.id, prices)
            stored = period is not None and self.store.set_billing_period(user.id, *_pair(period))
            named = ", ".join(price or "?" for price in prices) or "none"
            return Outcome(f"user {user.id}: prices ({named}) are not in ALPHACUT_STRIPE_PLANS: "
                           f"plan unchanged; {_window_note(period, stored)}")
        plan = self.config.plans[_id(priced.get("price")) or ""]
        applied = self.store.set_plan_as_of(user.id, plan.plan, plan.credits, event.created,
                                            _pair(period) if period else None)
        return self._plan_outcome(user, applied, plan, period, f"subscription {status}")

    def _plan_outcome(self, user: User, applied: bool, plan: PlanPrice, period: Window | None,
                      why: str) -> Outcome:
        if not applied:
            return Outcome(f"user {user.id}: a later event already set the plan; unchanged")
        window = f"; window {period.start}..{period.end}" if period else ""
        return Outcome(f"user {user.id}: {why}: plan {plan.plan} "
                       f"({plan.credits} included credits){window}")

    # --- renewals ----------------------------------------------------------------------

    def _invoice(self, event: Event) -> Outcome:
        invoice = event.object
        parent = _map(_map(invoice.get("parent")).get("subscription_details"))
        if not (_id(invoice.get("subscription")) or _id(parent.get("subscription"))):
            return Outcome("not a subscription invoice", ignored=True)
        period = _invoice_period(invoice)
        if period is None:
            return Outcome("no subscription period in the invoice lines", ignored=True)
        metadata = {**_map(parent.get("metadata")),
                    **_map(_map(invoice.get("subscription_details")).get("metadata")),
                    **_map(invoice.get("metadata"))}
        user = self._user_for(invoice, _str(metadata.get("user_id")),
                              _str(invoice.get("customer_email")))
        stored = self.store.set_billing_period(user.id, period.start, period.end)
        return Outcome(f"user {user.id}: invoice paid; {_window_note(period, stored)}")

    # --- credit packs ------------------------------------------------------------------

    def _checkout(self, event: Event) -> Outcome:
        session = event.object
        metadata = _map(session.get("metadata"))
        mode = _str(session.get("mode"))
        if mode == "subscription":
            user = self._session_user(session)
            return Outcome(f"user {user.id}: subscription checkout; customer linked")
        if mode != "payment":
            return Outcome(f"a '{mode}' checkout buys nothing", ignored=True)
        price = _str(metadata.get("price_id"))
        if price is None:
            return Outcome("no metadata.price_id: not a credit pack", ignored=True)
        credits = self.config.credit_packs.get(price)
        if credits is None:
            raise UnknownPackPrice(price)
        if _str(session.get("payment_status")) not in SETTLED:
            return Outcome("payment not settled yet; the credits come with "
                           "checkout.session.async_payment_succeeded", ignored=True)
        user = self._session_user(session)
        session_id = _str(session.get("id")) or event.id
        try:
            balance = self.store.add_prepaid_once(user.id, credits, session_id, self._now())
        except CreditLimitExceeded as err:
            reason = (f"user {user.id}: the {credits} credits of '{price}' would take the "
                      f"prepaid balance over the maximum of {MAX_CREDITS}.")
            log.error("stripe event %s: session %s not credited: %s", event.id, session_id,
                      reason)
            raise CreditsNotApplied(reason) from err
        if balance is None:
            return Outcome(f"user {user.id}: session {session_id} was already credited")
        return Outcome(f"user {user.id}: +{credits} prepaid credits ({price}); "
                       f"balance {balance}")

    def _session_user(self, session: Json) -> User:
        metadata = _map(session.get("metadata"))
        email = _str(_map(session.get("customer_details")).get("email"))
        return self._user_for(
            session,
            _str(metadata.get("user_id")) or _str(session.get("client_reference_id")),
            email or _str(session.get("customer_email")),
        )

    # --- who -----------------------------------------------------------------------------

    def _user_for(self, obj: Json, user_id: str | None, email: str | None) -> User:
        """metadata.user_id, else the linked Stripe customer, else the e-mail; link the customer."""
        customer = _id(obj.get("customer"))
        user = self.store.get_user(user_id) if user_id else None
        if user is None and customer:
            user = self.store.find_user_by_stripe_customer(customer)
        if user is None and email:
            user = self.store.get_user_by_email(email)
        if user is None:
            raise UnmatchedEvent(user_id, customer, email)
        if customer and user.stripe_customer_id != customer:
            try:
                self.store.set_stripe_customer(user.id, customer)
            except CustomerConflict as err:
                log.warning("stripe customer %s stays linked to user %s, not %s",
                            customer, err.user_id, user.id)
        return user

    def _now(self) -> int:
        return int(self.clock.now())


# --- reading Stripe objects (either API shape: before and after 2025-03-31.basil) ---------


def _subscription_period(sub: Json, item: Json) -> Window | None:
    """``current_period_*`` on the subscription (older API versions), else on its item."""
    for source in (sub, item):
        window = _window(source.get("current_period_start"), source.get("current_period_end"))
        if window is not None:
            return window
    return None


def _invoice_period(invoice: Json) -> Window | None:
    """The newest period among the invoice's subscription lines that are not prorations.

    The invoice's own ``period_start``/``period_end`` name the period just billed
    *in arrears*, not the one the payment opens; the lines carry the new one.
    """
    best: Window | None = None
    for raw in _list(invoice.get("lines")):
        line = _map(raw)
        details = _map(_map(line.get("parent")).get("subscription_item_details"))
        is_subscription = (line.get("type") == "subscription"
                           or _map(line.get("parent")).get("type") == "subscription_item_details")
        proration = bool(line.get("proration")) or bool(details.get("proration"))
        period = _map(line.get("period"))
        window = _window(period.get("start"), period.get("end"))
        if (is_subscription and not proration and window is not None
                and (best is None or window.start > best.start)):
            best = window
    return best


LATEST_S = 2**40  # unix seconds, about the year 36800: later is no real time
LONGEST_PERIOD_S = 400 * 86_400  # a yearly plan's period, with room; longer is no period


def _window(start: object, renewal: object) -> Window | None:
    """Stripe's ``[start, renewal)`` as a window, if it is one a billing period can be: in
    order, after 1970, before ``LATEST_S``, at most ``LONGEST_PERIOD_S`` long. Anything
    else (a signed but impossible event) is treated as no period at all."""
    first, last = _int(start), _int(renewal)
    if first is None or last is None:
        return None
    if not 0 <= first < last < LATEST_S or last - first > LONGEST_PERIOD_S:
        log.warning("stripe: an impossible billing period %s..%s is ignored", first, last)
        return None
    return Window.from_stripe(first, last)


def _window_note(period: Window | None, stored: bool) -> str:
    if period is None:
        return "no period in the event"
    if not stored:
        return f"window {period.start}..{period.end} is older than the stored one; unchanged"
    return f"window {period.start}..{period.end}"


def _pair(window: Window) -> tuple[int, int]:
    return window.start, window.end


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    """A Stripe list object's ``data``."""
    data = _map(value).get("data")
    return list(data) if isinstance(data, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id(value: object) -> str | None:
    """An id, or an expanded object's id."""
    return _str(value) or _str(_map(value).get("id"))
