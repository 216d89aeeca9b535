"""Details asked of a paper that its abstract does not give.

The corpus holds each paper's title and abstract (and, from some sources, its authors and
venue): hyperparameters, hardware or code only where an abstract says them. Asked "What
learning rate did TÜLU 3 use?", the 1.5B model restates the abstract or invents a number, and
the reader cannot tell which. So the answer says plainly which asked details the papers it is
written from do not mention.

A detail counts as mentioned when a source has a word that would state it (a GPU count needs
"GPU", a learning rate "learning rate"): the note says what the text does not contain, which
is checkable, not what the paper did. Pure functions; the chain adds the note
(assistant/chain.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import spaced

_FLAGS = re.IGNORECASE


@dataclass(frozen=True)
class Detail:
    """One kind of detail: how a question asks for it, and the words an abstract would give it with."""

    label: str  # as the note names it: "the learning rate"
    asked: re.Pattern[str]
    given: re.Pattern[str]
    terms: re.Pattern[str] | None = None  # the question's words for it that a gap check may take as names ("GPUs")


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _FLAGS)


_COMPUTE_TERMS = r"\b(?:GPU-hours?|GPUs?|TPUs?|A100s?|H100s?|V100s?|FLOPs?)\b"  # longest first: "GPU-hours"
_HARDWARE = (r"\b(?:GPU-hours?|GPUs?|TPUs?|CPUs?|FPGAs?|A100s?|H100s?|V100s?|A6000s?|RTX|Jetson|NVIDIA|FLOPs?|hours?|days?"
             r"|compute|hardware|wall[- ]?clock|accelerators?)\b")
_TRAINING_WORDS = r"\b(?:learning[- ]rates?|batch(?:es|[- ]sizes?)?|epochs?|hyper-?parameters?|warm-?up|weight[- ]decay)\b|=\s*\d"
DETAILS: tuple[Detail, ...] = (
    Detail("the authors or their affiliations",
           _re(r"\bwho\s+(?:wrote|authored|are\s+the\s+authors|is\s+the\s+author|were\s+the\s+authors|proposed|introduced"
               r"|developed|created)\b|\b(?:names?\s+of\s+the\s+authors|the\s+authors'\s+names|author\s+list"
               r"|list\s+(?:of\s+)?the\s+authors|affiliations?)\b"
               r"|\b(?:which|what)\s+(?:labs?|universit(?:y|ies)|institutions?)\s+(?:is|was|are|were)\s+behind\b"),
           _re(r"\bAuthors:\s*\S|\buniversit(?:y|ies)\b|\binstitute\b|\blaborator(?:y|ies)\b")),
    Detail("where it was published",
           _re(r"\bwhere\s+(?:was|is|were|did)\b[^?.]{0,40}\b(?:published|appear)\b"
               r"|\b(?:which|what)\s+(?:conference|venue|journal|workshop)\b"
               r"|\bpublished\s+(?:at|in)\s+(?:which|what)\b|\bpublication\s+venue\b|\baccepted\s+(?:at|to|by)\b"),
           _re(r"\bVenue:\s*\S|\b(?:conference|journal|workshop|proceedings|accepted|published\s+in|to\s+appear|ICLR|NeurIPS"
               r"|ICML|CVPR|ICCV|ECCV|ACL|EMNLP|NAACL|COLM|AAAI|IJCAI|KDD|SIGIR|TMLR|JMLR|Nature|Science)\b")),
    Detail("whether code is released",
           _re(r"\b(?:code|source\s+code|implementation|weights|checkpoints?)\b[^?.]{0,40}"
               r"\b(?:available|released?|open[- ]?sourced?|public|publicly|download|github)\b"
               r"|\bis\s+there\s+(?:any\s+)?(?:code|an?\s+implementation)\b|\bopen[- ]?sourced?\s+(?:the\s+)?(?:code|it)\b"),
           _re(r"github|gitlab|huggingface\.co|\bcode\b|open[- ]?sourc|\breleas|publicly\s+available|available\s+at|https?://")),
    Detail("the hardware or compute used",
           _re(rf"{_COMPUTE_TERMS}|\b(?:hardware|compute\s+budget"
               r"|how\s+(?:long|much\s+time)\b[^?.]{0,30}\btrain|how\s+much\s+compute|what\s+(?:was|is)\s+the\s+training\s+(?:time|cost))"),
           _re(_HARDWARE), _re(_COMPUTE_TERMS)),
    Detail("the learning rate", _re(r"\blearning[- ]rates?\b"), _re(r"\blearning[- ]rates?\b")),
    Detail("the batch size", _re(r"\bbatch[- ]sizes?\b"), _re(r"\bbatch(?:es|[- ]sizes?)?\b")),
    Detail("the number of epochs", _re(r"\b(?:how\s+many|number\s+of)\s+(?:training\s+)?epochs\b"), _re(r"\bepochs?\b")),
    Detail("its hyperparameters", _re(r"\bhyper-?parameters?\b"), _re(_TRAINING_WORDS)),
    Detail("its license", _re(r"\blicen[cs](?:e|es|ed|ing)\b"), _re(r"\blicen[cs]")),
)


def asked_details(question: str) -> list[Detail]:
    """The details the question asks for, in :data:`DETAILS` order."""
    return [d for d in DETAILS if d.asked.search(question)]


def missing_details(question: str, texts: list[str]) -> list[Detail]:
    """The details the question asks for that none of ``texts`` (the titles, abstracts and any
    "Authors:" / "Venue:" lines of the papers the answer is written from) has a word of."""
    return [d for d in asked_details(question) if not any(d.given.search(t) for t in texts)]


def detail_terms(question: str) -> set[str]:
    """The question's words for asked details that look like names ("GPUs", "A100"), folded: a
    gap check must not refuse a question about a paper because no abstract says "GPU"."""
    found = set()
    for detail in asked_details(question):
        if detail.terms is not None:
            found |= {spaced(m.group()) for m in detail.terms.finditer(question)}
    return found


def note(missing: list[Detail], sources: list[str]) -> str:
    """What the reader is told, of ``sources`` as the reader knows them ("[1]", or a title
    when nothing is cited): "The abstract of [1] does not mention the learning rate or the batch
    size (the corpus holds titles and abstracts, not full papers)." ('' when nothing is missing)."""
    if not missing:
        return ""
    labels = [d.label for d in missing]
    said = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"
    if len(sources) == 1:
        whose = f"The abstract of {sources[0]} does not mention"
    else:
        whose = f"None of the abstracts {', '.join(sources)} mentions" if sources else "No abstract mentions"
    return f"{whose} {said} (the corpus holds titles and abstracts, not full papers)."
