"""One object wiring the stages together for the CLI and the app: routing, conversation, fallback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .chain import AnswerChain, Conversation, Event, Turn, check_question
from .recommend import Recommender, as_answer, is_recommendation, wants_more
from .retrieve import Filters, Retriever, make_retriever


@dataclass
class Assistant:
    settings: Any
    retriever: Retriever
    chat_model: Any = None
    model_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Any, chat_model: Any = None, load_model: bool = True) -> "Assistant":
        """Open the store and, unless given one, the configured chat model (never raises for it)."""
        retriever = make_retriever(settings)
        model_error = ""
        if chat_model is None and load_model and settings.provider != "extractive":
            chat_model, model_error = load_chat_model(settings)
        return cls(settings, retriever, chat_model, model_error)

    @property
    def chain(self) -> AnswerChain:
        return AnswerChain(self.settings, self.retriever, self.chat_model, self.model_error)

    @property
    def recommender(self) -> Recommender:
        return Recommender(self.settings, self.retriever, self.chat_model)

    def is_empty(self) -> bool:
        return self.retriever.store.count() == 0

    def respond(self, message: str, conversation: Conversation, filters: Filters | None = None,
                mode: str = "auto", n: int | None = None) -> Iterator[Event]:
        """Route a chat message to an answer or a recommendation list; record the turn."""
        message = check_question(message, self.settings.max_question_chars)
        if self.is_empty():
            raise EmptyIndex("The index is empty: run 'assistant ingest' (or 'make run') to index the corpus first.")
        recommend = mode == "recommend" or (mode == "auto" and (is_recommendation(message) or (wants_more(message) and _last_was_list(conversation))))
        if recommend:
            events = self._recommend(message, conversation, filters, n or self.settings.top_k)
        else:
            events = self.chain.stream(message, conversation, filters)
        for event in events:
            if event.kind == "answer" and event.answer is not None:
                conversation.turns.append(Turn(message, event.answer))
            yield event

    def _recommend(self, message: str, conversation: Conversation, filters: Filters | None, n: int) -> Iterator[Event]:
        started = time.perf_counter()
        interest = message
        exclude: set[str] = set()
        if wants_more(message) and conversation.turns:
            interest = _last_interest(conversation) or message
            exclude = conversation.shown_papers()
        yield Event("status", "Finding papers to recommend…")
        result = self.recommender.recommend(interest, n=n, exclude=exclude, filters=filters)
        answer = as_answer(result, message, started)
        yield Event("token", answer.text)
        yield Event("answer", answer=answer)

    def more_like(self, paper_id: str, conversation: Conversation, n: int | None = None) -> Iterator[Event]:
        started = time.perf_counter()
        result = self.recommender.recommend("", n=n or self.settings.top_k, like_paper_id=paper_id, exclude=conversation.shown_papers())
        answer = as_answer(result, f"More like {paper_id}", started)
        conversation.turns.append(Turn(answer.question, answer))
        yield Event("token", answer.text)
        yield Event("answer", answer=answer)


class EmptyIndex(RuntimeError):
    """No papers are indexed."""


def load_chat_model(settings: Any) -> tuple[Any, str]:
    """(model, "") or (None, a one-line reason): a missing model never stops the app."""
    from .llm import make_chat_model
    from .local_model import ModelError

    try:
        return make_chat_model(settings), ""
    except ModelError as exc:
        return None, f"The {settings.provider} model is unavailable: {exc}."
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes a notice
        return None, f"The {settings.provider} model failed to load ({type(exc).__name__}: {exc})."


def _last_was_list(conversation: Conversation) -> bool:
    return bool(conversation.turns) and conversation.turns[-1].answer.provider == "recommend"


def _last_interest(conversation: Conversation) -> str:
    for turn in reversed(conversation.turns):
        if turn.answer.provider == "recommend" and not wants_more(turn.question):
            return turn.question
    return ""
