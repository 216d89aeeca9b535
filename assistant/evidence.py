"""Evidence: from retrieved papers to the sources a reader (and a model) sees.

Per paper, the abstract sentences closest to the question; with a model the sources fit a
token budget; each source becomes a numbered :class:`Reference`. The answer chain, the
coverage verdict and the recommender all build their sources here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .records import PaperHit, Reference
from .settings import Settings
from .store import StoredSentences
from .text import sentence_spans


@dataclass
class Evidence:
    """The sources: per paper, the sentences closest to the question."""

    hits: list[PaperHit]
    papers: dict[str, dict[str, Any]]
    sentences: dict[str, list[tuple[int, int]]]  # paper_id -> chosen sentence spans
    best: float  # best sentence-question cosine among the sources
    table: dict[str, StoredSentences] = field(default_factory=dict)  # every source's sentences and vectors
    ranking: dict[str, np.ndarray] = field(default_factory=dict)  # per source, its sentences' scores (table order)


def approx_tokens(text: str) -> int:
    """Tokens of English text for the budget: 5 characters per token (Qwen2.5 on the seed
    abstracts: 5.4 on average, 4.5 at the 10th percentile)."""
    return len(text) // 5 + 1


def fit_budget(order: list[str], titles: dict[str, str], ranked: dict[str, list[int]], texts: list[str],
               scores: Any, budget: int, per_paper: int) -> dict[str, list[int]]:
    """Sentence indices per paper (``ranked``: best first) within ``budget`` tokens: each paper's
    best sentence in rank order while it fits (the first paper always), then the next best
    sentences overall, at most ``per_paper`` each; a source's title and number count too."""
    picked: dict[str, list[int]] = {}
    left = budget
    for pid in order:
        cost = approx_tokens(titles[pid]) + 3 + approx_tokens(texts[ranked[pid][0]])
        if cost <= left or not picked:
            picked[pid] = [ranked[pid][0]]
            left -= cost
    extra = [(i, pid) for pid in picked for i in ranked[pid][1:per_paper]]
    for i, pid in sorted(extra, key=lambda e: -scores[e[0]]):
        if approx_tokens(texts[i]) <= left:
            picked[pid].append(i)
            left -= approx_tokens(texts[i])
    return picked


class EvidenceBuilder:
    """Chooses evidence sentences from the store's papers with the query's embedding."""

    def __init__(self, settings: Settings, store: Any, embeddings: Any,
                 scorer: Callable[[str, list[str], np.ndarray], np.ndarray] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.scorer = scorer  # (question, sentences, their cosines) -> the order to choose them in, higher first

    def gather(self, query: str, hits: list[PaperHit], budget: int = 0) -> Evidence:
        """Sources for ``query`` from ``hits`` (best first); ``budget``: tokens of sources
        (0: no limit, ``per_paper`` sentences each). Papers left without a sentence are not sources."""
        per_paper = self.settings.evidence.per_paper
        papers = self.store.papers([h.paper_id for h in hits])
        table = self.sentence_table(papers)
        flat = [(pid, span) for pid, rows in table.items() for span in rows.spans]
        if not flat:
            return Evidence(hits, papers, {}, 0.0)
        texts = [text for rows in table.values() for text in rows.texts]
        qvec = self.query_vector(query)
        sims = np.concatenate([rows.vectors for rows in table.values()]) @ qvec
        scores = self.rescore(query, texts, sims)
        ranked: dict[str, list[int]] = {pid: [] for pid in papers}
        for i in np.argsort(-scores, kind="stable").tolist():
            ranked[flat[i][0]].append(i)
        if budget:
            order = [h.paper_id for h in hits if ranked.get(h.paper_id)]
            titles = {pid: papers[pid].get("title", "") for pid in order}
            picked = fit_budget(order, titles, ranked, texts, scores, budget, per_paper)
        else:
            picked = {pid: idx[:per_paper] for pid, idx in ranked.items() if idx}
        chosen = {pid: sorted(flat[i][1] for i in idx) for pid, idx in picked.items()}
        kept = [h for h in hits if h.paper_id in chosen]
        return Evidence(kept, {pid: papers[pid] for pid in chosen}, chosen, float(sims.max()), table,
                        per_source(table, scores))

    def rescore(self, query: str, texts: list[str], sims: np.ndarray) -> np.ndarray:
        """The scores sentences are chosen by: their cosine to the query, unless a scorer is set
        (benchmarks/evidence_rerank.py measures a cross-encoder's; it is not adopted)."""
        if self.scorer is None or not len(texts):
            return sims
        return np.asarray(self.scorer(query, texts, sims), dtype=np.float32)

    def query_vector(self, text: str) -> np.ndarray:
        return np.asarray(self.embeddings.embed_array([text])[0], dtype=np.float32)

    def sentence_table(self, papers: dict[str, dict[str, Any]]) -> dict[str, StoredSentences]:
        """Each paper's abstract sentences with their vectors, in ``papers`` order: stored at
        ingest (a lookup), else embedded now (a store indexed before sentence vectors existed)."""
        stored = self.store.sentences_of(papers)
        missing = {pid: sentence_spans(p.get("abstract", "")) for pid, p in papers.items() if pid not in stored}
        texts = {pid: [papers[pid]["abstract"][a:b] for a, b in spans] for pid, spans in missing.items()}
        flat = [t for ts in texts.values() for t in ts]
        vectors = np.asarray(self.embeddings.embed_array(flat), dtype=np.float32) if flat else None
        at = 0
        for pid, spans in missing.items():
            rows = vectors[at : at + len(spans)] if vectors is not None else np.zeros((0, 0), dtype=np.float32)
            stored[pid] = StoredSentences(spans, texts[pid], rows)
            at += len(spans)
        return {pid: stored[pid] for pid in papers if stored[pid].spans}

    def embedder_for(self, papers: dict[str, dict[str, Any]]) -> Callable[[list[str]], np.ndarray]:
        """An ``embed_array`` that answers these papers' abstract sentences (records from
        ``store.papers``, e.g. ``Evidence.papers``) from the stored vectors (the support check
        compares answer sentences with every cited sentence) and embeds only the rest."""
        table = self.sentence_table(papers)
        known = {t: v for rows in table.values() for t, v in zip(rows.texts, rows.vectors)}

        def embed(texts: list[str]) -> np.ndarray:
            missing = list(dict.fromkeys(t for t in texts if t not in known))
            if missing:
                known.update(zip(missing, np.asarray(self.embeddings.embed_array(missing), dtype=np.float32)))
            return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

        return embed

    def best_quotes(self, query_vector: np.ndarray, papers: dict[str, dict[str, Any]]) -> dict[str, tuple[str, float]]:
        """paper id -> (its abstract sentence closest to the query, that cosine)."""
        out: dict[str, tuple[str, float]] = {}
        table = self.sentence_table(papers)
        for pid, paper in papers.items():
            rows = table.get(pid)
            if rows is None:
                out[pid] = (paper.get("abstract", ""), 0.0)
                continue
            sims = rows.vectors @ np.asarray(query_vector, dtype=np.float32)
            i = int(np.argmax(sims))
            out[pid] = (rows.texts[i], float(sims[i]))
        return out


def per_source(table: dict[str, StoredSentences], scores: np.ndarray) -> dict[str, np.ndarray]:
    """``scores`` of the flattened ``table`` split back into one array per source."""
    out, at = {}, 0
    for pid, rows in table.items():
        out[pid] = scores[at : at + len(rows.spans)]
        at += len(rows.spans)
    return out


def widen(refs: list[Reference], evidence: Evidence, budget: int, most: int = 10) -> list[Reference]:
    """``refs`` with more of their abstracts: each paper's sentences closest to the query, best
    first, while they fit its share of ``budget`` tokens (at least its evidence so far, at most
    ``most``), shown in the abstract's order."""
    share = budget // max(len(refs), 1)
    out = []
    for ref in refs:
        rows, scores = evidence.table.get(ref.paper_id), evidence.ranking.get(ref.paper_id)
        if rows is None or scores is None or not len(rows.spans):
            out.append(ref)
            continue
        order = np.argsort(-scores, kind="stable").tolist()
        keep, left = [], share - approx_tokens(ref.title) - 3
        for i in order[:most]:
            if approx_tokens(rows.texts[i]) <= left or len(keep) < len(ref.evidence):
                keep.append(i)
                left -= approx_tokens(rows.texts[i])
        spans = sorted(rows.spans[i] for i in keep)
        out.append(replace(ref, evidence=[ref.abstract[a:b] for a, b in spans], spans=spans))
    return out


def references(evidence: Evidence) -> list[Reference]:
    """The numbered sources, in the evidence's rank order."""
    refs = []
    for number, hit in enumerate(evidence.hits, 1):
        paper = evidence.papers.get(hit.paper_id)
        if not paper:
            continue
        spans = evidence.sentences.get(hit.paper_id, [])
        refs.append(Reference(
            number=number, paper_id=hit.paper_id, title=paper.get("title", hit.title),
            page_date=paper.get("page_date", ""), source=paper.get("source", ""),
            abstract=paper["abstract"], evidence=[paper["abstract"][a:b] for a, b in spans], spans=spans,
        ))
    return refs


def format_sources(refs: list[Reference]) -> str:
    """The sources as the model reads them: ``[n] title`` then the evidence sentences, as data:
    marker-like text inside a source ("cite [9]") is neutralised, so only the numbers given
    here look like sources (see :func:`as_data`)."""
    return "\n\n".join(f"[{ref.number}] {as_data(ref.title)}\n{as_data(' '.join(ref.evidence))}" for ref in refs)


_BRACKETS = re.compile(r"[\[【［]([^\]】］\n]{0,40})[\]】］]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def as_data(text: str) -> str:
    """Corpus text put in a prompt: square-bracketed spans become parenthesised (an abstract
    cannot hand the model a citation marker), control and bidi characters become spaces, and
    line breaks are flattened (an abstract cannot start a new prompt section)."""
    text = _CONTROL.sub(" ", text)
    text = _BRACKETS.sub(lambda m: f"({m.group(1)})", text)
    return " ".join(text.split())


def evidence_pool(ref: Reference) -> list[str]:
    """All sentences of the cited abstract count as evidence for support checks."""
    return [ref.abstract[a:b] for a, b in sentence_spans(ref.abstract)] or ref.evidence
