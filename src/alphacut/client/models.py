"""Typed results: what a removal gives back, progress events, plan and usage."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, overload

Direction = Literal["upload", "download"]


@dataclass(frozen=True)
class ProgressEvent:
    """Bytes moved so far in one direction of one attempt.

    ``total`` is None when the size is unknown; ``progress`` is ``loaded / total``
    between 0 and 1, or None with no total.
    """

    loaded: int
    total: int | None
    progress: float | None
    direction: Direction

    @classmethod
    def of(cls, loaded: int, total: int | None, direction: Direction) -> ProgressEvent:
        progress = min(1.0, loaded / total) if total else None
        return cls(loaded, total, progress, direction)


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class RateLimit:
    """The short-window rate limit, from the ``X-RateLimit-*`` headers."""

    limit: int
    remaining: int
    reset: int  # unix second at which the window starts over


@dataclass(frozen=True)
class Box:
    """The subject's box in the result, in pixels (the ``X-Foreground-*`` headers)."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class RemovalResult:
    """One processed image.

    ``content`` always holds the bytes. Without ``return_base64`` they are also in
    the temp file ``path`` (its extension matches ``media_type``); delete it with
    :meth:`cleanup`, or use the result as a context manager. With
    ``return_base64`` there is no file and ``base64_image`` is a ``data:`` URL.
    ``foreground`` is the subject's box in the result; None when the server found no
    subject (or does not report it). ``uncertainty`` is how unsure the model was (0
    confident .. 1 unsure) and ``model`` the model that answered; None from a server that
    does not say.
    """

    content: bytes = field(repr=False)
    media_type: str
    width: int | None
    height: int | None
    request_id: str | None
    rate_limit: RateLimit | None
    foreground: Box | None = None
    uncertainty: float | None = None
    model: str | None = None
    path: Path | None = None
    base64_image: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def cleanup(self) -> None:
        """Delete the temp file, if any (calling it twice is fine)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RemovalResult:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@dataclass(frozen=True)
class BillingCycle:
    """One billing window with its counters (``expand=billing_cycle``)."""

    period_start_unix: int
    period_end_unix: int
    app_usage: int
    api_usage: int
    included_credits: int
    prepaid_credits: int
    used_included_credits: int
    remaining_included_credits: int
    stripe_billing_synced: bool


@dataclass(frozen=True)
class MembershipUsage:
    """Plan, credits and usage. ``app_usage``/``api_usage`` cover the requested calendar
    month, or the billing cycle named by ``period_start_unix``."""

    membership: str | None
    credits: int
    prepaid_credits: int
    app_usage: int
    api_usage: int
    billing_cycle: BillingCycle | None = None
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CycleUsage:
    """One entry of ``listBillingCycles``."""

    period_start_unix: int
    period_end_unix: int
    app_usage: int
    api_usage: int


@dataclass(frozen=True)
class BillingCycles(Sequence[CycleUsage]):
    """Every billing window with usage, newest first; behaves as a read-only list."""

    cycles: tuple[CycleUsage, ...]
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @overload
    def __getitem__(self, index: int) -> CycleUsage: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CycleUsage]: ...
    def __getitem__(self, index: int | slice) -> CycleUsage | Sequence[CycleUsage]:
        return self.cycles[index]

    def __len__(self) -> int:
        return len(self.cycles)

    def __iter__(self) -> Iterator[CycleUsage]:
        return iter(self.cycles)
