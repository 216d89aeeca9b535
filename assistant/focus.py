"""Focus: which sources the model writes from.

A question about one paper ("Which paper ...?", "In the study on ..., how many ...?", or one
that names a paper by its title's head or an acronym its abstract coins) is answered from that
paper alone, with more of its abstract: the 1.5B model otherwise writes a line about every
source it is given, citing papers the question is not about, and has no room for the
specifics asked. Every other question (topics, comparisons, lists) keeps all the sources.
The reader still sees every source in the evidence block; only the model's prompt narrows.
"""

from __future__ import annotations

import re

from .records import Reference
from .text import spaced

_KIND = r"(?:paper|work|study|article|method|system|model|dataset|benchmark|approach|framework|technique|algorithm|optimizer|variant|tool)"
# the words that describe which one ("a method for ...", "the approach to ...", "the benchmark that ...")
_DESCRIBED = r"(?:for|to|that|which|where|called|named|introduced|proposed|\w+ing)\b"
# Asking which paper: "which paper ...", "which dataset distillation paper", "is there a mixup variant ...".
_IDENTIFY = re.compile(
    rf"\b(?:which|what)\s+(?:[\w\-]+\s+){{0,3}}?{_KIND}\b(?!s)"
    rf"|\bis there (?:a|an|any)\s+(?:[\w\-]+\s+){{0,4}}?{_KIND}\b(?!s)"
    rf"|\b(?:looking for|i need|find me|point me to|name)\s+(?:a|an|the)\s+(?:[\w\-]+\s+){{0,4}}?{_KIND}\b(?!s)"
    # "There's a CLIP-based method for ...: what are its ...?" (not "there's a lot of work")
    rf"|\bthere(?:'s|\u2019s|\s+is)\s+(?:a|an|this|that)\s+(?!(?:\w+\s+)?(?:lot|lots|bunch|number|couple|few|handful|range|variety|body|series|line)\b)"
    rf"(?:[\w\-]+\s+){{0,4}}?{_KIND}\s+(?:for|that|which|where|called|named)\b"
    r"|\bwhat(?:'s|\s+is|\s+was)\s+the\s+name\s+of\b"  # "What is the name of the ... benchmark"
    # "Has someone done this for neural networks?", "Has anyone handled ...?": asking for the paper that did it
    r"|\bhas\s+(?:anyone|someone|anybody|somebody)\s+(?:\w+\s+){0,2}?"
    r"(?:done|built|shown|made|tried|studied|handled|solved|combined|proposed|managed|tested)\b"
    # "Is there work that builds ...?" (not "Is there work on ...": a topic)
    r"|\bis\s+there\s+(?:any\s+)?(?:work|research)\s+(?:that|which|where)\b",
    re.IGNORECASE)
# Asking about one paper it describes: "In the study on ...", "According to the S3FT paper", "The X paper: ...".
_ABOUT = re.compile(
    r"\b(?:in|from|according to|by)\s+the\s+(?:[\w\-'\u2019\"\u201c\u201d]+\s+){0,10}?(?:paper|study|work|article)\b(?!s)"
    r"|\bthe (?:paper|study|work) (?:that|which|on|about|introducing|proposing|where|\w+ing)\b"  # "the paper bounding ..."
    r"|\bthe\s+(?:[\w\-'\u2019\"\u201c\u201d]+\s+){1,6}?(?:paper|study)\b(?!s)"  # "the symbolic program search paper"
    r"|\bin\s+the\s+(?:benchmark|dataset)\s+(?:for|that|which|called|named|introduced|proposed)\b"  # "entries in the benchmark for"
    r"|\bthe\s+(?:framework|system|method|model|optimizer)\s+(?:called|named|introduced|proposed)\b"
    rf"|\b{_KIND}\s*:"
    r"|(?<!than )\bone\s+(?:paper|study|work)\b(?!s)(?![^?]*\b(?:another|the other)\b)",  # "one paper uses code ...: which ...?"
    re.IGNORECASE)
# A question framed by one paper from its first words ("In the study that unpacks DPO vs PPO, ...",
# "For the two-tier ensemble approach to ...: which ...", "The benchmark for checking whether ..."):
# about that paper even when it compares things inside it.
_FRAME = re.compile(r"^\W*(?:in|according to|from|for)\s+the\s+(?:[\w\-'\u2019\"\u201c\u201d]+\s+){0,3}?"
                    r"(?:paper|study|work|article)\b(?!s)"
                    r"|^\W*(?:(?:in|according to|from|for)\s+)?the\s+(?:[\w\-'\u2019\"\u201c\u201d]+\s+){0,3}?"
                    rf"(?:benchmark|dataset|approach|framework|method)\s+{_DESCRIBED}", re.IGNORECASE)
_MANY = re.compile(r"\b(?:which|what|any|some|several|other|two|three|multiple)\s+(?:[\w\-]+\s+){0,2}?(?:papers|works|studies)\b"
                   r"|\bthe (?:corpus|literature)\b", re.IGNORECASE)
MAX_NAMED = 2  # more papers named than this: the question is about all of them
# Acronyms of a field's terms: an abstract that spells one out ("large language model (LLM)") does
# not make it that paper's name ("... without calling a giant LLM" named a retrieval paper).
FIELD_ACRONYMS = frozenset("""LLM LLMs LM LMs VLM VLMs MLLM MLLMs LVLM NLP NLU NLG ML AI RL DRL CV GNN GNNs CNN
CNNs RNN RNNs GAN GANs VAE QA NER MT NMT ASR TTS RAG CoT ICL OOD SOTA API GPU""".split())
_TOKENS = re.compile(r"[\w\-²]+")


def acronyms(abstract: str) -> set[str]:
    """Names an abstract coins in parentheses: "... Minimization (UDIM)" -> {"UDIM"}."""
    return {m for m in re.findall(r"\(([A-Z][\w\-²]*[A-Z][\w\-²]*)\)", abstract) if len(m) >= 3}


def short_name(title: str) -> str:
    """A paper's short name as a question would say it: the part before the colon, in
    :func:`spaced` form (a name of fewer than 3 letters does not count)."""
    head = title.split(":", 1)[0] if ":" in title else title
    name = spaced(head)
    return name if len(name.replace(" ", "")) >= 3 else ""


def named(question: str, refs: list[Reference]) -> list[Reference]:
    """The sources the question names: by its title's head ("UDIM", "ERNIE 3.0") or by an
    acronym its abstract coins (unless the question spells it out as a term several sources use)."""
    asked = f" {spaced(question)} "
    tokens = set(_TOKENS.findall(question)) - _generic(question, refs)
    coined = _coined(refs)
    return [r for r, own in zip(refs, coined) if ((name := short_name(r.title)) and f" {name} " in asked) or own & tokens]


def _generic(question: str, refs: list[Reference]) -> set[str]:
    """Acronyms the question spells out with words two sources or more use ("adapters from
    parameter-efficient fine-tuning (PEFT)"): the user's term for a field, not a paper's name.
    "Unknown Domain Inconsistency Minimization (UDIM)", in one abstract only, still names it."""
    texts = [f" {spaced(r.abstract)} " for r in refs]
    out = set()
    for m in re.finditer(r"\(([A-Z][\w\-²]*[A-Z][\w\-²]*)\)", question):
        words = " ".join(spaced(question[: m.start()]).split()[-3:])
        if words and sum(f" {words} " in t for t in texts) >= 2:
            out.add(m.group(1))
    return out


def _coined(refs: list[Reference]) -> list[set[str]]:
    """Per source, the acronyms its abstract coins that no other source uses: "DPO", defined in
    one abstract and used in another's title, names neither; nor does a field's acronym ("LLM")."""
    used = [set(_TOKENS.findall(f"{r.title} {r.abstract}")) for r in refs]
    return [acronyms(r.abstract) - FIELD_ACRONYMS - set().union(*(u for j, u in enumerate(used) if j != i))
            for i, r in enumerate(refs)]


def about_one_paper(question: str, comparing: bool = False) -> bool:
    """True when the question asks about a single paper (and not about papers, plural); a
    comparison ("How do A and the paper on B differ?") only when it asks which paper or opens
    with the one paper it is about ("In the study that unpacks DPO vs PPO, ...")."""
    if _MANY.search(question):
        return False
    return bool(_IDENTIFY.search(question) or _FRAME.search(question) or (not comparing and _ABOUT.search(question)))


def focus(question: str, refs: list[Reference]) -> list[Reference]:
    """The sources the model writes from: the papers the question names (one or two); else the
    best source for a question about one paper; else all of them."""
    from .compare import is_compare

    if not refs:
        return refs
    hit = named(question, refs)
    comparing = is_compare(question)
    if len(hit) == MAX_NAMED or (len(hit) == 1 and not comparing):
        return hit
    if about_one_paper(question, comparing):
        return hit or refs[:1]
    return refs
