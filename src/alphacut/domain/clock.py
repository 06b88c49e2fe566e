"""Time as a value: a clock that can be fixed in tests, and UTC calendar arithmetic.

Every timestamp alphacut stores is unix seconds (UTC). Calendar months are
always UTC months, as the contract counts usage "per UTC calendar month".
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds, UTC."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, moment: float) -> None:
        self._now = moment


def utc_year_month(moment: float) -> tuple[int, int]:
    """The UTC calendar (year, month) that contains ``moment``."""
    day = datetime.fromtimestamp(moment, UTC)
    return day.year, day.month


def month_bounds(year: int, month: int) -> tuple[int, int]:
    """First and last second (inclusive) of a UTC calendar month, as unix seconds."""
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    days = calendar.monthrange(year, month)[1]
    return start, start + days * 86400 - 1
