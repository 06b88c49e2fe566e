"""Code that runs in child processes of the concurrency tests (spawned: imports stay light)."""

from __future__ import annotations

import threading
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from alphacut.domain.principal import Channel
from alphacut.storage.factory import open_store


def take_until_refused(url: str | None, data_dir: str, user_id: str, period_start: int,
                       threads: int, start: Barrier, results: Queue[tuple[int, int]]) -> None:
    """Open the store, then ``threads`` threads take credits until refused.

    Puts (credits taken, refusals) on ``results``.
    """
    store = open_store(url, Path(data_dir))
    taken = [0] * threads
    refused = [0] * threads
    ready = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        channel = Channel.APP if index % 2 else Channel.API
        ready.wait()
        while store.take_credit(user_id, channel, period_start + 60, period_start) is not None:
            taken[index] += 1
        refused[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()  # every process is ready: go together
    ready.wait()
    for thread in pool:
        thread.join()
    store.close()
    results.put((sum(taken), sum(refused)))


def open_and_create(data_dir: str, email: str, start: Barrier) -> None:
    """Open a (maybe brand new) SQLite store at the same moment as other processes."""
    start.wait()
    store = open_store(None, Path(data_dir))
    store.create_user(email, plan="Free", included_credits=1, now=0)
    store.close()
