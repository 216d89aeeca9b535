"""Recommendations that learn from the reader's library (the SQLite rows are in store/library.py).

The library model is a linear classifier over paper vectors (a paper's vector: the normalised
mean of its chunk embeddings, from the store): saved and read papers are the positives, dismissed
ones hard negatives, a sample of the rest the negatives; a class-balanced ridge classifier solved
in closed form (a 385 x 385 system: milliseconds, so it is retrained whenever the library changes).
With fewer than ``min_saved`` saved papers the score is the cosine to the closest saved paper.

Each pick says which saved paper it is closest to ("because you saved X") and quotes the sentence
of its abstract closest to that paper. Saved, read and dismissed papers are never recommended.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .evidence import EvidenceBuilder
from .records import Recommendation
from .recommend import RecommendationSet, mmr
from .settings import Settings

POSITIVE = ("saved", "read")
_CACHE: dict[tuple[str, str], tuple[str, "CorpusVectors"]] = {}


@dataclass
class CorpusVectors:
    """Every stored paper's vector (rows), id and metadata, for one store generation."""

    ids: list[str]
    matrix: np.ndarray
    metas: list[dict[str, Any]]
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {pid: i for i, pid in enumerate(self.ids)}

    def rows(self, paper_ids: list[str]) -> list[int]:
        return [self.index[p] for p in paper_ids if p in self.index]


def corpus_vectors(store: Any) -> CorpusVectors:
    """The store's paper vectors, read once per store generation (and kept for the process)."""
    key = (store.location, store.settings.store.collection)
    generation = store.generation()
    cached = _CACHE.get(key)
    if cached and cached[0] == generation:
        return cached[1]
    ids, matrix, metas = store.paper_vectors()
    corpus = CorpusVectors(ids, matrix, metas)
    _CACHE[key] = (generation, corpus)
    return corpus


@dataclass
class LibraryModel:
    """Scores every corpus paper for one reader: a ridge classifier, or similarity to what is saved."""

    corpus: CorpusVectors
    positives: list[int]
    dismissed: list[int]
    weights: np.ndarray | None = None  # None: similarity to the saved papers
    train_ms: float = 0.0

    @property
    def kind(self) -> str:
        return "classifier" if self.weights is not None else "similarity"

    def scores(self, rows: list[int] | None = None) -> np.ndarray:
        x = self.corpus.matrix if rows is None else self.corpus.matrix[rows]
        if self.weights is not None:
            return x @ self.weights[:-1] + self.weights[-1]
        return (x @ self.corpus.matrix[self.positives].T).max(axis=1)

    def because(self, row: int) -> tuple[int, float]:
        """The saved paper (its row) closest to corpus row ``row``, and that cosine."""
        sims = self.corpus.matrix[self.positives] @ self.corpus.matrix[row]
        best = int(np.argmax(sims))
        return self.positives[best], float(sims[best])


def train(corpus: CorpusVectors, positive_ids: list[str], dismissed_ids: list[str], settings: Settings,
          seed: int = 0) -> LibraryModel | None:
    """The library model for these saved and dismissed papers; None when nothing saved is in the corpus."""
    positives, dismissed = corpus.rows(positive_ids), corpus.rows(dismissed_ids)
    if not positives:
        return None
    model = LibraryModel(corpus, positives, dismissed)
    if len(positives) < settings.library.min_saved:
        return model
    t0 = time.perf_counter()
    known = set(positives) | set(dismissed)
    rng = np.random.default_rng(seed)
    pool = rng.choice(len(corpus.ids), size=min(len(corpus.ids), settings.library.negatives + len(known)), replace=False)
    others = [int(i) for i in pool if int(i) not in known][: settings.library.negatives]
    rows = positives + dismissed + others
    y = np.array([1.0] * len(positives) + [-1.0] * (len(dismissed) + len(others)))
    w = np.array([1.0] * len(positives) + [settings.library.dismissed_weight] * len(dismissed) + [1.0] * len(others))
    negative = w[len(positives):].sum()
    if negative > 0:
        w[: len(positives)] *= negative / len(positives)  # both classes weigh the same
    x = np.hstack([corpus.matrix[rows], np.ones((len(rows), 1), dtype=np.float32)]).astype(np.float64)
    gram = (x * w[:, None]).T @ x + settings.library.ridge * np.eye(x.shape[1])
    model.weights = np.linalg.solve(gram, (x * w[:, None]).T @ y).astype(np.float32)
    model.train_ms = round((time.perf_counter() - t0) * 1000, 2)
    return model


class LibraryRecommender:
    """Lists from one reader's library: recommendations, re-ranking of free-text lists, the digest."""

    def __init__(self, settings: Settings, store: Any, embeddings: Any, library: Any, recommender: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.library = library
        self.recommender = recommender  # for the model's reasons, when it has a chat model
        self.evidence = EvidenceBuilder(settings, store, embeddings)

    def model(self, tag: str | None = None) -> LibraryModel | None:
        entries = self.library.entries()
        positives = [e.paper_id for e in entries if e.status in POSITIVE and (tag is None or tag in e.tags)]
        dismissed = [e.paper_id for e in entries if e.status == "dismissed"]
        return train(corpus_vectors(self.store), positives, dismissed, self.settings)

    def excluded(self) -> set[str]:
        return set(self.library.status_of())

    def recommend(self, n: int = 5, tag: str | None = None) -> RecommendationSet:
        interest = f"from your library (tag {tag})" if tag else "from your library"
        model = self.model(tag)
        if model is None:
            what = f"no saved paper tagged {tag!r}" if tag else "no saved paper"
            return RecommendationSet(interest=interest, notice=(
                f"Your library has {what}: save papers (the Save button, or 'assistant library add PAPER_ID') and "
                "ask again."), provider="extractive")
        excluded = self.excluded()
        rows = [i for i, pid in enumerate(model.corpus.ids) if pid not in excluded]
        how = "a classifier trained on" if model.kind == "classifier" else "similarity to"
        saved = f"{len(model.positives)} saved paper{'s' * (len(model.positives) != 1)}"
        return self._listing(model, rows, n, interest, f"Ranked by your library: {how} your {saved}.")

    def digest(self, since: str, n: int = 5, tag: str | None = None) -> RecommendationSet:
        """Papers first seen on or after ``since`` (YYYY-MM-DD), ranked by the library model
        (newest first without a library)."""
        corpus = corpus_vectors(self.store)
        self.library.record_seen({pid: str(m.get("page_date", "")) for pid, m in zip(corpus.ids, corpus.metas)},
                                 self.store.generation())
        new = self.library.seen_since(since)
        excluded = self.excluded()
        rows = [i for i, pid in enumerate(corpus.ids) if pid in new and pid not in excluded]
        interest = f"new since {since[:10]}"
        if not rows:
            return RecommendationSet(interest=interest, notice=f"No new papers since {since[:10]}.")
        model = self.model(tag)
        if model is None:
            rows.sort(key=lambda i: (new[corpus.ids[i]], corpus.ids[i]), reverse=True)
            items = [self._item(rank, corpus, row, None) for rank, row in enumerate(rows[:n], 1)]
            return RecommendationSet(interest=interest, items=items, notice=(
                f"{len(rows)} new since {since[:10]}, newest first (save papers to have them ranked for you)."))
        return self._listing(model, rows, n, interest, f"{len(rows)} new since {since[:10]}, ranked by your library.")

    def _listing(self, model: LibraryModel, rows: list[int], n: int, interest: str, notice: str) -> RecommendationSet:
        if not rows:
            return RecommendationSet(interest=interest, notice="Every paper in the index is already in your library.")
        scores = model.scores(rows)
        top = np.argsort(-scores, kind="stable")[: max(self.settings.retrieval.list_pool * n, n)]
        cand = [rows[i] for i in top]
        rel = scores[top]
        rel = (rel - rel.min()) / ((rel.max() - rel.min()) or 1.0)
        picked = [cand[i] for i in mmr(rel, model.corpus.matrix[cand], n, self.settings.retrieval.mmr_lambda)]
        items = [self._item(rank, model.corpus, row, model) for rank, row in enumerate(picked, 1)]
        provider = self._add_reasons(items, model)
        return RecommendationSet(interest=interest, items=items, notice=notice, provider=provider)

    def _item(self, rank: int, corpus: CorpusVectors, row: int, model: LibraryModel | None) -> Recommendation:
        pid = corpus.ids[row]
        paper = self.store.papers([pid]).get(pid, {})
        because_id = because = ""
        query = corpus.matrix[row]
        similarity = 0.0
        if model is not None:
            brow, similarity = model.because(row)
            because_id = corpus.ids[brow]
            because = corpus.metas[brow].get("display_title") or corpus.metas[brow].get("title", "")
            query = corpus.matrix[brow]
        quote, score = self.evidence.best_quotes(query, {pid: paper}).get(pid, ("", 0.0))
        reason = (f"Because you saved \u201c{because}\u201d (similarity {similarity:.2f})." if because
                  else "New in the index since your last visit.")
        return Recommendation(rank=rank, paper_id=pid, title=paper.get("title", corpus.metas[row].get("title", "")),
                              page_date=paper.get("page_date", ""), reason=reason, quote=quote,
                              score=round(float(score), 3), source=paper.get("source", ""),
                              abstract=paper.get("abstract", ""), because=because, because_id=because_id)

    def _add_reasons(self, items: list[Recommendation], model: LibraryModel) -> str:
        """The chat model's one-line reasons, where one is on and its reason rests on the quote."""
        rec = self.recommender
        if rec is None or rec.chat_model is None or not items:
            return "extractive"
        saved = list(dict.fromkeys(i.because for i in items if i.because))[:3]
        interest = "papers like the ones the reader saved: " + "; ".join(f"\u201c{t}\u201d" for t in saved)
        rec.fill_reasons(RecommendationSet(interest=interest, items=items))
        for item in items:
            if item.written != "template" and item.because:
                item.reason = f"{item.reason} (Because you saved \u201c{item.because}\u201d.)"
        return self.settings.generation.provider


def blend(relevance: np.ndarray, library: np.ndarray, weight: float) -> np.ndarray:
    """Query relevance and library scores (both min-max scaled over the candidates) mixed by ``weight``."""
    def scaled(v: np.ndarray) -> np.ndarray:
        return (v - v.min()) / ((v.max() - v.min()) or 1.0)

    return (1 - weight) * scaled(relevance) + weight * scaled(library)


_FROM_LIBRARY = re.compile(r"\b(from|based on|using) my (reading )?(library|saved papers|list)\b", re.I)
_WHATS_NEW = re.compile(r"\b(what'?s|what is) new (for me|since)\b|\bmy digest\b", re.I)
_TAG = re.compile(r"\btag(?:ged)?\s+[\"\u201c']?([\w.+-]+)", re.I)


def library_request(message: str) -> tuple[str, str | None] | None:
    """("library" | "digest", tag or None) when a chat message asks for a list from the library."""
    kind = "library" if _FROM_LIBRARY.search(message) else "digest" if _WHATS_NEW.search(message) else ""
    if not kind:
        return None
    tag = _TAG.search(message)
    return kind, (tag.group(1) if tag else None)


def default_since(library: Any, days: int = 7) -> str:
    """The reader's last visit, else ``days`` ago (YYYY-MM-DD)."""
    return library.last_visit() or time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))
