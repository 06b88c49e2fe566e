"""The engine's errors: models, and a server too busy to take more work."""

from __future__ import annotations

from alphacut.errors.base import BadRequest, HttpError, ServiceUnavailable


class Overloaded(ServiceUnavailable):
    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("The server is busy. Please retry shortly.", retry_after)


class ModelError(HttpError):
    """A model is unknown, missing, corrupt or fails to run."""

    status = 503


class UnknownModel(BadRequest):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"Unknown model '{name}'. Available models: {', '.join(known)}")
        self.field = "model"


class ModelUnavailable(ModelError):
    """Every source for a model failed; the message names each one and the manual fix."""

    def __init__(self, name: str, attempts: list[str], target: str) -> None:
        tried = "\n".join(f"  - {a}" for a in attempts) or "  - (no source configured)"
        super().__init__(
            f"Model '{name}' is not available. Sources tried:\n{tried}\n"
            f"To install it by hand, place the verified file at: {target}"
        )
        self.attempts = attempts
