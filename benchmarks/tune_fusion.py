"""Tune the product's fusion on SciFact TRAIN claims (never on test).

Loads the SciFact store once (ingest it first, e.g. with
``assistant eval-beir ... --data-dir /tmp/pa-beir``), caches every training query's
dense and BM25 candidate lists (deep: 1,000 dense chunks and 1,000 BM25 papers, from
the product's own ``Retriever.candidates``) and evaluates many
``Fusion`` settings in-process with ``assistant.retrieve.fuse_papers``, so a setting
costs about a second.

    .venv/bin/python benchmarks/tune_fusion.py --data-dir /tmp/pa-beir [--grid full|quick] [--out FILE]

Prints the best settings by nDCG@10 on train (recall@100 beside it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant import beir, metrics  # noqa: E402
from assistant.bm25 import BM25_FORMAT  # noqa: E402
from assistant.retrieve import (  # noqa: E402
    PLAIN_RRF,
    PRODUCT,
    Candidates,
    Fusion,
    Retriever,
    fuse_papers,
)
from benchmarks.paths import SCIFACT  # noqa: E402

DEPTH = 1000


def open_store(data_dir: Path, collection: str):  # noqa: ANN201
    from assistant.embeddings import embeddings_for
    from assistant.settings import load_settings
    from assistant.store import Store

    settings = load_settings(env={}, data_dir=data_dir, collection=collection)
    return Store(settings, embeddings_for(settings))


def build_candidates(store, queries: dict[str, str], qids: list[str], cache: Path) -> dict[str, Candidates]:  # noqa: ANN001
    """Every query's candidates from the product's own code path, DEPTH deep, cached on disk."""
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
        if data.get("generation") == store.generation() and data.get("key") == (DEPTH, BM25_FORMAT) and set(qids) <= set(data["cands"]):
            return data["cands"]
    t0 = time.perf_counter()
    retriever = Retriever(store=store, embeddings=store.embeddings)
    cands = {qid: retriever.candidates(queries[qid], depth=DEPTH) for qid in qids}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps({"generation": store.generation(), "key": (DEPTH, BM25_FORMAT), "cands": cands}))
    print(f"cached candidates of {len(qids)} queries in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return cands


def score(cands: dict[str, Candidates], qrels: dict[str, dict[str, int]], mode: str, fusion: Fusion) -> tuple[float, float]:
    ndcg = recall = 0.0
    for qid, rels in qrels.items():
        ranked = [r.paper_id for r in fuse_papers(cands[qid], mode, fusion, beir.RECALL_K)]
        ndcg += metrics.ndcg_at_k(ranked, rels, beir.NDCG_K)
        recall += metrics.recall_at_k(ranked, rels, beir.RECALL_K)
    return ndcg / len(qrels), recall / len(qrels)


def grid(kind: str) -> list[Fusion]:
    out: list[Fusion] = []
    depths = (60, 100, 200, 300) if kind == "full" else (100,)
    seconds = (0.0, 0.1) if kind == "full" else (0.0,)
    for depth, second in itertools.product(depths, seconds):
        for k, wd in itertools.product((10, 30, 60), (0.8, 1.0, 1.25)):
            out.append(Fusion("rrf", wd, 1.0, "max", float(k), depth, second))
        for norm, wd in itertools.product(("max", "minmax", "zscore"), (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)):
            out.append(Fusion("convex", wd, round(1.0 - wd, 2), norm, 60.0, depth, second))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/tmp/pa-beir")
    p.add_argument("--collection", default="beir_scifact")
    p.add_argument("--queries", default=str(SCIFACT / "queries.jsonl"))
    p.add_argument("--qrels", default=str(SCIFACT / "qrels" / "train.tsv"))
    p.add_argument("--grid", choices=["full", "quick"], default="quick")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out", help="write all settings and scores (JSON)")
    args = p.parse_args()
    if "test" in Path(args.qrels).name:
        p.error("tuning on test judgments is not allowed; use train.tsv")
    store = open_store(Path(args.data_dir), args.collection)
    if not store.count():
        p.error(f"{args.data_dir} has no collection {args.collection}; run assistant eval-beir first")
    queries, qrels = beir.load_queries(Path(args.queries)), beir.load_qrels(Path(args.qrels))
    qrels = {q: r for q, r in qrels.items() if q in queries}
    cache = Path(args.data_dir) / "tune-cache" / f"{args.collection}-{Path(args.qrels).stem}.pkl"
    cands = build_candidates(store, queries, sorted(qrels), cache)
    rows = []
    for mode in ("bm25", "dense", "rrf"):
        n, r = score(cands, qrels, mode, PLAIN_RRF)
        print(f"{mode:<8} ndcg@10 {n:.4f}  recall@100 {r:.4f}")
    n, r = score(cands, qrels, "hybrid", PRODUCT)
    print(f"PRODUCT  ndcg@10 {n:.4f}  recall@100 {r:.4f}  {PRODUCT}")
    t0 = time.perf_counter()
    for fusion in grid(args.grid):
        n, r = score(cands, qrels, "hybrid", fusion)
        rows.append({"ndcg@10": n, "recall@100": r, "fusion": asdict(fusion)})
    rows.sort(key=lambda row: -row["ndcg@10"])
    print(f"{len(rows)} settings in {time.perf_counter() - t0:.0f}s; best on {Path(args.qrels).name}:")
    for row in rows[: args.top]:
        print(f"  ndcg@10 {row['ndcg@10']:.4f}  recall@100 {row['recall@100']:.4f}  {Fusion(**row['fusion'])}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
