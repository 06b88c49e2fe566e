"""Run blocking image work off the event loop, with bounded concurrency and queue.

``slot()`` admits a request or refuses it at once (503 + Retry-After) when
``concurrency + queue`` requests are already admitted, so memory never piles
up behind a slow model. Admitted requests run at most ``concurrency`` at a time
in the work pool the composition root sized (ONNX Runtime and Pillow release the GIL).
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
                 retry_after_s: int = 1) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue
        self.retry_after_s = retry_after_s
        self._executor = executor
        self._admitted = 0
        self._running = 0
        self._count_lock = threading.Lock()

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

    async def run(self, work: Callable[[], T]) -> T:
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
