"""Compare questions ("A and B both ...: how does each ...?") answered as a small table: one row
per paper compared, one column per aspect (what it does, what it reports), each cell a sentence
quoted from that paper's abstract with its ``[n]``. Cells are verbatim, so every one is
supported; the model's synthesis (if any) is written under the table.

The papers are those the question names (a title's name before its colon, e.g. "UDIM", or a
quoted title), else the best two sources (three when the question says "three"). Cells come
from the stored sentence vectors: one query embedding per aspect (the question plus the
aspect), the closest sentence of each paper, a sentence used at most once per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .focus import named as named_in
from .records import Reference

# "compared with humans", "compared to the baseline" or "how did it compare with earlier methods"
# is a result, not a comparison of papers
_AGAINST_BASELINES = (r"(?!\s+(?:with|to|against)\s+(?:the\s+)?(?:earlier|prior|previous|existing|other|older|"
                      r"baselines?|standard|conventional|state[- ]of[- ]the[- ]art|sota|humans?)\b)")
_COMPARE = re.compile(rf"\b(compare[sd]?(?<!compared){_AGAINST_BASELINES}|comparison|differ(?:s|ences?|ent|ently)?|versus|vs\.?|contrast|"
                      r"each (?:one|paper|of them|approach|method)?|both)\b", re.IGNORECASE)
ASPECTS: dict[str, str] = {
    "What it does": "the method or approach this paper proposes and how it works",
    "What it reports": "the results, findings or numbers this paper reports",
}


@dataclass
class CompareTable:
    aspects: list[str]
    rows: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)  # (number, title, aspect -> quote)

    def markdown(self, escape: Callable[[str], str] = lambda s: s.replace("|", "\\|"),
                 cite: Callable[[int], str] = lambda n: f"[{n}]") -> str:
        """A Markdown table; ``escape`` makes corpus text safe where it is shown (it must escape
        ``|``), ``cite`` writes a marker."""
        head = "| Paper | " + " | ".join(self.aspects) + " |"
        lines = [head, "|" + "---|" * (len(self.aspects) + 1)]
        for number, title, cells in self.rows:
            quoted = [f"\u201c{_cell(escape(cells[a]))}\u201d {cite(number)}" if cells.get(a) else "" for a in self.aspects]
            lines.append(f"| {_cell(escape(title))} {cite(number)} | " + " | ".join(quoted) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"aspects": self.aspects, "rows": [{"number": n, "title": t, "cells": c} for n, t, c in self.rows]}


def _cell(text: str) -> str:
    return " ".join(text.split())


def is_compare(question: str) -> bool:
    return bool(_COMPARE.search(question or ""))


def compared(question: str, refs: list[Reference]) -> list[Reference]:
    """The sources the question compares: those it names, else the best two (three if it says so)."""
    named = named_in(question, refs)
    if len(named) < 2:
        want = 3 if re.search(r"\b(three|3)\b", question, re.IGNORECASE) else 2
        named = (named + [r for r in refs if r not in named])[:want]
    return sorted(named, key=lambda r: r.number)


def compare_table(question: str, refs: list[Reference], sentences: dict[str, Any],
                  embed: Callable[[list[str]], np.ndarray]) -> CompareTable | None:
    """The table for a compare question, or None when fewer than two sources have sentences.
    ``sentences``: paper id -> stored sentences (``EvidenceBuilder.sentence_table``)."""
    rows = [r for r in compared(question, refs) if r.paper_id in sentences]
    if len(rows) < 2:
        return None
    queries = embed([f"{question} {hint}" for hint in ASPECTS.values()])
    table = CompareTable(list(ASPECTS))
    for ref in rows:
        stored = sentences[ref.paper_id]
        sims = np.asarray(stored.vectors, dtype=np.float32) @ np.asarray(queries, dtype=np.float32).T
        used: set[int] = set()
        cells: dict[str, str] = {}
        for col, aspect in enumerate(ASPECTS):
            order = [i for i in np.argsort(-sims[:, col]).tolist() if i not in used]
            if order:
                used.add(order[0])
                cells[aspect] = stored.texts[order[0]]
        table.rows.append((ref.number, ref.title, cells))
    return table
