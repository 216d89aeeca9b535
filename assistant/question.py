"""The one check every question goes through before any tokenizer sees it."""

from __future__ import annotations

import re
import unicodedata

# Control characters except tab and newline; lone surrogates (from a broken client or
# invalid UTF-8 decoded with surrogateescape) are handled separately.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t]+")


class QuestionError(ValueError):
    """An empty, garbled or over-long question; the message is for the user."""


def sanitise(text: str) -> str:
    """NFC text without control characters or lone surrogates, runs of spaces collapsed."""
    text = _SURROGATE.sub("\ufffd", str(text))
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def check_question(text: str | None, limit: int) -> str:
    """The question, sanitised; raises QuestionError when there is none or it is too long."""
    raw = "" if text is None else str(text)
    if len(raw) > 4 * limit:  # do not normalise megabytes to say it is too long
        raise QuestionError(f"The question is {len(raw):,} characters long; the limit is {limit:,}.")
    cleaned = sanitise(raw)
    if not cleaned.replace("\ufffd", "").strip():
        raise QuestionError("Please type a question.")
    if len(cleaned) > limit:
        raise QuestionError(f"The question is {len(cleaned):,} characters long; the limit is {limit:,}.")
    return cleaned
