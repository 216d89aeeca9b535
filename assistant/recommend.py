"""Recommendations: N papers for a topic, an interest or "more like paper X", each with a reason.

Every reason is grounded in a quoted sentence of the paper's abstract; the list is diversified
with maximal marginal relevance; papers already shown in the conversation can be excluded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .chain import filter_note, refusal_text
from .evidence import EvidenceBuilder, as_data, references
from .prompts import load as load_prompt
from .records import Answer, PaperHit, Recommendation, Reference, SentenceSupport
from .retrieve import Filters, Retriever
from .settings import Settings
from .text import fold_title, words
from .verdict import Coverage, Verdict

_INTENT = re.compile(
    r"\b(recommend(?:s|ed|ing)?\b|recommendations? (?:on|for|about|in)\b|(?:any|some|your|give me) recommendations?|"
    r"what should i read|should i read|(?:what'?s|what is) relevant|reading list|suggest\w* (some )?(papers|reading)|what to read|read next|"
    r"more like|similar papers|papers similar|get up to speed|where (should|do) i start)\b",
    re.I,
)
_MORE = re.compile(r"^\s*(show |give me |any )?(some )?more\b|^\s*others?\??\s*$|\bmore (papers|like (this|these))\b", re.I)
_LINE = re.compile(r"^\s*(\d{1,2})[.):]\s*(.+)$")
# a list the judge let through unsure (judge.list_unsure): near-miss topics pass it as often as covered ones
LIST_UNSURE = "The corpus may not cover this topic directly: these papers may only partly match your interest."
_LEAD = re.compile(
    r"^\s*(please\s+)?((recommend|suggest)\w*( me)?( some)?( good)?( papers| reading)?|what should i read( next)?|"
    r"(some\s+)?papers|reading)\s+(on|about|for|in)\s+",
    re.I,
)


_ORDER = {
    "upvotes": re.compile(r"\b(most[- ](up)?voted|most popular|(by|most) upvotes?|top[- ]rated)\b", re.I),
    "recent": re.compile(r"\b(newest|latest|most recent|recent first|new first|by date)\b", re.I),
}
_ORDERED_LIST = re.compile(r"\b(newest|latest|most recent|most[- ](up)?voted|most popular|top[- ]rated) papers\b", re.I)


def is_recommendation(question: str) -> bool:
    return bool(_INTENT.search(question) or _ORDERED_LIST.search(question))


def order_asked(question: str) -> str:
    """"upvotes" or "recent" when the reader asks for a list in that order ("the most upvoted
    papers on agents", "newest papers on diffusion"), else "" (relevance and diversity)."""
    return next((name for name, pattern in _ORDER.items() if pattern.search(question)), "")


def _latest_date(meta: dict[str, Any]) -> str:
    """The paper's latest page date, sortable: YYYY-MM-DD as is; a yearless "Mar 13" before any dated one."""
    import datetime as dt

    best = ""
    for where in [meta.get("appearances") or "", f"|{meta.get('page_date', '')}"]:
        for item in str(where).split(";"):
            day = item.partition("|")[2]
            try:
                key = dt.date.fromisoformat(day[:10]).isoformat()
            except ValueError:
                try:
                    key = "0000-" + dt.datetime.strptime(" ".join(day.split()[:2])[:6], "%b %d").strftime("%m-%d")
                except ValueError:
                    continue
            best = max(best, key)
    return best


def order_items(items: list[Recommendation], hits: list[PaperHit], order: str) -> list[Recommendation]:
    """The list re-ranked by upvotes or by latest page date (ties keep their order)."""
    if not order:
        return items
    meta = {h.paper_id: h.metadata for h in hits}
    if order == "upvotes":
        ranked = sorted(items, key=lambda r: -int(meta.get(r.paper_id, {}).get("upvotes") or 0))
    else:
        ranked = sorted(items, key=lambda r: _latest_date(meta.get(r.paper_id, {})), reverse=True)
    return [replace(r, rank=i) for i, r in enumerate(ranked, 1)]


def wants_more(question: str) -> bool:
    return bool(_MORE.search(question))


@dataclass
class RecommendationSet:
    interest: str
    items: list[Recommendation] = field(default_factory=list)
    refused: bool = False
    closest: list[PaperHit] = field(default_factory=list)
    notice: str = ""
    hits: list[PaperHit] = field(default_factory=list)  # candidates in rank order
    retrieval_ms: float = 0.0
    coverage: float | None = None  # the model's P(the papers cover the interest), if judged
    provider: str = "extractive"  # who wrote the reasons
    pending_judge: Any = None  # the model judge still to run (Recommender.finish_verdict): () -> (verdict, filter note)


def mmr(relevance: np.ndarray, vectors: np.ndarray, n: int, lam: float = 0.75) -> list[int]:
    """Maximal marginal relevance: indices of ``n`` relevant but mutually different items."""
    chosen: list[int] = []
    candidates = list(range(len(relevance)))
    while candidates and len(chosen) < n:
        if chosen:
            redundancy = (vectors[candidates] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(candidates))
        scores = lam * relevance[candidates] - (1 - lam) * redundancy
        pick = candidates[int(np.argmax(scores))]
        chosen.append(pick)
        candidates.remove(pick)
    return chosen


class Recommender:
    def __init__(self, settings: Settings, retriever: Retriever, chat_model: Any = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.embeddings = retriever.embeddings
        self.chat_model = chat_model
        self.evidence = EvidenceBuilder(settings, retriever.store, retriever.embeddings)
        self.coverage = Coverage(settings, retriever, chat_model)
        self.library: Any = None  # a LibraryRecommender: free-text lists are re-ranked by the reader's library

    def recommend(self, interest: str, n: int = 5, exclude: set[str] | None = None,
                  filters: Filters | None = None, like_paper_id: str = "", reasons: bool = True) -> RecommendationSet:
        """The list; with ``reasons=False`` every reason is the template (no model call for them):
        :meth:`stream_reasons` fills them in afterwards, one at a time."""
        exclude = set(exclude or ())
        model = None
        if self.library is not None:
            exclude |= self.library.excluded()
            model = self.library.model()
        query = interest
        if like_paper_id:
            paper = self.retriever.store.papers([like_paper_id]).get(like_paper_id)
            if not paper:
                raise ValueError(f"no paper with id {like_paper_id!r} in the index")
            query = f"{paper.get('display_title', '')}. {paper['abstract']}"
            interest = interest or f"papers like “{paper.get('display_title', '')}”"
            exclude.add(like_paper_id)
        base = filters or Filters()
        filters = replace(base, exclude_papers=tuple(sorted(set(base.exclude_papers) | exclude)))
        t0 = time.perf_counter()
        pool = max(self.settings.retrieval.list_pool * n, self.settings.retrieval.list_pool_min)
        hits = self.retriever.search(query, k=pool, filters=filters)
        result = RecommendationSet(interest=interest, hits=hits, retrieval_ms=round((time.perf_counter() - t0) * 1000, 1),
                                   provider=self.settings.generation.provider if self.chat_model is not None else "extractive")
        if not hits:
            result.refused = True
            return result
        verdict, sources = self.verdict(interest, hits) if not like_paper_id else (None, [])
        if verdict is not None:
            result.coverage, result.notice = verdict.coverage, verdict.detail
            if verdict.refused:
                result.refused, result.closest = True, hits[:3]
                result.notice = " ".join(filter(None, [result.notice, filter_note(base)]))
                return result
        result.items = self._items(interest, query, hits, n, model)
        if order := order_asked(interest):
            result.items = order_items(result.items, hits, order)
            note = "Sorted by upvotes." if order == "upvotes" else "Newest first."
            result.notice = " ".join(filter(None, [result.notice, note]))
        if model is not None:
            moved = len({i.paper_id for i in result.items} - {h.paper_id for h in self._diversify(hits, n)})
            note = f"{moved} of {len(result.items)} picked with your library."
            result.notice = " ".join(filter(None, [result.notice, note]))
        if verdict is not None and verdict.pending:
            note = filter_note(base)
            result.pending_judge = lambda: (self.coverage.judge(verdict, interest, sources), note)
        if reasons and not self.finish_verdict(result):
            self.fill_reasons(result)
        return result

    def finish_verdict(self, result: RecommendationSet) -> bool:
        """Run the list's pending model judge (streamed: after the list is shown); True (and the
        list emptied) when it refuses."""
        if result.pending_judge is None:
            return False
        (verdict, note), result.pending_judge = result.pending_judge(), None
        result.coverage = verdict.coverage
        result.notice = " ".join(filter(None, [result.notice, verdict.detail]))
        if verdict.refused:
            result.refused, result.closest, result.items = True, result.hits[:3], []
            result.notice = " ".join(filter(None, [result.notice, note]))
        elif verdict.coverage is not None and verdict.coverage < self.settings.judge.list_unsure:
            result.notice = " ".join(filter(None, [result.notice, LIST_UNSURE]))
        return verdict.refused

    def verdict(self, interest: str, hits: list[PaperHit]) -> tuple[Verdict, list[Reference]]:
        """The verdict that needs no model, on the sources as the answer chain builds them (the top
        papers, within the answer's context budget when a model judges), the form its thresholds
        were calibrated on; a quoted title may match any candidate; and those sources. ``pending``:
        the model judges them once the list is made (:meth:`finish_verdict`). (A judge reading the list's
        items as the reasons prompt does would share its prefill, but it separated answerable from
        absent topics worse: docs/benchmarks.md.)"""
        budget = self.settings.evidence.context_tokens if self.chat_model is not None else 0
        evidence = self.evidence.gather(interest, hits[: self.settings.evidence.papers], budget)
        verdict = self.coverage.screen(interest, evidence, titles=[h.title for h in hits])
        return verdict, references(evidence)

    def listing(self, items: list[Recommendation]) -> str:
        """The best ``list_reasons`` items as the model reads them (the judge and the reasons alike)."""
        return "\n".join(f"{i}. {as_data(it.title)}\n   Quote: \u201c{as_data(it.quote)}\u201d"
                         for i, it in enumerate(self._reasoned(items), 1))

    def reason_messages(self, interest: str, items: list[Recommendation]) -> list[tuple[str, str]]:
        return load_prompt("recommend").messages(interest=interest, papers=self.listing(items))

    def _items(self, interest: str, query: str, hits: list[PaperHit], n: int, model: Any = None) -> list[Recommendation]:
        """The list with templated reasons (the model's fill in later: :meth:`fill_reasons`)."""
        picked = self._diversify(hits, n, model)
        papers = self.retriever.store.papers([h.paper_id for h in picked])
        qvec = self.embeddings.embed_array([query])[0]
        quotes = self.evidence.best_quotes(qvec, {h.paper_id: papers.get(h.paper_id, {}) for h in picked})
        items = []
        for rank, hit in enumerate(picked, 1):
            paper = papers.get(hit.paper_id, {})
            quote, score = quotes.get(hit.paper_id, ("", 0.0))
            items.append(Recommendation(
                rank=rank, paper_id=hit.paper_id, title=paper.get("title", hit.title),
                page_date=paper.get("page_date", ""), reason=relation_reason(interest, quote, score), written="template",
                quote=quote, score=round(float(score), 3), source=paper.get("source", ""), abstract=paper.get("abstract", ""),
            ))
        return items

    def _reasoned(self, hits: list) -> list:  # noqa: ANN001 - PaperHit or Recommendation
        """The items whose reasons the model writes: the best ``list_reasons`` of them."""
        k = self.settings.generation.list_reasons
        return hits[:k] if k else hits

    def _diversify(self, hits: list[PaperHit], n: int, model: Any = None) -> list[PaperHit]:
        """MMR over the candidates; with a library ``model``, relevance within the relevant set
        (the candidates) is blended with the reader's library scores."""
        best_chunks = [h.chunks[0].chunk_id for h in hits]
        ids, found = self.retriever.store.vectors(best_chunks)
        by_id = dict(zip(ids, found))
        vectors = np.stack([by_id[c] for c in best_chunks])
        scores = np.array([h.score for h in hits])
        relevance = (scores - scores.min()) / ((scores.max() - scores.min()) or 1.0)
        if model is not None:
            from .library import blend

            rows = model.corpus.rows([h.paper_id for h in hits])
            if len(rows) == len(hits):
                relevance = blend(relevance, model.scores(rows), self.settings.library.blend)
        return [hits[i] for i in mmr(relevance, vectors, n, self.settings.retrieval.mmr_lambda)]

    def fill_reasons(self, result: RecommendationSet) -> None:
        """Every reason the model writes, at once (the CLI, the eval)."""
        for _rank in self.stream_reasons(result):
            pass

    def stream_reasons(self, result: RecommendationSet) -> Iterator[int]:
        """Fill in the model's reasons of a list, as the model writes them: the rank of each item
        whose reason changed, when its line is complete."""
        if self.chat_model is None or not result.items:
            return
        items = self._reasoned(result.items)
        text, done = "", set()
        try:
            chunks = self.chat_model.stream(self.reason_messages(result.interest, items),
                                            max_tokens=self.settings.generation.reason_tokens * len(items), temperature=0.0)
            for chunk in [*chunks, None]:
                text += "" if chunk is None else str(chunk.content)
                complete = text if chunk is None else text[: text.rfind("\n") + 1]
                parsed = parse_reasons(complete)
                ready = {r: v for r, v in parsed.items() if r not in done and (chunk is None or r + 1 in parsed)}
                for rank, (reason, written) in self._grounded(ready, items, result.interest).items():
                    result.items[rank - 1].reason, result.items[rank - 1].written = reason, written
                    yield rank
                done |= set(ready)
        except Exception:  # noqa: BLE001 - reasons not written stay the template
            return
        result.provider = self.settings.generation.provider

    def _grounded(self, reasons: dict[int, str], items: list[Recommendation], interest: str) -> dict[int, tuple[str, str]]:
        """Keep a model's reason only if it is close to the quoted sentence it must rest on; one
        that only paraphrases its quote (or title) becomes a templated relation to the question."""
        keep: dict[int, tuple[str, str]] = {}
        for rank, line in reasons.items():
            if not 1 <= rank <= len(items):
                continue
            item = items[rank - 1]
            reason = first_sentence(without_title(line, item.title))
            title = fold_title(item.title)
            if len(reason) <= 15 or fold_title(reason) in title or title in fold_title(reason):
                continue  # a bare title is no reason
            vec = self.embeddings.embed_array([reason, item.quote])
            if float(vec[0] @ vec[1]) < self.settings.support_threshold - self.settings.judge.reason_margin:
                continue
            if paraphrases(reason, item.quote, item.title):
                keep[rank] = (relation_reason(interest, item.quote, item.score), "relation")
            else:
                keep[rank] = (reason, "model")
        return keep


def parse_reasons(text: str) -> dict[int, str]:
    """``1. reason`` lines -> {1: "reason"}; lines under a numbered one continue it (the model
    sometimes puts the title on the numbered line and the reason below)."""
    out: dict[int, str] = {}
    current = None
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            current = int(match.group(1)) if int(match.group(1)) not in out else None
            if current is not None:
                out[current] = match.group(2).strip().strip("*").strip()
        elif current is not None and line.strip():
            out[current] += "\n" + line.strip().strip("*").strip()
    return out


def without_title(line: str, title: str) -> str:
    """The line without a leading copy of the paper's title ("Title. It shows ..." -> "It shows ...")."""
    folded = fold_title(title)
    pieces = [p for p in re.split(r"\s*\n\s*|(?<=[.!?:;\u2014-])\s+", line.strip()) if p]
    while len(pieces) > 1 and fold_title(pieces[0]) and fold_title(pieces[0]) in folded:
        pieces.pop(0)
    return " ".join(pieces)


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]


# Words that say nothing about a paper's content (reasons use them whatever the paper does).
GENERIC = frozenset("""paper papers this that which with from their they these those into using used uses based
show shows shown propose proposes proposed present presents method methods approach approaches work works study
studies studied also more than such both other what read should reading interest interested about your them
novel new framework provides provide offers offer introduces introduce focuses focus explores explore addresses
address relevant matters matter where when while whose some many much most like want need would could
does have been being next then just only very even each every""".split())


def content_words(text: str) -> set[str]:
    """Content words, cut to 6 letters (a crude stem: "generalization" meets "generalize")."""
    return {w[:6] for w in words(text) if len(w) >= 4 and w not in GENERIC}


def paraphrases(reason: str, quote: str, title: str) -> bool:
    """True when the reason says nothing its quote and title do not (fewer than two content words
    of its own): "It studies the scope of Transformers' abilities in length generalization" over a
    quote on the length generalization abilities of Transformers."""
    return len(content_words(reason) - content_words(quote) - content_words(title)) < 2


def relation_reason(interest: str, quote: str, score: float) -> str:
    """A templated relation of the paper to the question: what they share, by the question's words."""
    ours = content_words(quote)
    phrases: list[str] = []
    run: list[str] = []
    for w in [*words(interest), ""]:  # consecutive shared words make one phrase ("lifelong learning")
        if w and len(w) >= 4 and w not in GENERIC and w[:6] in ours:
            run.append(w)
        elif run:
            phrases.append(" ".join(run))
            run = []
    phrases = list(dict.fromkeys(phrases))
    phrases = [p for p in phrases if not any(p != q and f" {p} " in f" {q} " for q in phrases)][:3]  # "learning" in "lifelong learning"
    if not phrases:
        return template_reason(score)
    quoted = [f"“{p}”" for p in phrases]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    return f"Its quoted sentence is on {listed}, as you asked."


def template_reason(score: float) -> str:
    strength = "closely" if score >= 0.6 else "partly"
    return f"Its abstract {strength} matches your interest; see the quoted sentence."


WRITTEN = {"model": "grounded in quote", "relation": "templated: the model's reason only paraphrased its quote",
           "template": "templated"}


def as_answer(result: RecommendationSet, question: str, started: float | None = None) -> Answer:
    """A recommendation list as an Answer (numbered references, one supported line each)."""
    answer = Answer(question=question, text="", provider=result.provider, kind="recommendations", timings={"retrieval_ms": result.retrieval_ms},
                    coverage=result.coverage)
    if result.refused:
        closest = "\n".join(f"- {h.title}" for h in result.closest)
        answer.text = refusal_text(result.notice, closest)
        answer.gaps = result.notice
        answer.refused = True
        answer.retrieved = result.hits or result.closest
        _finish(answer, started)
        return answer
    lines = [list_heading(result.interest), ""]
    for item in result.items:
        date = f" ({item.page_date})" if item.page_date else ""
        lines.append(f"{item.rank}. **{item.title}**{date} [{item.rank}]: {item.reason}")
        lines.append(f"   > \u201c{item.quote}\u201d")
        answer.references.append(Reference(
            number=item.rank, paper_id=item.paper_id, title=item.title, page_date=item.page_date, source=item.source,
            abstract=item.abstract, evidence=[item.quote], spans=_span(item.abstract, item.quote), cited=True,
        ))
        answer.support.append(SentenceSupport(text=item.reason, citations=[item.rank], supported=True, score=item.score, reason=WRITTEN[item.written]))
    answer.text = "\n".join(lines) if result.items or not result.notice else result.notice
    answer.retrieved = result.hits
    answer.notice = answer.gaps = result.notice
    _finish(answer, started)
    return answer


def list_heading(interest: str) -> str:
    """The line above a list: the topic without the request's wording, when it is short."""
    if interest.startswith("papers like "):
        return f"Papers like {interest[len('papers like '):]}:"
    if interest.startswith("from your library"):
        return f"Recommended {interest}:"
    if interest.startswith("new since "):
        return f"New for you since {interest[len('new since '):]}:"
    topic, led = list_topic(interest), bool(_LEAD.match(interest))
    if not topic or len(topic) > 100 or is_recommendation(topic) or (not led and "?" in interest):
        return "Papers to read:"
    return f"Papers to read on {topic}:"


def list_topic(interest: str) -> str:
    """A list request's topic, without the request's wording ("Recommend papers on X." -> "X")."""
    return _LEAD.sub("", interest, count=1).strip().rstrip("?.!:; ")


def _finish(answer: Answer, started: float | None) -> None:
    if started is not None:
        answer.timings["total_s"] = round(time.perf_counter() - started, 3)


def _span(abstract: str, quote: str) -> list[tuple[int, int]]:
    start = abstract.find(quote)
    return [(start, start + len(quote))] if start >= 0 and quote else []
