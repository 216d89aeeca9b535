"""An answer as a Markdown document or its papers as BibTeX (the app's Export tab, ``assistant ask --export``).

Corpus and model text is escaped for each format; BibTeX entries hold only what the corpus
has (no invented authors, years or venues).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..records import Answer, Reference
from .render import md_text, plain, safe_markdown


def to_markdown(answer: Answer) -> str:
    """The answer and its references as a Markdown document (corpus text escaped)."""
    numbers = {r.number for r in answer.references}
    lines = [f"# {md_text(answer.question)}", ""]
    lines += [safe_markdown(answer.text, numbers, link=False), ""]
    if answer.notice:
        lines += [f"> Notice: {md_text(answer.notice)}", ""]
    shown = answer.cited_references or answer.references
    if shown:
        lines += ["## References" if answer.cited_references else "## Closest papers (not cited)", ""]
        for ref in shown:
            meta = ", ".join(md_text(x) for x in (ref.page_date, ref.source) if x)
            lines.append(f"{ref.number}. \\[{ref.number}\\] **{md_text(ref.title)}**" + (f" ({meta})" if meta else ""))
            for sentence in ref.evidence:
                lines.append(f"   > {md_text(sentence)}")
        lines.append("")
    if answer.support:
        lines += ["## Citation check", ""]
        for s in answer.support:
            mark = "✓" if s.supported else "✗"
            cites = "".join(f"\\[{n}\\]" for n in s.citations)
            why = f"({'dropped from the answer: ' if s.dropped else ''}{md_text(s.reason)})" if s.reason else ""
            lines.append(" ".join(x for x in (f"- {mark}", md_text(plain(s.text)), cites, why) if x))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_BIB_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
    "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_STOP = {"a", "an", "the", "on", "of", "for", "and", "to", "in", "with", "towards", "toward", "is", "are", "can",
         "do", "does", "what", "where", "when", "how", "why", "which", "who"}


def bib_escape(text: str) -> str:
    return "".join(_BIB_SPECIAL.get(c, c) for c in " ".join(str(text).split()))


def bib_key(ref: Reference, year: str = "") -> str:
    words = re.findall(r"[A-Za-z0-9]+", ref.title)
    first = next((w.lower() for w in words if w.lower() not in _STOP), "paper")
    tail = re.sub(r"[^A-Za-z0-9]", "", ref.paper_id)[:8] or str(ref.number)
    return f"{first}{year}_{tail}"


def bib_entry(ref: Reference, meta: dict[str, Any]) -> str:
    """One ``@misc`` entry: the title, and only the other fields the corpus entry has."""
    year = str(meta.get("year") or "").strip()
    if not _YEAR.fullmatch(year):
        found = _YEAR.search(ref.page_date or "")
        year = found.group(1) if found else ""
    fields = [("title", ref.title)]
    if meta.get("authors"):
        fields.append(("author", " and ".join(a.strip() for a in str(meta["authors"]).split(",") if a.strip())))
    if year:
        fields.append(("year", year))
    if meta.get("venue"):
        fields.append(("howpublished", str(meta["venue"])))
    if meta.get("url") and re.match(r"https?://", str(meta["url"])):
        fields.append(("url", str(meta["url"])))
    source = ref.source or meta.get("source", "")
    if source:
        note = f"Abstract from {source}" + (f", page date {ref.page_date}" if ref.page_date else "")
        fields.append(("note", note))
    body = ",\n".join(f"  {name} = {{{bib_escape(value)}}}" for name, value in fields)
    return f"@misc{{{bib_key(ref, year)},\n{body}\n}}"


def bib_entries(answer: Answer, metadata: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The entries of the cited papers (or of all shown, when none is cited)."""
    metadata = metadata or {}
    return [bib_entry(ref, metadata.get(ref.paper_id, {})) for ref in answer.cited_references or answer.references]


def to_bibtex(answer: Answer, metadata: dict[str, dict[str, Any]] | None = None) -> str:
    """``@misc`` entries for the cited papers (or all shown): only fields the corpus has.

    ``title``; ``author``, ``year``, ``howpublished`` (venue) and ``url`` only when the corpus
    entry has them (a year is taken from the page date only if it contains one: Daily Papers
    dates such as "Mar 13" have none, so no year is written); the abstract's source file as ``note``.
    """
    return join_bibtex(bib_entries(answer, metadata))


def join_bibtex(entries: list[str]) -> str:
    return "\n\n".join(entries) + ("\n" if entries else "")


_EXPORTS: dict[str, Path] = {}


def write_exports(answer: Answer, metadata: dict[str, dict[str, Any]] | None = None,
                  keep_s: float = 3600.0) -> list[str]:
    """answer.md and references.bib in a fresh folder (exports older than ``keep_s`` are removed;
    the process's export folder goes when it exits)."""
    root = _EXPORTS.get("root")
    if root is None or not root.exists():
        root = _EXPORTS["root"] = Path(tempfile.mkdtemp(prefix="paper-assistant-exports-"))
        atexit.register(shutil.rmtree, root, True)
    now = time.time()
    for old in root.iterdir():
        if now - old.stat().st_mtime > keep_s:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=root))
    md = folder / "answer.md"
    bib = folder / "references.bib"
    md.write_text(to_markdown(answer), encoding="utf-8")
    bib.write_text(to_bibtex(answer, metadata), encoding="utf-8")
    return [str(md), str(bib)]
