"""Ingest: a cold then a warm ``assistant ingest`` of ``seeds/`` into a fresh data directory.

Each run is a subprocess (imports and model load included): wall seconds and the
child's own peak RSS (``os.wait4``), with the papers read and the chunks embedded as
the command reports them. The warm run changes nothing (the store is incremental).

    .venv/bin/python benchmarks/ingest.py [PATH ...] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.memory import run_measured  # noqa: E402
from benchmarks.paths import REPO, SEEDS  # noqa: E402
from benchmarks.report import num, table  # noqa: E402


def assistant_command() -> list[str]:
    """The ``assistant`` console script beside this interpreter, else ``python -m assistant.cli``."""
    script = Path(sys.executable).parent / "assistant"
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]


def shown_command(paths: Sequence[Path]) -> str:
    """The command as the document shows it (repository paths relative, data dir ``TMP``)."""
    shown = [os.path.relpath(p, REPO) if Path(p).is_relative_to(REPO) else str(p) for p in paths]
    return shlex.join(["assistant", "ingest", *shown, "--data-dir", "TMP", "--quiet"])


def parse_output(output: str) -> dict[str, int | None]:
    """Chunks embedded and papers read, from ``assistant ingest``'s summary lines."""
    found = re.search(r"\((\d+) chunks, ([\d.]+) chunks/s\)", output)
    papers = re.search(r"^(\d+) papers:", output, re.M)
    return {"chunks_embedded": int(found.group(1)) if found else None,
            "papers": int(papers.group(1)) if papers else None}


def ingest_runs(data_dir: Path, paths: Sequence[Path] = (SEEDS,)) -> dict[str, Any]:
    """Cold then warm ``assistant ingest`` of ``paths`` into ``data_dir`` (fresh)."""
    cmd = [*assistant_command(), "ingest", *map(str, paths), "--data-dir", str(data_dir), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_DATA_DIR"}
    out: dict[str, Any] = {"command": shown_command(paths)}
    for run in ("cold", "warm"):
        result = run_measured(cmd, env)
        if result["rc"] != 0:
            raise RuntimeError(f"assistant ingest failed ({result['rc']}): {result['output'][-500:]}")
        result.update(parse_output(result["output"]))
        out[run] = {k: v for k, v in result.items() if k != "output"}
    return out


RUNS = (("cold", "cold (fresh data dir, imports and model load included)"),
        ("warm", "warm (second run, nothing changed)"))


def render(ingest: dict[str, Any] | None) -> list[str]:
    """The "Ingest of `seeds/`" subsection."""
    lines = ["### Ingest of `seeds/`", ""]
    if not ingest:
        return lines + ["Skipped.", ""]
    rows = [(label, f"{ingest[run]['seconds']:.1f}", f"{ingest[run]['peak_rss_mb']:.0f} MB",
             num(ingest[run].get("papers"), "d"), num(ingest[run].get("chunks_embedded"), "d"))
            for run, label in RUNS]
    lines += [f"`{ingest['command']}`, twice, into a fresh temporary data directory.", ""]
    lines += table(("run", "wall s", "peak RSS", "papers", "chunks embedded"), rows)
    return lines + [""]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", default=[str(SEEDS)], help="corpus files or directories (default: seeds/)")
    p.add_argument("--data-dir", help="ingest here (must not exist yet; default: a temporary directory)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pa-bench-ingest-") as tmp:
        data_dir = Path(args.data_dir or Path(tmp) / "data")
        if data_dir.exists():
            p.error(f"{data_dir} exists: a cold ingest needs a fresh data directory")
        print("\n".join(render(ingest_runs(data_dir, [Path(x) for x in args.paths]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
