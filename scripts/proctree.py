"""CPU seconds and RSS of a process and its descendants, read from /proc (Linux only).

Shared by ``bench.py`` and ``bench_http.py``; standard library only, since ``bench.py``
also runs under rembg's environment, and psutil is in neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_UTIME = 11
"""utime's index among the fields after the command name (field 14 of proc(5)); stime,
cutime and cstime follow it."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process: every thread, live or exited, and every child it
    has waited for (``cutime``/``cstime``), so a reaped child's CPU is never lost.
    OSError when the process is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may itself hold spaces or parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(tick) for tick in fields[_UTIME:_UTIME + 4]) / _TICKS


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's), [] when it is gone."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended while we listed them
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids, index = [pid], 0
    while index < len(pids):
        pids += children(pids[index])
        index += 1
    return pids


@dataclass(frozen=True)
class TreeCpu:
    """One sample of a process tree's CPU."""

    seconds: float
    pids: frozenset[int]


def tree_cpu(pid: int) -> TreeCpu:
    """CPU seconds of ``pid`` and its descendants, each counted with its reaped children.

    A descendant that exits between two samples keeps counting only if a member of the
    tree reaps it (its CPU moves into that member's ``cutime``); compare the two samples'
    ``pids`` to see whether any left."""
    seconds, alive = 0.0, set()
    for member in tree(pid):
        try:
            seconds += cpu_seconds(member)
        except OSError:
            continue  # exited between the listing and the read
        alive.add(member)
    return TreeCpu(seconds, frozenset(alive))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (VmRSS summed), in MB."""
    total_kb = 0
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:")), 0)
    return total_kb / 1024
