"""Replay the coverage judge's lead rules on recorded eval runs: which questions would each rule
refuse, from the P(yes) (``coverage``), bar (``coverage_needed``), lead (``standout``) and gaps
the records carry? No model runs.

Rules, for a question about one paper that names nothing no paper mentions (a gap: 0.80; a
rare name a source has: 0.50, as recorded):

- ``before``: as recorded (no paper standing out: refuse under ``judge.sure``, 0.80);
- ``caveat``: no paper standing out refuses under ``judge.below`` (0.70) only (a caveat above);
- ``no-lead``: neither the raised nor the lowered bar (0.70 for every question about one paper).

A question answered without the judge (``coverage`` null) stays as it was. Reading lists keep
their recorded bar.

    .venv/bin/python benchmarks/lead_rules.py dev=/tmp/ev-dev.jsonl own=/tmp/ev-own.jsonl ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BELOW, SURE, NAMED, STANDOUT, STANDOUT_BELOW = 0.70, 0.80, 0.50, 0.10, 0.62


def refused(rule: str, r: dict) -> bool:
    p, need, lead = r["coverage"], r["coverage_needed"], r["standout"]
    gaps = "No paper" in (r.get("gaps") or "")
    if p is None:
        return bool(r["refused"])
    if r["kind"] != "answer" or rule == "before":
        return p < (need if need is not None else (SURE if gaps else BELOW))
    if gaps:
        return p < SURE
    if need == NAMED:
        return p < NAMED
    if rule == "no-lead":
        return p < BELOW
    return p < (STANDOUT_BELOW if lead is not None and lead >= STANDOUT else BELOW)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=records.jsonl (assistant eval --out)")
    args = p.parse_args(argv)
    runs = {name: Path(path) for name, path in (run.split("=", 1) for run in args.runs)}
    print("| rule | refused absent | false refusals |")
    print("|---|---|---|")
    for rule in ("before", "caveat", "no-lead"):
        absent, answerable = [], []
        for path in runs.values():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            a = [refused(rule, r) for r in rows if r["type"] == "absent"]
            b = [refused(rule, r) for r in rows if r["type"] != "absent"]
            absent.append(f"{sum(a)}/{len(a)}")
            answerable.append(f"{sum(b)}/{len(b)}")
        print(f"| {rule} ({', '.join(runs)}) | {', '.join(absent)} | {', '.join(answerable)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
