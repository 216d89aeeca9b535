"""Candidate-generation variants on SciFact TRAIN (never test): what each side could be.

Where ``tune_fusion.py`` tunes how two fixed candidate lists are fused, this script
compares ways of producing the lists: BM25 parameters (k1, b), chunk- vs paper-level
BM25 documents (a chunk-level list is reduced to papers by best chunk), and dense
pseudo-relevance feedback (Rocchio on the query vector).
Exact numpy search over the stored chunk embeddings stands in for Chroma's HNSW.

    .venv/bin/python benchmarks/explore_variants.py --data-dir /tmp/pa-beir
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant import beir, metrics  # noqa: E402
from assistant.bm25 import bm25_text, stem_query, tokenize, top_scores  # noqa: E402
from assistant.retrieve import PLAIN_RRF, Candidates, Fusion, dense_papers, fuse_papers  # noqa: E402
from assistant.store import paper_record  # noqa: E402
from benchmarks.paths import SCIFACT  # noqa: E402
from benchmarks.tune_fusion import open_store  # noqa: E402

DEPTH = 1000


def evaluate(cands: dict[str, Candidates], qrels, mode: str, fusion: Fusion) -> tuple[float, float]:  # noqa: ANN001
    n = r = 0.0
    for qid, rels in qrels.items():
        ranked = [x.paper_id for x in fuse_papers(cands[qid], mode, fusion, 100)]
        n += metrics.ndcg_at_k(ranked, rels, 10)
        r += metrics.recall_at_k(ranked, rels, 100)
    return n / len(qrels), r / len(qrels)


class Corpus:
    def __init__(self, store) -> None:  # noqa: ANN001
        self.chunks = list(store.iter_chunks())
        self.ids = [c.chunk_id for c in self.chunks]
        got: dict[str, np.ndarray] = {}
        for lo in range(0, len(self.ids), 5000):
            found, vectors = store.vectors(self.ids[lo : lo + 5000])
            got.update(zip(found, vectors))
        self.matrix = np.stack([got[i] for i in self.ids])
        by_paper: dict[str, list] = {}
        for c in self.chunks:
            by_paper.setdefault(c.metadata["paper_id"], []).append(c)
        for cs in by_paper.values():
            cs.sort(key=lambda c: c.metadata.get("chunk_index", 0))
        self.papers = {pid: paper_record(cs) for pid, cs in by_paper.items()}

    def bm25(self, level: str, k1: float, b: float, method: str = "lucene"):  # noqa: ANN201
        import bm25s

        if level == "chunk":
            ids = self.ids
            texts = [bm25_text(c.metadata.get("display_title", ""), c.text) for c in self.chunks]
        else:
            ids = list(self.papers)
            texts = [bm25_text(p.get("display_title", ""), p["abstract"]) for p in self.papers.values()]
        model = bm25s.BM25(k1=k1, b=b, method=method)
        model.index(tokenize(texts), show_progress=False)
        return ids, model


def sparse_lists(ids, model, texts: dict[str, str]) -> dict[str, list[tuple[str, float]]]:  # noqa: ANN001
    out = {}
    for qid, text in texts.items():
        tokens = [t for t in stem_query(text) if t in model.vocab_dict]
        if not tokens:
            out[qid] = []
            continue
        scores = model.get_scores(tokens)
        found = [(ids[i], float(scores[i])) for i in top_scores(scores, DEPTH)]
        # chunk-level documents: a paper scores its best chunk (fuse_papers expects papers)
        out[qid] = dense_papers(found)[0] if ids and ":" in ids[0] else found
    return out


def dense_lists(corpus: Corpus, qmat: np.ndarray, qids: list[str]) -> dict[str, list[tuple[str, float]]]:
    sims = qmat @ corpus.matrix.T
    out = {}
    for row, qid in enumerate(qids):
        top = np.argpartition(-sims[row], DEPTH)[:DEPTH]
        top = top[np.argsort(-sims[row][top])]
        out[qid] = [(corpus.ids[i], float(sims[row][i])) for i in top]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/tmp/pa-beir")
    p.add_argument("--collection", default="beir_scifact")
    p.add_argument("--qrels", default=str(SCIFACT / "qrels" / "train.tsv"))
    args = p.parse_args()
    assert "test" not in Path(args.qrels).name, "never explore on test"
    store = open_store(Path(args.data_dir), args.collection)
    queries = beir.load_queries(SCIFACT / "queries.jsonl")
    qrels = {q: r for q, r in beir.load_qrels(Path(args.qrels)).items() if q in queries}
    qids = sorted(qrels)
    texts = {q: queries[q] for q in qids}
    t0 = time.perf_counter()
    corpus = Corpus(store)
    qmat = store.embeddings.embed_array([texts[q] for q in qids])
    dense = dense_lists(corpus, qmat, qids)
    print(f"loaded {len(corpus.ids)} chunks, {len(corpus.papers)} papers in {time.perf_counter() - t0:.0f}s")

    def show(name: str, d, s, fusions=(("rrf", PLAIN_RRF),)) -> None:  # noqa: ANN001
        c = {q: Candidates(texts[q], qmat[i], d[q], s[q]) for i, q in enumerate(qids)}
        cells = []
        for label, mode in (("bm25", "bm25"), ("dense", "dense")):
            n, _ = evaluate(c, qrels, mode, Fusion())
            cells.append(f"{label} {n:.4f}")
        for label, fusion in fusions:
            n, r = evaluate(c, qrels, "hybrid" if label != "rrf" else "rrf", fusion)
            cells.append(f"{label} {n:.4f}/{r:.3f}")
        print(f"{name:<34}" + "  ".join(cells), flush=True)

    paper_rrf = (("rrf", PLAIN_RRF), ("cvx-z", Fusion(w_dense=0.5, w_bm25=0.5, norm="zscore")),
                 ("cvx-max", Fusion(w_dense=0.6, w_bm25=0.4, norm="max")))
    base_ids, base_model = corpus.bm25("chunk", 1.5, 0.75)
    base_sparse = sparse_lists(base_ids, base_model, texts)
    show("chunk bm25 k1=1.5 b=0.75 (product)", dense, base_sparse, paper_rrf)
    for level, k1, b in (("paper", 1.5, 0.75), ("paper", 1.2, 0.75), ("paper", 0.9, 0.4), ("chunk", 1.2, 0.75),
                         ("chunk", 0.9, 0.4), ("chunk", 1.5, 0.9), ("paper", 1.5, 0.9), ("paper", 2.0, 0.75)):
        ids, model = corpus.bm25(level, k1, b)
        show(f"{level} bm25 k1={k1} b={b}", dense, sparse_lists(ids, model, texts), paper_rrf)

    # dense pseudo-relevance feedback: q' = q + beta * mean(top-m chunk vectors)
    pos = {cid: i for i, cid in enumerate(corpus.ids)}
    for m, beta in ((3, 0.5), (5, 0.5), (5, 1.0), (10, 0.5), (3, 1.0)):
        q2 = np.stack([qmat[i] + beta * corpus.matrix[[pos[c] for c, _ in dense[q][:m]]].mean(axis=0) for i, q in enumerate(qids)])
        q2 /= np.linalg.norm(q2, axis=1, keepdims=True)
        show(f"dense PRF m={m} beta={beta}", dense_lists(corpus, q2, qids), base_sparse, paper_rrf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
