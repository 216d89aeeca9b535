"""One object wiring the stages together for the CLI and the app: routing, conversation, fallback.

Also what both need around it: starting up (open the store, index the seed corpus when it is
empty, load the model: :func:`start_assistant`), the per-request variant the app answers with
(:meth:`Assistant.for_request`: another provider, number of sources, calls through the model
gate), corpus facts and example questions for the page, and paper metadata for exports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import AnswerChain, Conversation, Event, Turn, check_question
from .models import ModelPool, Ticket, load_chat_model
from .recommend import Recommender, as_answer, is_recommendation, wants_more
from .records import Answer
from .retrieve import Filters, Retriever, make_retriever
from .settings import REPO_ROOT
from .settings import Settings

LOADING = "Loading the model…"
# Questions the seed corpus answers (offered when the store holds the seed pages).
SEED_EXAMPLES = [
    "How many parameters does DigitalBrain (DB1) have, and on how many tasks does it reach human-level performance?",
    "How does LeanAgent do lifelong learning for formal theorem proving?",
    "What should I read on continual or lifelong learning?",
    "Which papers propose ways to optimize prompts automatically?",
]


@dataclass
class Assistant:
    settings: Settings
    retriever: Retriever
    chat_model: Any = None
    model_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    user: str = ""  # whose reading library (the login name with auth; "" is the one local library)
    stream_lists: bool = False  # lists shown at once with template reasons, the model's filled in ("replace" events)
    library_error: str = ""

    @classmethod
    def create(cls, settings: Settings, chat_model: Any = None, load_model: bool = True) -> "Assistant":
        """Open the store and, unless given one, the configured chat model (never raises for it)."""
        retriever = make_retriever(settings)
        model_error = ""
        if chat_model is None and load_model and settings.generation.provider != "extractive":
            chat_model, model_error = load_chat_model(settings)
        return cls(settings, retriever, chat_model, model_error)

    @property
    def chain(self) -> AnswerChain:
        return AnswerChain(self.settings, self.retriever, self.chat_model, self.model_error)

    @property
    def recommender(self) -> Recommender:
        """The recommender; free-text lists use the reader's library when it has papers."""
        rec = Recommender(self.settings, self.retriever, self.chat_model)
        library = self.library()
        if library is not None and library.status_of():
            rec.library = self.library_recommender(library, rec)
        return rec

    def library(self) -> Any:
        """This user's reading library, or None when its file cannot be used (``library_error`` says why)."""
        from .store.library import LibraryError, open_library

        try:
            library = open_library(self.settings, self.user)
            self.library_error = ""
            return library
        except LibraryError as exc:
            self.library_error = str(exc)
            return None

    def library_recommender(self, library: Any = None, recommender: Recommender | None = None) -> Any:
        """Lists from the library (from-library recommendations, the digest); raises LibraryError."""
        from .library import LibraryRecommender
        from .store.library import LibraryError

        library = library or self.library()
        if library is None:
            raise LibraryError(self.library_error)
        rec = recommender or Recommender(self.settings, self.retriever, self.chat_model)
        return LibraryRecommender(self.settings, self.retriever.store, self.retriever.embeddings, library, rec)

    def is_empty(self) -> bool:
        return self.retriever.store.count() == 0

    def for_request(self, pool: ModelPool, provider: str = "", n: int | None = None,
                    ticket: Ticket | None = None) -> "Assistant":
        """This assistant answering with ``provider``'s model (from ``pool``, every call through its
        gate under ``ticket``), ``n`` papers retrieved, recommended and given to the model."""
        chat_model, error = pool.gated(provider, ticket)
        settings = self.settings.with_overrides(
            provider=provider or None, top_k=int(n) if n else None, evidence_papers=int(n) if n else None)
        return Assistant(settings, self.retriever, chat_model, error, user=self.user)

    def paper_metadata(self, answer: Answer) -> dict[str, dict[str, Any]]:
        """Stored fields (authors, year, venue, url...) of the answer's papers, for exports; {} on failure."""
        if not answer.references:
            return {}
        try:
            return self.retriever.store.papers([r.paper_id for r in answer.references])
        except Exception:  # noqa: BLE001 - exports still work without the extra fields
            return {}

    def respond(self, message: str, conversation: Conversation, filters: Filters | None = None,
                mode: str = "auto", n: int | None = None) -> Iterator[Event]:
        """Route a chat message to an answer or a recommendation list; record the turn."""
        message = check_question(message, self.settings.app.max_question_chars)
        if self.is_empty():
            raise EmptyIndex("The index is empty: run 'assistant ingest' (or 'make run') to index the corpus first.")
        recommend = mode == "recommend" or (mode == "auto" and (is_recommendation(message) or (wants_more(message) and _last_was_list(conversation))))
        from .library import library_request

        asked = library_request(message) if mode in ("auto", "recommend") else None
        if asked:
            events = self._from_library(message, asked[0], asked[1], n or self.settings.retrieval.top_k)
        elif recommend:
            events = self._recommend(message, conversation, filters, n or self.settings.retrieval.top_k)
        else:
            events = self.chain.stream(message, conversation, filters, checked=True)
        for event in events:
            if event.kind == "answer" and event.answer is not None:
                conversation.add(Turn(message, event.answer))
            yield event

    def _recommend(self, message: str, conversation: Conversation, filters: Filters | None, n: int) -> Iterator[Event]:
        started = time.perf_counter()
        interest = message
        exclude: set[str] = set()
        if wants_more(message) and conversation.turns:
            interest = _last_interest(conversation) or message
            exclude = conversation.shown_papers()
        yield Event("status", "Finding papers to recommend…")
        recommender = self.recommender
        stream = self.stream_lists and recommender.chat_model is not None
        result = recommender.recommend(interest, n=n, exclude=exclude, filters=filters, reasons=not stream)
        answer = as_answer(result, message, started)
        yield Event("token", answer.text)
        if stream and result.items and not result.refused:
            answer.timings["first_item_s"] = round(time.perf_counter() - started, 3)
            if result.pending_judge is not None:
                yield Event("status", "Checking that the papers cover it…")
                if recommender.finish_verdict(result):  # refused after all: the list gives way to why
                    answer = as_answer(result, message, started)
                    yield Event("replace", answer.text)
                    yield Event("answer", answer=answer)
                    return
            yield Event("status", "Writing the reasons…")
            for _rank in recommender.stream_reasons(result):
                yield Event("replace", as_answer(result, message, started).text)  # the list with one more reason
            first = answer.timings["first_item_s"]
            answer = as_answer(result, message, started)
            answer.timings["first_item_s"] = first
        yield Event("answer", answer=answer)

    def _from_library(self, message: str, kind: str, tag: str | None, n: int) -> Iterator[Event]:
        """A list from the reader's library: recommendations, or what is new since the last visit."""
        from .library import default_since
        from .recommend import RecommendationSet
        from .store.library import LibraryError

        started = time.perf_counter()
        yield Event("status", "Ranking papers by your library…")
        try:
            lists = self.library_recommender()
            if kind == "digest":
                since = default_since(lists.library)
                result = lists.digest(since, n=n, tag=tag)
                lists.library.visit()
            else:
                result = lists.recommend(n=n, tag=tag)
        except LibraryError as exc:
            result = RecommendationSet(interest=message, notice=str(exc))
        answer = as_answer(result, message, started)
        yield Event("token", answer.text)
        yield Event("answer", answer=answer)

    def more_like(self, paper_id: str, conversation: Conversation, n: int | None = None) -> Iterator[Event]:
        started = time.perf_counter()
        result = self.recommender.recommend("", n=n or self.settings.retrieval.top_k, like_paper_id=paper_id, exclude=conversation.shown_papers())
        answer = as_answer(result, f"More like {paper_id}", started)
        conversation.add(Turn(answer.question, answer))
        yield Event("token", answer.text)
        yield Event("answer", answer=answer)


class EmptyIndex(RuntimeError):
    """No papers are indexed."""


def start_assistant(settings: Settings, report: Callable[[str], None] = lambda _text: None, chat_model: Any = None,
                    load_model: bool = True, seeds: list[Path] | None = None) -> Assistant:
    """Open the store, index the seed corpus (or ``seeds``) if it is empty, load the model.

    ``report`` is told each step (the app shows them while the page waits).
    """
    report("Loading the embedding model and the index…")
    retriever = make_retriever(settings, check=False)
    mismatch = retriever.store.embedder_mismatch()
    if mismatch and retriever.store.read_only:
        from .store import StoreError

        raise StoreError(mismatch)
    if mismatch:
        from .ingest import reembed

        report("The index was built with another embedding model: re-embedding it (once; about a minute for "
               "the seeds)…")
        reembed(retriever.store, settings)
    if retriever.store.count() == 0:
        from .corpus import load_corpus
        from .ingest import index_papers

        report("The index is empty: indexing the seed corpus (first run, about a minute)…")
        corpus = load_corpus(seeds or [REPO_ROOT / "seeds"])
        index_papers(corpus.papers, retriever.store, settings)
    model, error = chat_model, ""
    if model is None and load_model and settings.generation.provider != "extractive":
        report(LOADING)
        model, error = load_chat_model(settings)
    return Assistant(settings, retriever, model, error)


def corpus_info(assistant: Assistant) -> dict[str, Any]:
    """Papers indexed, their page dates and source files, and example questions."""
    try:
        stats = assistant.retriever.store.stats()
    except Exception:  # noqa: BLE001
        stats = {"papers": 0, "page_dates": {}, "sources": {}}
    return {
        "papers": stats.get("papers", 0),
        "page_dates": sorted(d for d in stats.get("page_dates", {}) if d),
        "sources": sorted(s for s in stats.get("sources", {}) if s),
        "examples": example_questions(assistant, stats),
    }


def example_questions(assistant: Assistant, stats: dict[str, Any]) -> list[str]:
    """Example questions: fixed ones for the seed corpus, else built from a few stored titles."""
    seeds = {p.name for p in (REPO_ROOT / "seeds").glob("*.txt")}
    if seeds and seeds <= set(stats.get("sources", {})):
        return list(SEED_EXAMPLES)
    try:
        titles = [t for t in assistant.retriever.store.sample_titles(200) if len(t) < 120]
    except Exception:  # noqa: BLE001
        return []
    out = [f"What does the paper “{t}” propose?" for t in titles[:2]]
    if titles[2:3]:
        out.append(f"What should I read if I liked “{titles[2]}”?")
    return out


def _last_was_list(conversation: Conversation) -> bool:
    return bool(conversation.turns) and conversation.turns[-1].answer.kind == "recommendations"


def _last_interest(conversation: Conversation) -> str:
    for turn in reversed(conversation.turns):
        if turn.answer.kind == "recommendations" and not wants_more(turn.question):
            return turn.question
    return ""
