"""How busy the machine's cores are with other work, for the local model's thread count.

Measured on these 2 shared cores: under contention, 2 llama.cpp threads collapse to under
2 tokens/s where 1 thread keeps 5-6 (each thread waits at every barrier for the slowest, and a
core taken by another process makes one of them slow). So a call uses the configured threads
while the cores are free and fewer while other processes keep them busy. "Busy" is the CPU time
other processes used during a short sample (``/proc/stat`` minus this process's own,
``/proc/self/stat``), so this process's own work never counts against it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks() -> tuple[int, int] | None:
    """(busy ticks of all cores, ticks of this process), or None where /proc is not readable."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, int(own[11]) + int(own[12])  # utime + stime


def others_busy(sample_s: float = 0.1) -> float | None:
    """Cores' worth of CPU other processes used during ``sample_s`` seconds (None: unknown)."""
    first = _ticks()
    start = time.monotonic()
    time.sleep(sample_s)
    second = _ticks()
    if first is None or second is None:
        return None
    elapsed = max(time.monotonic() - start, 1e-3) * TICKS
    return max(0.0, ((second[0] - first[0]) - (second[1] - first[1])) / elapsed)


_RECENT: list[tuple[float, float | None]] = []  # (when, others_busy) of the last sample


def recent_busy(max_age_s: float = 5.0) -> float | None:
    """:func:`others_busy`, sampled again only when the last sample is older than ``max_age_s``
    (a judge call and the answer right after it share one sample)."""
    now = time.monotonic()
    if not _RECENT or now - _RECENT[0][0] > max_age_s:
        _RECENT[:] = [(now, others_busy())]
    return _RECENT[0][1]


def threads_for(configured: int, busy: float | None, cores: int | None = None) -> int:
    """The threads to use: ``configured`` capped by the cores other work leaves free (at least
    one), rounding the others' share up from half a core."""
    if busy is None or configured <= 1:
        return configured
    free = (cores or os.cpu_count() or 1) - int(busy + 0.5)
    return max(1, min(configured, free))
