"""Small text utilities shared by the stages: LaTeX cleaning, title folding, sentences."""

from __future__ import annotations

import re
import unicodedata

_ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303"}
_SUPERSCRIPT = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η",
    "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "phi": "φ", "omega": "ω", "ell": "ℓ", "times": "×", "leq": "≤", "geq": "≥",
}


def _accent(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFC", match.group(2) + _ACCENTS[match.group(1)])


def _script(match: re.Match[str]) -> str:
    body = match.group(2)
    table = _SUPERSCRIPT if match.group(1) == "^" else _SUBSCRIPT
    translated = body.translate(table)
    return translated if translated != body else match.group(1) + body


def clean_latex(text: str) -> str:
    """LaTeX debris to readable Unicode text: ``T\\"ULU`` -> ``TÜLU``, ``\\%`` -> ``%``."""
    out = re.sub(r'\\(["\'`^~])\{?([A-Za-z])\}?', _accent, text)
    out = re.sub(r"\\([%&_#$])", r"\1", out)
    out = re.sub(r"\\(?:textbf|textit|emph|mathrm|mathbf|mathcal|text|texttt|textsc)\{([^{}]*)\}", r"\1", out)
    out = re.sub(r"\\([a-zA-Z]+)", lambda m: _GREEK.get(m.group(1), m.group(1)), out)
    out = re.sub(r"([\^_])\{([^{}]*)\}", _script, out)
    out = re.sub(r"\{([^{}]*)\}", r"\1", out)
    out = out.replace("$", "")
    return re.sub(r"[ \t]+", " ", out).strip()


def fold_title(title: str) -> str:
    """The de-duplication key: LaTeX, case, accents, punctuation and spacing folded."""
    text = unicodedata.normalize("NFKD", clean_latex(title))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉", "01234567890123456789"))
    return re.sub(r"[^a-z0-9]+", "", text.lower())


_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|eg|ie|et al|vs|cf|Fig|Eq|Sec|Tab|approx|resp|etc|No|Dr|Mr|Ms)\.|\b[A-Z]\.)$"
)
_BOUNDARY = re.compile(r"[.!?](?:[\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9$\\])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text`` (abbreviation-aware)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        head = text[start : match.start() + 1]
        if _ABBREV.search(head):
            continue
        end = match.end()
        spans.append(_trim(text, start, end))
        start = end
    if start < len(text) and text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return [s for s in spans if s[1] > s[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-+.]*[A-Za-z0-9]|[A-Za-z0-9]")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def spaced(text: str) -> str:
    """Lower-case words joined by single spaces, accents dropped, for whole-word matching
    ("ERNIE 3.0" -> "ernie 3 0", "TÜLU 3" -> "tulu 3")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"[^\W_]+", text.lower()))
