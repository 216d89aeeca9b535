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
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from .records import SentenceSupport
from .text import clean_latex, sentence_spans, words

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


_UNCLOSED = re.compile(r"[\[【［][\d ,;\-–]*$")


def drop_unclosed(text: str) -> str:
    """``text`` without a marker the model left open at its very end (``... graph. [1] [1``)."""
    end = text.rstrip()
    found = _UNCLOSED.search(end[-40:])
    return end[: len(end) - len(found.group(0))].rstrip() if found else text


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


# --------------------------------------------------------------------------- claim checks
#
# What the local 1.5B model writes instead of an answer, or gets wrong inside one (issue #11):
# a bare list of titles with markers, the question restated, a number that is in no cited
# abstract ("up to 1024 tokens"), a name credited to the wrong paper (two papers' "S²FT"/"S3FT").
# Each check returns a reason ("" when the sentence passes).

TITLES_ONLY = "only titles and markers"
ECHO = "restates the question"
REPEAT = "repeats an earlier sentence"
_SCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉", "01234567890123456789")
_PLAIN_WORD = re.compile(r"[a-z0-9]+")
_LIST_FILLER = frozenset(
    "a an the and or of in on for to by with from as at also see both paper papers titled title titles is are "
    "source sources reference references article articles relevant related following include includes "
    "including e g eg".split()
)
_ECHO_FILLER = _LIST_FILLER | frozenset(
    "is are was were be been being it its this that these those their there here which what who whom whose how "
    "why when where do does did can could would should will may might has have had such than then so not no "
    "one ones some any all about answer question method methods approach approaches model models study studies "
    "work works propose proposes proposed present presents presented introduce introduces introduced describe "
    "describes described discuss discusses discussed explore explores explored address addresses addressed use "
    "uses used using based s".split()
)
_YES_NO = re.compile(r"^\W*(?:is|are|was|were|does|do|did|can|could|will|would|has|have|had|should)\b", re.I)
_MIN_TITLE_RUN = 3  # words of a title that count as the title (all of a shorter one)
_MAX_CHECK_WORDS = 400


def _plain_words(text: str) -> list[str]:
    """Lower-case ASCII words, LaTeX cleaned, superscripts as digits, accents dropped: ``S²FT``
    and ``S$^{2}$FT`` -> ``s2ft``."""
    import unicodedata

    text = unicodedata.normalize("NFKD", clean_latex(text).translate(_SCRIPT_DIGITS))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _PLAIN_WORD.findall(text)[:_MAX_CHECK_WORDS]


def _without_titles(words_: list[str], titles: Iterable[str]) -> tuple[list[str], bool]:
    """``words_`` with every run of a title's words (3 or more, or the whole title) taken out;
    and whether any was. Longest common runs, O(words x title words) per title."""
    keep = [True] * len(words_)
    for title in titles:
        t = _plain_words(title)
        need = min(len(t), _MIN_TITLE_RUN)
        if not need:
            continue
        previous = [0] * (len(t) + 1)
        for i, word in enumerate(words_):
            current = [0] * (len(t) + 1)
            for j, other in enumerate(t):
                if word == other:
                    current[j + 1] = previous[j] + 1
            run = max(current)
            if run >= need:
                keep[i - run + 1 : i + 1] = [False] * run
            previous = current
    return [w for w, kept in zip(words_, keep) if kept], not all(keep)


def titles_only(sentence: str, titles: Iterable[str]) -> str:
    """``TITLES_ONLY`` when ``sentence`` is nothing but paper titles, markers and list words
    ("[1] <title> [2] <title>"), else "". A sentence naming no title is never titles-only."""
    rest, had_title = _without_titles(_plain_words(strip_markers(sentence)), titles)
    return TITLES_ONLY if had_title and not [w for w in rest if w not in _LIST_FILLER] else ""


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def echoes_question(sentence: str, question: str, titles: Iterable[str] = ()) -> str:
    """``ECHO`` when ``sentence``, without titles and markers, says nothing the question did not:
    every content word is the question's ("[1] <title> <the user's own words>"), else "".

    Needs two content words at least, unless the sentence has a marker: then one is enough, or
    none ("These algorithms are [2] and [3]."); never for a yes/no question, where
    restating it is the answer ("Does S²FT save memory?" / "S²FT saves memory [1].").
    """
    if not question.strip() or _YES_NO.match(question):
        return ""
    rest, _ = _without_titles(_plain_words(strip_markers(sentence)), titles)
    content = [_stem(w) for w in rest if w not in _ECHO_FILLER]
    asked = {_stem(w) for w in _plain_words(question)}
    # a marker standing for the answer ("These algorithms are [2] and [3].") says no more
    least = 0 if parse_markers(sentence) else 2
    return ECHO if len(content) >= least and all(w in asked for w in content) else ""


def not_an_answer(sentence: str, question: str, titles: Iterable[str]) -> str:
    """Why ``sentence`` is no answer to ``question`` (:func:`titles_only`, then
    :func:`echoes_question`), or ""."""
    titles = list(titles)
    return titles_only(sentence, titles) or echoes_question(sentence, question, titles)


_MIN_REPEAT_WORDS = 4
_REPEAT_OVERLAP = 0.9


def repeats(sentence: str, earlier: Iterable[str]) -> str:
    """``REPEAT`` when ``sentence`` says again what an earlier one said, of the same sources (nine
    in ten of their distinct words shared, markers aside; its markers among the earlier one's, if
    that one has any), else "": the 1.5B model can loop on one sentence. "[2] does it too" is not
    a repeat of [1]."""
    have = set(_plain_words(strip_markers(sentence)))
    if len(have) < _MIN_REPEAT_WORDS:
        return ""
    cites = set(parse_markers(sentence))
    for other in earlier:
        seen = set(_plain_words(strip_markers(other)))
        theirs = set(parse_markers(other))
        if seen and (cites <= theirs or not theirs) and len(have & seen) / len(have | seen) >= _REPEAT_OVERLAP:
            return REPEAT
    return ""


_BULLET_ONLY = re.compile(r"^[ \t]*(?:>[ \t]*)?(?:[-*+•]|\d{1,3}[.)])?[ \t]*[.,;:]?[ \t]*$", re.MULTILINE)


_MARKERS_ALONE = re.compile(r"[ \t]*\n\n[ \t]*((?:\[\d+(?:[,\-–] ?\d+)*\][ \t]*)+)(?=\n|$)")


def _find_sentence(text: str, sentence: str, last: bool = False, start: int = 0) -> re.Match | None:
    """Where a sentence (as :func:`split_answer_sentences` gave it) stands in ``text`` (its
    first place from ``start``, or its ``last``); the whitespace between its words may differ
    (wrapped lines)."""
    pattern = r"\s*".join(re.escape(piece) for piece in sentence.split())
    if not pattern:
        return None
    if not last:
        return re.compile(pattern).search(text, start)
    found = None
    for found in re.finditer(pattern, text):
        pass
    return found


def drop_sentences(text: str, drop: Iterable[str]) -> str:
    """``text`` without the sentences ``drop`` (as :func:`split_answer_sentences` gave them):
    each is cut where it stands (whitespace between its words may differ: wrapped lines), list
    items and paragraphs left empty go; a sentence not found that way rebuilds the text from
    the sentences kept."""
    drop = list(drop)
    for i, sentence in enumerate(drop):
        found = _find_sentence(text, sentence, last=True)  # a repeat goes, its first saying stays
        if found is None:
            return _without(text, drop[i:])
        text = text[: found.start()] + text[found.end() :]
    text = _BULLET_ONLY.sub("", text)
    text = re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n\n", text)
    text = _MARKERS_ALONE.sub(lambda m: " " + m.group(1).strip(), text)  # "...average.\n\n[1]": back to its sentence
    return text.strip()


def _without(text: str, drop: list[str]) -> str:
    """``text`` rebuilt from its sentences less ``drop``, each taken from the end (first copies stay)."""
    left = Counter(drop)
    kept = []
    for sentence, _ in reversed(split_answer_sentences(text)):
        if left[sentence]:
            left[sentence] -= 1
        else:
            kept.append(sentence)
    return " ".join(reversed(kept))


def cite_uncited(text: str, choose: int | Callable[[str], int | None]) -> tuple[str, int]:
    """``text`` with a marker added to each factual sentence that cites nothing (before its
    closing punctuation), and how many got one. ``choose``: the number to cite (an answer
    written from one source, where a sentence without a marker can only be about it), or a
    function of the sentence giving its number or None (the source that supports it); the
    sentence is still checked against what it then cites."""
    added, at = 0, 0  # at: where the previous sentence ended (a cut-off sentence may begin an earlier one)
    for sentence, nums in split_answer_sentences(text):
        found = _find_sentence(text, sentence, start=at)
        if found is None:
            continue
        at = found.end()
        if nums or not is_factual(sentence):
            continue
        number = choose if isinstance(choose, int) else choose(sentence)
        if number is None:
            continue
        body = found.group(0)
        end = len(body.rstrip(".!?;")) if body.rstrip().endswith((".", "!", "?", ";")) else len(body)
        text = f"{text[: found.start()]}{body[:end]} [{number}]{body[end:]}{text[found.end():]}"
        at += len(f" [{number}]")
        added += 1
    return text, added


UNFINISHED = "cut off unfinished"
NOT_A_CLAIM = "not a claim"
_FINISHED = re.compile(r"[.!?:;)\]】］\"”’*`]\s*$")


def unfinished(text: str) -> bool:
    """Whether ``text`` stops mid-sentence: it ends without closing punctuation or a marker, and
    not on a list item, table row or heading (the chain asks only when the model ran into its
    token limit)."""
    last = text.strip().splitlines()[-1].strip() if text.strip() else ""
    return bool(last) and not _FINISHED.search(last) and not re.match(r"(?:[-*+|#]|\d+[.)])\s*", last)


def best_supporting(sentence: str, evidence: dict[int, list[str]], embed: Callable[[list[str]], np.ndarray],
                    threshold: float, titles: dict[int, str] | None = None) -> int | None:
    """The source (of ``evidence``'s) that supports ``sentence`` best, every check passed, or
    None when none does: post-hoc attribution of a sentence the model left uncited."""
    judged = {n: check_support([(sentence, [n])], evidence, embed, threshold, titles)[0] for n in evidence}
    supported = sorted(n for n, j in judged.items() if j.supported)  # a tie goes to the better-ranked source
    return max(supported, key=lambda n: judged[n].score) if supported else None


_SMALL = r"(?:a|an|the|of|for|in|on|with|and|to|via|by|from|as|is|at|or|vs)\b"
_TITLE_WORD = r"(?:[A-Z0-9][\w\-'’²]*)"
# A paper-title-like span: capitalised words, a colon, capitalised words ("Fine-tuning LLMs with
# Differential Privacy: A Comprehensive Guide").
_TITLE_LIKE = re.compile(rf"{_TITLE_WORD}(?:\s+(?:{_TITLE_WORD}|{_SMALL})){{0,10}}:\s+{_TITLE_WORD}"
                         rf"(?:\s+(?:{_TITLE_WORD}|{_SMALL})){{2,16}}")


def title_reason(sentence: str, titles: Iterable[str]) -> str:
    """"title of no source: “...”" when the sentence names a paper by a title-like span (words
    around a colon, capitalised) that is no source's title (four in five of its words in one),
    else "": the model invented a paper."""
    known = [set(words(t)) for t in titles if t]
    for span in _TITLE_LIKE.findall(strip_markers(sentence)):
        span = re.sub(r"(?:\s+(?:This|The|It|Its|We|These|Our|In|A|An))+$", "", span)  # the next sentence's start
        mine = set(words(span))
        if len(mine) >= 4 and not any(len(mine & title) >= 0.8 * len(mine) for title in known):
            return f"title of no source: \u201c{span}\u201d"
    return ""


def number_reason(sentence: str, evidence_texts: list[str]) -> str:
    """"number not in cited abstracts: 1024" when a number of ``sentence`` is in none of
    ``evidence_texts`` (see :func:`unknown_numbers`), else ""."""
    missing = unknown_numbers(sentence, evidence_texts)
    return f"number not in cited abstracts: {', '.join(missing)}" if missing else ""


# names: acronyms and named methods, i.e. tokens with a digit or a capital after the first
# letter (S²FT, LoRA, GPT-4, DB1, MMLU, FlashAttention); hyphen parts in lower case are words
# around the name ("LoRA-based"), numbers with a unit are numbers ("7B", "3x").
_NAME_TOKEN = re.compile(r"[^\W_]+(?:[-–/.+][^\W_]+)*")
_CARET = re.compile(r"\^\{?([^\W_]+)\}?")  # LaTeX left in a model's text: S^2FT, S^{2}FT
_NUMBER_LIKE = re.compile(r"\d+(?:\.\d+)?(?:[-–]\d+(?:\.\d+)?)?(?:[kmbtx%]|st|nd|rd|th|times)?")


def _fold(text: str) -> str:
    return "".join(_plain_words(text))


def _core(token: str) -> str:
    """A token without its lower-case hyphen parts and a plural ``s`` after a capital/digit:
    ``LoRA-based`` -> ``LoRA``, ``LLMs`` -> ``LLM``, ``GPT-4`` stays."""
    parts = [p for p in re.split(r"[-–/]", token) if p and not re.fullmatch(r"[^\W\d_A-Z]+", p)]
    core = "-".join(parts)
    return core[:-1] if re.search(r"[A-Z0-9²³¹⁰-⁹]s$", core) else core


def _is_name(core: str) -> bool:
    plain = core.translate(_SCRIPT_DIGITS)
    if not re.search(r"[^\W\d_]", plain) or _NUMBER_LIKE.fullmatch(plain.lower()):
        return False
    return any(c.isdigit() for c in plain) or any(c.isupper() for c in plain[1:])


# a capitalised word and a bare number in mid-sentence is one name ("Llama 2", "Qwen 2.5"): the
# number check leaves such digits to this one
_NAME_NUMBER = re.compile(r"(?<![\w.])([A-Z][a-z]+)[ \t]+(\d+(?:\.\d+)?)(?![\w%×]|\.\d)")
_NOT_NAMES = frozenset("Table Figure Fig Section Sec Eq Equation Step Stage Phase Part Chapter Appendix Algorithm "
                       "Level Round Day Task Lemma Theorem Example Experiment".split())


def names_in(text: str) -> list[str]:
    """Acronyms and named methods of ``text`` in order, each once, as written (cores):
    ``S²FT``, ``LoRA``, ``GPT-4``, ``DB1``, ``MMLU``, and "Llama 2" (a name with its number)."""
    text = _CARET.sub(r"\1", clean_latex(strip_markers(text)))
    found = [(m.start(), _core(m.group().strip("."))) for m in _NAME_TOKEN.finditer(text)]
    found = [(at, core) for at, core in found if _is_name(core)]
    found += [(m.start(), f"{m.group(1)} {m.group(2)}") for m in _NAME_NUMBER.finditer(text)
              if m.group(1) not in _NOT_NAMES and _after_name(text, m.start(2))]
    return list(dict.fromkeys(core for _, core in sorted(found)))


_GENERIC_ACRONYMS = frozenset({"AI", "ML", "GPU", "CPU", "API"})  # said loosely, never a paper's claim
_INITIALS_SKIP = frozenset("a an the of and for to in on with by".split())


def _initials(text: str) -> set[str]:
    """"^" + the initials of 2-5 consecutive words: an acronym spelled out ("large language
    models" backs "LLM", "parameter-efficient fine-tuning" backs "PEFT")."""
    plain = [w for w in _plain_words(text) if w not in _INITIALS_SKIP and not w.isdigit()]
    return {"^" + "".join(w[0] for w in plain[i : i + n]) for i in range(len(plain)) for n in range(2, 6)}


def _name_keys(texts: Iterable[str]) -> set[str]:
    """Folded forms evidence can back a name with: each token whole and as its core, two or
    three adjacent tokens joined ("GPT 4" backs "GPT-4"), and spelled-out acronyms."""
    keys: set[str] = set()
    for text in texts:
        keys |= _initials(text)
        tokens = [m.group().strip(".") for m in _NAME_TOKEN.finditer(_CARET.sub(r"\1", clean_latex(text)))]
        for i, token in enumerate(tokens):
            keys |= {_fold(token), _fold(_core(token)), _fold(" ".join(tokens[i : i + 2])), _fold(" ".join(tokens[i : i + 3]))}
            keys |= {_fold(_core(part)) for part in re.split(r"[-–/]", token)}
        parts = [p for token in tokens for p in re.split(r"[-–/]", token) if p]  # "Claude 3.5-Haiku" backs "Claude 3.5"
        keys |= {_fold(" ".join(parts[i : i + 2])) for i in range(len(parts))}
    keys.discard("")
    return keys


def unknown_names(sentence: str, evidence_texts: list[str]) -> list[str]:
    """Names of ``sentence`` (see :func:`names_in`) that none of ``evidence_texts`` contains."""
    known = _name_keys(evidence_texts)
    return [n for n in names_in(sentence) if n not in _GENERIC_ACRONYMS and _fold(n) not in known
            and not (re.fullmatch(r"[A-Z]{2,6}", n) and "^" + _fold(n) in known)]


def name_reason(sentence: str, evidence_texts: list[str], elsewhere: dict[int, list[str]] | None = None) -> str:
    """"name not in cited abstracts: S²FT" when an acronym or named method of ``sentence`` is
    in none of ``evidence_texts`` (the cited abstracts), else "". ``elsewhere``: the other
    sources' texts, to say whose a shared or borrowed name is ("S²FT (of [1])")."""
    missing = unknown_names(sentence, evidence_texts)
    if not missing:
        return ""
    owners = {n: [k for k, texts in sorted((elsewhere or {}).items()) if not unknown_names(n, texts)] for n in missing}
    shown = [f"{n} (of {_canonical(owners[n])})" if owners[n] else n for n in missing]
    return f"name not in cited abstracts: {', '.join(shown)}"


# --------------------------------------------------------------------------- support


def check_support(
    sentences: list[tuple[str, list[int]]],
    evidence: dict[int, list[str]],
    embed: Callable[[list[str]], np.ndarray],
    threshold: float,
    titles: dict[int, str] | None = None,
) -> list[SentenceSupport]:
    """Judge each answer sentence against the evidence sentences of the sources it cites.

    ``embed`` must return L2-normalised rows; it is called once (or not at all). A cited
    sentence is supported when its best cosine similarity to a cited evidence sentence
    reaches ``threshold`` and every number and name (acronym, named method) in it occurs in
    the cited abstracts (or their ``titles``). Citations of numbers absent from ``evidence``
    are ignored; if none is left: reason "unknown source [n]". ``SentenceSupport.evidence`` is
    the closest cited evidence sentence.
    """
    cited = [(i, [n for n in c if evidence.get(n)]) for i, (_, c) in enumerate(sentences) if c]
    texts = list(dict.fromkeys(
        [strip_markers(sentences[i][0]) for i, nums in cited if nums]
        + [e for _, nums in cited for n in nums for e in evidence[n]]
    ))
    vectors = dict(zip(texts, embed(texts))) if texts else {}
    by_index = dict(cited)
    pools = {n: list(evidence.get(n) or []) + ([titles[n]] if titles and titles.get(n) else []) for n in evidence}
    return [
        _judge(text, numbers, by_index.get(i), evidence, vectors, threshold, pools, list((titles or {}).values()))
        for i, (text, numbers) in enumerate(sentences)
    ]


def _judge(
    text: str,
    numbers: list[int],
    usable: list[int] | None,
    evidence: dict[int, list[str]],
    vectors: dict[str, np.ndarray],
    threshold: float,
    pools: dict[int, list[str]],
    titles: list[str] | None = None,
) -> SentenceSupport:
    if not numbers:
        factual = is_factual(text)
        return SentenceSupport(text, [], not factual, 0.0, "no citation" if factual else NOT_A_CLAIM)
    if not usable:
        return SentenceSupport(text, numbers, False, 0.0, f"unknown source {_canonical(numbers)}")
    texts = [e for n in usable for e in evidence[n]]
    claim = vectors[strip_markers(text)]
    scores = [float(np.dot(claim, vectors[e])) for e in texts]
    best = int(np.argmax(scores))
    score = scores[best]
    cited_pool = [e for n in usable for e in pools[n]]
    others = {n: pool for n, pool in pools.items() if n not in usable}
    reasons = [r for r in (
        f"weak evidence ({score:.2f})" if score < threshold else "",
        number_reason(text, cited_pool),
        name_reason(text, cited_pool, others),
        title_reason(text, titles),
    ) if r]
    return SentenceSupport(text, numbers, not reasons, score, "; ".join(reasons), evidence=texts[best])
