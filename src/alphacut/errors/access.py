"""Who may ask, and how often: keys, tokens, sessions, the admin token, rate limits,
allowances, and the account pages' plain-words errors."""

from __future__ import annotations

from alphacut.errors.base import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)

# --- the contract's (RemBG API, section 2) ------------------------------------------


class InvalidApiKey(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid api key")


class EmailNotVerified(Forbidden):
    def __init__(self) -> None:
        super().__init__("Email address not verified – please check your inbox")


class KeyAndToken(BadRequest):
    def __init__(self) -> None:
        super().__init__("This is a mistake: Cannot use both API key and user token")


class RateLimited(TooManyRequests):
    """The short-window rate limit. With the window's figures when one answered, so the
    answer carries the X-RateLimit-* headers too."""

    def __init__(self, retry_after: int = 1, limit: int | None = None,
                 remaining: int | None = None, reset_at: int | None = None) -> None:
        super().__init__(
            "You're making requests too quickly, Please Upgrade or slow down.", retry_after
        )
        self.limit = limit
        self.remaining = remaining
        self.reset_at = reset_at


class DailyLimitReached(TooManyRequests):
    def __init__(self, retry_after: int = 3600) -> None:
        super().__init__(
            "You've reached your daily limit. Please sign up for more access.", retry_after
        )


class MonthlyLimitReached(TooManyRequests):
    def __init__(self, retry_after: int = 3600) -> None:
        super().__init__(
            "You've reached your monthly limit. Consider purchasing more credits.", retry_after
        )


# --- alphacut's own ---------------------------------------------------------------


class InvalidUserToken(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid user token")


class CsrfRejected(Forbidden):
    def __init__(self) -> None:
        super().__init__("The page's security token is missing or out of date. "
                         "Please reload the page and try again.")


class AdminApiOff(NotFound):
    """The same answer as an unknown path: an admin API that is off does not exist."""

    def __init__(self) -> None:
        super().__init__("Not Found")


class InvalidAdminToken(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid admin token")


class UnknownKey(NotFound):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"No active API key with the prefix '{prefix}'.")


class NoSuchKey(NotFound):
    """An account page asked to revoke a key its user does not hold."""

    def __init__(self) -> None:
        super().__init__("You have no active key with that prefix.")


class KeysNeedVerifiedEmail(Forbidden):
    def __init__(self) -> None:
        super().__init__("Please confirm your e-mail address before creating API keys: open "
                         "the link we sent you (or send it again).")


# --- sign-up, log-in, reset: plain words, shown on the pages ------------------------


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Wrong e-mail address or password.")


class InvalidEmail(BadRequest):
    def __init__(self) -> None:
        super().__init__("Please enter a valid e-mail address.")


class WeakPassword(BadRequest):
    def __init__(self, min_length: int) -> None:
        super().__init__(f"Please choose a password of at least {min_length} characters.")


class InvalidLink(BadRequest):
    def __init__(self) -> None:
        super().__init__("This link is invalid or has expired. Please ask for a new one.")


class TooManyAttempts(TooManyRequests):
    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(f"Too many attempts. Please wait {minutes} minute"
                         f"{'s' if minutes > 1 else ''} and try again.", retry_after)


class FormTooLarge(PayloadTooLarge):
    def __init__(self) -> None:
        super().__init__("This form is too large.")
