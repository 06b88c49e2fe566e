"""Admission weighed by pixels: memory grows with pixels, not with requests."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from alphacut.engine.runner import Runner


def test_work_waits_for_pixel_room_and_a_giant_runs_alone() -> None:
    started: list[str] = []
    release = {name: threading.Event() for name in ("a", "b", "giant")}

    def work(name: str) -> str:
        started.append(name)
        release[name].wait(10)
        return name

    async def scenario(runner: Runner) -> list[str]:
        a = asyncio.create_task(runner.run(lambda: work("a"), 80))
        await asyncio.sleep(0.1)
        b = asyncio.create_task(runner.run(lambda: work("b"), 50))
        giant = asyncio.create_task(runner.run(lambda: work("giant"), 500))
        await asyncio.sleep(0.2)
        assert started == ["a"]  # 80 + 50 > 100: b waits, though a thread is free
        assert runner.pixels == 80
        release["a"].set()
        await a
        await asyncio.sleep(0.2)
        assert sorted(started) == ["a", "b"] or sorted(started) == ["a", "giant"]
        release["b"].set()
        release["giant"].set()
        await asyncio.gather(b, giant)
        assert runner.pixels == 0
        return started

    with ThreadPoolExecutor(2) as pool:
        order = asyncio.run(scenario(Runner(pool, 2, 4, pixel_budget=100)))
    assert sorted(order) == ["a", "b", "giant"]


def test_without_a_budget_only_the_threads_bound_the_work() -> None:
    async def both(runner: Runner) -> int:
        gate = threading.Barrier(2, timeout=5)
        results = await asyncio.gather(runner.run(lambda: gate.wait(), 10**12),
                                       runner.run(lambda: gate.wait(), 10**12))
        return len(results)

    with ThreadPoolExecutor(2) as pool:
        assert asyncio.run(both(Runner(pool, 2, 0))) == 2
