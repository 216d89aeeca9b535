"""The answer chain: condense -> retrieve -> evidence -> (refuse | generate) -> check citations.

``AnswerChain.stream`` yields events: ``status`` lines, ``token`` text as it is generated,
and finally one ``answer`` event carrying the checked :class:`Answer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import citations
from .coverage import Gaps, find_gaps, named_terms
from .prompts import load as load_prompt
from .records import Answer, PaperHit, Reference
from .retrieve import Filters, Retriever
from .text import sentence_spans

REFUSAL = "The corpus does not cover this."
_REFUSAL_RE = re.compile(r"(corpus|sources?|context)\s+(does|do)\s+not\s+(cover|answer|contain|mention)", re.I)
_ANAPHORA = re.compile(r"\b(it|its|they|their|them|this|that|these|those|the paper|the method|the model|he|she)\b", re.I)


class QuestionError(ValueError):
    """An empty or over-long question."""


@dataclass
class Event:
    kind: str  # "status" | "token" | "answer"
    text: str = ""
    answer: Answer | None = None


@dataclass
class Turn:
    question: str
    answer: Answer


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)

    def shown_papers(self) -> set[str]:
        return {r.paper_id for t in self.turns for r in t.answer.references}

    def last_cited(self) -> list[Reference]:
        for turn in reversed(self.turns):
            if turn.answer.cited_references:
                return turn.answer.cited_references
        return []


@dataclass
class Evidence:
    """The sources given to the model: per paper, the sentences closest to the question."""

    hits: list[PaperHit]
    papers: dict[str, dict[str, Any]]
    sentences: dict[str, list[tuple[int, int]]]  # paper_id -> chosen sentence spans
    best: float  # best sentence-question cosine among the sources


def check_question(text: str, limit: int) -> str:
    text = (text or "").strip()
    if not text:
        raise QuestionError("Please type a question.")
    if len(text) > limit:
        raise QuestionError(f"The question is {len(text):,} characters long; the limit is {limit:,}.")
    return text


class AnswerChain:
    """Answers questions from the corpus with checked citations."""

    def __init__(self, settings: Any, retriever: Retriever, chat_model: Any = None, model_error: str = "") -> None:
        self.settings = settings
        self.retriever = retriever
        self.embeddings = retriever.embeddings
        self.chat_model = chat_model
        self.model_error = model_error  # why no model is available (fallback notice)
        self.per_paper = 2  # evidence sentences per source
        self.context_papers = 5  # sources given to the model

    @property
    def provider(self) -> str:
        return self.settings.provider if self.chat_model is not None else "extractive"

    # ------------------------------------------------------------ public

    def ask(self, question: str, conversation: Conversation | None = None, filters: Filters | None = None) -> Answer:
        answer = None
        for event in self.stream(question, conversation, filters):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    def stream(self, question: str, conversation: Conversation | None = None, filters: Filters | None = None) -> Iterator[Event]:
        started = time.perf_counter()
        question = check_question(question, self.settings.max_question_chars)
        conversation = conversation or Conversation()
        query, asked = self.condense(question, conversation)
        if query != question:
            yield Event("status", f"Searching for: {query}")
        t0 = time.perf_counter()
        hits = self.retriever.search(query, k=max(10, self.settings.top_k), filters=filters)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        evidence = self.gather(asked, hits[: self.context_papers])
        answer = Answer(question=question, text="", standalone_query=query, retrieved=hits, provider=self.provider)
        answer.references = self.references(evidence)
        gaps = self.gaps(question, evidence)
        answer.gaps = gaps.describe()
        if self.too_weak(evidence) or (gaps and not self._judges()):
            yield from self._refuse(answer, answer.gaps)
        else:
            if self._judges():
                yield Event("status", "Checking that the sources cover the question…")
            if self.off_topic(answer, query, gaps):
                yield from self._refuse(answer, answer.gaps)
            else:
                _add_notice(answer, answer.gaps)
                yield from self._generate(answer, query, evidence, started)
        answer.timings.update(retrieval_ms=round(retrieval_ms, 1), total_s=round(time.perf_counter() - started, 3))
        yield Event("answer", answer=answer)

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
            reply = self.chat_model.invoke(messages, max_tokens=80)
        except Exception:  # noqa: BLE001 - fall back to the rule
            return ""
        text = str(getattr(reply, "content", reply)).strip().strip('"').splitlines()[0:1]
        text = text[0].strip() if text else ""
        return text if 10 <= len(text) <= 400 else ""

    def gather(self, query: str, hits: list[PaperHit]) -> Evidence:
        """The sources: per paper, the abstract sentences closest to the query.

        With a chat model the sources fit ``settings.context_tokens``: the best sentence of each
        paper in rank order while it fits (the first paper always), then the next best
        sentences overall, at most ``per_paper`` each. Papers left without a sentence are not
        sources.
        """
        papers = self.retriever.store.papers([h.paper_id for h in hits])
        spans = {pid: sentence_spans(p["abstract"]) for pid, p in papers.items()}
        flat = [(pid, span) for pid, sp in spans.items() for span in sp]
        if not flat:
            return Evidence(hits, papers, {}, 0.0)
        texts = [papers[pid]["abstract"][a:b] for pid, (a, b) in flat]
        vectors = self.embeddings.embed_array([query] + texts)
        sims = vectors[1:] @ vectors[0]
        ranked = {pid: sorted((i for i, (p, _) in enumerate(flat) if p == pid), key=lambda i: -sims[i]) for pid in papers}
        budget = self.context_budget()
        if budget:
            order = [h.paper_id for h in hits if ranked.get(h.paper_id)]
            titles = {pid: papers[pid].get("title", "") for pid in order}
            picked = _fit_budget(order, titles, ranked, texts, sims, budget, self.per_paper)
        else:
            picked = {pid: idx[: self.per_paper] for pid, idx in ranked.items() if idx}
        chosen = {pid: sorted(flat[i][1] for i in idx) for pid, idx in picked.items()}
        kept = [h for h in hits if h.paper_id in chosen]
        return Evidence(kept, {pid: papers[pid] for pid in chosen}, chosen, float(sims.max()))

    def context_budget(self) -> int:
        """Tokens of sources the model may be given (0: no limit; the extractive path has none)."""
        return int(self.settings.context_tokens) if self.chat_model is not None else 0

    def references(self, evidence: Evidence) -> list[Reference]:
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

    def gaps(self, question: str, evidence: Evidence) -> Gaps:
        """What the question names that the corpus lacks (see :mod:`assistant.coverage`)."""
        titles = [h.title for h in evidence.hits] + [p.get("display_title", "") for p in evidence.papers.values()]
        abstracts = [p.get("abstract", "") for p in evidence.papers.values()]
        return find_gaps(question, self.retriever.unknown_terms, titles, abstracts)

    def named(self, question: str, refs: list[Reference], gaps: Gaps | None = None) -> list[str]:
        """What the question names that is rare in the corpus and in a source (lowers the judge's bar)."""
        missing = set(gaps.terms) if gaps else set()
        terms = [t for t in named_terms(question) if t not in missing]
        return self.retriever.rare_named(terms, [f"{r.title}. {r.abstract}" for r in refs])

    def too_weak(self, evidence: Evidence) -> bool:
        """Embedding-score refusal, used when no model judges coverage.

        Measured on dev: with the model's judgement available, this gate only added
        false refusals (paraphrased lookups score low), so it then stays out of the way.
        """
        if not evidence.hits:
            return True
        if self._judges():
            return False
        return max(evidence.best, evidence.hits[0].dense) < self.settings.refuse_below

    def _judges(self) -> bool:
        return self.chat_model is not None and self.settings.judge_below > 0

    def off_topic(self, answer: Answer, query: str, gaps: Gaps | None = None) -> bool:
        """Ask the model whether the sources really cover the question (one forward pass).

        Embedding scores cannot tell "a related topic" from "this topic"; the model can,
        roughly. Its P(yes) is compared with ``settings.judge_below``, or with the higher
        ``settings.judge_sure`` when the question names something no paper mentions.
        Skipped without a model; a model that fails here is left to the answer step's
        fallback.
        """
        if not self._judges() or not answer.references:
            return False
        messages = judge_messages(answer.references, query)
        t0 = time.perf_counter()
        try:
            answer.coverage = judge_yes(self.chat_model, messages)
        except Exception:  # noqa: BLE001 - no verdict: answer as usual
            return False
        finally:
            answer.timings["judge_s"] = round(time.perf_counter() - t0, 3)
        return answer.coverage < judge_threshold(self.settings, gaps, self.named(answer.question, answer.references, gaps))

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
        text = ""
        if self.chat_model is not None:
            messages = answer_messages(answer.references, query)
            try:
                for piece in self._stream_model(messages):
                    if not text:
                        answer.timings["first_token_s"] = round(time.perf_counter() - started, 3)
                    text += piece
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
            text = extractive_answer(answer.references)
            answer.timings.setdefault("first_token_s", round(time.perf_counter() - started, 3))
            yield Event("token", text)
        if _REFUSAL_RE.search(text) and not citations.parse_markers(text):
            yield from self._refuse(answer)
            return
        self._check(answer, text)

    def _stream_model(self, messages: list) -> Iterator[str]:
        for chunk in self.chat_model.stream(messages):
            piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
            if piece:
                yield piece

    def _check(self, answer: Answer, text: str) -> None:
        valid = {r.number for r in answer.references}
        text = citations.normalise_markers(text)
        text, removed = citations.drop_dangling(text, valid)
        if removed:
            _add_notice(answer, f"Removed citation(s) to missing source(s): {removed}.")
        answer.text = text.strip()
        sentences = citations.split_answer_sentences(answer.text)
        evidence = {r.number: _evidence_pool(r) for r in answer.references}
        answer.support = citations.check_support(sentences, evidence, self.embeddings.embed_array, self.settings.support_threshold)
        cited = {n for _, nums in sentences for n in nums}
        for ref in answer.references:
            ref.cited = ref.number in cited


def judge_threshold(settings: Any, gaps: Gaps | None, named: list[str] | None = None) -> float:
    """P(yes) needed to answer: higher when the question names something no paper mentions,
    lower when it names something rare that a source contains."""
    if gaps:
        return max(settings.judge_below, settings.judge_sure)
    if named:
        return min(settings.judge_below, settings.judge_named)
    return settings.judge_below


def refusal_text(detail: str = "", closest: str = "") -> str:
    text = REFUSAL + (f" {detail}" if detail else "")
    return text + (f"\n\nClosest, but not about this:\n{closest}" if closest else "")


def _add_notice(answer: Answer, text: str) -> None:
    if text:
        answer.notice = f"{answer.notice} {text}".strip()


def judge_yes(chat_model: Any, messages: list) -> float:
    """P(yes) from a model that can score it (the local one), else 1.0/0.0 from its reply."""
    scorer = getattr(chat_model, "yes_probability", None)
    if callable(scorer):
        return float(scorer(messages))
    reply = chat_model.invoke(messages, max_tokens=3)
    word = str(getattr(reply, "content", reply)).strip().lower()
    if word.startswith("yes"):
        return 1.0
    if word.startswith("no"):
        return 0.0
    raise ValueError(f"no yes/no verdict in {word[:40]!r}")


def approx_tokens(text: str) -> int:
    """Tokens of English text for the budget: 5 characters per token (Qwen2.5 on the seed
    abstracts: 5.4 on average, 4.5 at the 10th percentile)."""
    return len(text) // 5 + 1


def _fit_budget(order: list[str], titles: dict[str, str], ranked: dict[str, list[int]], texts: list[str],
                scores: Any, budget: int, per_paper: int) -> dict[str, list[int]]:
    """Sentence indices per paper (``ranked``: best first) within ``budget`` tokens; a source's
    title and number count against it."""
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


def _evidence_pool(ref: Reference) -> list[str]:
    """All sentences of the cited abstract count as evidence for support checks."""
    return [ref.abstract[a:b] for a, b in sentence_spans(ref.abstract)] or ref.evidence


def answer_messages(refs: list[Reference], question: str) -> list[tuple[str, str]]:
    return load_prompt("answer").messages(sources=format_sources(refs), question=question)


def judge_messages(refs: list[Reference], question: str) -> list[tuple[str, str]]:
    """The coverage question asked right after the answer prompt's own text: the answer then
    reuses the judge's prefill (llama.cpp keeps the common prefix) and pays for a few tokens."""
    system, request = load_prompt("answer").render(sources=format_sources(refs), question=question)
    return load_prompt("relevance").messages(system=system, request=request)


def format_sources(refs: list[Reference]) -> str:
    blocks = []
    for ref in refs:
        body = " ".join(ref.evidence)
        blocks.append(f"[{ref.number}] {ref.title}\n{body}")
    return "\n\n".join(blocks)


def extractive_answer(refs: list[Reference], n: int = 3) -> str:
    """No LLM: the best evidence sentence of the top sources, each cited."""
    lines = []
    for ref in refs[:n]:
        if ref.evidence:
            lines.append(f"- **{ref.title}**: {ref.evidence[0]} [{ref.number}]")
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
