"""Question-side coverage checks: named things and quoted titles the corpus never mentions.

Embedding scores cannot tell "a neighbouring topic" from "this topic", and a 1.5B model
judging the sources says yes too often when they are on a related subject. One signal is
exact and cheap: when a question names something (``Minecraft``, ``DP-SGD``, ``RoPE``,
``AlphaFold``) that no title or abstract in the corpus contains, or quotes a title that no
paper has, the corpus cannot be about it. The answer chain and the recommender use the
:class:`Gaps` found here, together with the model's judgement where there is one.

Pure functions only; the corpus vocabulary comes from the retriever's BM25 index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .text import fold_title

# A quoted span: straight or curly quotes, opened after a space/bracket/start, closed before
# punctuation/space/end, so that apostrophes inside words (it's, I'm) do not open a quote.
_QUOTED = re.compile(r"""(?:^|(?<=[\s(\[]))(["'“‘])(.{3,200}?)(["'”’])(?=[\s,.;:?!)\]]|$)""")
_SENTENCE = re.compile(r"(?<=[.?!:;])\s+|\n+")
_TOKEN = re.compile(r"[^\W_][\w\-+'’]*[^\W_]|[^\W_]")  # Unicode letters and digits: TÜLU is one token
_SUFFIX = re.compile(r"(?:-(?:style|like|based|type|inspired|esque|ish|powered|driven)|'s|’s)$", re.I)
# Words about the asker, not the topic ("I'm a PhD student"): never taken as names.
_PERSONAL = {"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "hi", "hello", "thanks", "please",
             "phd", "msc", "bsc", "mba", "postdoc", "prof", "dr", "ta"}
MIN_TITLE_WORDS = 4


@dataclass
class Gaps:
    """What the question names that the corpus does not contain."""

    terms: list[str] = field(default_factory=list)  # named terms absent from every paper
    titles: list[str] = field(default_factory=list)  # quoted titles no paper has

    def __bool__(self) -> bool:
        return bool(self.terms or self.titles)

    def describe(self) -> str:
        parts = []
        if self.terms:
            names = ", ".join(self.terms)
            parts.append(f"No paper in the corpus mentions {names}.")
        for title in self.titles:
            parts.append(f"No paper titled \u201c{title}\u201d is in the corpus.")
        return " ".join(parts)


def quoted_spans(question: str) -> list[str]:
    """Text between matching quotes, e.g. titles the user names."""
    return [m.group(2).strip() for m in _QUOTED.finditer(question) if m.group(2).strip()]


def _without_quotes(question: str) -> str:
    return _QUOTED.sub(" . ", question)


def _strip(token: str) -> str:
    token = token.strip("-+'’")
    previous = None
    while previous != token:
        previous, token = token, _SUFFIX.sub("", token)
    return token


def _is_named(token: str, first_in_sentence: bool) -> bool:
    if len(token) < 2 or token.lower() in _PERSONAL:
        return False
    if any(c.isupper() for c in token[1:]):  # RoPE, DP-SGD, ALiBi, LLMs, GPT-4
        return True
    has_digit, has_alpha = any(c.isdigit() for c in token), any(c.isalpha() for c in token)
    if has_digit and has_alpha:  # t5, llama3
        return True
    return token[0].isupper() and not first_in_sentence  # Minecraft, AlphaFold mid-sentence


def _named_runs(question: str) -> list[list[str]]:
    """Per run of named tokens written together (one space apart: "Red Dead Redemption II"),
    its tokens; quoted spans left out, suffixes like ``-style`` dropped."""
    runs: list[list[str]] = []
    for sentence in _SENTENCE.split(_without_quotes(question)):
        end: int | None = None  # where this sentence's last named token ended
        for i, match in enumerate(_TOKEN.finditer(sentence)):
            token = _strip(match.group(0))
            if not (token and _is_named(token, first_in_sentence=i == 0)):
                continue
            if end is not None and sentence[end : match.start()] == " ":
                runs[-1].append(token)
            else:
                runs.append([token])
            end = match.end()
    return runs


def named_terms(question: str) -> list[str]:
    """Proper names, acronyms and mixed-case or alphanumeric terms in the question, one token
    each (see :func:`name_phrases` for names of several words).

    Quoted spans are left out (see :func:`missing_titles`); a capitalised word that starts a
    sentence is not taken as a name; suffixes like ``-style`` are dropped.
    """
    seen: dict[str, str] = {}
    for token in (t for run in _named_runs(question) for t in run):
        seen.setdefault(token.lower(), token)
    return list(seen.values())


def name_phrases(question: str) -> list[str]:
    """The question's names as written: adjacent named tokens form one ("Action Genome",
    "Red Dead Redemption II"), so a source that has only one of the words ("Visual Genome")
    does not contain the name."""
    return list(dict.fromkeys(" ".join(run) for run in _named_runs(question)))


def unknown_terms(terms: Iterable[str], tokenize: Callable[[str], list[str]], vocabulary: Callable[[str], bool]) -> list[str]:
    """Terms with a token that occurs in no paper (``tokenize`` as the index does; stopwords drop out)."""
    out = []
    for term in terms:
        tokens = tokenize(term)
        if tokens and not all(vocabulary(t) for t in tokens):
            out.append(term)
    return out


def rare_matches(terms: Iterable[str], tokenize: Callable[[str], list[str]], doc_freq: Callable[[str], int | None],
                 texts: Iterable[str], limit: int) -> list[str]:
    """Terms that are rare in the corpus (their rarest word in at most ``limit`` papers) and
    that occur in one of ``texts`` (the sources), their words in order and together: the
    question names what a source is about (``Cradle``, ``Red Dead Redemption``), not a word
    every paper uses (``LLM``) nor one word of another name (``Genome`` of Visual Genome)."""
    sources = [" ".join(tokenize(t)) for t in texts]
    out = []
    for term in terms:
        tokens = tokenize(term)
        freqs = [doc_freq(t) for t in tokens]
        if not tokens or any(f is None for f in freqs) or min(f for f in freqs if f is not None) > limit:
            continue
        if any(f" {' '.join(tokens)} " in f" {source} " for source in sources):
            out.append(term)
    return out


def _title_words(text: str) -> set[str]:
    """Folded words of a title (LaTeX, case, accents and punctuation folded per word)."""
    return {w for w in (fold_title(part) for part in text.split()) if len(w) > 1}


def title_matches(quote: str, title: str, overlap: float = 0.6) -> bool:
    """A quoted title names this paper: folded containment, or most words shared (Jaccard).

    Jaccard rather than the share of the quote's words: "Attention Is All You Need" shares
    four of its five words with "SuSana Distancia is all you need: ..." and is not that paper.
    """
    q, t = fold_title(quote), fold_title(title)
    if q and (q in t or t in q):
        return True
    a, b = _title_words(quote), _title_words(title)
    return bool(a) and len(a & b) / len(a | b) >= overlap


def missing_titles(question: str, titles: Iterable[str], texts: Iterable[str] = ()) -> list[str]:
    """Quoted spans of at least four words that match none of ``titles`` nor occur in ``texts``.

    ``titles`` are the retrieved papers' titles: a title that is in the corpus and quoted
    in the question ranks among them (titles are embedded and BM25-indexed with the text).
    ``texts`` (their abstracts) let a quoted phrase from an abstract pass. Shorter quotes
    are phrases ('less is more'), not titles, and are not checked.
    """
    titles = list(titles)
    folded_texts = [fold_title(t) for t in texts]
    out = []
    for quote in quoted_spans(question):
        if len(quote.split()) < MIN_TITLE_WORDS:
            continue
        if any(title_matches(quote, t) for t in titles) or any(fold_title(quote) in t for t in folded_texts):
            continue
        out.append(quote)
    return out


def find_gaps(question: str, unknown: Callable[[list[str]], list[str]], titles: Iterable[str], texts: Iterable[str] = ()) -> Gaps:
    """Named terms no paper contains (``unknown`` asks the index) and quoted titles not retrieved."""
    return Gaps(unknown(named_terms(question)), missing_titles(question, titles, texts))
