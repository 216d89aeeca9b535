"""The coverage verdict: do the sources cover what was asked, or is the answer a refusal?

One place decides it, for answers and recommendation lists alike, from:
- gaps: what the question names that no paper mentions (:mod:`assistant.coverage`);
- without a model judge: the embedding gate (best evidence cosine below ``judge.refuse_below``),
  and any gap refuses;
- with one: the model's P(yes) that the sources cover the question, against
  ``judge.below``, raised to ``judge.sure`` when there is a gap, lowered to ``judge.named``
  when the question names something rare that a source contains, or to ``judge.standout_below``
  when the top paper stands out of the retrieval (its fused score well ahead of the next one's);
  for a question about one paper, raised to ``judge.sure`` also when no paper stands out (the
  chain reads the lead only then: topics and lists match several papers alike), where a P(yes)
  between ``judge.below`` and that bar answers with a caveat (``unsure``) rather than refusing
  (on new question sets a small lead marked answerable questions as often as near misses), and not asked
  at all when the top paper leads by ``judge.clear_lead`` or more, nothing named is missing and
  the embedding gate passes (a question asked as written, without a filter).

:meth:`Coverage.screen` makes the decision that needs no model; :meth:`Coverage.judge` asks
the model when the screen leaves it open. Both return a typed :class:`Verdict` with reasons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .coverage import Gaps, find_gaps, name_phrases
from .evidence import Evidence, format_sources
from .text import spaced
from .prompts import load as load_prompt
from .records import Reference
from .settings import Settings


@dataclass
class Verdict:
    """Whether to refuse, and why."""

    refused: bool = False
    pending: bool = False  # the screen left it to the model judge
    gaps: Gaps = field(default_factory=Gaps)
    cosine: float = 0.0  # best evidence cosine (the embedding gate's score)
    coverage: float | None = None  # the model's P(the sources cover the question), if judged
    threshold: float | None = None  # the P(yes) it had to reach
    named: list[str] = field(default_factory=list)  # rare names found in a source
    # how far the top paper's fused score leads the next one's (share of its own); None: not used
    # (a lone hit, a list, a question about several papers)
    standout: float | None = None
    reasons: list[str] = field(default_factory=list)
    judge_s: float | None = None
    unsure: bool = False  # answered with a caveat: under the bar only because no paper stands out

    @property
    def detail(self) -> str:
        """What to tell the reader about the corpus (the gaps), '' when nothing is missing."""
        return self.gaps.describe()


def leads(settings: Settings, standout: float | None) -> bool | None:
    """Whether the top paper stands out of the retrieval (``judge.standout``); None when the lead
    is not read (a list, a topic) or the check is off."""
    judge = settings.judge
    return standout >= judge.standout if judge.standout and standout is not None else None


def judge_threshold(settings: Settings, gaps: Gaps | None, named: list[str] | None = None,
                    standout: float | None = None) -> float:
    """P(yes) needed to answer: higher when the question names something no paper mentions or
    when no paper stands out of the retrieval (a near miss that several papers half match);
    else lower when it names something rare that a source contains, or when one paper stands out."""
    judge = settings.judge
    stands_out = leads(settings, standout)
    if gaps or stands_out is False:  # a near miss: several papers half match, none leads
        return max(judge.below, judge.sure)
    if named:
        return min(judge.below, judge.named)
    return min(judge.below, judge.standout_below) if stands_out else judge.below


def standout(hits: list) -> float | None:
    """How far the best paper's fused score leads the next one's, as a share of its own (None
    with fewer than two hits): a paper the question is about leads; a near miss half matches
    several papers."""
    scores = sorted((h.score for h in hits), reverse=True)
    if len(scores) < 2 or scores[0] <= 0:
        return None
    return (scores[0] - scores[1]) / scores[0]


def judge_messages(refs: list[Reference], question: str) -> list[tuple[str, str]]:
    """The coverage question asked right after the answer prompt's own text: the answer then
    reuses the judge's prefill (llama.cpp keeps the common prefix) and pays for a few tokens."""
    system, request = load_prompt("answer").render(sources=format_sources(refs), question=question)
    return load_prompt("relevance").messages(system=system, request=request)


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


class Coverage:
    """Decides refusals for one retriever (its BM25 vocabulary) and chat model."""

    def __init__(self, settings: Settings, retriever: Any, chat_model: Any = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model

    @property
    def judges(self) -> bool:
        return self.chat_model is not None and self.settings.judge.below > 0

    def screen(self, question: str, evidence: Evidence, titles: list[str] | None = None,
               lead: bool = False, may_skip: bool = False, ignore: set[str] | frozenset[str] = frozenset()) -> Verdict:
        """The decision that needs no model. ``titles``: more titles a quoted title may match
        (a recommendation list's whole candidate list); ``lead``: read how far the top paper
        leads (a question about one paper; topics and lists match several papers alike);
        ``may_skip``: a lead of ``judge.clear_lead`` may answer without the judge (a question
        asked as it was written, unfiltered: what the lead was measured on); ``ignore``: named terms
        (in :func:`assistant.text.spaced` form) that are no gap (a detail asked of a named paper,
        "GPUs": assistant/details.py)."""
        known = [h.title for h in evidence.hits] + [p.get("display_title", "") for p in evidence.papers.values()]
        abstracts = [p.get("abstract", "") for p in evidence.papers.values()]
        gaps = find_gaps(question, self.retriever.unknown_terms, known + list(titles or ()), abstracts)
        gaps.terms = [t for t in gaps.terms if spaced(t) not in ignore]
        cosine = max(evidence.best, evidence.hits[0].dense) if evidence.hits else 0.0
        verdict = Verdict(gaps=gaps, cosine=cosine, standout=standout(evidence.hits) if lead else None)
        if not evidence.hits:
            return _refuse(verdict, "no paper matches")
        if self.judges:
            clear = self.settings.judge.clear_lead
            if (may_skip and clear and not gaps and verdict.standout is not None and verdict.standout >= clear
                    and cosine >= self.settings.refuse_below):
                verdict.reasons.append(f"the top paper leads by {verdict.standout:.2f} >= {clear}: not judged")
                return verdict
            verdict.pending = True
            return verdict
        if gaps:
            return _refuse(verdict, gaps.describe())
        if cosine < self.settings.refuse_below:
            return _refuse(verdict, f"best evidence cosine {cosine:.2f} < {self.settings.refuse_below}")
        return verdict

    def judge(self, verdict: Verdict, query: str, refs: list[Reference], question: str = "") -> Verdict:
        """The model's P(yes) that ``refs`` cover ``query`` (the search query: a follow-up
        rewritten) against its threshold, which names in ``question`` (default: the query) may
        lower; a model that fails leaves the answer to go on."""
        verdict.pending = False
        if not self.judges or not refs:
            return verdict
        t0 = time.perf_counter()
        try:
            verdict.coverage = judge_yes(self.chat_model, judge_messages(refs, query))
        except Exception as exc:  # noqa: BLE001 - no verdict: answer as usual
            verdict.reasons.append(f"the judge failed ({type(exc).__name__}); answering as usual")
            return verdict
        finally:
            verdict.judge_s = round(time.perf_counter() - t0, 3)
        verdict.named = self.named(question or query, refs, verdict.gaps)
        verdict.threshold = judge_threshold(self.settings, verdict.gaps, verdict.named, verdict.standout)
        if verdict.coverage >= verdict.threshold:
            return verdict
        unsure = leads(self.settings, verdict.standout) is False and verdict.coverage >= self.settings.judge.below
        if unsure and not verdict.gaps:
            verdict.unsure = True
            verdict.reasons.append(f"P(yes) {verdict.coverage:.2f} < {verdict.threshold} with no paper standing out: "
                                   "answered with a caveat")
            return verdict
        return _refuse(verdict, f"P(yes) {verdict.coverage:.2f} < {verdict.threshold}")

    def named(self, question: str, refs: list[Reference], gaps: Gaps | None = None) -> list[str]:
        """What the question names that is rare in the corpus and in a source (lowers the judge's bar)."""
        missing = set(gaps.terms) if gaps else set()
        terms = [t for t in name_phrases(question) if not missing & set(t.split())]
        return self.retriever.rare_named(terms, [f"{r.title}. {r.abstract}" for r in refs])


def _refuse(verdict: Verdict, reason: str) -> Verdict:
    verdict.refused, verdict.pending = True, False
    verdict.reasons.append(reason)
    return verdict
