"""The answer chain: condense -> retrieve -> evidence -> (refuse | generate) -> check citations.

``AnswerChain.stream`` yields events: ``status`` lines, ``token`` text as it is generated,
and finally one ``answer`` event carrying the checked :class:`Answer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from . import citations, details
from .evidence import Evidence, EvidenceBuilder, as_data, evidence_pool, format_sources, references, widen
from .focus import focus, named
from .prompts import load as load_prompt
from .question import QuestionError, check_question
from .records import Answer, Reference, SentenceSupport
from .retrieve import Filters, Retriever
from .settings import Settings
from .verdict import Coverage, Verdict

__all__ = ["REFUSAL", "AnswerChain", "Conversation", "Event", "QuestionError", "Turn", "check_question"]

REFUSAL = "The corpus does not cover this."
# answered although the judge was unsure (verdict.unsure): no paper stands out of the retrieval
UNSURE = ("The sources may only partly cover this: no paper stands out of the retrieval and the model judging them "
          "was unsure; the answer may be about a neighbouring topic.")
MAX_TURNS = 20  # turns a conversation keeps
_REFUSAL_RE = re.compile(r"(corpus|sources?|context)\s+(does|do)\s+not\s+(cover|answer|contain|mention)", re.I)
_ANAPHORA = re.compile(r"\b(it|its|they|their|them|this|that|these|those|the paper|the method|the model|he|she)\b", re.I)


@dataclass
class Event:
    kind: str  # "status" | "evidence" (the sources, before any model runs) | "token" | "answer"
    text: str = ""
    answer: Answer | None = None


@dataclass
class Turn:
    question: str
    answer: Answer


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)

    def add(self, turn: Turn) -> None:
        """Record a turn; only the last MAX_TURNS are kept (follow-ups read the last two, "more"
        excludes what they showed), so a long session does not grow without bound."""
        self.turns.append(turn)
        del self.turns[:-MAX_TURNS]

    def shown_papers(self) -> set[str]:
        return {r.paper_id for t in self.turns for r in t.answer.references}

    def last_cited(self) -> list[Reference]:
        for turn in reversed(self.turns):
            if turn.answer.cited_references:
                return turn.answer.cited_references
        return []


class AnswerChain:
    """Answers questions from the corpus with checked citations."""

    def __init__(self, settings: Settings, retriever: Retriever, chat_model: Any = None, model_error: str = "") -> None:
        self.settings = settings
        self.retriever = retriever
        self.embeddings = retriever.embeddings
        self.chat_model = chat_model
        self.model_error = model_error  # why no model is available (fallback notice)
        self.evidence = EvidenceBuilder(settings, retriever.store, retriever.embeddings)
        self.coverage = Coverage(settings, retriever, chat_model)

    @property
    def provider(self) -> str:
        return self.settings.generation.provider if self.chat_model is not None else "extractive"

    # ------------------------------------------------------------ public

    def ask(self, question: str, conversation: Conversation | None = None, filters: Filters | None = None) -> Answer:
        answer = None
        for event in self.stream(question, conversation, filters):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    def stream(self, question: str, conversation: Conversation | None = None, filters: Filters | None = None,
               checked: bool = False) -> Iterator[Event]:
        """Events for one question (``checked``: it already passed :func:`check_question`)."""
        started = time.perf_counter()
        if not checked:
            question = check_question(question, self.settings.app.max_question_chars)
        conversation = conversation or Conversation()
        query, asked = self.condense(question, conversation)
        if query != question:
            yield Event("status", f"Searching for: {query}")
        t0 = time.perf_counter()
        hits = self.retriever.search(query, k=self.candidates(), filters=filters)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        evidence = self.gather(asked, hits)
        answer = Answer(question=question, text="", standalone_query=query, retrieved=hits, provider=self.provider)
        answer.references, answer.model_sources = self.focused(asked, references(evidence), evidence)
        answer.comparison = self.comparison(asked, answer.references, evidence)
        answer.timings["evidence_s"] = round(time.perf_counter() - started, 3)
        yield Event("evidence", answer=answer)  # the sources, before any model runs
        one = len(model_refs(answer)) == 1
        # a question about a paper it names may ask a detail no abstract words as a name ("GPUs")
        about = named(asked, answer.references) or named(query, answer.references)
        ignore = details.detail_terms(question) if about else set()
        verdict = self.coverage.screen(question, evidence, lead=one, may_skip=one and query == question and not filters,
                                       ignore=ignore)
        if verdict.pending:
            yield Event("status", "Checking that the sources cover the question…")
            verdict = self.coverage.judge(verdict, query, model_refs(answer), question)
        _record(answer, verdict)
        if verdict.unsure:
            _add_notice(answer, UNSURE)
        given = model_refs(answer)
        missing = details.missing_details(asked, [_detail_text(r, evidence.papers.get(r.paper_id, {})) for r in given])
        unsaid = details.note(missing, [f"[{r.number}]" for r in given])
        if verdict.refused:  # the paper asked about is there; what was asked of it is not
            said = details.note(missing, [f"\u201c{r.title}\u201d" for r in given]) if about else ""
            yield from self._refuse(answer, " ".join(filter(None, [answer.gaps, said, filter_note(filters)])))
        else:
            _add_notice(answer, " ".join(filter(None, [answer.gaps, unsaid])))
            yield from self._generate(answer, query, evidence, started)
        answer.timings.update(retrieval_ms=round(retrieval_ms, 1), total_s=round(time.perf_counter() - started, 3))
        yield Event("answer", answer=answer)

    def comparison(self, question: str, refs: list, evidence: Evidence) -> Any:
        """A compare question's table of quoted sentences (assistant/compare.py), else None."""
        from .compare import compare_table, is_compare

        if not is_compare(question) or len(refs) < 2:
            return None
        return compare_table(question, refs, evidence.table, self.evidence.embeddings.embed_array)

    def focused(self, question: str, refs: list[Reference], evidence: Evidence) -> tuple[list[Reference], list[int]]:
        """The sources renumbered with those the answer is written from first (assistant/focus.py),
        those widened to the context budget (without a model: to the extractive answer's lines);
        and their numbers."""
        chosen = focus(question, refs)
        if len(chosen) == len(refs):
            return refs, [r.number for r in refs]
        model = self.chat_model is not None
        most = 10 if model else self.settings.evidence.extractive_lines
        budget = self.settings.evidence.focus_tokens if model else self.settings.evidence.context_tokens
        chosen = widen(chosen, evidence, budget, most)
        picked = {c.paper_id for c in chosen}
        rest = [r for r in refs if r.paper_id not in picked]
        ordered = [replace(r, number=i) for i, r in enumerate(chosen + rest, 1)]
        return ordered, list(range(1, len(chosen) + 1))

    def candidates(self) -> int:
        """Papers retrieved before evidence is chosen."""
        return max(self.settings.retrieval.answer_candidates, self.settings.retrieval.top_k)

    def gather(self, query: str, hits: list) -> Evidence:
        """The sources for ``query``: the best ``evidence.papers`` hits, within the context
        budget when a model reads them (see :mod:`assistant.evidence`)."""
        return self.evidence.gather(query, hits[: self.settings.evidence.papers], self.context_budget())

    def context_budget(self) -> int:
        """Tokens of sources the model may be given (0: no limit; the extractive path has none)."""
        return int(self.settings.evidence.context_tokens) if self.chat_model is not None else 0

    # ------------------------------------------------------------ steps

    def condense(self, question: str, conversation: Conversation) -> tuple[str, str]:
        """(the search query, the text evidence sentences are ranked by) for a question: a
        follow-up is rewritten by the model, or by a rule that only appends the subject's title,
        in which case the sentences are ranked by what is asked."""
        if not conversation.turns:
            return question, question
        previous = conversation.turns[-1]
        cited = [r.title for r in conversation.last_cited()]
        if self.chat_model is not None and not (cited and _ANAPHORA.search(question)):
            # "it"/"they" after a cited answer refers to its first-cited paper (answers start
            # with the most relevant one): no model call, which costs ~7 s before the answer's
            # own prefill (docs/benchmarks.md); anything else is rewritten by the model.
            rewritten = self._llm_condense(question, conversation)
            if rewritten:
                return rewritten, rewritten
        return rule_condense(question, previous.question, cited), question

    def _llm_condense(self, question: str, conversation: Conversation) -> str:
        history = "\n".join(
            f"User: {t.question}\nAssistant: {citations.strip_markers(t.answer.text)[:400]}" for t in conversation.turns[-2:]
        )
        messages = load_prompt("condense").messages(history=history, question=question)
        try:
            reply = self.chat_model.invoke(messages, max_tokens=self.settings.generation.condense_tokens)
        except Exception:  # noqa: BLE001 - fall back to the rule
            return ""
        text = str(getattr(reply, "content", reply)).strip().strip('"').splitlines()[0:1]
        text = text[0].strip() if text else ""
        return text if 10 <= len(text) <= 400 else ""

    # ------------------------------------------------------------ outcomes

    def _refuse(self, answer: Answer, detail: str = "") -> Iterator[Event]:
        closest = "\n".join(f"- {r.title} ({r.page_date})" if r.page_date else f"- {r.title}" for r in answer.references[:3])
        answer.text = refusal_text(detail, closest)
        answer.refused = True
        answer.support = []
        for ref in answer.references:
            ref.cited = False
        yield Event("token", answer.text)

    def _generate(self, answer: Answer, query: str, evidence: Evidence, started: float) -> Iterator[Event]:
        text, pieces = "", 0
        if self.chat_model is not None:
            messages = answer_messages(model_refs(answer), query)
            try:
                for piece in self._stream_model(messages):
                    if not text:
                        answer.timings["first_token_s"] = round(time.perf_counter() - started, 3)
                    text += piece
                    pieces += 1  # about a token each: as many as max_tokens means it was cut off
                    yield Event("token", piece)
            except Exception as exc:  # noqa: BLE001 - model down mid-answer: fall back
                _add_notice(answer, f"The language model failed ({_one_line(exc)}); showing an extractive answer instead.")
                text = ""
        elif self.model_error:
            _add_notice(answer, f"{self.model_error} Showing an extractive answer instead.")
        if answer.notice:
            yield Event("status", answer.notice)
        if not text.strip():
            answer.provider = "extractive"
            text = extractive_answer(model_refs(answer), self.settings.evidence.extractive_lines)
            answer.timings.setdefault("first_token_s", round(time.perf_counter() - started, 3))
            yield Event("token", text)
        if _REFUSAL_RE.search(text) and not citations.parse_markers(text):
            yield from self._refuse(answer)
            return
        self._check(answer, text, evidence.papers, cut_off=pieces >= self.settings.generation.max_tokens)

    def _stream_model(self, messages: list) -> Iterator[str]:
        for chunk in self.chat_model.stream(messages):
            piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
            if piece:
                yield piece

    def _check(self, answer: Answer, text: str, papers: dict[str, dict[str, Any]], cut_off: bool = False) -> None:
        # the model can cite only what it was given: a marker to any other source is invented
        valid = {r.number for r in model_refs(answer)}
        text = citations.normalise_markers(citations.drop_unclosed(text))
        removed = [n for n in dict.fromkeys(citations.marker_uses(text)) if n not in valid]
        dropped: list[SentenceSupport] = []
        if answer.provider != "extractive":  # judged with its markers: "These algorithms are [2] and [3]."
            text, dropped = self._drop_non_answers(answer, text, valid, cut_off)
        text = citations.drop_dangling(text, valid)[0]
        if removed:
            _add_notice(answer, f"Removed citation(s) to source(s) the model was not given: {removed}.")
        evidence = {r.number: evidence_pool(r) for r in answer.references}
        titles = {r.number: r.title for r in answer.references}
        embed = self.evidence.embedder_for(papers)  # the sources' records: no second store read
        if answer.provider != "extractive":
            text = self._cite_uncited(answer, text, {n: evidence[n] for n in valid if n in evidence}, embed, titles)
        answer.text = text.strip()
        sentences = citations.split_answer_sentences(answer.text)
        answer.support = citations.check_support(sentences, evidence, embed,
                                                 self.settings.support_threshold, titles) + dropped
        cited = {n for _, nums in sentences for n in nums}
        for ref in answer.references:
            ref.cited = ref.number in cited
        _add_notice(answer, unsupported_note(answer))

    def _cite_uncited(self, answer: Answer, text: str, given: dict[int, list[str]], embed: Any,
                      titles: dict[int, str]) -> str:
        """``text`` with each factual sentence that cites nothing cited: to the one source the
        model was given, or else to the given source that supports it best (none if none does);
        a notice says so. Each is then checked against what it cites, like any other."""
        one = len(answer.model_sources) == 1
        choose = answer.model_sources[0] if one else (
            lambda s: citations.best_supporting(s, given, embed, self.settings.support_threshold, titles))
        text, added = citations.cite_uncited(text, choose)
        many = f"{added} sentence{'s' if added != 1 else ''} that cited nothing"
        if added and one:
            _add_notice(answer, f"The model was given one source: [{choose}] added to {many} it was given "
                                "(checked against it).")
        elif added:
            _add_notice(answer, f"A citation added to {many}: the source given to the model that supports it.")
        return text

    def _drop_non_answers(self, answer: Answer, text: str, valid: set[int],
                          cut_off: bool = False) -> tuple[str, list[SentenceSupport]]:
        """The model's text without the sentences that answer nothing (only titles and markers,
        the question restated, an earlier sentence again, a last one cut off unfinished), and those sentences as dropped
        support records; when nothing else is left, the evidence (the extractive answer) stands
        alone. A notice says so."""
        asked = f"{answer.question} {answer.standalone_query}"
        titles = [r.title for r in answer.references]
        found, kept = [], []
        pieces = citations.split_answer_sentences(text)
        cut = cut_off and len(pieces) > 1 and citations.unfinished(text)  # stopped mid-sentence at the limit
        for i, (s, nums) in enumerate(pieces):
            why = (citations.not_an_answer(s, asked, titles) or citations.repeats(s, kept)
                   or (citations.UNFINISHED if cut and i == len(pieces) - 1 else ""))
            found.append((s, nums, why))
            if not why:
                kept.append(s)
        dropped = [SentenceSupport(s, nums, False, 0.0, why, dropped=True) for s, nums, why in found if why]
        if not dropped:
            return text, []
        text = citations.drop_sentences(text, [d.text for d in dropped])
        left = any(nums or citations.is_factual(s) for s, nums in citations.split_answer_sentences(text))
        reasons = "; ".join(dict.fromkeys(d.reason for d in dropped))
        n = len(dropped)
        note = f"Dropped {n} sentence{'s' if n != 1 else ''} of the model's answer that answered nothing ({reasons})"
        if not left:
            # The papers the model pointed at are its answer (a lookup's title and marker): their
            # evidence stands alone; with no marker at all, the top sources' evidence does.
            pointed = {n for d in dropped for n in d.citations} & valid
            chosen = [r for r in answer.references if r.number in pointed] or model_refs(answer)
            text = extractive_answer(chosen, self.settings.evidence.extractive_lines)
            answer.provider = "extractive"
            note += "; the evidence stands alone instead" + (" (of the papers it cited)" if pointed else "")
        _add_notice(answer, note + ".")
        return text, dropped


def _detail_text(ref: Reference, paper: dict[str, Any]) -> str:
    """A source as the details check reads it: title, abstract, and the authors and venue some
    corpus formats carry (assistant/details.py)."""
    extra = [f"Authors: {paper['authors']}" if paper.get("authors") else "",
             f"Venue: {paper['venue']}" if paper.get("venue") else ""]
    return " ".join(filter(None, [f"{ref.title}. {ref.abstract}", *extra]))


def unsupported_note(answer: Answer) -> str:
    """Said when no sentence the model wrote is supported by what it cites: the answer is not to
    be trusted, and, written from one paper, that paper may not be the one asked about (the next
    closest is named)."""
    written = [s for s in answer.support if not s.dropped and s.reason != citations.NOT_A_CLAIM]
    if answer.provider == "extractive" or not written or any(s.supported for s in written):
        return ""
    note = "No sentence of the model's answer is supported by the abstracts it cites: trust the evidence, not the answer."
    given = model_refs(answer)
    others = [r for r in answer.references if r.number not in set(answer.model_sources)]
    if len(given) == 1 and others and not named(answer.question, given):  # not the paper the question names
        note += (f" [{given[0].number}] may not be the paper you mean; the next closest is "
                 f"[{others[0].number}] \u201c{others[0].title}\u201d.")
    return note


def filter_note(filters: Filters | None) -> str:
    """Said with a refusal under a date or source filter: the filter may be why."""
    limits = filters.describe() if filters else ""
    return f"Only papers with {limits} were searched; without that filter the corpus may cover it." if limits else ""


def refusal_text(detail: str = "", closest: str = "") -> str:
    text = REFUSAL + (f" {detail}" if detail else "")
    return text + (f"\n\nClosest, but not about this:\n{closest}" if closest else "")


def _record(answer: Answer, verdict: Verdict) -> None:
    """What the verdict adds to the answer's record."""
    answer.gaps = verdict.detail
    answer.coverage = verdict.coverage
    answer.coverage_needed = verdict.threshold
    answer.standout = verdict.standout
    if verdict.judge_s is not None:
        answer.timings["judge_s"] = verdict.judge_s


def _add_notice(answer: Answer, text: str) -> None:
    if text:
        answer.notice = f"{answer.notice} {text}".strip()


def model_refs(answer: Answer) -> list[Reference]:
    """The sources the model is given (all of them unless the question is about one paper)."""
    given = set(answer.model_sources)
    return [r for r in answer.references if r.number in given] if given else answer.references


def answer_messages(refs: list[Reference], question: str) -> list[tuple[str, str]]:
    return load_prompt("answer").messages(sources=format_sources(refs), question=question)


def extractive_answer(refs: list[Reference], n: int = 3) -> str:
    """No LLM: the best evidence sentence of the top ``n`` sources, each cited; of a single
    source (a question about one paper), its evidence sentences (at most ``n``)."""
    if len(refs) == 1 and refs[0].evidence:
        ref = refs[0]
        lines = [f"- {as_data(s)} [{ref.number}]" for s in ref.evidence[:n]]
        return f"The most relevant evidence in the corpus, from **{as_data(ref.title)}**:\n\n" + "\n".join(lines)
    lines = []
    for ref in refs[:n]:
        if ref.evidence:
            lines.append(f"- **{as_data(ref.title)}**: {as_data(ref.evidence[0])} [{ref.number}]")
    if not lines:
        return REFUSAL
    return "The most relevant evidence in the corpus:\n\n" + "\n".join(lines)


def rule_condense(question: str, previous: str, cited_titles: list[str]) -> str:
    """Follow-up rule: anaphoric or short questions inherit the previous subject."""
    if not _ANAPHORA.search(question):
        return question
    subject = cited_titles[0] if cited_titles else previous
    return f"{question} ({subject})"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
