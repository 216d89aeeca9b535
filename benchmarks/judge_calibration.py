"""Calibrate the coverage judge: the local model's P(yes) that the sources cover a question.

For every single-turn dev question, builds the sources exactly as the answer chain does
(hybrid retrieval, evidence sentences of the top papers), asks the ``relevance`` prompt,
and records P(yes). Prints refusal accuracy on ``absent`` and the false-refusal rate on
the rest for a range of thresholds (``judge_below``), alone and combined with the
embedding gate (``refuse_below``). Needs an indexed seed store.

    .venv/bin/assistant ingest --data-dir /tmp/pa-data
    .venv/bin/python benchmarks/judge_calibration.py --data-dir /tmp/pa-data --out /tmp/judge.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.coverage import find_gaps  # noqa: E402
from assistant.evidence import references  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from assistant.verdict import judge_messages, judge_yes  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.paths import DEV  # noqa: E402


def score(assistant: Assistant, item: dict) -> dict:
    chain = assistant.chain
    question = item["question"]
    hits = chain.retriever.search(question, k=10)
    evidence = chain.gather(question, hits)  # the best ``evidence.papers`` hits, as the chain takes them
    refs = references(evidence)
    messages = judge_messages(refs, question)
    gaps = find_gaps(question, chain.retriever.unknown_terms, [h.title for h in hits],
                     [p.get("abstract", "") for p in evidence.papers.values()])
    t0 = time.perf_counter()
    p = judge_yes(assistant.chat_model, messages)
    return {"id": item["id"], "type": item["type"], "p": round(p, 4), "cos": round(max(evidence.best, hits[0].dense), 3),
            "gaps": gaps.describe(), "judge_s": round(time.perf_counter() - t0, 2)}


def rates(rows: list[dict], refused) -> tuple[str, str]:  # noqa: ANN001 - refused: row -> bool
    """Refusal accuracy on absent, false-refusal rate on the rest, formatted."""
    absent = [r for r in rows if r["type"] == "absent"]
    other = [r for r in rows if r["type"] != "absent"]
    return f"{sum(map(refused, absent)) / len(absent):.2f}", f"{sum(map(refused, other)) / len(other):.3f}"


def table(rows: list[dict]) -> str:
    absent = [r for r in rows if r["type"] == "absent"]
    other = [r for r in rows if r["type"] != "absent"]
    gate_rows = []
    for gate in (0.0, 0.45):
        for t in (0.5, 0.6, 0.65, 0.7, 0.75):
            gate_rows.append((f"{t:.2f}", gate or "off", *rates(rows, lambda r: r["p"] < t or r["cos"] < gate)))
    gap_rows = []
    for t in (0.6, 0.65, 0.7, 0.75):
        for sure in (0.0, 0.7, 0.8, 0.9, 1.01):
            label = "gaps alone refuse" if sure > 1 else (f"{sure:.2f}" if sure else "off")
            gap_rows.append((f"{t:.2f}", label, *rates(rows, lambda r: r["p"] < (max(t, sure) if r.get("gaps") else t))))
    lines = report.table(("judge_below", "refuse_below", "refusal accuracy (absent)", "false refusals (rest)"), gate_rows)
    lines += ["", "With the coverage gaps (a name or quoted title no paper has) and the judge:", ""]
    lines += report.table(("judge_below", "judge_sure (with a gap)", "refusal accuracy (absent)",
                           "false refusals (rest)"), gap_rows)
    gapped = [r for r in rows if r.get("gaps")]
    lines += ["", f"Gaps found in {sum(1 for r in gapped if r['type'] == 'absent')} absent and "
              f"{sum(1 for r in gapped if r['type'] != 'absent')} other questions."]
    return "\n".join(lines) + f"\n\n{len(absent)} absent, {len(other)} other questions."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--questions", type=Path, default=DEV, help="JSONL in dev.jsonl's format")
    args = parser.parse_args()
    assistant = Assistant.create(load_settings(data_dir=args.data_dir))
    if assistant.chat_model is None:
        sys.exit(f"no local model: {assistant.model_error}")
    rows = []
    for line in args.questions.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["type"] != "followup":
            rows.append(score(assistant, item))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(table(rows))


if __name__ == "__main__":
    main()
