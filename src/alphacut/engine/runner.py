"""Run blocking image work off the event loop, with bounded concurrency and queue.

``slot()`` admits a request or refuses it at once (503 + Retry-After) when
``concurrency + queue`` requests are already admitted, so memory never piles
up behind a slow model. Admitted requests run at most ``concurrency`` at a time
in the work pool the composition root sized (ONNX Runtime and Pillow release the GIL),
and, weighed by their pixels, at most ``pixel_budget`` pixels at a time: memory grows
with pixels, not with requests (a 100 MP image peaks at about 2.5 GB). An image bigger
than the whole budget still runs, alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from typing import TypeVar

from alphacut.errors import Overloaded

T = TypeVar("T")


class Runner:
    def __init__(self, executor: Executor, concurrency: int, queue: int,
                 retry_after_s: int = 1, pixel_budget: int | None = None) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue
        self.retry_after_s = retry_after_s
        self.pixel_budget = pixel_budget
        self._executor = executor
        self._admitted = 0
        self._running = 0
        self._count_lock = threading.Lock()
        self._pixels = 0  # weight of the work started and not yet finished
        self._freed: tuple[asyncio.AbstractEventLoop, asyncio.Condition] | None = None

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Admission: refuse immediately when full (the event loop is single-threaded,
        so the check and the increment cannot interleave)."""
        if self._admitted >= self.capacity:
            raise Overloaded(self.retry_after_s)
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    @property
    def pixels(self) -> int:
        """The pixels of the work running now (what the budget weighs)."""
        return self._pixels

    def _condition(self) -> asyncio.Condition:
        """The event loop's condition (made on first use in each loop: tests run several)."""
        loop = asyncio.get_running_loop()
        if self._freed is None or self._freed[0] is not loop:
            self._freed = (loop, asyncio.Condition())
        return self._freed[1]

    async def run(self, work: Callable[[], T], pixels: int = 0) -> T:
        """``work`` in the pool, once the pixel budget has room for ``pixels`` (or nothing
        else is running)."""
        budget = self.pixel_budget
        if budget is None or pixels <= 0:
            return await self._run(work)
        freed = self._condition()
        async with freed:
            await freed.wait_for(lambda: self._pixels == 0 or self._pixels + pixels <= budget)
            self._pixels += pixels
        try:
            return await self._run(work)
        finally:
            async with freed:
                self._pixels -= pixels
                freed.notify_all()

    async def _run(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()

        def counted() -> T:
            with self._count_lock:
                self._running += 1
            try:
                return work()
            finally:
                with self._count_lock:
                    self._running -= 1

        return await loop.run_in_executor(self._executor, counted)
