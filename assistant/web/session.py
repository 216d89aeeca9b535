"""The streamed reply: the service's events for one chat message, turned into chat updates.

:func:`respond_stream` yields an :class:`Update` per change (the evidence as soon as the
sources are known, then the growing text under it, the status line, the queue position while
the model is busy elsewhere) and finally the answer; every failure becomes an assistant message.
The service runs in a worker thread (:func:`pump`) so the page hears about the queue while the
request waits for the model gate.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..chain import Conversation, Event, QuestionError
from ..models import Ticket
from ..question import sanitise
from ..records import Answer
from ..retrieve import Filters
from ..service import LOADING, Assistant, EmptyIndex
from .backend import Backend
from .render import answer_label, error_message, md_text, render_evidence, render_message, safe_markdown

log = logging.getLogger(__name__)

SEARCHING = "Searching the corpus…"
STOPPED_REPLIES: set[str] = set()  # replies whose Stop was pressed; each is removed when its reply ends
GENERATING = "Generating the answer…"
EVIDENCE_FOUND = "Evidence found; writing the answer…"
STOPPED = "Stopped."
KEPT_ANSWERS = 50  # answers a session keeps for its sources panel (a long session stays bounded)


@dataclass
class Session:
    """One browser session: its conversation, chat messages and answers."""

    conversation: Conversation = field(default_factory=Conversation)
    history: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)  # assistant message index -> answer
    shown: dict[str, str] = field(default_factory=dict)  # paper id -> title, in the order shown
    last: Answer | None = None
    reply_id: str = ""  # the reply being written; Stop puts it in STOPPED (Gradio may hand Stop a copy)
    user: str = ""  # the login name with auth (whose reading library); "" without
    panel: Answer | None = None  # the answer whose cards the Sources tab shows (re-drawn after a card's Save)
    lib_list: Any = None  # the list the Library tab shows (a RecommendationSet), re-drawn the same way


@dataclass(frozen=True)
class Request:
    """One chat message (or, with ``more_like``, a "more like this paper" request) and the page's choices."""

    message: str = ""
    mode: str = "auto"  # auto | answer | recommend
    filters: Filters | None = None
    n: int | None = None  # papers given to the model, or recommended
    provider: str = ""  # "" is the configured one
    more_like: str = ""  # a paper id


@dataclass
class Update:
    history: list[dict[str, Any]]
    status: str = ""
    answer: Answer | None = None  # set once, with the final message


class _Reply:
    """The assistant message being written at the end of the chat history."""

    def __init__(self, history: list[dict[str, Any]]) -> None:
        self.history = history
        history.append({"role": "assistant", "content": "…"})
        self.index = len(history) - 1
        self.head = ""  # the evidence block, kept above whatever is written under it
        self.body = "…"  # what is written under it: a status, the growing text

    def show(self, content: str) -> None:
        self.body = content
        self.history[self.index]["content"] = f"{self.head}\n\n{content}" if self.head else content

    def evidence(self, answer: Answer) -> None:
        """The evidence block at the top; without a model it is the answer, so the text written
        under it (the same quotes) is not labelled as one."""
        block = render_evidence(answer.references, link=False, comparison=answer.comparison)  # the sources panel still shows the last answer's cards
        if block:
            self.head = block if answer.provider == "extractive" else f"{block}\n\n{answer_label(answer)}"

    def whole(self, content: str) -> None:
        """The finished message (it lays out its own evidence block)."""
        self.head = ""
        self.show(content)

    def update(self, status: str = "", answer: Answer | None = None) -> Update:
        return Update([dict(m) for m in self.history], status, answer)

    def say(self, status: str, content: str | None = None) -> Update:
        """Show ``content`` (default: the status in italics) and the status line."""
        self.show(f"*{md_text(status)}*" if content is None else content)
        return self.update(status)


def respond_stream(source: Backend | Assistant, session: Session, request: Request,
                   wait_s: float = 600.0) -> Iterator[Update]:
    """Chat updates for one request: growing text, then the answer. ``session`` is updated in place."""
    backend = source if isinstance(source, Backend) else Backend(assistant=source)
    reply = _open(session, request)
    ready = yield from _wait_until_ready(backend, reply, wait_s)
    if not ready:
        return
    ticket = Ticket()
    if backend.must_load(request.provider):
        yield reply.say(f"Loading the {request.provider} model…")
    answer = yield from _relay(backend, session, request, ticket, reply)
    if answer is not None:
        yield _finish(session, reply, answer)


def _open(session: Session, request: Request) -> _Reply:
    """The user's message (escaped, shortened) and an empty assistant message after it."""
    session.reply_id = uuid.uuid4().hex
    if request.more_like:
        title = session.shown.get(request.more_like, request.more_like)
        session.history.append({"role": "user", "content": f"More like: “{md_text(title)}”"})
    elif (request.message or "").strip():
        # sanitised: a lone surrogate kept in the history would fail every later update's JSON
        message = sanitise(request.message[:601]) or "\ufffd"
        shown = message if len(message) <= 600 else message[:600] + "…"
        session.history.append({"role": "user", "content": md_text(shown)})
    return _Reply(session.history)


def _wait_until_ready(backend: Backend, reply: _Reply, wait_s: float) -> Iterator[Update]:
    """Loading updates until the backend is ready (returns True), failed or too slow (False)."""
    started = time.monotonic()
    while not backend.ready:
        if backend.error:
            yield reply.say(backend.error, f"⚠ {md_text(backend.error)}")
            return False
        status = backend.status or LOADING
        yield reply.say(status, f"*{md_text(status)} Your question will be answered when it is ready.*")
        if backend.wait(0.5):
            continue
        if time.monotonic() - started > wait_s:
            yield reply.say("Still loading.", "⚠ The assistant is still loading; please try again in a minute.")
            return False
    return True


def _events(backend: Backend, session: Session, request: Request, ticket: Ticket) -> Iterator[Event]:
    assistant = backend.assistant_for(request.provider, request.n, ticket)
    assistant.user, assistant.stream_lists = session.user, True
    if request.more_like:
        return assistant.more_like(request.more_like, session.conversation)
    return assistant.respond(request.message, session.conversation, request.filters, mode=request.mode, n=request.n)


def _relay(backend: Backend, session: Session, request: Request, ticket: Ticket,
           reply: _Reply) -> Iterator[Update]:
    """Updates for the service's events; returns the answer, or None once a failure is shown."""
    yield reply.update(SEARCHING)
    text, answer, extractive = "", None, False
    try:
        for event in pump(_events(backend, session, request, ticket), ticket):
            if session.reply_id in STOPPED_REPLIES:  # the last word is this reply's; closing pump cancels the ticket
                STOPPED_REPLIES.discard(session.reply_id)
                yield _stopped(reply)
                return None
            if event is None:
                status = _queue_status(ticket, bool(text))
                if status:
                    yield reply.say(status) if not text else reply.update(status)
            elif event.kind == "status":
                yield reply.say(event.text) if not text else reply.update(event.text)
            elif event.kind == "evidence" and event.answer is not None:
                reply.evidence(event.answer)
                extractive = event.answer.provider == "extractive"
                yield reply.say("Evidence found." if extractive else EVIDENCE_FOUND)
            elif event.kind == "token" and extractive:
                continue  # the evidence already shown is this answer: the finished message follows at once
            elif event.kind in ("token", "replace"):
                text = event.text if event.kind == "replace" else text + event.text  # replace: a list with a new reason
                reply.show(safe_markdown(text))
                yield reply.update(GENERATING)
            elif event.kind == "answer" and event.answer is not None:
                answer = event.answer
    except Exception as exc:  # noqa: BLE001 - every failure is a chat message
        expected = isinstance(exc, (QuestionError, EmptyIndex))
        if not expected:
            log.exception("reply failed")
        yield reply.say(str(exc) if expected else "The reply failed.", error_message(exc))
        return None
    if answer is None:
        yield reply.say("No answer.", "⚠ No answer was produced. Please try again.")
    return answer


def stop_reply(session: Session) -> None:
    """Stop pressed: the reply being written ends at its next event (within a quarter second),
    saying it was stopped; its text so far is kept."""
    index = len(session.history) - 1
    if index >= 0 and session.history[index]["role"] == "assistant" and index not in session.answers:
        if session.reply_id and len(STOPPED_REPLIES) < 10_000:  # bounded: ids of unfinished replies only
            STOPPED_REPLIES.add(session.reply_id)


def _stopped(reply: _Reply) -> Update:
    content = reply.body
    placeholder = content in ("", "…") or (content.startswith("*") and content.endswith("*"))
    reply.show("*Stopped.*" if placeholder else f"{content}\n\n*Stopped.*")
    return reply.update(STOPPED)


def _queue_status(ticket: Ticket, writing: bool) -> str:
    """The status while no event comes: queued behind others, or generating; "" for no change."""
    if ticket.state == "waiting":
        ahead = max(ticket.ahead, 1)
        return f"Queued: waiting for the model ({ahead} request{'s' if ahead != 1 else ''} ahead of yours)…"
    if ticket.state == "running" and not writing:
        return GENERATING
    return ""


def _finish(session: Session, reply: _Reply, answer: Answer) -> Update:
    """The final message; the session records the answer and the papers it showed (newest first)."""
    reply.whole(render_message(answer))
    session.answers[reply.index] = answer
    for old in sorted(session.answers)[:-KEPT_ANSWERS]:  # older messages keep their text, not their sources
        del session.answers[old]
    session.last = session.panel = answer
    for ref in answer.references:
        session.shown.pop(ref.paper_id, None)
    session.shown = {**{r.paper_id: r.title for r in answer.references}, **session.shown}
    done = f"Done in {answer.timings.get('total_s', 0):.1f} s." + (f" {answer.notice}" if answer.notice else "")
    return reply.update(done, answer)


def pump(events: Iterator[Event], ticket: Ticket, tick: float = 0.25) -> Iterator[Event | None]:
    """Run ``events`` in a worker thread; yield them, or None every ``tick`` seconds while waiting."""
    channel: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            for event in events:
                channel.put(("event", event))
                if ticket.cancelled:
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            channel.put(("error", exc))
        finally:
            _close(events)
            channel.put(("end", None))

    threading.Thread(target=work, name="assistant-reply", daemon=True).start()
    try:
        while True:
            try:
                kind, item = channel.get(timeout=tick)
            except queue.Empty:
                yield None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        ticket.cancelled = True  # the consumer left (stop button, closed tab): stop generating


def _close(events: Iterator[Event]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001
            pass
