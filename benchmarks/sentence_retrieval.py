"""Dense retrieval by stored sentence vectors instead of (or beside) chunk vectors: does it
find the paper a paraphrased question is about more often?

For every single-turn, non-absent question with gold titles in dev, the own set, the held-out
and the fresh set, the product's candidates are fused (the same convex fusion with BM25) with
the dense side's per-paper score taken as: the best chunk cosine (the product), the best
sentence cosine (top 200 sentences of the sentence collection), their max, or their mean.
Prints P@1, R@3, R@5 and MRR per set and type, and the lookups and facts whose gold paper is
not first.

    .venv/bin/python benchmarks/sentence_retrieval.py --data-dir /tmp/pa-ml
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402

from benchmarks.paths import BENCHMARKS, DEV, OWN  # noqa: E402

SETS = {"dev": DEV, "own": OWN, "held-out": BENCHMARKS / "heldout_questions.jsonl",
        "fresh": BENCHMARKS / "fresh_questions.jsonl"}
VARIANTS = {"chunk": None, "sentence": lambda c, s: s, "max": max, "mean": lambda c, s: (c + s) / 2}


def _dense_lists(cands, sentences, depth: int = 200) -> dict[str, list[tuple[str, float]]]:  # noqa: ANN001
    from assistant.retrieve import paper_of

    chunk_best: dict[str, float] = {}
    for cid, score in cands.dense:
        chunk_best[paper_of(cid)] = max(chunk_best.get(paper_of(cid), -1.0), score)
    found = sentences.query(query_embeddings=[cands.qvec.tolist()], n_results=depth, include=["metadatas", "distances"])
    sent_best: dict[str, float] = {}
    for meta, distance in zip(found["metadatas"][0], found["distances"][0]):
        sent_best[meta["paper_id"]] = max(sent_best.get(meta["paper_id"], -1.0), 1.0 - distance)
    floor_c, floor_s = min(chunk_best.values()), min(sent_best.values())
    out = {"chunk": cands.dense}
    for name, combine in VARIANTS.items():
        if combine is not None:  # one pseudo-chunk per paper: fusion reads a paper's best
            pairs = [(f"{p}:0:x", combine(chunk_best.get(p, floor_c), sent_best.get(p, floor_s)))
                     for p in chunk_best.keys() | sent_best.keys()]
            out[name] = sorted(pairs, key=lambda kv: -kv[1])
    return out


def main(argv: list[str] | None = None) -> int:
    from assistant.embeddings import embeddings_for
    from assistant.metrics import folded
    from assistant.retrieve import Retriever, fuse_papers, retriever_options
    from assistant.settings import load_settings
    from assistant.store import Store

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    args = p.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir)
    embeddings = embeddings_for(settings)
    store = Store(settings, embeddings)
    retriever = Retriever(store=store, embeddings=embeddings, **retriever_options(settings))
    sentences = store._sentences()  # noqa: SLF001 - the store's sentence collection, read only
    if sentences is None:
        raise SystemExit("no sentence vectors in this store: run `assistant ingest` first")
    ranks: dict[str, dict[tuple[str, str], list[tuple[str, list[int], int]]]] = {v: {} for v in VARIANTS}
    for name, path in SETS.items():
        for line in path.read_text().splitlines():
            item = json.loads(line) if line.strip() else {}
            if not item.get("question") or item["type"] == "absent" or not item.get("gold_titles"):
                continue
            cands = retriever.candidates(item["question"], None, retriever.depth_for(10))
            gold = set(folded(item["gold_titles"]))
            for variant, dense in _dense_lists(cands, sentences).items():
                ranked = fuse_papers(replace(cands, dense=dense), "hybrid", retriever.fusion, 10)
                titles = folded([store.papers([r.paper_id]).get(r.paper_id, {}).get("title", "") for r in ranked])
                ranks[variant].setdefault((name, item["type"]), []).append(
                    (item["id"], [i for i, t in enumerate(titles) if t in gold], len(gold)))
    for variant, by in ranks.items():
        print(f"== {variant}")
        for (name, kind), rows in sorted(by.items()):
            at = lambda k: np.mean([len([r for r in rk if r < k]) / min(n, k) for _, rk, n in rows])  # noqa: E731
            mrr = np.mean([1 / (rk[0] + 1) if rk else 0.0 for _, rk, _ in rows])
            print(f"  {name:8} {kind:9} n={len(rows):2} P@1={at(1):.3f} R@3={at(3):.3f} R@5={at(5):.3f} MRR={mrr:.3f}")
        missed = [(i, rk[:1]) for (_, kind), rows in by.items() if kind in ("lookup", "fact") for i, rk, _ in rows
                  if not rk or rk[0] > 0]
        print(f"  lookups and facts whose gold is not first: {missed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
