"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s) fused at chunk level, ranked as papers.

Fusion modes (``Retriever.search(mode=...)``):
- ``dense`` / ``bm25``: one side only;
- ``rrf``: plain reciprocal-rank fusion (k=60), the baseline;
- ``hybrid`` (the product): weighted reciprocal-rank fusion plus a normalised-score
  term, with weights tuned on SciFact *train* claims (see docs/benchmarks.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import ChunkHit, PaperHit
from .store import Store

STOPWORDS = "en"


@dataclass(frozen=True)
class Filters:
    page_dates: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    exclude_papers: tuple[str, ...] = ()

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.page_dates:
            clauses.append({"page_date": {"$in": list(self.page_dates)}})
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.exclude_papers:
            clauses.append({"paper_id": {"$nin": list(self.exclude_papers)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, meta: dict[str, Any]) -> bool:
        if self.page_dates and meta.get("page_date") not in self.page_dates:
            return False
        if self.sources and meta.get("source") not in self.sources:
            return False
        return meta.get("paper_id") not in self.exclude_papers


@dataclass(frozen=True)
class Fusion:
    """Weights of the product's fusion (tuned on SciFact train, see benchmarks)."""

    rrf_k: float = 60.0
    w_dense: float = 1.0
    w_bm25: float = 1.0
    w_score: float = 0.0  # weight of the min-max normalised score combination
    alpha: float = 0.5  # dense share inside the score combination
    second_chunk: float = 0.0  # share of a paper's second-best chunk added to its best


PLAIN_RRF = Fusion()
PRODUCT = Fusion(rrf_k=60.0, w_dense=1.0, w_bm25=1.0, w_score=0.0, alpha=0.5, second_chunk=0.0)


@dataclass
class BM25Index:
    retriever: Any
    ids: list[str]
    meta: list[dict[str, Any]]


def _tokenize(texts: list[str]):  # noqa: ANN202
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=Stemmer.Stemmer("english"), show_progress=False)


def _stem_query(query: str) -> list[str]:
    import bm25s
    import Stemmer

    tokens = bm25s.tokenize([query], stopwords=STOPWORDS, stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)
    return tokens[0] if tokens else []


def build_bm25(store: Store) -> BM25Index:
    import bm25s

    ids: list[str] = []
    texts: list[str] = []
    meta: list[dict[str, Any]] = []
    for chunk in store.iter_chunks():
        ids.append(chunk.chunk_id)
        m = chunk.metadata
        texts.append(f"{m.get('display_title', '')}. {chunk.text}")
        meta.append({k: m.get(k, "") for k in ("paper_id", "page_date", "source")})
    retriever = bm25s.BM25()
    if texts:
        retriever.index(_tokenize(texts), show_progress=False)
    return BM25Index(retriever, ids, meta)


def load_or_build_bm25(store: Store) -> BM25Index:
    import json

    import bm25s

    generation = store.generation()
    path = store.bm25_path_if_current(generation)
    if path is not None:
        try:
            retriever = bm25s.BM25.load(str(path / "index"))
            extra = json.loads((path / "docs.json").read_text())
            return BM25Index(retriever, extra["ids"], extra["meta"])
        except (OSError, ValueError, KeyError):
            pass
    index = build_bm25(store)

    def save(target):  # noqa: ANN001, ANN202
        if index.ids:
            index.retriever.save(str(target / "index"))
        (target / "docs.json").write_text(json.dumps({"ids": index.ids, "meta": index.meta}))

    if index.ids:
        store.save_bm25(generation, save)
    return index


@dataclass
class Retriever:
    store: Store
    embeddings: Any
    fusion: Fusion = PRODUCT
    chunk_depth: int = 60
    _bm25: BM25Index | None = field(default=None, repr=False)
    _bm25_generation: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    last_timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ sides

    def bm25(self) -> BM25Index:
        with self._lock:
            generation = self.store.generation()
            if self._bm25 is None or generation != self._bm25_generation:
                self._bm25 = load_or_build_bm25(self.store)
                self._bm25_generation = generation
            return self._bm25

    def dense_chunks(self, qvec: np.ndarray, depth: int, filters: Filters) -> list[tuple[str, float]]:
        count = self.store.count()
        if count == 0:
            return []
        res = self.store.collection.query(
            query_embeddings=[qvec.tolist()], n_results=min(depth, count), where=filters.where(), include=["distances"]
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def bm25_chunks(self, query: str, depth: int, filters: Filters) -> list[tuple[str, float]]:
        index = self.bm25()
        if not index.ids:
            return []
        tokens = _stem_query(query)
        vocab = index.retriever.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        scores = index.retriever.get_scores(tokens)
        if filters.where() is not None:
            mask = np.array([filters.allows(m) for m in index.meta])
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[:depth]
        return [(index.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    # ------------------------------------------------------------ fusion

    def search(self, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid") -> list[PaperHit]:
        filters = filters or Filters()
        t0 = time.perf_counter()
        qvec = np.asarray(self.embeddings.embed_array([query])[0])
        t1 = time.perf_counter()
        dense = self.dense_chunks(qvec, self.chunk_depth, filters) if mode != "bm25" else []
        t2 = time.perf_counter()
        sparse = self.bm25_chunks(query, self.chunk_depth, filters) if mode != "dense" else []
        t3 = time.perf_counter()
        fusion = PLAIN_RRF if mode == "rrf" else self.fusion
        scores = fuse(dense, sparse, fusion, mode)
        hits = self._paper_hits(scores, qvec, k, fusion)
        self.last_timings = {
            "embed_ms": (t1 - t0) * 1000,
            "dense_ms": (t2 - t1) * 1000,
            "bm25_ms": (t3 - t2) * 1000,
            "total_ms": (time.perf_counter() - t0) * 1000,
        }
        return hits

    def _paper_hits(self, scores: dict[str, float], qvec: np.ndarray, k: int, fusion: Fusion) -> list[PaperHit]:
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[: max(self.chunk_depth, k * 6)]
        if not ranked:
            return []
        got = self.store.collection.get(ids=[cid for cid, _ in ranked], include=["documents", "metadatas", "embeddings"])
        cosine = np.asarray(got["embeddings"]) @ qvec
        by_paper: dict[str, list[ChunkHit]] = {}
        dense_best: dict[str, float] = {}
        for cid, doc, meta, cos in zip(got["ids"], got["documents"], got["metadatas"], cosine):
            pid = meta["paper_id"]
            by_paper.setdefault(pid, []).append(
                ChunkHit(cid, pid, meta.get("title", ""), doc or "", int(meta.get("start", 0)), int(meta.get("end", 0)), scores[cid], dict(meta))
            )
            dense_best[pid] = max(dense_best.get(pid, -1.0), float(cos))
        hits = []
        for pid, chunks in by_paper.items():
            chunks.sort(key=lambda c: -c.score)
            score = chunks[0].score + (fusion.second_chunk * chunks[1].score if len(chunks) > 1 else 0.0)
            hits.append(PaperHit(pid, chunks[0].title, score, chunks, dict(chunks[0].metadata), dense_best[pid]))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]


def _minmax(pairs: list[tuple[str, float]]) -> dict[str, float]:
    if not pairs:
        return {}
    values = np.array([s for _, s in pairs])
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo or 1.0
    return {cid: (s - lo) / span for cid, s in pairs}


def fuse(dense: list[tuple[str, float]], sparse: list[tuple[str, float]], fusion: Fusion, mode: str = "hybrid") -> dict[str, float]:
    """Chunk scores from ranked (id, score) lists of both sides."""
    if mode == "dense":
        return dict(dense)
    if mode == "bm25":
        return dict(sparse)
    scores: dict[str, float] = {}
    for weight, pairs in ((fusion.w_dense, dense), (fusion.w_bm25, sparse)):
        for rank, (cid, _) in enumerate(pairs):
            scores[cid] = scores.get(cid, 0.0) + weight / (fusion.rrf_k + rank + 1)
    if fusion.w_score and mode == "hybrid":
        nd, ns = _minmax(dense), _minmax(sparse)
        for cid in scores:
            combo = fusion.alpha * nd.get(cid, 0.0) + (1 - fusion.alpha) * ns.get(cid, 0.0)
            scores[cid] += fusion.w_score * combo / (fusion.rrf_k + 1)
    return scores


def make_retriever(settings, store: Store | None = None, embeddings: Any = None) -> Retriever:  # noqa: ANN001
    from .embeddings import embeddings_for

    embeddings = embeddings or embeddings_for(settings)
    store = store or Store(settings, embeddings)
    return Retriever(store=store, embeddings=embeddings)


def best_sentences(query_vec: np.ndarray, sentences: list[str], vectors: np.ndarray, n: int = 2) -> list[int]:
    """Indices of the ``n`` sentences closest to the query, in text order."""
    if not sentences:
        return []
    sims = vectors @ query_vec
    top = sorted(np.argsort(-sims)[:n].tolist())
    return top


def titles(hits: Iterable[PaperHit]) -> list[str]:
    return [h.title for h in hits]
