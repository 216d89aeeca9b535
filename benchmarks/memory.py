"""Memory: peak RSS of the bench process after each stage, and of a child command.

A child's peak RSS comes from ``os.wait4`` (its own, not the bench's); the bench
process's from ``getrusage``. Alone, this script runs one command and prints its wall
seconds and peak RSS:

    .venv/bin/python benchmarks/memory.py -- .venv/bin/assistant stats
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.report import load_average  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall seconds and that child's own peak RSS (from ``wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        # read all output first (a full pipe would block the child), then reap it with wait4
        output = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
        _pid, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted: do not leave the child running
        proc.kill()
        proc.wait()
        raise
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stdout:
        proc.stdout.close()
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode, "output": output}


class Stages:
    """Records, after each named stage, the bench's peak RSS (``results["memory"]``) and the
    load average (``results["loads"]``), and says so on stderr."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        results.setdefault("memory", {})
        results.setdefault("loads", [load_average()])

    def __call__(self, name: str) -> None:
        self.results["memory"][name] = peak_rss_mb()
        self.results["loads"].append(load_average())
        print(f"[bench] {name} done (peak RSS {peak_rss_mb():.0f} MB, load {load_average():.1f})",
              file=sys.stderr, flush=True)


def render(memory: dict[str, float] | None) -> list[str]:
    """The "Memory of the bench process" subsection."""
    lines = ["### Memory of the bench process", ""]
    if memory:
        lines.append(f"Peak RSS {max(memory.values()):.0f} MB. After each stage: "
                     + ", ".join(f"{stage} {mb:.0f} MB" for stage, mb in memory.items()) + ".")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command to measure (after --)")
    args = p.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        p.error("give a command to measure, after --")
    result = run_measured(cmd)
    sys.stdout.write(result["output"])
    print(f"{' '.join(cmd)}: rc {result['rc']}, {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB")
    return 0 if result["rc"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
