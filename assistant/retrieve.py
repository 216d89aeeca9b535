"""Hybrid retrieval: dense chunks (Chroma) + BM25 papers (bm25s), fused as papers.

The two sides:
- dense: the query vector against every chunk (title + abstract slice) in Chroma; a
  paper scores its best chunk's cosine;
- BM25: one document per paper (title + whole abstract, rebuilt from the chunk spans),
  kept in step with the collection's generation and saved beside it.

Modes (``Retriever.search(mode=...)``):
- ``dense`` / ``bm25``: one side only;
- ``rrf``: plain reciprocal-rank fusion of the two paper lists (k=60): the baseline;
- ``hybrid`` (the product, :data:`PRODUCT`): a convex combination of each side's
  score divided by that side's best score, ``0.6 * cos/cos_max + 0.4 * bm25/bm25_max``
  over 200 candidates a side (a paper missing from the dense candidates takes the
  lowest dense candidate's score, one missing from the BM25 list its exact BM25
  score). Chosen and tuned on SciFact *train* claims only
  (``benchmarks/tune_fusion.py``; figures in docs/benchmarks.md).

Filters never reach Chroma's ``where`` pre-filter unless they must (it costs hundreds
of ms at 140k chunks): see :meth:`Retriever.dense_chunks`.

A search runs in two steps that evaluation calls apart: :meth:`Retriever.candidates`
(embed the query, one Chroma query, one BM25 scoring: the costly part) and
:meth:`Retriever.rank` (fusion in memory, no store access); :meth:`Retriever.search`
then reads the chunks of the top ``k`` papers from Chroma.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .coverage import rare_matches, unknown_terms
from .bm25 import BM25Index, load_or_build_bm25, stem_query, top_scores
from .records import ChunkHit, Filters, PaperHit
from .settings import Settings
from .store import Store

MODES = ("dense", "bm25", "rrf", "hybrid")


@dataclass(frozen=True)
class Fusion:
    """How the dense chunk list and the BM25 paper list become one paper ranking.

    ``method="convex"``: ``w_dense * norm(dense) + w_bm25 * norm(bm25)`` where ``norm``
    is ``"max"`` (score / the list's best score), ``"minmax"`` or ``"zscore"`` over the
    list; ``method="rrf"``: ``sum w / (rrf_k + rank)``. ``depth``: dense chunks and
    BM25 papers taken as candidates (at least ``3 k``). ``second_chunk``: share of a
    paper's second-best chunk cosine added to its best.
    """

    method: str = "convex"
    w_dense: float = 0.6
    w_bm25: float = 0.4
    norm: str = "max"
    rrf_k: float = 60.0
    depth: int = 200
    second_chunk: float = 0.0


PLAIN_RRF = Fusion(method="rrf", w_dense=1.0, w_bm25=1.0, rrf_k=60.0, depth=60)
PRODUCT = Fusion(method="convex", w_dense=0.6, w_bm25=0.4, norm="max", depth=200)


# ---------------------------------------------------------------- fusion (pure)


def paper_of(chunk_id: str) -> str:
    """Chunk ids are ``<paper_id>:<index>:<hash>`` (paper ids may hold colons)."""
    return chunk_id.rsplit(":", 2)[0]


@dataclass
class Candidates:
    """One query's candidates: dense chunks and BM25 papers, best first."""

    query: str
    qvec: np.ndarray
    dense: list[tuple[str, float]]  # (chunk id, cosine)
    sparse: list[tuple[str, float]]  # (paper id, BM25 score)
    bm25_of: dict[str, float] = field(default_factory=dict)  # exact BM25 of the dense candidates' papers
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Ranked:
    paper_id: str
    score: float
    chunks: list[tuple[str, float]]  # candidate chunks of the paper (chunk id, cosine), best first


def dense_papers(dense: list[tuple[str, float]], second: float = 0.0) -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, float]]]]:
    """Dense chunk list -> paper list (best cosine + ``second`` x second best) and chunks per paper."""
    by_paper: dict[str, list[tuple[str, float]]] = {}
    for cid, score in dense:
        by_paper.setdefault(paper_of(cid), []).append((cid, score))
    papers = []
    for pid, chunks in by_paper.items():
        chunks.sort(key=lambda c: -c[1])
        score = chunks[0][1] + (second * chunks[1][1] if second and len(chunks) > 1 else 0.0)
        papers.append((pid, score))
    papers.sort(key=lambda kv: -kv[1])
    return papers, by_paper


def _normalised(pairs: list[tuple[str, float]], how: str) -> tuple[dict[str, float], float, float]:
    """Normalised scores of a ranked list, and the (shift, scale) applied: (s - shift) / scale."""
    values = np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs))
    if how == "zscore":
        shift, scale = float(values.mean()), float(values.std()) or 1.0
    elif how == "minmax":
        shift, scale = float(values.min()), (float(values.max() - values.min()) or 1.0)
    else:  # "max": score / best score
        shift, scale = 0.0, (float(values.max()) if values.max() > 0 else 1.0)
    return {item: (s - shift) / scale for item, s in pairs}, shift, scale


def fuse_papers(cands: Candidates, mode: str, fusion: Fusion, k: int) -> list[Ranked]:
    """The top ``k`` papers of one mode from a query's candidates (no store access)."""
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "rrf":
        fusion = PLAIN_RRF
    depth = max(fusion.depth, 3 * k)
    dense, by_paper = dense_papers(cands.dense[:depth], fusion.second_chunk if mode == "hybrid" else 0.0)
    sparse = cands.sparse[:depth]
    if mode == "dense":
        scores = dict(dense)
    elif mode == "bm25":
        scores = dict(sparse)
    elif fusion.method == "rrf":
        scores = {}
        for weight, pairs in ((fusion.w_dense, dense), (fusion.w_bm25, sparse)):
            for rank, (pid, _) in enumerate(pairs, 1):
                scores[pid] = scores.get(pid, 0.0) + weight / (fusion.rrf_k + rank)
    else:
        scores = _convex(dense, sparse, cands.bm25_of, fusion)
    ranked = [Ranked(pid, score, by_paper.get(pid, [])) for pid, score in scores.items()]
    ranked.sort(key=lambda r: (-r.score, r.paper_id))
    return ranked[:k]


def _convex(dense: list[tuple[str, float]], sparse: list[tuple[str, float]], bm25_of: dict[str, float], fusion: Fusion) -> dict[str, float]:
    """Weighted sum of normalised scores. A paper outside the dense candidates takes the
    lowest dense candidate score (its cosine is at most that); one outside the BM25 list
    takes its exact BM25 score when known, else the list's lowest."""
    if not dense and not sparse:
        return {}
    d_norm, d_shift, d_scale = _normalised(dense, fusion.norm) if dense else ({}, 0.0, 1.0)
    s_norm, s_shift, s_scale = _normalised(sparse, fusion.norm) if sparse else ({}, 0.0, 1.0)
    d_floor = min(d_norm.values(), default=0.0)
    s_floor = min(s_norm.values(), default=0.0)
    out: dict[str, float] = {}
    for pid in d_norm.keys() | s_norm.keys():
        d = d_norm.get(pid, d_floor)
        s = s_norm.get(pid)
        if s is None:
            raw = bm25_of.get(pid)
            s = s_floor if raw is None or not sparse else min((raw - s_shift) / s_scale, s_floor)
        out[pid] = fusion.w_dense * d + fusion.w_bm25 * s
    return out


# ---------------------------------------------------------------- retriever


@dataclass
class Retriever:
    store: Store
    embeddings: Any
    fusion: Fusion = PRODUCT
    exact_filter_limit: int = 4000  # filtered dense search is exact numpy up to this many allowed chunks
    max_fetch: int = 2000  # most dense chunks over-fetched to post-filter a date/source filter
    overfetch: float = 1.5  # over-fetch factor on the allowed share when post-filtering
    _bm25: BM25Index | None = field(default=None, repr=False)
    _bm25_generation: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    last_timings: dict[str, float] = field(default_factory=dict)

    @property
    def chunk_depth(self) -> int:
        return self.fusion.depth

    def depth_for(self, k: int) -> int:
        """Candidates per side needed for ``k`` papers (abstracts have 1-4 chunks)."""
        return max(self.fusion.depth, PLAIN_RRF.depth, 3 * k)

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """Those of ``terms`` with a word that no indexed title or abstract contains."""
        if not terms:
            return []
        index = self.bm25()
        if not index.ids:
            return []
        return unknown_terms(terms, stem_query, index.retriever.vocab_dict.__contains__)

    def rare_named(self, terms: list[str], texts: list[str]) -> list[str]:
        """Those of ``terms`` rare in the corpus (in at most max(3, 0.1%) of the papers) that
        occur in one of ``texts``, their words in order and together."""
        index = self.bm25()
        if not terms or not index.ids:
            return []
        indptr, vocab = index.retriever.scores["indptr"], index.retriever.vocab_dict

        def doc_freq(token: str) -> int | None:
            i = vocab.get(token)
            return None if i is None else int(indptr[i + 1] - indptr[i])

        return rare_matches(terms, stem_query, doc_freq, texts, max(3, len(index.ids) // 1000))

    # ------------------------------------------------------------ sides

    def bm25(self) -> BM25Index:
        with self._lock:
            generation = self.store.generation()
            if self._bm25 is None or generation != self._bm25_generation:
                self._bm25 = load_or_build_bm25(self.store)
                self._bm25_generation = generation
            return self._bm25

    def dense_chunks(self, qvec: np.ndarray, depth: int, filters: Filters) -> list[tuple[str, float]]:
        """The ``depth`` chunks closest to ``qvec`` among those the filters allow.

        Chroma's own ``where`` pre-filter costs hundreds of ms on a large collection, so
        filters are applied here: excluded papers by over-fetching their chunk count and
        dropping them; date/source filters by exact numpy search over the allowed chunks
        when they are few (``exact_filter_limit``), else by over-fetching in proportion
        to the allowed share, with Chroma's ``where`` as the last resort.
        """
        count = self.store.count()
        if count == 0:
            return []
        if not filters:
            return self._query(qvec, min(depth, count))
        index = self.bm25()
        if filters.has_dates or filters.sources:
            mask = index.mask(filters)
            n_allowed = int(index.chunk_counts()[mask].sum())
            if n_allowed <= self.exact_filter_limit:
                return self._exact(qvec, [cid for i in np.flatnonzero(mask) for cid in index.chunks[i]], depth)
            share = n_allowed / max(count, 1)
            fetch = int(depth / share * self.overfetch) + 1
            if fetch <= self.max_fetch:
                found = self._query(qvec, min(fetch, count))
                kept = [(cid, s) for cid, s in found if _allowed(index, mask, cid)]
                if len(kept) >= min(depth, n_allowed) or fetch >= count:
                    return kept[:depth]
            # Chroma's ``where`` sees only a paper's first page date, not every appearance.
            return self._exact(qvec, [cid for i in np.flatnonzero(mask) for cid in index.chunks[i]], depth)
        excluded = set(filters.exclude_papers)
        extra = sum(len(index.chunk_ids(pid)) for pid in excluded)
        found = self._query(qvec, min(depth + extra, count))
        return [(cid, s) for cid, s in found if paper_of(cid) not in excluded][:depth]

    def _query(self, qvec: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        return self.store.query(qvec, n, where)

    def _exact(self, qvec: np.ndarray, chunk_ids: list[str], depth: int) -> list[tuple[str, float]]:
        ids, vectors = self.store.vectors(chunk_ids)
        if not ids:
            return []
        sims = vectors @ np.asarray(qvec, dtype=np.float32)
        top = np.argsort(-sims, kind="stable")[:depth]
        return [(ids[i], float(sims[i])) for i in top]

    def bm25_scores(self, query: str, filters: Filters) -> np.ndarray | None:
        index = self.bm25()
        scores = index.scores(query)
        if scores is None:
            return None
        mask = index.mask(filters)
        return np.where(mask, scores, 0.0) if mask is not None else scores

    def bm25_papers(self, query: str, depth: int, filters: Filters) -> list[tuple[str, float]]:
        scores = self.bm25_scores(query, filters)
        if scores is None:
            return []
        ids = self.bm25().ids
        return [(ids[i], float(scores[i])) for i in top_scores(scores, depth)]

    # ------------------------------------------------------------ search

    def candidates(self, query: str, filters: Filters | None = None, depth: int | None = None, mode: str = "hybrid") -> Candidates:
        """Embed the query; take ``depth`` dense chunks and ``depth`` BM25 papers."""
        filters = filters or Filters()
        depth = depth or self.depth_for(0)
        t0 = time.perf_counter()
        qvec = np.asarray(self.embeddings.embed_array([query])[0], dtype=np.float32)
        t1 = time.perf_counter()
        dense = self.dense_chunks(qvec, depth, filters) if mode != "bm25" else []
        t2 = time.perf_counter()
        sparse: list[tuple[str, float]] = []
        bm25_of: dict[str, float] = {}
        if mode != "dense":
            scores = self.bm25_scores(query, filters)
            if scores is not None:
                index = self.bm25()
                sparse = [(index.ids[i], float(scores[i])) for i in top_scores(scores, depth)]
                for cid, _ in dense:
                    row = index.row(paper_of(cid))
                    if row is not None:
                        bm25_of[index.ids[row]] = float(scores[row])
        t3 = time.perf_counter()
        timings = {"embed_ms": (t1 - t0) * 1000, "dense_ms": (t2 - t1) * 1000, "bm25_ms": (t3 - t2) * 1000}
        return Candidates(query, qvec, dense, sparse, bm25_of, timings)

    def rank(self, cands: Candidates, mode: str = "hybrid", k: int = 5, fusion: Fusion | None = None) -> list[tuple[str, float]]:
        """(paper id, score) of the top ``k`` papers; in memory, no store access."""
        return [(r.paper_id, r.score) for r in fuse_papers(cands, mode, fusion or self.fusion, k)]

    def search(self, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid") -> list[PaperHit]:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose from {', '.join(MODES)}")
        t0 = time.perf_counter()
        cands = self.candidates(query, filters, self.depth_for(k), mode)
        t1 = time.perf_counter()
        ranked = fuse_papers(cands, mode, self.fusion, k)
        t2 = time.perf_counter()
        hits = self._paper_hits(ranked, cands.qvec)
        self.last_timings = cands.timings | {
            "fuse_ms": (t2 - t1) * 1000,
            "fetch_ms": (time.perf_counter() - t2) * 1000,
            "total_ms": (time.perf_counter() - t0) * 1000,
        }
        return hits

    def _paper_hits(self, ranked: list[Ranked], qvec: np.ndarray) -> list[PaperHit]:
        """Read every chunk of the ranked papers: chunks best cosine first, ``dense`` the best."""
        if not ranked:
            return []
        index = self.bm25()
        wanted: list[str] = []
        for r in ranked:
            wanted += index.chunk_ids(r.paper_id) or [cid for cid, _ in r.chunks]
        by_paper: dict[str, list[ChunkHit]] = {}
        for chunk in self.store.chunks(wanted, with_vectors=True):
            meta = chunk.metadata
            pid = meta.get("paper_id") or paper_of(chunk.chunk_id)
            by_paper.setdefault(pid, []).append(ChunkHit(
                chunk.chunk_id, pid, meta.get("title", ""), chunk.text, int(meta.get("start", 0)),
                int(meta.get("end", 0)), float(chunk.vector @ qvec), meta,
            ))
        hits = []
        for r in ranked:
            chunks = sorted(by_paper.get(r.paper_id, []), key=lambda c: -c.score)
            if chunks:
                hits.append(PaperHit(r.paper_id, chunks[0].title, r.score, chunks, dict(chunks[0].metadata), chunks[0].score))
        return hits


def _allowed(index: BM25Index, mask: np.ndarray, chunk_id: str) -> bool:
    row = index.row(paper_of(chunk_id))
    return row is not None and bool(mask[row])


def make_retriever(settings: Settings, store: Store | None = None, embeddings: Any = None,
                   check: bool = True) -> Retriever:
    """The product's retriever; with ``check``, a store built by another embedding model is an
    error (its vectors and the question's would not be comparable) that says what to do."""
    from .embeddings import embeddings_for
    from .store import StoreError

    embeddings = embeddings or embeddings_for(settings)
    store = store or Store(settings, embeddings)
    problem = store.embedder_mismatch() if check else ""
    if problem:
        raise StoreError(problem)
    return Retriever(store=store, embeddings=embeddings, **retriever_options(settings))


def retriever_options(settings: Settings) -> dict[str, Any]:
    """The Retriever's knobs from the settings (fusion weight and depth, filter search)."""
    r = settings.retrieval
    fusion = replace(PRODUCT, w_dense=settings.fusion_dense, w_bm25=round(1.0 - settings.fusion_dense, 6), depth=r.depth)
    return {"fusion": fusion, "exact_filter_limit": r.exact_filter_limit, "max_fetch": r.max_fetch,
            "overfetch": r.overfetch}


def best_sentences(query_vec: np.ndarray, sentences: list[str], vectors: np.ndarray, n: int = 2) -> list[int]:
    """Indices of the ``n`` sentences closest to the query, in text order."""
    if not sentences:
        return []
    sims = vectors @ query_vec
    top = sorted(np.argsort(-sims)[:n].tolist())
    return top


def titles(hits: Iterable[PaperHit]) -> list[str]:
    return [h.title for h in hits]
