"""Stripe's webhook and outgoing mail."""

from __future__ import annotations

from alphacut.errors.base import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
)


class WebhookDisabled(NotFound):
    def __init__(self) -> None:
        super().__init__("The Stripe webhook is off on this server "
                         "(set ALPHACUT_STRIPE_WEBHOOK_SECRET to turn it on).")


class InvalidWebhook(BadRequest):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid Stripe webhook: {detail}")


class WebhookTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The webhook body exceeds {limit} bytes.")


class UnprocessableEvent(Unprocessable):
    """Signed and well formed, but it cannot be applied yet; Stripe retries non-2xx answers."""


class UnmatchedEvent(UnprocessableEvent):
    def __init__(self, user_id: str | None, customer: str | None, email: str | None) -> None:
        tried = ", ".join(f"{name} '{value}'" for name, value in
                          (("metadata.user_id", user_id), ("customer", customer),
                           ("e-mail", email)) if value) or "no user id, customer or e-mail"
        super().__init__(f"No alphacut user matches this Stripe event ({tried}). "
                         "Stripe will retry it.")


class UnknownPackPrice(UnprocessableEvent):
    def __init__(self, price: str) -> None:
        super().__init__(f"The credit pack price '{price}' is not in "
                         "ALPHACUT_STRIPE_CREDIT_PACKS. Stripe will retry it.")


class MailUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("We could not send the e-mail right now. Please try again later.", 60)
