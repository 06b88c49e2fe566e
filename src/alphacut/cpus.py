"""How many CPUs this process may use: the one fact both the settings (defaults) and the
composition root (pool sizes) need."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, where the OS tells it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
