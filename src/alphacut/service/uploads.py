"""How many uploads are read at once: overall, and per caller.

Uploads are read before a CPU slot is taken (a slow sender must not hold one), so they
need their own bound: ``total`` places for everyone, ``per_caller`` for one caller (a
user, whatever key or token they use; an anonymous caller by address), so one address's
trickles cannot lock out a paying key. A request that finds no place is refused at
once: 503 when the server is full, 429 when it is the caller's own share.
Single event loop: no lock is needed around the counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alphacut.domain.principal import Principal
from alphacut.errors import Overloaded, RateLimited


def caller_of(principal: Principal) -> str:
    return f"user:{principal.user_id}" if principal.user_id else f"addr:{principal.network}"


class UploadGate:
    def __init__(self, total: int, per_caller: int) -> None:
        self.total = total
        self.per_caller = per_caller
        self._open: Counter[str] = Counter()

    @property
    def reading(self) -> int:
        return self._open.total()

    def has_room(self) -> bool:
        return self.reading < self.total

    @asynccontextmanager
    async def place(self, caller: str) -> AsyncIterator[None]:
        """Hold one upload place for ``caller`` while the body is read."""
        if not self.has_room():
            raise Overloaded()
        if self._open[caller] >= self.per_caller:
            raise RateLimited()
        self._open[caller] += 1
        try:
            yield
        finally:
            self._open[caller] -= 1
            if not self._open[caller]:
                del self._open[caller]
