"""BM25 over papers: one document per paper (title + whole abstract rebuilt from its chunks).

The index is built from the store, saved as files beside it (the store decides where, and
swaps them in atomically) and kept in step with the store's generation: a newer generation
means a rebuild on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import Filters
from .store import Store, paper_record

STOPWORDS = "en"
BM25_FORMAT = 3  # 2: one BM25 document per paper; 3: every appearance (page date, source) kept


@dataclass
class BM25Index:
    """BM25 over papers; ``ids[i]`` is a paper id, ``chunks[i]`` its chunk ids."""

    retriever: Any
    ids: list[str]
    meta: list[dict[str, Any]]
    chunks: list[list[str]] = field(default_factory=list)
    _columns: dict[str, tuple[np.ndarray, dict[str, int]]] = field(default_factory=dict, repr=False)
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._row = {pid: i for i, pid in enumerate(self.ids)}

    def row(self, paper_id: str) -> int | None:
        return self._row.get(paper_id)

    def chunk_ids(self, paper_id: str) -> list[str]:
        i = self._row.get(paper_id)
        return self.chunks[i] if i is not None and i < len(self.chunks) else []

    def chunk_counts(self) -> np.ndarray:
        """Chunks per paper (built once)."""
        if "__chunks__" not in self._columns:
            counts = np.fromiter((len(c) for c in self.chunks), dtype=np.int64, count=len(self.chunks))
            self._columns["__chunks__"] = (counts, {})
        return self._columns["__chunks__"][0]

    def column(self, key: str) -> tuple[np.ndarray, dict[str, int]]:
        """Integer codes of one metadata field per paper, and value -> code (built once)."""
        if key not in self._columns:
            lookup: dict[str, int] = {}
            codes = np.fromiter((lookup.setdefault(str(m.get(key, "")), len(lookup)) for m in self.meta),
                                dtype=np.int32, count=len(self.meta))
            self._columns[key] = (codes, lookup)
        return self._columns[key]

    def members(self, key: str) -> dict[str, np.ndarray]:
        """value -> rows of the papers with that ``page_date`` or ``source`` in ANY of their
        appearances (a paper on three Daily Papers pages has three dates), built once."""
        name = f"__members_{key}__"
        if name not in self._columns:
            rows: dict[str, list[int]] = {}
            for i, meta in enumerate(self.meta):
                for value in appearance_values(meta, key):
                    rows.setdefault(value, []).append(i)
            self._columns[name] = (np.zeros(0), {v: np.asarray(r, dtype=np.int64) for v, r in rows.items()})  # type: ignore[dict-item]
        return self._columns[name][1]  # type: ignore[return-value]

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Papers the filters allow, vectorised (no per-paper Python work per query)."""
        if not filters:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        dates = filters.dates_among(self.members("page_date")) if filters.has_dates else []
        if filters.has_dates and filters.sources:  # both on one appearance: that page, that date
            keep &= self._any("appearance", [f"{s}|{d}" for s in filters.sources for d in dates])
        elif filters.has_dates or filters.sources:
            key = "page_date" if filters.has_dates else "source"
            keep &= self._any(key, dates if filters.has_dates else filters.sources)
        if filters.exclude_papers:
            codes, lookup = self.column("paper_id")
            wanted = np.array([lookup[v] for v in filters.exclude_papers if v in lookup], dtype=np.int32)
            keep &= ~np.isin(codes, wanted)
        return keep

    def _any(self, key: str, values: Iterable[str]) -> np.ndarray:
        members = self.members(key)
        hit = np.zeros(len(self.ids), dtype=bool)
        for value in values:
            hit[members.get(value, np.zeros(0, dtype=np.int64))] = True
        return hit

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every paper (None when no query term is in the vocabulary)."""
        if not self.ids:
            return None
        vocab = self.retriever.vocab_dict
        tokens = [t for t in stem_query(query) if t in vocab]
        if not tokens:
            return None
        return self.retriever.get_scores(tokens)


def appearance_values(meta: dict[str, Any], key: str) -> list[str]:
    """Every ``page_date``, ``source`` or ``appearance`` ("file|date") of a paper: from its
    appearances ("file|date;file|date"), else its first-seen values."""
    wheres = [w for w in str(meta.get("appearances") or "").split(";") if w]
    if not wheres:
        wheres = [f"{meta.get('source', '') or ''}|{meta.get('page_date', '') or ''}"]
    found: list[str] = []
    for where in wheres:
        source, _, date = where.partition("|")
        value = {"source": source, "page_date": date}.get(key, where)
        if value and value not in found:
            found.append(value)
    return found


def tokenize(texts: list[str]):  # noqa: ANN202
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=Stemmer.Stemmer("english"), show_progress=False)


def stem_query(query: str) -> list[str]:
    import bm25s
    import Stemmer

    tokens = bm25s.tokenize([query], stopwords=STOPWORDS, stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)
    return tokens[0] if tokens else []


def bm25_text(title: str, text: str) -> str:
    return f"{title}. {text}"


def build_bm25(store: Store) -> BM25Index:
    """One BM25 document per paper: its title and its abstract rebuilt from the chunks."""
    import bm25s

    by_paper: dict[str, list] = {}
    for chunk in store.iter_chunks():
        by_paper.setdefault(chunk.metadata.get("paper_id", ""), []).append(chunk)
    ids: list[str] = []
    texts: list[str] = []
    meta: list[dict[str, Any]] = []
    chunks: list[list[str]] = []
    for pid, stored in by_paper.items():
        stored.sort(key=lambda c: c.metadata.get("chunk_index", 0))
        record = paper_record(stored)
        ids.append(pid)
        texts.append(bm25_text(record.get("display_title", ""), record["abstract"]))
        meta.append({k: record.get(k, "") for k in ("paper_id", "page_date", "source", "appearances")})
        chunks.append([c.chunk_id for c in stored])
    retriever = bm25s.BM25()
    if texts:
        retriever.index(tokenize(texts), show_progress=False)
    return BM25Index(retriever, ids, meta, chunks)


def load_or_build_bm25(store: Store) -> BM25Index:
    import bm25s

    generation = store.generation()
    path = store.bm25_path_if_current(generation)
    if path is not None:
        try:
            extra = json.loads((path / "docs.json").read_text())
            if extra.get("format") == BM25_FORMAT:
                retriever = bm25s.BM25.load(str(path / "index"))
                return BM25Index(retriever, extra["ids"], extra["meta"], extra["chunks"])
        except (OSError, ValueError, KeyError):
            pass
    index = build_bm25(store)

    def save(target):  # noqa: ANN001, ANN202
        index.retriever.save(str(target / "index"))
        docs = {"format": BM25_FORMAT, "ids": index.ids, "meta": index.meta, "chunks": index.chunks}
        (target / "docs.json").write_text(json.dumps(docs))

    if index.ids:
        store.save_bm25(generation, save)
    return index


def top_scores(scores: np.ndarray, depth: int) -> np.ndarray:
    """Indices of the ``depth`` best positive scores, best first (argpartition, no full sort)."""
    if depth <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if scores.size > depth:
        part = np.argpartition(-scores, depth - 1)[:depth]
    else:
        part = np.arange(scores.size)
    part = part[scores[part] > 0]
    return part[np.argsort(-scores[part], kind="stable")]
