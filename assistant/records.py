"""Typed records passed between the stages of the data flow."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paper:
    """One paper after parsing and de-duplication."""

    paper_id: str
    title: str  # as in the corpus (first spelling seen)
    display_title: str  # LaTeX debris cleaned, for people
    abstract: str  # cleaned for display and embedding
    source: str  # file name it came from (first seen)
    page_date: str = ""  # e.g. "Mar 13" from a Daily Papers page
    appearances: tuple[str, ...] = ()  # "file|date" of every appearance
    aliases: tuple[str, ...] = ()  # other raw titles folded into this paper
    authors: str = ""
    year: str = ""
    venue: str = ""
    url: str = ""
    arxiv_id: str = ""  # from the Daily Papers API (seed pages carry none)
    upvotes: int = 0  # Daily Papers upvotes when last fetched

    @property
    def content_hash(self) -> str:
        from hashlib import sha1

        return sha1(f"{self.display_title}\n{self.abstract}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A piece of one abstract; the title travels with its embedded text."""

    chunk_id: str
    paper_id: str
    index: int
    text: str  # the abstract slice
    start: int  # character span in Paper.abstract
    end: int

    def embed_text(self, title: str) -> str:
        return f"{title}. {self.text}"


@dataclass(frozen=True)
class Skipped:
    """Something ingest could not take, with where and why."""

    source: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.reason}"


@dataclass
class LoadReport:
    papers: list[Paper] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    entries: int = 0  # entries read before de-duplication
    files: int = 0


@dataclass(frozen=True)
class ChunkHit:
    """A chunk returned by a retriever with its score(s)."""

    chunk_id: str
    paper_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class PaperHit:
    """A paper ranked by retrieval, with its best chunks."""

    paper_id: str
    title: str
    score: float
    chunks: list[ChunkHit]
    metadata: dict[str, Any] = field(default_factory=dict)
    dense: float = 0.0  # best cosine similarity of any of its chunks to the query

    @property
    def display_title(self) -> str:
        return self.metadata.get("display_title") or self.title

    @property
    def abstract(self) -> str:
        return self.metadata.get("abstract", "")


@dataclass
class Reference:
    number: int
    paper_id: str
    title: str
    page_date: str
    source: str
    abstract: str
    evidence: list[str]  # evidence sentences shown to the model
    spans: list[tuple[int, int]] = field(default_factory=list)  # evidence spans in abstract
    cited: bool = False


@dataclass
class SentenceSupport:
    text: str
    citations: list[int]
    supported: bool
    score: float = 0.0
    reason: str = ""  # "", "no citation", "weak evidence (0.41)", "number not in cited abstracts: 1024", ...
    evidence: str = ""  # the closest sentence of the cited abstracts (what a garbled claim is shown against)
    dropped: bool = False  # not an answer (only titles and markers, the question restated): cut from the text


@dataclass
class Answer:
    question: str
    text: str  # Markdown with [n] markers
    references: list[Reference] = field(default_factory=list)
    support: list[SentenceSupport] = field(default_factory=list)
    refused: bool = False
    provider: str = ""  # the model that wrote it ("extractive" when none did)
    kind: str = "answer"  # "answer" | "recommendations"
    notice: str = ""  # e.g. fallback notice
    standalone_query: str = ""
    retrieved: list[PaperHit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    coverage: float | None = None  # the model's P(the sources cover the question), if judged
    coverage_needed: float | None = None  # the P(yes) it had to reach (assistant.verdict.judge_threshold)
    standout: float | None = None  # how far the top paper's fused score led the next one's
    gaps: str = ""  # what the question names that no paper mentions, e.g. "No paper in the corpus mentions Minecraft."
    comparison: Any = None  # a compare question's table (assistant.compare.CompareTable), shown with the evidence
    model_sources: list[int] = field(default_factory=list)  # numbers of the sources the model was given

    @property
    def cited_references(self) -> list[Reference]:
        return [r for r in self.references if r.cited]

    def to_dict(self) -> dict[str, Any]:
        by_number = {r.number: r for r in self.references}
        return {
            "question": self.question,
            "standalone_query": self.standalone_query,
            "answer": self.text,
            "retrieved": [h.title for h in self.retrieved],
            "cited": [r.title for r in self.cited_references],
            "kind": self.kind,
            "refused": self.refused,
            "support": [
                {
                    "text": s.text,
                    "cited": [by_number[n].title for n in s.citations if n in by_number],
                    "supported": s.supported,
                    "score": round(s.score, 3),
                    "reason": s.reason,
                    "evidence": s.evidence,
                    "dropped": s.dropped,
                }
                for s in self.support
            ],
            "references": [asdict(r) for r in self.references],
            "timings": self.timings,
            "provider": self.provider,
            "notice": self.notice,
            "coverage": None if self.coverage is None else round(self.coverage, 3),
            "coverage_needed": self.coverage_needed,
            "standout": None if self.standout is None else round(self.standout, 3),
            "gaps": self.gaps,
            "comparison": self.comparison.as_dict() if self.comparison is not None else None,
            "model_sources": self.model_sources,
        }


@dataclass
class Recommendation:
    rank: int
    paper_id: str
    title: str
    page_date: str
    reason: str  # one sentence of why
    quote: str  # a sentence of the abstract that grounds the reason
    score: float
    source: str = ""
    abstract: str = ""
    because: str = ""  # the saved paper it is closest to (library lists), by title
    because_id: str = ""
    written: str = "template"  # who wrote the reason: "model", "relation" (a paraphrase replaced) or "template"


def date_in_range(page_date: str, since: str = "", until: str = "") -> bool:
    """Whether a page date falls in ``since``..``until`` (YYYY-MM-DD, inclusive, either open).
    A Daily Papers API date is YYYY-MM-DD; a scraped page's date has no year ("Mar 13"): it is
    in the range when that month and day, in any year the range spans, is."""
    import datetime as dt

    lo = dt.date.fromisoformat(since) if since else dt.date.min
    hi = dt.date.fromisoformat(until) if until else dt.date.max
    try:
        return lo <= dt.date.fromisoformat(page_date[:10]) <= hi
    except ValueError:
        pass
    parts = page_date.replace(".", " ").replace(",", " ").split()
    try:
        month_day = dt.datetime.strptime(f"{parts[0][:3]} {parts[1]}", "%b %d")
        if len(parts) > 2:  # "Mar 13, 2024": a full date after all
            return lo <= dt.date(int(parts[2]), month_day.month, month_day.day) <= hi
    except (ValueError, IndexError):
        return False
    years = range(lo.year if since else hi.year, (hi.year if until else lo.year) + 1)
    for year in years:
        try:
            if lo <= dt.date(year, month_day.month, month_day.day) <= hi:
                return True
        except ValueError:  # Feb 29 in a common year
            continue
    return False


@dataclass(frozen=True)
class Filters:
    page_dates: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    exclude_papers: tuple[str, ...] = ()
    since: str = ""  # YYYY-MM-DD: only papers on a page of this date or later (any appearance)
    until: str = ""  # YYYY-MM-DD: ... or earlier

    @property
    def has_dates(self) -> bool:
        return bool(self.page_dates or self.since or self.until)

    def dates_among(self, values) -> list[str]:  # noqa: ANN001 - page dates known to the index
        """The page dates of ``values`` these filters allow: those named, and those in the range."""
        chosen = list(self.page_dates)
        if self.since or self.until:
            chosen += [v for v in values if v not in chosen and date_in_range(v, self.since, self.until)]
        return chosen

    def describe(self) -> str:
        """The date and source limits in words ('' when none): for a refusal under a filter."""
        parts = []
        if self.page_dates:
            parts.append("page date " + " or ".join(self.page_dates))
        if self.since or self.until:
            parts.append(f"page dates {self.since or 'any'} to {self.until or 'now'}")
        if self.sources:
            parts.append("source " + " or ".join(self.sources))
        return " and ".join(parts)

    def __bool__(self) -> bool:
        return bool(self.has_dates or self.sources or self.exclude_papers)
