"""Exactness under contention: threads, and two worker processes, on each backend.

With K credits left and N > K concurrent takers exactly K succeed, balances
never go negative, and the counters equal the successes.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alphacut.domain.accounts import Charge, CreditSource, Usage
from alphacut.domain.principal import Channel
from alphacut.storage.base import Store
from tests.storage.support import MARCH_2026, NOW, new_user
from tests.storage.workers import take_until_refused

BACKENDS = ["sqlite", "redis"]
T = TypeVar("T")


def all_at_once(count: int, call: Callable[[int], T]) -> list[T]:
    """Run ``call(i)`` for i in range(count) on ``count`` threads released together."""
    gate = threading.Barrier(count)

    def run(index: int) -> T:
        gate.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_threads_take_exactly_the_credits_there_are(store: Store) -> None:
    user = new_user(store, included=5, prepaid=7)

    def take(index: int) -> Charge | None:
        channel = Channel.APP if index % 2 else Channel.API
        return store.take_credit(user.id, channel, NOW, MARCH_2026)

    charges = [c for c in all_at_once(32, take) if c is not None]
    assert len(charges) == 12
    assert sum(c.source is CreditSource.PREPAID for c in charges) == 7
    after = store.get_user(user.id)
    assert after is not None and after.prepaid_credits == 0
    apps = sum(c.channel is Channel.APP for c in charges)
    assert store.cycle_usage(user.id, MARCH_2026) == Usage(app=apps, api=12 - apps)
    assert store.month_usage(user.id, 2026, 3) == Usage(app=apps, api=12 - apps)


def test_concurrent_refunds_and_takes_stay_exact(store: Store) -> None:
    user = new_user(store, included=4, prepaid=4)
    charges = [store.take_credit(user.id, Channel.API, NOW, MARCH_2026) for _ in range(8)]

    def refund_or_take(index: int) -> Charge | None:
        charge = charges[index // 2]
        if index % 2 == 0 and charge is not None:
            store.refund(charge)
            return None
        return store.take_credit(user.id, Channel.API, NOW, MARCH_2026)

    retaken = [c for c in all_at_once(16, refund_or_take) if c is not None]
    after = store.get_user(user.id)
    assert after is not None
    # Whatever the interleaving: every standing charge is counted once, and
    # prepaid pays exactly for the standing charges beyond the 4 included.
    assert store.cycle_usage(user.id, MARCH_2026).total == len(retaken)
    assert after.prepaid_credits == 4 - max(0, len(retaken) - 4)
    # And draining what is left ends at the original 8 credits, not one more.
    while store.take_credit(user.id, Channel.API, NOW, MARCH_2026) is not None:
        pass
    drained = store.get_user(user.id)
    assert drained is not None and drained.prepaid_credits == 0
    assert store.cycle_usage(user.id, MARCH_2026).total == 8


def test_a_window_allows_exactly_its_limit_under_contention(store: Store) -> None:
    decisions = all_at_once(24, lambda _: store.hit("ip:198.51.100.7", 10, 60, NOW))
    assert sum(d.allowed for d in decisions) == 10


def test_an_event_is_new_for_exactly_one_caller(store: Store) -> None:
    assert sum(all_at_once(16, lambda _: store.mark_event("evt_race", NOW))) == 1


def test_two_processes_take_exactly_the_credits_there_are(
    store: Store, store_url: str | None, tmp_path: Path
) -> None:
    included, prepaid = 60, 90
    user = new_user(store, included=included, prepaid=prepaid)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    workers = [
        context.Process(target=take_until_refused,
                        args=(store_url, str(tmp_path), user.id, MARCH_2026, 4, start, results))
        for _ in range(2)
    ]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert sum(taken for taken, _ in outcomes) == included + prepaid
    assert all(taken > 0 for taken, _ in outcomes), "both processes must have taken credits"
    after = store.get_user(user.id)
    assert after is not None and after.prepaid_credits == 0
    usage = store.cycle_usage(user.id, MARCH_2026)
    assert usage.total == included + prepaid
    assert store.month_usage(user.id, 2026, 3) == usage
