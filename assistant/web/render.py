"""What the browser shows, as text: the chat message of an answer, the sources panel, errors.

Pure functions. Everything is escaped: titles, abstracts and model output are text, never
markup. Chat messages are Markdown that can format but never link, embed or run anything
(the only links are citation markers pointing at their source card); the sources panel is
HTML with every corpus string escaped.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..chain import QuestionError
from ..records import Answer, Reference
from ..service import EmptyIndex

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
        out.append(cite(n, link))
        last = m.end()
    out.append(text[last:].translate(_MD_SPECIAL))
    return "".join(out)


def _normalise_markers(text: str) -> str:
    try:
        from ..citations import normalise_markers

        return normalise_markers(text)
    except Exception:  # noqa: BLE001 - display only: keep the text as written
        return text


def cite(number: int, link: bool = True) -> str:
    """A citation marker ``[n]`` as Markdown: a link to its source card ``#src-n``, or plain text."""
    n = int(number)
    return f"[\\[{n}\\]](#src-{n})" if link else f"\\[{n}\\]"


def quote(text: str) -> str:
    """A sentence of an abstract, quoted and escaped."""
    return f"“{md_text(text)}”"


def esc(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


# ---------------------------------------------------------------- chat message


EVIDENCE_LABEL = "**Evidence**"
ANSWER_LABEL = "**Answer**"


def answer_label(answer: Answer, link: bool = True) -> str:
    """The label above the model's answer; it names the sources the model wrote from when the
    question was about one paper (assistant/focus.py) and the model was not given them all."""
    given = answer.model_sources
    if not given or len(given) >= len(answer.references):
        return ANSWER_LABEL
    return f"{ANSWER_LABEL} (written from {' '.join(cite(n, link) for n in given)})"


def render_evidence(refs: list[Reference], link: bool = True, comparison: Any = None) -> str:
    """The evidence block: under each paper's title, its best sentences quoted, each with its
    ``[n]`` (linked to the source card unless ``link`` is false); "" when no source has one.
    A compare question's papers are a table instead (``comparison``: assistant.compare.CompareTable).
    Shown as soon as the sources are known, and kept above the answer (see :func:`render_message`)."""
    groups = [comparison.markdown(escape=md_text, cite=lambda n: cite(n, link))] if comparison is not None else []
    tabled = {number for number, _, _ in comparison.rows} if comparison is not None else set()
    for ref in refs:
        if not ref.evidence or ref.number in tabled:
            continue
        date = f" · {md_text(ref.page_date)}" if ref.page_date else ""
        quotes = "\n>\n".join(f"> {quote(s)} {cite(ref.number, link)}" for s in ref.evidence)
        groups.append(f"**{md_text(ref.title)}**{date}\n{quotes}")
    return f"{EVIDENCE_LABEL}\n\n" + "\n\n".join(groups) if groups else ""


def render_message(answer: Answer) -> str:
    """The chat message of a finished answer, laid out as it streamed: the evidence block, then
    the model's answer under its label. Without a model the evidence is the whole answer (its
    notes follow; the same quotes are not repeated). A refusal or a reading list is
    :func:`render_reply` alone: a refusal names the closest papers, which are not evidence."""
    evidence = "" if answer.refused or answer.kind != "answer" else render_evidence(answer.references,
                                                                                      comparison=answer.comparison)
    if not evidence:
        return render_reply(answer)
    if answer.provider == "extractive":
        return "\n\n".join([evidence, *_tail(answer, support=False)])
    return f"{evidence}\n\n{answer_label(answer)}\n\n{render_reply(answer)}"


def render_reply(answer: Answer) -> str:
    """The assistant's chat message for a finished answer without its evidence block (sanitised Markdown)."""
    numbers = {r.number for r in answer.references}
    if answer.kind == "recommendations" and not answer.refused and answer.references:
        body = render_recommendations(answer)
    else:
        body = _answer_body(answer, numbers)
    tail = _tail(answer)
    return body + ("\n\n" + "\n\n".join(tail) if tail else "")


def _tail(answer: Answer, support: bool = True) -> list[str]:
    """The lines under an answer: how many sentences the cited abstracts support, the notice, who answered."""
    tail = []
    checked = [s for s in answer.support if (s.citations or s.reason) and not s.dropped] if support else []
    if checked and answer.kind != "recommendations":
        ok = sum(s.supported for s in checked)
        mark = "✓" if ok == len(checked) else "⚠"
        tail.append(f"*{mark} {ok} of {len(checked)} sentence{'s' if len(checked) != 1 else ''} supported by the cited "
                    "abstracts (see Sources).*")
    if answer.notice:
        tail.append(f"**Note:** {safe_markdown(answer.notice, link=False)}")
    if answer.provider and answer.kind != "recommendations" and not answer.refused:
        who = "extractive: evidence sentences, no language model" if answer.provider == "extractive" else f"the {answer.provider} model"
        tail.append(f"*Answered by {md_text(who)}.*")
    return tail


def garbled(reason: str) -> bool:
    """A number or name of the sentence is in no abstract it cites (see ``citations._judge``)."""
    return "not in cited abstracts" in (reason or "")


def _answer_body(answer: Answer, numbers: set[int]) -> str:
    """The answer text; a sentence whose number or name is in no abstract it cites is struck
    through and followed by the closest sentence of the abstracts it cites (all escaped)."""
    text, out, pos = answer.text, [], 0
    for s in answer.support:
        at = text.find(s.text, pos) if s.text and s.citations and not s.dropped and garbled(s.reason) else -1
        if at < 0:
            continue
        quote = f" *(the cited abstract says: “{md_text(s.evidence)}”)*" if s.evidence else ""
        out += [safe_markdown(text[pos:at], numbers), f"~~{safe_markdown(s.text, numbers)}~~{quote}"]
        pos = at + len(s.text)
    return "".join(out) + safe_markdown(text[pos:], numbers)


def render_recommendations(answer: Answer) -> str:
    """A ranked reading list: title, date, citation link, the reason and its grounding quote."""
    reasons = {s.citations[0]: s for s in answer.support if s.citations}
    lines = [f"Here {'is' if len(answer.references) == 1 else 'are'} {len(answer.references)} "
             f"paper{'s' if len(answer.references) != 1 else ''} to read, most relevant first:", ""]
    for ref in answer.references:
        date = f" ({md_text(ref.page_date)})" if ref.page_date else ""
        reason = reasons.get(ref.number)
        lines.append(f"{ref.number}. **{md_text(ref.title)}**{date} {cite(ref.number)}  ")
        if reason is not None:
            lines.append(f"   Why: {safe_markdown(reason.text, link=False)}")
        if ref.evidence:
            lines.append(f"   > {quote(ref.evidence[0])}")
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


def render_sources(answer: Answer | None, statuses: dict[str, str] | None = None) -> str:
    """The sources panel: a card per reference with date, highlighted abstract and support marks,
    and its library bar (``statuses``: paper id -> saved | read | dismissed, from the reader's library)."""
    if answer is None:
        return ('<div class="pa-sources pa-empty">Sources appear here: each cited paper with its abstract, '
                "the evidence sentences highlighted, and whether each sentence citing it is supported.</div>")
    refs = answer.references
    if not refs:
        return '<div class="pa-sources pa-empty">No sources for this answer.</div>'
    cited = [r for r in refs if r.cited]
    head = (f"{len(cited)} cited of {len(refs)} retrieved" if answer.kind != "recommendations"
            else f"{len(refs)} recommended paper{'s' if len(refs) != 1 else ''}")
    if answer.refused:
        head = "Not answered from the corpus: the closest papers (not cited)"
    ordered = cited + [r for r in refs if not r.cited]
    statuses = statuses or {}
    cards = [render_card(r, answer, statuses.get(r.paper_id, "")) for r in ordered]
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
        from ..citations import strip_markers

        text = strip_markers(text)
    except Exception:  # noqa: BLE001
        text = _CITE.sub("", text)
    return _MD_MARKUP.sub("", text).lstrip("-•* ").strip()


def render_card(ref: Reference, answer: Answer, status: str = "") -> str:
    claims = [s for s in answer.support if ref.number in s.citations]
    rows = []
    for s in claims:
        mark, cls = ("✓", "pa-ok") if s.supported else ("✗", "pa-bad")
        why = s.reason or ("supported" if s.supported else "not supported")
        why = f"dropped from the answer: {why}" if s.dropped else why
        score = f", {s.score:.2f}" if s.score else ""
        rows.append(f'<li class="{cls}"><span class="pa-mark">{mark}</span> {esc(plain(s.text))}'
                    f'<span class="pa-why"> — {esc(why)}{esc(score)}</span></li>')
    support = f'<ul class="pa-support">{"".join(rows)}</ul>' if rows else ""
    meta = " · ".join(esc(x) for x in (ref.page_date, ref.source) if x)
    label = "recommended" if answer.kind == "recommendations" else "cited"
    badge = f'<span class="pa-badge">{label}</span>' if ref.cited else '<span class="pa-badge pa-dim">not cited</span>'
    state = "pa-cited" if ref.cited else "pa-uncited-card"
    return (
        f'<div class="pa-card {state}" id="src-{int(ref.number)}">'
        f'<div class="pa-title"><span class="pa-num">[{int(ref.number)}]</span> {esc(ref.title)} {badge}</div>'
        f'<div class="pa-meta">{meta}</div>{card_actions(ref.paper_id, status)}{support}'
        f'<div class="pa-excerpt">{excerpt(ref.abstract, list(ref.spans))}</div>'
        f'<details class="pa-abstract"><summary>Full abstract, evidence highlighted</summary>'
        f'<p>{highlight(ref.abstract, list(ref.spans))}</p></details></div>'
    )


# ---------------------------------------------------------------- library actions on a card

CARD_ACTIONS = (("saved", "Save"), ("read", "Mark read"), ("dismissed", "Not interested"))
STATE_LABELS = {"saved": "Saved ✓", "read": "Read ✓", "dismissed": "Dismissed"}


def card_actions(paper_id: str, status: str = "", edit: bool = False) -> str:
    """A paper's library bar: its state in the reader's library ("Saved ✓", "Dismissed") and a
    button for each other action (or, with ``edit``, one Edit button). The page's script
    (``web/library.py`` ``CARD_JS``) sends the button's ``data-act`` with the bar's paper id;
    the id is escaped like any corpus string, and no title is put in an attribute."""
    state = (f'<span class="pa-state pa-state-{status}">{esc(STATE_LABELS[status])}</span>'
             if status in STATE_LABELS else "")
    actions = (("edit", "Edit"),) if edit else tuple(a for a in CARD_ACTIONS if a[0] != status)
    buttons = "".join(f'<button type="button" class="pa-act pa-act-{act}" data-act="{act}">{esc(label)}</button>'
                      for act, label in actions)
    return f'<div class="pa-actions" data-pid="{esc(paper_id)}">{state}{buttons}</div>'
