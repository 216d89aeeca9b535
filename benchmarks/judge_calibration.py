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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.chain import judge_messages, judge_yes  # noqa: E402
from assistant.coverage import find_gaps  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"


def score(assistant: Assistant, item: dict) -> dict:
    chain = assistant.chain
    question = item["question"]
    hits = chain.retriever.search(question, k=10)
    evidence = chain.gather(question, hits[: chain.context_papers])
    refs = chain.references(evidence)
    messages = judge_messages(refs, question)
    gaps = find_gaps(question, chain.retriever.unknown_terms, [h.title for h in hits],
                     [p.get("abstract", "") for p in evidence.papers.values()])
    t0 = time.perf_counter()
    p = judge_yes(assistant.chat_model, messages)
    return {"id": item["id"], "type": item["type"], "p": round(p, 4), "cos": round(max(evidence.best, hits[0].dense), 3),
            "gaps": gaps.describe(), "judge_s": round(time.perf_counter() - t0, 2)}


def table(rows: list[dict]) -> str:
    absent = [r for r in rows if r["type"] == "absent"]
    other = [r for r in rows if r["type"] != "absent"]
    lines = ["| judge_below | refuse_below | refusal accuracy (absent) | false refusals (rest) |", "|---|---|---|---|"]
    for gate in (0.0, 0.45):
        for t in (0.5, 0.6, 0.65, 0.7, 0.75):
            refused = lambda r: r["p"] < t or r["cos"] < gate  # noqa: E731
            lines.append(f"| {t:.2f} | {gate or 'off'} | {sum(map(refused, absent)) / len(absent):.2f} "
                         f"| {sum(map(refused, other)) / len(other):.3f} |")
    lines += ["", "With the coverage gaps (a name or quoted title no paper has) and the judge:", "",
              "| judge_below | judge_sure (with a gap) | refusal accuracy (absent) | false refusals (rest) |", "|---|---|---|---|"]
    for t in (0.6, 0.65, 0.7, 0.75):
        for sure in (0.0, 0.7, 0.8, 0.9, 1.01):
            refused = lambda r: r["p"] < (max(t, sure) if r.get("gaps") else t)  # noqa: E731
            label = "gaps alone refuse" if sure > 1 else (f"{sure:.2f}" if sure else "off")
            lines.append(f"| {t:.2f} | {label} | {sum(map(refused, absent)) / len(absent):.2f} "
                         f"| {sum(map(refused, other)) / len(other):.3f} |")
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
