"""The engine's errors: models, and a server too busy to take more work."""

from __future__ import annotations

from alphacut.errors.base import BadRequest, HttpError, ServiceUnavailable


class Overloaded(ServiceUnavailable):
    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("The server is busy. Please retry shortly.", retry_after)


class ModelError(HttpError):
    """A model is unknown, missing, corrupt or fails to run. ``public``, when given, is what
    a client reads instead of ``message`` (which may name files: for the log and the CLI)."""

    status = 503

    def __init__(self, message: str, public: str | None = None) -> None:
        super().__init__(message)
        self.public = message if public is None else public

    def to_body(self) -> dict[str, object]:
        return {"error": self.public, "status": self.status}


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
            f"To install it by hand, place the verified file at: {target}",
            public=f"Model '{name}' is not available on this server.",
        )
        self.attempts = attempts


class ModelNotInstalled(BadRequest):
    """A registered model whose verified file is not on this server: a request never
    downloads one (``alphacut models pull NAME`` does, ahead of time)."""

    def __init__(self, name: str, installed: list[str]) -> None:
        super().__init__(
            f"Model '{name}' is not installed on this server. "
            f"Installed models: {', '.join(installed) or 'none'}."
        )
        self.field = "model"
