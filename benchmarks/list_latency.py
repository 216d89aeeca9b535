"""Recommendation lists streamed item by item: time to the first item and to the whole list.

The list (retrieval, coverage verdict, MMR, quotes) is shown with template reasons as soon as it
is ready; the model's reasons then fill in, one item at a time (``Assistant.stream_lists``, as
the app runs). Times from the message to the first list event and to the final answer; how many
reasons the model wrote (the rest keep the template).

    .venv/bin/python benchmarks/list_latency.py --data-dir DIR [--provider local] [--questions 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.chain import Conversation  # noqa: E402
from assistant.recommend import WRITTEN  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from benchmarks.paths import DEV  # noqa: E402


def measure(assistant: Assistant, question: str, n: int) -> dict:
    started = time.perf_counter()
    first = None
    answer = None
    for event in assistant.respond(question, Conversation(), mode="recommend", n=n):
        if event.kind == "token" and first is None:
            first = time.perf_counter() - started
        if event.kind == "answer":
            answer = event.answer
    total = time.perf_counter() - started
    written = sum(1 for s in answer.support if s.reason == WRITTEN["model"])
    replaced = sum(1 for s in answer.support if s.reason == WRITTEN["relation"])
    return {"question": question[:60], "first_item_s": round(first or total, 2), "total_s": round(total, 2),
            "items": len(answer.references), "model_reasons": written, "paraphrases_replaced": replaced, "refused": answer.refused,
            "reasons": [s.text for s in answer.support]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--provider", default="local")
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir, provider=args.provider)
    assistant = Assistant.create(settings)
    assistant.stream_lists = True
    items = [json.loads(x) for x in DEV.read_text().splitlines() if x.strip()]
    questions = [i["question"] for i in items if i["type"] == "recommend"][: args.questions]
    rows = [measure(assistant, "What should I read on continual or lifelong learning?", args.n)]
    rows += [measure(assistant, q, args.n) for q in questions]
    listed = [r for r in rows if not r["refused"]]
    print(json.dumps({"provider": args.provider, "rows": rows,
                      "first_item_p50_s": statistics.median(r["first_item_s"] for r in listed) if listed else None,
                      "total_p50_s": statistics.median(r["total_s"] for r in listed) if listed else None},
                     indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
