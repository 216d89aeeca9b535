"""The coverage judge on reading lists: does P(yes) separate lists the corpus covers from
lists on topics it lacks?

For every single-turn question of dev, the own set and the fresh set that asks for a reading
list (``assistant.recommend.is_recommendation``), the recommender's own judge input is built
(its candidate pool, the evidence of the top papers within the context budget) and the local
model's P(yes) read twice: for the request as asked, and for its topic alone ("What does the
corpus say about <topic>?"). Prints one JSON line per question and the range per kind.

    .venv/bin/python benchmarks/list_judge.py --data-dir /tmp/pa-ml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import BENCHMARKS, DEV, OWN  # noqa: E402

SETS = (DEV, OWN, BENCHMARKS / "fresh_questions.jsonl")


def lists(paths: tuple[Path, ...]) -> list[dict]:
    from assistant.recommend import is_recommendation

    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("question") and is_recommendation(r["question"])]


def judged(assistant, item: dict) -> dict:  # noqa: ANN001
    from assistant.evidence import references
    from assistant.recommend import list_topic
    from assistant.verdict import judge_messages, judge_yes

    rec = assistant.recommender
    question = item["question"]
    pool = max(rec.settings.retrieval.list_pool * 5, rec.settings.retrieval.list_pool_min)
    hits = rec.retriever.search(question, k=pool)
    out = {"id": item["id"], "type": item["type"]}
    for variant, text in (("asked", question), ("topic", f"What does the corpus say about {list_topic(question)}?")):
        evidence = rec.evidence.gather(text, hits[: rec.settings.evidence.papers], rec.settings.evidence.context_tokens)
        out[variant] = round(judge_yes(assistant.chat_model, judge_messages(references(evidence), text)), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    from assistant.service import Assistant
    from assistant.settings import load_settings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    args = p.parse_args(argv)
    assistant = Assistant.create(load_settings(data_dir=args.data_dir))
    if assistant.chat_model is None:
        raise SystemExit(f"no local model: {assistant.model_error}")
    rows = []
    for item in lists(SETS):
        rows.append(judged(assistant, item))
        print(json.dumps(rows[-1]), flush=True)
    for kind in ("recommend", "absent"):
        for variant in ("asked", "topic"):
            values = sorted(r[variant] for r in rows if (r["type"] == "absent") == (kind == "absent"))
            if values:
                print(f"{kind:9} {variant}: n={len(values)} min {values[0]:.3f} max {values[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
