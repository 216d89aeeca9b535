"""The web app (Gradio): a chat with cited, streamed answers, a sources panel and recommendations.

Small pure functions render what the browser shows (always escaped: titles, abstracts and
model output are text, never markup), export an answer as Markdown or BibTeX, and turn the
service's events into chat updates (:func:`respond_stream`). :func:`build_app` wires them
into a ``gr.Blocks``; :func:`launch` serves it on loopback unless told otherwise.
"""

from __future__ import annotations

import html
import logging
import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import Conversation, Event, QuestionError
from .records import Answer, Reference
from .retrieve import Filters
from .service import Assistant, EmptyIndex, load_chat_model
from .settings import PROVIDERS, REPO_ROOT, quiet_environment

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MODES = {"Auto": "auto", "Answer": "answer", "Recommend": "recommend"}
LOADING = "Loading the model…"
# Questions the seed corpus answers (used when the store holds the seed pages).
SEED_EXAMPLES = [
    "How many parameters does DigitalBrain (DB1) have, and on how many tasks does it reach human-level performance?",
    "How does LeanAgent do lifelong learning for formal theorem proving?",
    "What should I read on continual or lifelong learning?",
    "Which papers propose ways to optimize prompts automatically?",
]


class AppError(RuntimeError):
    """The app cannot start as configured (message is for the user)."""


# ---------------------------------------------------------------- escaping

_CITE = re.compile(r"\[(\d{1,2})\]")
_MD_SPECIAL = str.maketrans({
    "\\": "\\\\", "&": "&amp;", "<": "&lt;", "[": "\\[", "]": "\\]", "`": "\\`", "$": "\\$", "|": "\\|",
})
_MD_STRICT = str.maketrans({
    "\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "`": "\\`", "$": "\\$",
    "*": "\\*", "_": "\\_", "#": "\\#", "|": "\\|", "!": "\\!", "~": "\\~",
})


def md_text(text: str) -> str:
    """Text shown literally inside Markdown (a title, a quote): every markup character escaped."""
    return " ".join(str(text).split()).translate(_MD_STRICT)


def safe_markdown(text: str, numbers: set[int] | None = None, link: bool = True) -> str:
    """Model or corpus text as Markdown that can only format, never link, embed or run anything.

    HTML is escaped (``<`` becomes ``&lt;``), brackets are escaped so no link or image can be
    written (``[x](javascript:...)`` shows as text), code spans and LaTeX are off. Emphasis,
    lists and quotes keep working. Citation markers ``[n]`` (for ``n`` in ``numbers`` when
    given) become links to the source card ``#src-n`` in the sources panel.
    """
    text = _normalise_markers(str(text))
    out: list[str] = []
    last = 0
    for m in _CITE.finditer(text):
        n = int(m.group(1))
        if numbers is not None and n not in numbers:
            continue
        out.append(text[last : m.start()].translate(_MD_SPECIAL))
        out.append(f"[\\[{n}\\]](#src-{n})" if link else f"\\[{n}\\]")
        last = m.end()
    out.append(text[last:].translate(_MD_SPECIAL))
    return "".join(out)


def _normalise_markers(text: str) -> str:
    try:
        from .citations import normalise_markers

        return normalise_markers(text)
    except Exception:  # noqa: BLE001 - display only: keep the text as written
        return text


def esc(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


# ---------------------------------------------------------------- chat message


def render_reply(answer: Answer) -> str:
    """The assistant's chat message for a finished answer (sanitised Markdown)."""
    numbers = {r.number for r in answer.references}
    if answer.provider == "recommend" and not answer.refused and answer.references:
        body = render_recommendations(answer)
    else:
        body = safe_markdown(answer.text, numbers)
    tail = []
    checked = [s for s in answer.support if s.citations or s.reason]
    if checked and answer.provider != "recommend":
        ok = sum(s.supported for s in checked)
        mark = "✓" if ok == len(checked) else "⚠"
        tail.append(f"*{mark} {ok} of {len(checked)} sentence{'s' if len(checked) != 1 else ''} supported by the cited "
                    "abstracts (see Sources).*")
    if answer.notice:
        tail.append(f"**Note:** {safe_markdown(answer.notice, link=False)}")
    if answer.provider and answer.provider != "recommend" and not answer.refused:
        who = "extractive: evidence sentences, no language model" if answer.provider == "extractive" else f"the {answer.provider} model"
        tail.append(f"*Answered by {md_text(who)}.*")
    return body + ("\n\n" + "\n\n".join(tail) if tail else "")


def render_recommendations(answer: Answer) -> str:
    """A ranked reading list: title, date, citation link, the reason and its grounding quote."""
    reasons = {s.citations[0]: s for s in answer.support if s.citations}
    lines = [f"Here {'is' if len(answer.references) == 1 else 'are'} {len(answer.references)} "
             f"paper{'s' if len(answer.references) != 1 else ''} to read, most relevant first:", ""]
    for ref in answer.references:
        date = f" ({md_text(ref.page_date)})" if ref.page_date else ""
        reason = reasons.get(ref.number)
        lines.append(f"{ref.number}. **{md_text(ref.title)}**{date} [\\[{ref.number}\\]](#src-{ref.number})  ")
        if reason is not None:
            lines.append(f"   Why: {safe_markdown(reason.text, link=False)}")
        if ref.evidence:
            lines.append(f"   > “{md_text(ref.evidence[0])}”")
        lines.append("")
    return "\n".join(lines).rstrip()


def error_message(exc: BaseException) -> str:
    """A chat message for a failure: the user's words, never a traceback."""
    if isinstance(exc, QuestionError):
        return f"⚠ {md_text(str(exc))}"
    if isinstance(exc, EmptyIndex):
        return f"⚠ {md_text(str(exc))}"
    text = " ".join(str(exc).split())[:300]
    return f"⚠ Something went wrong ({md_text(type(exc).__name__)}: {md_text(text)}). Please try again."


# ---------------------------------------------------------------- sources panel


def _merge_spans(abstract: str, spans: list[tuple[int, int]]) -> list[list[int]]:
    """Valid spans clipped to the abstract, sorted, overlaps merged."""
    clean = sorted((max(0, int(a)), min(len(abstract), int(b))) for a, b in spans if int(b) > int(a))
    merged: list[list[int]] = []
    for a, b in clean:
        if a >= len(abstract):
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def highlight(abstract: str, spans: list[tuple[int, int]]) -> str:
    """The abstract as escaped HTML with the evidence spans wrapped in ``<mark>``."""
    out, pos = [], 0
    for a, b in _merge_spans(abstract, spans):
        out.append(esc(abstract[pos:a]))
        out.append(f"<mark>{esc(abstract[a:b])}</mark>")
        pos = b
    out.append(esc(abstract[pos:]))
    return "".join(out)


def excerpt(abstract: str, spans: list[tuple[int, int]], limit: int = 320) -> str:
    """Only the evidence sentences, highlighted, in abstract order; elided text shows as "…"."""
    merged = _merge_spans(abstract, spans)
    if not merged:
        short = abstract if len(abstract) <= limit else abstract[:limit].rsplit(" ", 1)[0] + " …"
        return esc(short)
    out, pos = [], 0
    for a, b in merged:
        if abstract[pos:a].strip():
            out.append('<span class="pa-gap">…</span> ')
        out.append(f"<mark>{esc(abstract[a:b].strip())}</mark> ")
        pos = b
    if abstract[pos:].strip():
        out.append('<span class="pa-gap">…</span>')
    return "".join(out).strip()


def render_sources(answer: Answer | None) -> str:
    """The sources panel: a card per reference with date, highlighted abstract and support marks."""
    if answer is None:
        return ('<div class="pa-sources pa-empty">Sources appear here: each cited paper with its abstract, '
                "the evidence sentences highlighted, and whether each sentence citing it is supported.</div>")
    refs = answer.references
    if not refs:
        return '<div class="pa-sources pa-empty">No sources for this answer.</div>'
    cited = [r for r in refs if r.cited]
    head = (f"{len(cited)} cited of {len(refs)} retrieved" if answer.provider != "recommend"
            else f"{len(refs)} recommended paper{'s' if len(refs) != 1 else ''}")
    if answer.refused:
        head = "Not answered from the corpus: the closest papers (not cited)"
    ordered = cited + [r for r in refs if not r.cited]
    cards = [render_card(r, answer) for r in ordered]
    uncited_claims = [s for s in answer.support if not s.citations and not s.supported]
    extra = ""
    if uncited_claims:
        items = "".join(f'<li class="pa-bad"><span class="pa-mark">✗</span> {esc(plain(s.text))}'
                        f'<span class="pa-why"> — {esc(s.reason or "no citation")}</span></li>' for s in uncited_claims)
        extra = f'<div class="pa-uncited"><div class="pa-label">Sentences without a citation</div><ul>{items}</ul></div>'
    return (f'<div class="pa-sources"><div class="pa-head">{esc(head)}</div>{extra}'
            + "".join(cards) + "</div>")


_MD_MARKUP = re.compile(r"\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)")


def plain(text: str) -> str:
    """An answer sentence for the support list: markers and emphasis markup removed."""
    try:
        from .citations import strip_markers

        text = strip_markers(text)
    except Exception:  # noqa: BLE001
        text = _CITE.sub("", text)
    return _MD_MARKUP.sub("", text).lstrip("-•* ").strip()


def render_card(ref: Reference, answer: Answer) -> str:
    claims = [s for s in answer.support if ref.number in s.citations]
    rows = []
    for s in claims:
        mark, cls = ("✓", "pa-ok") if s.supported else ("✗", "pa-bad")
        why = s.reason or ("supported" if s.supported else "not supported")
        score = f", {s.score:.2f}" if s.score else ""
        rows.append(f'<li class="{cls}"><span class="pa-mark">{mark}</span> {esc(plain(s.text))}'
                    f'<span class="pa-why"> — {esc(why)}{esc(score)}</span></li>')
    support = f'<ul class="pa-support">{"".join(rows)}</ul>' if rows else ""
    meta = " · ".join(esc(x) for x in (ref.page_date, ref.source) if x)
    label = "recommended" if answer.provider == "recommend" else "cited"
    badge = f'<span class="pa-badge">{label}</span>' if ref.cited else '<span class="pa-badge pa-dim">not cited</span>'
    state = "pa-cited" if ref.cited else "pa-uncited-card"
    return (
        f'<div class="pa-card {state}" id="src-{int(ref.number)}">'
        f'<div class="pa-title"><span class="pa-num">[{int(ref.number)}]</span> {esc(ref.title)} {badge}</div>'
        f'<div class="pa-meta">{meta}</div>{support}'
        f'<div class="pa-excerpt">{excerpt(ref.abstract, list(ref.spans))}</div>'
        f'<details class="pa-abstract"><summary>Full abstract, evidence highlighted</summary>'
        f'<p>{highlight(ref.abstract, list(ref.spans))}</p></details></div>'
    )


# ---------------------------------------------------------------- export


def to_markdown(answer: Answer) -> str:
    """The answer and its references as a Markdown document (corpus text escaped)."""
    numbers = {r.number for r in answer.references}
    lines = [f"# {md_text(answer.question)}", ""]
    lines += [safe_markdown(answer.text, numbers, link=False), ""]
    if answer.notice:
        lines += [f"> Notice: {md_text(answer.notice)}", ""]
    shown = answer.cited_references or answer.references
    if shown:
        lines += ["## References" if answer.cited_references else "## Closest papers (not cited)", ""]
        for ref in shown:
            meta = ", ".join(md_text(x) for x in (ref.page_date, ref.source) if x)
            lines.append(f"{ref.number}. \\[{ref.number}\\] **{md_text(ref.title)}**" + (f" ({meta})" if meta else ""))
            for sentence in ref.evidence:
                lines.append(f"   > {md_text(sentence)}")
        lines.append("")
    if answer.support:
        lines += ["## Citation check", ""]
        for s in answer.support:
            mark = "✓" if s.supported else "✗"
            cites = "".join(f"\\[{n}\\]" for n in s.citations)
            why = f"({md_text(s.reason)})" if s.reason else ""
            lines.append(" ".join(x for x in (f"- {mark}", md_text(plain(s.text)), cites, why) if x))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_BIB_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
    "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def bib_escape(text: str) -> str:
    return "".join(_BIB_SPECIAL.get(c, c) for c in " ".join(str(text).split()))


def bib_key(ref: Reference, year: str = "") -> str:
    words = re.findall(r"[A-Za-z0-9]+", ref.title)
    stop = {"a", "an", "the", "on", "of", "for", "and", "to", "in", "with", "towards", "toward", "is", "are", "can",
            "do", "does", "what", "where", "when", "how", "why", "which", "who"}
    first = next((w.lower() for w in words if w.lower() not in stop), "paper")
    tail = re.sub(r"[^A-Za-z0-9]", "", ref.paper_id)[:8] or str(ref.number)
    return f"{first}{year}_{tail}"


def to_bibtex(answer: Answer, metadata: dict[str, dict[str, Any]] | None = None) -> str:
    """``@misc`` entries for the cited papers (or all shown): only fields the corpus has.

    ``title``; ``author``, ``year``, ``howpublished`` (venue) and ``url`` only when the corpus
    entry has them (a year is taken from the page date only if it contains one: Daily Papers
    dates such as "Mar 13" have none, so no year is written); the abstract's source file as ``note``.
    """
    metadata = metadata or {}
    refs = answer.cited_references or answer.references
    entries = []
    for ref in refs:
        meta = metadata.get(ref.paper_id, {})
        year = str(meta.get("year") or "").strip()
        if not _YEAR.fullmatch(year):
            found = _YEAR.search(ref.page_date or "")
            year = found.group(1) if found else ""
        fields = [("title", ref.title)]
        if meta.get("authors"):
            fields.append(("author", " and ".join(a.strip() for a in str(meta["authors"]).split(",") if a.strip())))
        if year:
            fields.append(("year", year))
        if meta.get("venue"):
            fields.append(("howpublished", str(meta["venue"])))
        if meta.get("url") and re.match(r"https?://", str(meta["url"])):
            fields.append(("url", str(meta["url"])))
        source = ref.source or meta.get("source", "")
        if source:
            note = f"Abstract from {source}" + (f", page date {ref.page_date}" if ref.page_date else "")
            fields.append(("note", note))
        body = ",\n".join(f"  {name} = {{{bib_escape(value)}}}" for name, value in fields)
        entries.append(f"@misc{{{bib_key(ref, year)},\n{body}\n}}")
    return "\n\n".join(entries) + ("\n" if entries else "")


_EXPORTS: dict[str, Path] = {}


def write_exports(answer: Answer, metadata: dict[str, dict[str, Any]] | None = None,
                  keep_s: float = 3600.0) -> list[str]:
    """answer.md and references.bib in a fresh folder (exports older than ``keep_s`` are removed)."""
    import shutil

    root = _EXPORTS.get("root")
    if root is None or not root.exists():
        root = _EXPORTS["root"] = Path(tempfile.mkdtemp(prefix="paper-assistant-exports-"))
    now = time.time()
    for old in root.iterdir():
        if now - old.stat().st_mtime > keep_s:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=root))
    md = folder / "answer.md"
    bib = folder / "references.bib"
    md.write_text(to_markdown(answer), encoding="utf-8")
    bib.write_text(to_bibtex(answer, metadata), encoding="utf-8")
    return [str(md), str(bib)]


# ---------------------------------------------------------------- one model call at a time


class ModelGate:
    """At most one chat-model call at a time across all users; knows who is waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.busy = False
        self.waiting = 0

    @contextmanager
    def hold(self, ticket: "Ticket | None" = None) -> Iterator[None]:
        with self._cond:
            if ticket is not None:
                ticket.state, ticket.ahead = "waiting", self.waiting + int(self.busy)
            self.waiting += 1
            while self.busy:
                self._cond.wait()
            self.waiting -= 1
            self.busy = True
        if ticket is not None:
            ticket.state = "running"
        try:
            if ticket is not None and ticket.cancelled:
                raise RuntimeError("cancelled")
            yield
        finally:
            with self._cond:
                self.busy = False
                self._cond.notify()
            if ticket is not None:
                ticket.state = "done"


@dataclass
class Ticket:
    state: str = "idle"  # idle | waiting | running | done
    ahead: int = 0
    cancelled: bool = False


class GatedModel:
    """Wraps a chat model so that each call waits for the gate (what the chain and recommender use)."""

    def __init__(self, inner: Any, gate: ModelGate, ticket: Ticket) -> None:
        self.inner, self.gate, self.ticket = inner, gate, ticket

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        with self.gate.hold(self.ticket):
            return self.inner.invoke(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.gate.hold(self.ticket):
            yield from self.inner.stream(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class _AppAssistant(Assistant):
    """The service with the app's per-request choices (number of sources given to the model)."""

    context_papers: int = 5

    @property
    def chain(self):  # noqa: ANN201
        chain = super().chain
        if hasattr(chain, "context_papers"):
            chain.context_papers = self.context_papers
        return chain


# ---------------------------------------------------------------- backend (loads in the background)


def describe_model(chat_model: Any, provider: str) -> str:
    if chat_model is None:
        return "extractive (no language model)"
    path = getattr(chat_model, "model_path", "")
    name = Path(path).name if path else (getattr(chat_model, "model_name", "") or getattr(chat_model, "model", ""))
    return f"{provider}: {name}" if name else f"{provider}: {type(chat_model).__name__}"


class Backend:
    """Holds the Assistant; builds it in a background thread so the page comes up at once."""

    def __init__(self, assistant: Assistant | None = None,
                 loader: Callable[[Callable[[str], None]], Assistant] | None = None) -> None:
        self.assistant = assistant
        self.loader = loader
        self.status = "Ready." if assistant is not None else LOADING
        self.error = ""
        self.gate = ModelGate()
        self._ready = threading.Event()
        self._models: dict[str, tuple[Any, str]] = {}
        self._models_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._info: dict[str, Any] | None = None
        if assistant is not None:
            self._ready.set()

    def start(self) -> "Backend":
        if self._thread is None and not self._ready.is_set() and self.loader is not None:
            self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
            self._thread.start()
        return self

    def _load(self) -> None:
        try:
            assert self.loader is not None
            self.assistant = self.loader(self._report)
            self.status = "Ready."
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            log.exception("loading the assistant failed")
            self.error = f"The assistant could not start: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            self.status = self.error
        finally:
            self._ready.set()

    def _report(self, text: str) -> None:
        self.status = text

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.assistant is not None

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def info(self) -> dict[str, Any]:
        """Corpus facts for the settings panel (computed once, after loading)."""
        if self._info is None and self.ready:
            assert self.assistant is not None
            try:
                stats = self.assistant.retriever.store.stats()
            except Exception:  # noqa: BLE001
                stats = {"papers": 0, "page_dates": {}, "sources": {}}
            self._info = {
                "papers": stats.get("papers", 0),
                "page_dates": sorted(d for d in stats.get("page_dates", {}) if d),
                "sources": sorted(s for s in stats.get("sources", {}) if s),
                "examples": example_questions(self.assistant, stats),
            }
        return self._info or {"papers": 0, "page_dates": [], "sources": [], "examples": []}

    def providers(self) -> list[str]:
        if self.assistant is None:
            return []
        settings = self.assistant.settings
        out = [settings.provider, "local", "extractive"]
        if settings.base_url:  # a remote provider only where one is configured (no default cloud URL)
            out += ["openai", "ollama"]
        return [p for p in dict.fromkeys(out) if p in PROVIDERS]

    def chat_model_for(self, provider: str) -> tuple[Any, str]:
        assert self.assistant is not None
        base = self.assistant
        if provider == base.settings.provider or not provider:
            return base.chat_model, base.model_error
        if provider == "extractive":
            return None, ""
        with self._models_lock:
            if provider not in self._models:
                self._models[provider] = load_chat_model(base.settings.with_overrides(provider=provider))
            return self._models[provider]

    def must_load(self, provider: str) -> bool:
        """True when answering with ``provider`` first loads its model (the first time it is chosen)."""
        assert self.assistant is not None
        return bool(provider) and provider not in (self.assistant.settings.provider, "extractive") \
            and provider not in self._models

    def model_label(self, provider: str = "") -> str:
        """What answers with ``provider``: the model file or name, or why there is none."""
        if self.assistant is None:
            return ""
        base = self.assistant.settings.provider
        provider = provider or base
        if provider == "extractive":
            return describe_model(None, provider)
        if provider == base:
            model, error = self.assistant.chat_model, self.assistant.model_error
        elif provider in self._models:
            model, error = self._models[provider]
        else:
            return f"{provider} (loads with the first question)"
        if model is None:
            return f"{provider}: unavailable, answers are extractive" + (f" ({error})" if error else "")
        return describe_model(model, provider)

    def assistant_for(self, provider: str = "", n: int | None = None, ticket: Ticket | None = None) -> Assistant:
        assert self.assistant is not None
        base = self.assistant
        chat_model, error = self.chat_model_for(provider)
        settings = base.settings
        if provider and provider != settings.provider:
            settings = settings.with_overrides(provider=provider)
        if n:
            settings = settings.with_overrides(top_k=int(n))
        if chat_model is not None:
            chat_model = GatedModel(chat_model, self.gate, ticket or Ticket())
        return _AppAssistant(settings, base.retriever, chat_model, error, context_papers=int(n or 5))


def example_questions(assistant: Assistant, stats: dict[str, Any]) -> list[str]:
    """Example questions: fixed ones for the seed corpus, else built from a few stored titles."""
    seeds = {p.name for p in (REPO_ROOT / "seeds").glob("*.txt")}
    if seeds and seeds <= set(stats.get("sources", {})):
        return list(SEED_EXAMPLES)
    titles: list[str] = []
    try:
        got = assistant.retriever.store.collection.get(limit=200, include=["metadatas"])
        for meta in got.get("metadatas") or []:
            title = (meta or {}).get("display_title") or (meta or {}).get("title")
            if title and title not in titles and len(title) < 120:
                titles.append(title)
    except Exception:  # noqa: BLE001
        return []
    out = [f"What does the paper “{t}” propose?" for t in titles[:2]]
    if titles[2:3]:
        out.append(f"What should I read if I liked “{titles[2]}”?")
    return out


def make_loader(settings: Any, chat_model: Any = None, load_model: bool = True,
                seeds: list[Path] | None = None) -> Callable[[Callable[[str], None]], Assistant]:
    """A loader for :class:`Backend`: opens the store, indexes the seeds if it is empty, loads the model."""

    def load(report: Callable[[str], None]) -> Assistant:
        from .retrieve import make_retriever

        report("Loading the embedding model and the index…")
        retriever = make_retriever(settings)
        if retriever.store.count() == 0:
            from .ingest import index_papers, load_corpus

            report("The index is empty: indexing the seed corpus (first run, about a minute)…")
            corpus = load_corpus(seeds or [REPO_ROOT / "seeds"])
            index_papers(corpus.papers, retriever.store, settings)
        model, error = chat_model, ""
        if model is None and load_model and settings.provider != "extractive":
            report(LOADING)
            model, error = load_chat_model(settings)
        return Assistant(settings, retriever, model, error)

    return load


# ---------------------------------------------------------------- the streamed reply


@dataclass
class Session:
    """One browser session: its conversation, chat messages and answers."""

    conversation: Conversation = field(default_factory=Conversation)
    history: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)  # assistant message index -> answer
    shown: dict[str, str] = field(default_factory=dict)  # paper id -> title, in the order shown
    last: Answer | None = None


@dataclass
class Update:
    history: list[dict[str, Any]]
    status: str = ""
    answer: Answer | None = None  # set once, with the final message


def _pump(events: Iterator[Event], ticket: Ticket, tick: float = 0.25) -> Iterator[Event | None]:
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
            close = getattr(events, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
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


def respond_stream(source: Backend | Assistant, message: str, session: Session, mode: str = "auto",
                   filters: Filters | None = None, n: int | None = None, provider: str = "",
                   more_like: str = "", wait_s: float = 600.0) -> Iterator[Update]:
    """Chat updates for one user message (or a "more like this" request): growing text, then the answer.

    Errors become an assistant message. ``session`` is updated in place.
    """
    backend = source if isinstance(source, Backend) else Backend(assistant=source)
    history = session.history
    if more_like:
        title = session.shown.get(more_like, more_like)
        history.append({"role": "user", "content": f"More like: “{md_text(title)}”"})
    else:
        shown = message if len(message or "") <= 600 else message[:600] + "…"
        if (message or "").strip():
            history.append({"role": "user", "content": md_text(shown)})
    history.append({"role": "assistant", "content": "…"})
    index = len(history) - 1

    def update(status: str = "", answer: Answer | None = None) -> Update:
        return Update([dict(m) for m in history], status, answer)

    started = time.monotonic()
    while not backend.ready:
        if backend.error:
            history[index]["content"] = f"⚠ {md_text(backend.error)}"
            yield update(backend.error)
            return
        history[index]["content"] = f"*{md_text(backend.status or LOADING)} Your question will be answered when it is ready.*"
        yield update(backend.status or LOADING)
        if backend.wait(0.5):
            continue
        if time.monotonic() - started > wait_s:
            history[index]["content"] = "⚠ The assistant is still loading; please try again in a minute."
            yield update("Still loading.")
            return

    ticket = Ticket()
    if backend.must_load(provider):
        history[index]["content"] = f"*Loading the {md_text(provider)} model…*"
        yield update(f"Loading the {provider} model…")
    assistant = backend.assistant_for(provider, n, ticket)
    yield update("Searching the corpus…")
    if more_like:
        events = assistant.more_like(more_like, session.conversation)
    else:
        events = assistant.respond(message, session.conversation, filters, mode=mode, n=n)
    text = ""
    status = "Searching the corpus…"
    answer: Answer | None = None
    try:
        for event in _pump(events, ticket):
            if event is None:
                if ticket.state == "waiting":
                    ahead = max(ticket.ahead, 1)
                    status = (f"Queued: waiting for the model ({ahead} request{'s' if ahead != 1 else ''} "
                              "ahead of yours)…")
                elif ticket.state == "running" and not text:
                    status = "Generating the answer…"
                else:
                    continue
                if not text:
                    history[index]["content"] = f"*{md_text(status)}*"
                yield update(status)
                continue
            if event.kind == "status":
                status = event.text
                if not text:
                    history[index]["content"] = f"*{md_text(status)}*"
                yield update(status)
            elif event.kind == "token":
                text += event.text
                history[index]["content"] = safe_markdown(text)
                yield update("Generating the answer…")
            elif event.kind == "answer" and event.answer is not None:
                answer = event.answer
    except Exception as exc:  # noqa: BLE001 - every failure is a chat message
        if not isinstance(exc, (QuestionError, EmptyIndex)):
            log.exception("reply failed")
        history[index]["content"] = error_message(exc)
        yield update(str(exc) if isinstance(exc, (QuestionError, EmptyIndex)) else "The reply failed.")
        return
    if answer is None:
        history[index]["content"] = "⚠ No answer was produced. Please try again."
        yield update("No answer.")
        return
    history[index]["content"] = render_reply(answer)
    session.answers[index] = answer
    session.last = answer
    for ref in answer.references:
        session.shown.pop(ref.paper_id, None)
    session.shown = {**{r.paper_id: r.title for r in answer.references}, **session.shown}
    done = answer.notice or f"Done in {answer.timings.get('total_s', 0):.1f} s."
    yield update(done, answer)


# ---------------------------------------------------------------- the Gradio app

CSS = """
.pa-header h1 { margin: 0; font-size: 1.5rem; }
.pa-header p { margin: 0.1rem 0 0; color: var(--body-text-color-subdued); }
#pa-status { min-height: 1.6em; font-size: 0.92rem; color: var(--body-text-color-subdued); }
#pa-status p { margin: 0; }
.pa-sources { max-height: 560px; overflow-y: auto; padding-right: 0.3rem; display: flex; flex-direction: column;
  gap: 0.6rem; font-size: 0.92rem; line-height: 1.45; }
.pa-sources.pa-empty { color: var(--body-text-color-subdued); padding: 0.6rem; }
.pa-head { font-weight: 600; color: var(--body-text-color-subdued); }
.pa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.6rem 0.75rem;
  background: var(--background-fill-secondary); scroll-margin-top: 0.5rem; }
.pa-card:target { outline: 2px solid var(--color-accent); }
.pa-card.pa-uncited-card { opacity: 0.8; }
.pa-title { font-weight: 600; }
.pa-num { color: var(--color-accent); margin-right: 0.2rem; }
.pa-badge { font-size: 0.72rem; font-weight: 500; padding: 0 0.4rem; border-radius: 999px; margin-left: 0.3rem;
  background: var(--color-accent-soft); color: var(--color-accent); white-space: nowrap; }
.pa-badge.pa-dim { background: var(--background-fill-primary); color: var(--body-text-color-subdued); }
.pa-meta { color: var(--body-text-color-subdued); font-size: 0.82rem; margin: 0.1rem 0 0.3rem; }
.pa-support, .pa-uncited ul { list-style: none; padding: 0; margin: 0.2rem 0 0.3rem; }
.pa-support li, .pa-uncited li { margin: 0.15rem 0; padding-left: 1.3rem; text-indent: -1.3rem; }
.pa-mark { display: inline-block; width: 1.1rem; text-indent: 0; font-weight: 700; }
.pa-ok .pa-mark { color: #15803d; }
.pa-bad .pa-mark { color: #b91c1c; }
.pa-why { color: var(--body-text-color-subdued); font-size: 0.82rem; }
.pa-label { font-weight: 600; font-size: 0.85rem; }
.pa-excerpt { margin: 0.25rem 0 0.2rem; }
.pa-excerpt mark, .pa-abstract mark { background: #fef08a; color: inherit; padding: 0 0.1rem; border-radius: 3px;
  box-decoration-break: clone; -webkit-box-decoration-break: clone; }
.dark .pa-excerpt mark, .dark .pa-abstract mark { background: #854d0e; }
.pa-uncited-card mark { background: #fef9c3; }
.pa-gap { color: var(--body-text-color-subdued); }
#pa-chat .message-content blockquote { margin: 0.1rem 0 0.2rem !important; padding: 0 0 0 0.7rem !important;
  font-size: 0.95em; color: var(--body-text-color-subdued); }
#pa-chat .message-content blockquote p { margin: 0 !important; }
#pa-chat .message-content ol > li { margin-bottom: 0.6rem; }
#pa-more-btn { align-self: end; margin-bottom: 0.3rem; }
.pa-abstract summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: 0.85rem; }
.pa-abstract p { margin: 0.3rem 0 0; }
"""


def theme() -> Any:
    import gradio as gr

    return gr.themes.Default(font=[gr.themes.Font("system-ui"), "sans-serif"], font_mono=["monospace"])


def build_app(assistant_or_loader: Assistant | Backend | Callable[[Callable[[str], None]], Assistant]) -> Any:
    """The Gradio Blocks: chat + sources panel + settings + export. Loading starts at once."""
    quiet_environment()
    import gradio as gr

    source = assistant_or_loader
    if isinstance(source, Backend):
        backend = source
    elif isinstance(source, Assistant):
        backend = Backend(assistant=source)
    else:
        backend = Backend(loader=source)
    backend.start()

    with gr.Blocks(title="Paper Assistant", analytics_enabled=False, fill_width=True,
                   delete_cache=(3600, 3600)) as demo:
        session = gr.State(Session())
        with gr.Row(elem_classes="pa-header"):
            gr.Markdown("# Paper Assistant\nAnswers from the paper abstracts in your corpus, with checked citations; "
                        "or a ranked reading list. Everything runs on this machine.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=420):
                chatbot = gr.Chatbot(
                    label="Chat", height=540, sanitize_html=True, render_markdown=True, allow_tags=False,
                    latex_delimiters=[], feedback_options=None, buttons=["copy"], elem_id="pa-chat",
                    placeholder="Ask a question about the papers, or ask what to read on a topic.",
                    layout="bubble", autoscroll=True,
                )
                status = gr.Markdown(backend.status, elem_id="pa-status")
                question = gr.Textbox(
                    show_label=False, placeholder="Ask about the papers… e.g. “What should I read on diffusion models?”",
                    lines=1, max_lines=6, submit_btn="Ask", stop_btn="Stop", elem_id="pa-question", autofocus=True,
                )
                with gr.Row(equal_height=True):
                    mode = gr.Radio(list(MODES), value="Auto", show_label=False, scale=4, container=False,
                                    info=None, elem_id="pa-mode")
                    clear = gr.Button("Clear chat", scale=1, size="sm", variant="secondary", min_width=100)
                examples = gr.Dataset(components=[question], samples=[[q] for q in backend.info()["examples"]] or [[""]],
                                      label="Examples", type="values", visible=backend.ready, elem_id="pa-examples")
            with gr.Column(scale=5, min_width=360):
                with gr.Tabs():
                    with gr.Tab("Sources", id="sources"):
                        sources_html = gr.HTML(render_sources(None), elem_id="pa-sources-box", js_on_load=None)
                        with gr.Row(equal_height=False, elem_id="pa-more-row"):
                            more_dd = gr.Dropdown(choices=[], label="More like this paper", scale=4,
                                                  elem_id="pa-more-dd", info="Any paper shown in this chat")
                            more_btn = gr.Button("More like this", scale=1, size="md", elem_id="pa-more-btn",
                                                 min_width=150, variant="primary")
                    with gr.Tab("Settings", id="settings"):
                        info = backend.info()
                        dates = gr.Dropdown(choices=info["page_dates"], multiselect=True, label="Page date",
                                            info="Only papers from these Daily Papers dates (none: all)")
                        srcs = gr.Dropdown(choices=info["sources"], multiselect=True, label="Source file",
                                           info="Only papers from these corpus files (none: all)")
                        n_sources = gr.Slider(1, 10, step=1, value=5, label="Number of sources",
                                              info="Most papers given to the model (their sentences also fit "
                                                   "ASSISTANT_CONTEXT_TOKENS), or papers recommended")
                        provider = gr.Dropdown(choices=backend.providers() or ["local", "extractive"],
                                               value=(backend.assistant.settings.provider if backend.assistant else "local"),
                                               label="Provider", info="local model, or extractive (no LLM)")
                        model_info = gr.Markdown(_model_line(backend, ""))
                    with gr.Tab("Export", id="export"):
                        gr.Markdown("The last answer with its references, as Markdown and BibTeX.")
                        files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="pa-files")
                        bibtex = gr.Textbox(label="BibTeX", lines=10, max_lines=20, interactive=False,
                                            buttons=["copy"], elem_id="pa-bibtex")
        timer = gr.Timer(1.0, active=not backend.ready)

        # -------------------------------------------------- handlers

        def poll():  # noqa: ANN202
            info = backend.info()
            ready = backend.ready or bool(backend.error)
            line = _status_line(backend)
            provider_choices = backend.providers() or ["local", "extractive"]
            return (
                line,
                gr.Timer(active=not ready),
                gr.Dataset(samples=[[q] for q in info["examples"]] or [[""]], visible=bool(info["examples"])),
                gr.Dropdown(choices=info["page_dates"]),
                gr.Dropdown(choices=info["sources"]),
                (gr.Dropdown(choices=provider_choices, value=backend.assistant.settings.provider)
                 if backend.assistant else gr.skip()),
                _model_line(backend, ""),
            )

        poll_outputs = [status, timer, examples, dates, srcs, provider, model_info]
        timer.tick(poll, outputs=poll_outputs, show_progress="hidden", concurrency_limit=None, queue=False)
        demo.load(poll, outputs=poll_outputs, show_progress="hidden", concurrency_limit=None, queue=False)

        def reply(message, sess, mode_label, date_sel, source_sel, n, prov, like_id=""):  # noqa: ANN001, ANN202
            filters = Filters(page_dates=tuple(date_sel or ()), sources=tuple(source_sel or ()))
            box: Any = ""  # the question box is emptied with the first update
            for up in respond_stream(backend, message, sess, MODES.get(mode_label, "auto"), filters,
                                     int(n) if n else None, prov or "", more_like=like_id or ""):
                if up.answer is None:
                    yield up.history, box, up.status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), sess
                else:
                    meta = _metadata(backend, up.answer)
                    yield (up.history, box, up.status, render_sources(up.answer), _more_choices(sess),
                           write_exports(up.answer, meta), to_bibtex(up.answer, meta), sess)
                box = gr.skip()

        outputs = [chatbot, question, status, sources_html, more_dd, files, bibtex, session]
        inputs = [question, session, mode, dates, srcs, n_sources, provider]
        ask_event = question.submit(reply, inputs=inputs, outputs=outputs, api_name="ask",
                                    concurrency_limit=4, concurrency_id="chat", show_progress="minimal")
        question.stop(None, cancels=[ask_event])

        def more(like_id, sess, mode_label, date_sel, source_sel, n, prov):  # noqa: ANN001, ANN202
            if not like_id:
                yield (gr.skip(), gr.skip(), "Pick a paper shown in the chat first.", gr.skip(), gr.skip(), gr.skip(),
                       gr.skip(), sess)
                return
            yield from reply("", sess, mode_label, date_sel, source_sel, n, prov, like_id=like_id)

        more_btn.click(more, inputs=[more_dd, session, mode, dates, srcs, n_sources, provider], outputs=outputs,
                       api_name="more_like", concurrency_limit=4, concurrency_id="chat", show_progress="minimal")

        def pick_example(sample):  # noqa: ANN001, ANN202
            return sample[0] if sample else ""

        examples.click(pick_example, inputs=[examples], outputs=[question], queue=False, show_progress="hidden")

        def clear_chat():  # noqa: ANN202
            fresh = Session()
            return ([], "", "Chat cleared.", render_sources(None), gr.Dropdown(choices=[], value=None), None, "",
                    fresh)

        clear.click(clear_chat, outputs=outputs, queue=False, api_name="clear")
        chatbot.clear(clear_chat, outputs=outputs, queue=False, api_visibility="private")

        def select_message(sess, evt: gr.SelectData):  # noqa: ANN001, ANN202
            index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
            answer = sess.answers.get(index) or sess.answers.get(index + 1)
            return render_sources(answer) if answer is not None else gr.skip()

        select_message.__annotations__["evt"] = gr.SelectData  # resolved here: gradio is imported lazily
        chatbot.select(select_message, inputs=[session], outputs=[sources_html], queue=False, show_progress="hidden")
        provider.change(lambda p: _model_line(backend, p), inputs=[provider], outputs=[model_info], queue=False,
                        show_progress="hidden")
    demo.backend = backend  # type: ignore[attr-defined]
    return demo


def _status_line(backend: Backend) -> str:
    if backend.error:
        return f"⚠ {md_text(backend.error)}"
    if not backend.ready:
        return md_text(backend.status or LOADING)
    info = backend.info()
    assert backend.assistant is not None
    notice = f" ⚠ {md_text(backend.assistant.model_error)} Answers are extractive." if backend.assistant.model_error else ""
    return f"Ready · {info['papers']} papers indexed · {md_text(_model_label(backend))}{notice}"


def _model_label(backend: Backend) -> str:
    assert backend.assistant is not None
    return describe_model(backend.assistant.chat_model, backend.assistant.settings.provider)


def _model_line(backend: Backend, provider: str) -> str:
    if not backend.ready:
        return "Model: loading…"
    return f"Model: {md_text(backend.model_label(provider))}"


def _more_choices(sess: Session) -> Any:
    import gradio as gr

    choices = [(title if len(title) <= 90 else title[:89] + "…", pid) for pid, title in sess.shown.items()]
    first = choices[0][1] if choices else None
    return gr.Dropdown(choices=choices, value=first)


def _metadata(backend: Backend, answer: Answer) -> dict[str, dict[str, Any]]:
    if backend.assistant is None or not answer.references:
        return {}
    try:
        return backend.assistant.retriever.store.papers([r.paper_id for r in answer.references])
    except Exception:  # noqa: BLE001 - export still works without the extra fields
        return {}


# ---------------------------------------------------------------- launch


def check_bind(host: str, auth: str) -> tuple[str, str] | None:
    """The (user, password) to require, or None on loopback without one; refuses an open bind."""
    pair = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise AppError("--auth must be user:password (both non-empty)")
        pair = (user, password)
    if host not in LOOPBACK and pair is None:
        raise AppError(
            f"refusing to serve on {host!r} without a password: anyone on the network could use it. "
            "Pass --auth user:password (or set ASSISTANT_AUTH), or bind to 127.0.0.1."
        )
    return pair


def launch(settings: Any, *, assistant: Assistant | None = None, chat_model: Any = None,
           loader: Callable[[Callable[[str], None]], Assistant] | None = None, block: bool = True,
           port: int | None = None, quiet: bool = False) -> Any:
    """Serve the app at http://HOST:PORT (settings.host/port) and return the Blocks.

    Binds to settings.host (127.0.0.1 by default) and refuses any other address without
    settings.auth. With ``assistant`` the app is ready at once; otherwise the store, the
    seed corpus (if the store is empty) and the model load in the background.
    ``block=False`` returns right after the server starts (tests; close with ``demo.close()``).
    """
    auth = check_bind(settings.host, settings.auth)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    quiet_environment()
    demo = build_app(assistant or loader or make_loader(settings, chat_model=chat_model))
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(
        server_name=settings.host, server_port=port or settings.port, share=False, auth=auth,
        prevent_thread_lock=not block, show_error=False, quiet=quiet, inbrowser=False,
        theme=theme(), css=CSS, footer_links=[], ssr_mode=False, pwa=False, mcp_server=False,
        enable_monitoring=False,
    )
    return demo
