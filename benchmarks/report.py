"""What every benchmark shares: the machine, load average, disk usage, percentiles,
Markdown tables and number formats, and the marked section of docs/benchmarks.md.

Nothing here measures the product; nothing here imports more than the standard library
and ``assistant.metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.metrics import latency, percentile

__all__ = [
    "MARK_START", "MARK_END", "machine", "load_average", "disk_usage", "percentile", "latency", "num", "size",
    "row", "table", "under_load", "write_section",
]

MARK_START = "<!-- bench:start -->"
MARK_END = "<!-- bench:end -->"


# ---------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """CPU count and model name (from /proc/cpuinfo)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count() or 0, "cpu_model": model or "unknown"}


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        return 0.0


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (what ``du`` counts)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def under_load(results: dict[str, Any]) -> bool:
    """True when the load average ever passed three quarters of the CPUs during the run."""
    loads = results.get("loads") or []
    return bool(loads) and max(loads) > 0.75 * max(results["machine"]["cpus"], 1)


# ---------------------------------------------------------------- Markdown


def num(value: Any, fmt: str = ".1f", none: str = "–") -> str:
    """``value`` formatted, or a dash when it is None."""
    return none if value is None else format(value, fmt)


def size(n: int | None) -> str:
    """Bytes as KB / MB / GB (binary units), a dash when unknown."""
    if n is None:
        return "–"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / 1024:.0f} KB"


def row(cells: Sequence[Any]) -> str:
    """One Markdown table row; an empty cell is written as ``| |``."""
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table: the header, its ``|---|`` rule, then the rows."""
    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]


def write_section(doc: Path, body: str) -> None:
    """Replace what lies between the markers with ``body``; append the markers if absent."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"{MARK_START}\n{body.rstrip()}\n{MARK_END}"
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(MARK_END):]
    else:
        text = text + ("" if not text or text.endswith("\n") else "\n") + ("\n" if text else "") + block + "\n"
    doc.write_text(text, encoding="utf-8")
