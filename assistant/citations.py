"""Citation markers in generated answers, and a sentence-level support check.

Pure functions: no I/O and no model loading (``check_support`` takes the embedder).

Accepted marker forms (numbers 1-99 only, so ``[2023]`` and ``[100]`` are never markers):
``[1]``, ``[1, 2]``, ``[1,2]``, ``[1; 2]``, ``[1][2]``, ``[1-3]`` / ``[1–3]`` (ranges of at
most 20), ``[Source 2]``, ``[Paper 3]``, ``[Sources 1, 2]``, ``[#2]``, ``【1】``, ``［1］``.
Not markers: ``[a]``, ``[x1]``, ``[0]``, ``[01]``, ``[3-1]`` and Markdown links ``[1](url)``.
The canonical form is ``[1][2]``.

Numbers (``numbers_in``): years are KEPT ("2023" is a fact an answer can get wrong; the
abstracts are the only evidence, so a year they do not contain is flagged). Digits that are
part of a name are dropped: glued to letters (``T5``, ``Qwen2.5``, ``GSM8K``), after a
letter and a hyphen (``GPT-4``, ``Llama-3``), or a bare number after a capitalised word in
mid-sentence (``Llama 3``, ``Gemini 1.5``, ``Table 2``). List numbering ("1. " at the start
of a line) and citation markers are dropped too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np

from .records import SentenceSupport
from .text import sentence_spans, words

# --------------------------------------------------------------------------- markers

_PREFIX = r"(?:(?:sources?|papers?|refs?\.?|references?|docs?|documents?|citations?)\s*+(?:#\s*+)?|#\s*+)?"
_NUM = r"[1-9]\d?(?!\d)"
_ITEM = rf"{_PREFIX}{_NUM}(?:\s*[-–—]\s*{_PREFIX}{_NUM})?"
_SEP = r"\s*(?:,\s*and\b|[,;&]|\band\b)\s*"
_MARKER_SRC = rf"[\[【［]\s*+(?>{_ITEM})(?>{_SEP}(?>{_ITEM}))*+\s*+[\]】］](?!\()"  # atomic: no backtracking
_MARKER = re.compile(_MARKER_SRC, re.IGNORECASE)
_ITEM_NUMS = re.compile(rf"({_NUM})(?:\s*[-–—]\s*{_PREFIX}({_NUM}))?", re.IGNORECASE)
_MAX_RANGE = 20
_GAP = "\x00"  # stands where a marker was removed, until spacing is tidied


def _expand(marker: str) -> list[int] | None:
    """Numbers of one bracket group in order, de-duplicated; None if it is not a marker."""
    out: list[int] = []
    for m in _ITEM_NUMS.finditer(marker):
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo or hi - lo > _MAX_RANGE:
            return None
        out.extend(n for n in range(lo, hi + 1) if n not in out)
    return out or None


def _canonical(numbers: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in dict.fromkeys(numbers))


def _rewrite(text: str, fn: Callable[[list[int], str], str]) -> str:
    """Replace each accepted marker with ``fn(numbers, original)``."""

    def repl(m: re.Match[str]) -> str:
        numbers = _expand(m.group())
        return m.group() if numbers is None else fn(numbers, m.group())

    return _MARKER.sub(repl, text)


def marker_uses(text: str) -> list[int]:
    """Citation numbers of every marker in order, one entry per use (the one marker grammar:
    ``[1]``, ``[1, 2]``, ``[1-3]``, ``[Source 2]``; ``[2023]`` is a year, not a citation)."""
    found: list[int] = []
    for m in _MARKER.finditer(text or ""):
        found.extend(_expand(m.group()) or [])
    return found


def parse_markers(text: str) -> list[int]:
    """Citation numbers in order of first appearance (each number once)."""
    return list(dict.fromkeys(marker_uses(text)))


_CANONICAL_RUN = re.compile(r"\[[1-9]\d?\](?:[ \t]*\[[1-9]\d?\])+")


def _join_runs(text: str) -> str:
    """Adjacent canonical markers as one run without repeats: ``[1] [1][2]`` -> ``[1][2]``."""
    return _CANONICAL_RUN.sub(lambda m: _canonical(int(n) for n in re.findall(r"\d+", m.group())), text)


def normalise_markers(text: str) -> str:
    """Every accepted marker form rewritten as ``[1][2]`` (ranges expanded, runs joined)."""
    return _join_runs(_rewrite(text, lambda numbers, _: _canonical(numbers)))


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Markers renumbered through ``mapping`` (unmapped numbers kept), in canonical form."""
    return _join_runs(_rewrite(text, lambda numbers, _: _canonical(mapping.get(n, n) for n in numbers)))


def drop_dangling(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """Remove marker numbers not in ``valid``; returns the text and the removed numbers.

    A marker whose numbers are all valid is left as written; a mixed one keeps its valid
    numbers in canonical form (``[1, 9]`` -> ``[1]``); an all-invalid one is removed and the
    spacing around it tidied.
    """
    removed: list[int] = []

    def keep(numbers: list[int], original: str) -> str:
        bad = [n for n in numbers if n not in valid]
        removed.extend(n for n in bad if n not in removed)
        if not bad:
            return original
        good = [n for n in numbers if n in valid]
        return _canonical(good) if good else _GAP

    return _tidy(_rewrite(text, keep)), removed


def strip_markers(text: str) -> str:
    """The text with every citation marker removed and spacing tidied."""
    return drop_dangling(text, set())[0]


_GAP_RUN = re.compile(rf"[ \t]*{_GAP}(?:[ \t]*{_GAP})*[ \t]*")
# a removed marker in a list of markers takes its separator with it: "[1], [7]" / "[7], [1]"
_LIST_GAP = re.compile(rf"(?<=[\]】］])[ \t]*[,;][ \t]*{_GAP}|{_GAP}[ \t]*[,;][ \t]*(?=[\[【［])")
_EMPTY_PARENS = re.compile(rf"\([ \t]*{_GAP}(?:[ \t]*{_GAP})*[ \t]*\)")
_CLOSING = ".,;:!?)]}\n"


def _tidy(text: str) -> str:
    """Close up the gaps left by removed markers, touching nothing else."""

    def repl(m: re.Match[str]) -> str:
        start, end = m.start(), m.end()
        if end == len(text) or text[end] in _CLOSING:
            return ""
        if start == 0 or text[start - 1] == "\n":
            return re.match(r"[ \t]*", m.group()).group()  # keep indentation
        return "" if text[start - 1] in "([{" else " "

    if _GAP not in text:
        return text
    text = _LIST_GAP.sub(_GAP, text)
    text = _EMPTY_PARENS.sub(_GAP, text)
    return _GAP_RUN.sub(repl, text)


# --------------------------------------------------------------------------- sentences

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_QUOTE = re.compile(r"^\s*>\s?")
_LEADING_MARKERS = re.compile(rf"^(?:\s*{_MARKER_SRC})+", re.IGNORECASE)
_GLUED = re.compile(rf"(?<=[.!?])(?={_MARKER_SRC})", re.IGNORECASE)


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Markdown to (block text, is heading): paragraphs and list items, code skipped."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    in_code = False

    def flush() -> None:
        if current:
            blocks.append((" ".join(current), False))
            current.clear()

    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_code = not in_code
            flush()
            continue
        line = _QUOTE.sub("", raw).strip()
        if in_code or not line or _is_rule(line):
            flush()
        elif _HEADING.match(line):
            flush()
            blocks.append((line, True))
        elif _BULLET.match(line) or line.startswith("|"):
            flush()
            current.append(_BULLET.sub("", line))
        else:
            current.append(line)
    flush()
    return blocks


def _is_rule(line: str) -> bool:
    """A horizontal rule (``---``, ``* * *``) or a table separator row (``|---|:-:|``)."""
    chars = set(line) - {" ", "\t"}
    rule = len(chars) == 1 and chars <= set("-*_") and len(line.replace(" ", "")) >= 3
    return rule or ("-" in chars and chars <= set("|:-"))


def _block_sentences(block: str) -> list[str]:
    """Sentences of one block; markers after a sentence's final stop stay with it."""
    block = _GLUED.sub(" ", block)
    out: list[str] = []
    for a, b in sentence_spans(_ascii_brackets(block)):
        piece = block[a:b]
        lead = _LEADING_MARKERS.match(piece)
        if lead and out:
            out[-1] = f"{out[-1]} {lead.group().strip()}"
            piece = piece[lead.end() :].strip()
        if piece:
            out.append(piece)
    return out


def _ascii_brackets(text: str) -> str:
    """Full-width marker brackets as ASCII (same length), so sentence splitting sees them."""
    return _MARKER.sub(lambda m: f"[{m.group()[1:-1]}]", text)


def split_answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """An answer (Markdown) as sentences, each with the citation numbers in it.

    Headings come back whole (with their ``#``); list markers are removed; a block that is
    only markers (e.g. ``[1][2]`` on its own line) joins the sentence before it.
    """
    sentences: list[str] = []
    for block, heading in _blocks(text):
        parts = [block] if heading else _block_sentences(block)
        if parts and sentences and not heading and _is_only_markers(parts[0]):
            sentences[-1] = f"{sentences[-1]} {parts.pop(0)}"
        sentences.extend(parts)
    return [(s, parse_markers(s)) for s in sentences]


def _is_only_markers(text: str) -> bool:
    lead = _LEADING_MARKERS.match(text)
    return bool(lead) and not text[lead.end() :].strip(" .,;")


# --------------------------------------------------------------------------- claims

_META = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(?:here(?:'s| is| are)|below (?:is|are))\b",
        r"\bhope (?:this|that|it) helps\b",
        r"^(?:let me know|feel free|if you (?:want|need|have|would like)|would you like)\b",
        r"^(?:i'm sorry|i am sorry|sorry)\b",
        r"^i (?:could|can|did|do|was)(?:n't| ?not)\b",
        r"^(?:the |these )?(?:provided |retrieved |available |given |cited )?"
        r"(?:corpus|abstracts?|context|sources?|excerpts?|documents?|(?:provided|retrieved|available|given) papers?)\b"
        r".*?\b(?:do(?:es)?|did|can)(?:n't| ?not)\b",
        r"\b(?:not|isn't|aren't) (?:covered|mentioned|discussed|addressed|described|reported) (?:in|by) the "
        r"(?:corpus|abstracts?|context|sources?|provided|retrieved|available)",
        r"^(?:there is|there's|there are) (?:no|not enough)\b.*\b(?:corpus|abstracts?|context|sources?|provided|retrieved)\b",
        r"^none of the (?:provided |retrieved |available )?(?:abstracts?|sources?|papers?|documents?|excerpts?)\b",
        r"\bnot enough (?:information|evidence|context)\b",
    )
]
_MIN_WORDS = 3


def is_factual(sentence: str) -> bool:
    """Whether a sentence makes a claim that needs a citation.

    False for headings, lead-ins ending in ":", bold-only lines, questions, meta or refusal
    sentences and fragments of fewer than three words.
    """
    text = strip_markers(sentence).strip()
    if _HEADING.match(text) or text.endswith((":", "?")):
        return False
    if re.fullmatch(r"\*\*[^*]+\*\*[.:]?|__[^_]+__[.:]?", text):
        return False
    plain = text.strip("*_ ")
    if any(p.search(plain) for p in _META):
        return False
    return len(words(plain)) >= _MIN_WORDS


# --------------------------------------------------------------------------- numbers

_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.,])(?<![A-Za-z]-)"
    r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(\s?%|\s?percent\b|\s?×|x(?![A-Za-z0-9])|[KkMBT](?![A-Za-z0-9])"
    r"|\s(?:thousand|million|billion|trillion)\b)?"
    r"(?![A-Za-z0-9])",
)
_LIST_NUMBER = re.compile(r"^\s*\d{1,3}[.)]\s+", re.MULTILINE)
_NAME_BEFORE = re.compile(r"([A-Za-z][\w.\-]*)[ \t]+$")
_NAME_WINDOW = 60
_SUFFIX = {"%": "%", "percent": "%", "×": "x", "x": "x", "k": "K", "thousand": "K",
           "m": "M", "million": "M", "b": "B", "billion": "B", "t": "T", "trillion": "T"}
_SCALE = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _plain_number(digits: str) -> str:
    """``1,066`` -> ``1066``; ``2.50`` -> ``2.5``; ``3.0`` -> ``3``."""
    digits = digits.replace(",", "")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return digits


def _after_name(text: str, start: int) -> bool:
    """A bare number right after a capitalised word in mid-sentence: ``Llama 3``."""
    m = _NAME_BEFORE.search(text, max(0, start - _NAME_WINDOW), start)
    if not m or not any(c.isupper() for c in m.group(1)):
        return False
    k = m.start() - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    return k >= 0 and text[k] not in ".!?:;\n"


def _number_tokens(text: str) -> list[str]:
    """Normalised numbers of ``text`` in order of appearance (each once)."""
    text = _LIST_NUMBER.sub("", strip_markers(text))
    out: list[str] = []
    for m in _NUMBER.finditer(text):
        suffix = (m.group(2) or "").strip()
        if not suffix and _after_name(text, m.start()):
            continue
        token = _plain_number(m.group(1)) + _SUFFIX.get(suffix.lower(), "")
        if token not in out:
            out.append(token)
    return out


def numbers_in(text: str) -> set[str]:
    """Numeric facts of ``text`` normalised: ``3x``, ``86.5%``, ``1066``, ``1.5B``, ``2023``.

    ``×`` becomes ``x``; thousands separators go; "18 %" and "18 percent" become ``18%``;
    "1.5 billion" becomes ``1.5B``; trailing decimal zeros go (``2.0x`` -> ``2x``).
    """
    return set(_number_tokens(text))


def _keys(token: str) -> set[str]:
    """Values a number may be matched on: without its unit, and with its scale applied."""
    unit = token[-1] if token[-1] in "%xKMBT" else ""
    value = token[: -1] if unit else token
    keys = {value}
    if unit in _SCALE:
        keys.add(_plain_number(f"{float(value) * _SCALE[unit]:.6f}"))
    return keys


def _evidence_keys(texts: Iterable[str]) -> set[str]:
    """Every number the evidence could back, read leniently (names' digits included)."""
    keys: set[str] = set()
    for text in texts:
        for token in _number_tokens(text):
            keys |= _keys(token)
        keys |= {_plain_number(d) for d in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
    return keys


def unknown_numbers(sentence: str, evidence_texts: list[str]) -> list[str]:
    """Numbers of ``sentence`` found in none of ``evidence_texts``, in order of appearance.

    Matching is on value: ``60×`` matches ``60x``, ``86.5%`` matches ``86.5``, ``65,000``
    matches ``65K``.
    """
    known = _evidence_keys(evidence_texts)
    return [t for t in _number_tokens(sentence) if not _keys(t) & known]


# --------------------------------------------------------------------------- support


def check_support(
    sentences: list[tuple[str, list[int]]],
    evidence: dict[int, list[str]],
    embed: Callable[[list[str]], np.ndarray],
    threshold: float,
) -> list[SentenceSupport]:
    """Judge each answer sentence against the evidence sentences of the sources it cites.

    ``embed`` must return L2-normalised rows; it is called once (or not at all). A cited
    sentence is supported when its best cosine similarity to a cited evidence sentence
    reaches ``threshold`` and all its numbers occur in that evidence. Citations of numbers
    absent from ``evidence`` are ignored; if none is left: reason "unknown source [n]".
    """
    cited = [(i, [n for n in c if evidence.get(n)]) for i, (_, c) in enumerate(sentences) if c]
    texts = list(dict.fromkeys(
        [strip_markers(sentences[i][0]) for i, nums in cited if nums]
        + [e for _, nums in cited for n in nums for e in evidence[n]]
    ))
    vectors = dict(zip(texts, embed(texts))) if texts else {}
    by_index = dict(cited)
    return [
        _judge(text, numbers, by_index.get(i), evidence, vectors, threshold)
        for i, (text, numbers) in enumerate(sentences)
    ]


def _judge(
    text: str,
    numbers: list[int],
    usable: list[int] | None,
    evidence: dict[int, list[str]],
    vectors: dict[str, np.ndarray],
    threshold: float,
) -> SentenceSupport:
    if not numbers:
        factual = is_factual(text)
        return SentenceSupport(text, [], not factual, 0.0, "no citation" if factual else "not a claim")
    if not usable:
        return SentenceSupport(text, numbers, False, 0.0, f"unknown source {_canonical(numbers)}")
    texts = [e for n in usable for e in evidence[n]]
    claim = vectors[strip_markers(text)]
    score = float(max(float(np.dot(claim, vectors[e])) for e in texts))
    missing = unknown_numbers(text, texts)
    reasons = ([f"weak evidence ({score:.2f})"] if score < threshold else []) + (
        [f"number not in cited abstracts: {', '.join(missing)}"] if missing else []
    )
    return SentenceSupport(text, numbers, not reasons, score, "; ".join(reasons))
