"""The corpus: Daily Papers pages, JSONL and CSV files (gzip too) -> de-duplicated papers.

Pure parsing: files in, typed :class:`Paper` records and :class:`Skipped` reasons out;
nothing is embedded or stored here (see :mod:`assistant.ingest`)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .records import LoadReport, Paper, Skipped
from .text import clean_latex, fold_title

SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".jsonl.gz", ".json.gz", ".csv.gz", ".txt.gz")
_DATE = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(, ?\d{4})?$"
)
MAX_TITLE = 400
MIN_ABSTRACT = 120


class CorpusError(ValueError):
    """A file that yields no paper, with the reason."""


@dataclass(frozen=True)
class RawEntry:
    title: str
    abstract: str
    source: str
    line: int
    page_date: str = ""
    ext_id: str = ""
    authors: str = ""
    year: str = ""
    venue: str = ""
    url: str = ""


# ---------------------------------------------------------------- files


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Corpus files under the given paths (directories are searched, sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and _has_suffix(p))
        else:
            found.append(path)
    return found


def _has_suffix(path: Path) -> bool:
    return any(path.name.lower().endswith(s) for s in SUFFIXES)


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise CorpusError(f"corrupt gzip file ({exc})") from exc
    if not data.strip():
        raise CorpusError("empty file")
    if b"\x00" in data[:4096]:
        raise CorpusError("binary file (not text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not UTF-8 text (byte {exc.start})") from exc


def _format_of(path: Path, text: str) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if text.lstrip().startswith("{"):
        return "jsonl"
    return "daily"


# ---------------------------------------------------------------- parsers


def parse_daily(text: str, source: str) -> tuple[list[RawEntry], list[Skipped]]:
    """A Daily Papers page: header lines, a date, then title / blank / abstract blocks."""
    lines = [(n + 1, line.strip()) for n, line in enumerate(text.splitlines())]
    nonblank = [(n, line) for n, line in lines if line]
    date, body = _split_header(nonblank)
    entries: list[RawEntry] = []
    skipped: list[Skipped] = []
    i = 0
    while i < len(body):
        n, title = body[i]
        if len(title) > MAX_TITLE:
            skipped.append(Skipped(source, "abstract without a title", n))
            i += 1
            continue
        if i + 1 >= len(body):
            skipped.append(Skipped(source, f"truncated entry {title[:60]!r}: no abstract", n))
            break
        _, abstract = body[i + 1]
        nxt = body[i + 2][1] if i + 2 < len(body) else ""
        if len(abstract) < MIN_ABSTRACT and len(nxt) >= MIN_ABSTRACT:
            skipped.append(Skipped(source, f"missing abstract for {title[:60]!r}", n))
            i += 1
            continue
        entries.append(RawEntry(title, abstract, source, n, page_date=date))
        i += 2
    return entries, skipped


def _split_header(nonblank: list[tuple[int, str]]) -> tuple[str, list[tuple[int, str]]]:
    for idx, (_, line) in enumerate(nonblank[:12]):
        if _DATE.match(line):
            return line, nonblank[idx + 1 :]
    return "", nonblank


_ALIASES = {"abstract": ("abstract", "text", "summary"), "title": ("title", "name")}


def _field(row: dict, names: tuple[str, ...]) -> str:
    for name in names:
        value = row.get(name)
        if value not in (None, ""):
            return _as_text(value)
    return ""


def _as_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value).strip()


def _entry_from_row(row: dict, source: str, line: int) -> RawEntry | Skipped:
    if not isinstance(row, dict):
        return Skipped(source, "not a JSON object", line)
    for key in ("title", "abstract"):
        kind = next((type(row[n]).__name__ for n in _ALIASES[key] if row.get(n) not in (None, "")), "")
        if kind and kind != "str":
            return Skipped(source, f"{key} is not text (a JSON {kind})", line)
    title = _field(row, _ALIASES["title"])
    abstract = _field(row, _ALIASES["abstract"])
    if not title:
        return Skipped(source, "missing title", line)
    if not abstract:
        return Skipped(source, f"missing abstract for {title[:60]!r}", line)
    return RawEntry(
        title, abstract, source, line,
        page_date=_field(row, ("page_date", "date")),
        ext_id=_field(row, ("id", "_id", "paper_id")),
        authors=_field(row, ("authors",)),
        year=_field(row, ("year",)),
        venue=_field(row, ("venue",)),
        url=_field(row, ("url",)),
    )


def parse_jsonl(text: str, source: str) -> tuple[list[RawEntry], list[Skipped]]:
    entries: list[RawEntry] = []
    skipped: list[Skipped] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(source, f"bad JSON ({exc.msg})", n))
            continue
        item = _entry_from_row(row, source, n)
        (skipped if isinstance(item, Skipped) else entries).append(item)  # type: ignore[arg-type]
    return entries, skipped


def parse_csv(text: str, source: str) -> tuple[list[RawEntry], list[Skipped]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "title" not in [f.strip().lower() for f in reader.fieldnames]:
        raise CorpusError("CSV needs a header with 'title' and 'abstract' columns")
    entries: list[RawEntry] = []
    skipped: list[Skipped] = []
    for row in reader:
        row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        item = _entry_from_row(row, source, reader.line_num)
        (skipped if isinstance(item, Skipped) else entries).append(item)  # type: ignore[arg-type]
    return entries, skipped


PARSERS = {"daily": parse_daily, "jsonl": parse_jsonl, "csv": parse_csv}


def parse_file(path: Path) -> tuple[list[RawEntry], list[Skipped]]:
    """Entries of one file; raises CorpusError when it yields none."""
    text = read_text(path)
    entries, skipped = PARSERS[_format_of(path, text)](text, path.name)
    if not entries:
        raise CorpusError("no parsable paper" + (f" ({skipped[0].reason})" if skipped else ""))
    return entries, skipped


# ---------------------------------------------------------------- papers


def paper_id_for(entry: RawEntry) -> str:
    if entry.ext_id:
        return entry.ext_id
    return hashlib.sha1(fold_title(entry.title).encode()).hexdigest()[:12]


def _paper_from(entry: RawEntry) -> Paper:
    where = f"{entry.source}|{entry.page_date}"
    return Paper(
        paper_id=paper_id_for(entry),
        title=entry.title,
        display_title=clean_latex(entry.title),
        abstract=clean_latex(entry.abstract),
        source=entry.source,
        page_date=entry.page_date,
        appearances=(where,),
        authors=entry.authors,
        year=entry.year,
        venue=entry.venue,
        url=entry.url,
    )


def _merge(paper: Paper, entry: RawEntry) -> Paper:
    where = f"{entry.source}|{entry.page_date}"
    appearances = paper.appearances + ((where,) if where not in paper.appearances else ())
    aliases = paper.aliases
    if entry.title != paper.title and entry.title not in aliases:
        aliases += (entry.title,)
    abstract = paper.abstract
    cleaned = clean_latex(entry.abstract)
    if len(cleaned) > len(abstract):  # keep the fuller copy
        abstract = cleaned
    return replace(paper, appearances=appearances, aliases=aliases, abstract=abstract)


def dedupe(entries: Iterable[RawEntry]) -> list[Paper]:
    """One paper per folded title (or per external id when the corpus gives ids)."""
    papers: dict[str, Paper] = {}
    for entry in entries:
        key = entry.ext_id or fold_title(entry.title)
        papers[key] = _merge(papers[key], entry) if key in papers else _paper_from(entry)
    return list(papers.values())


def load_corpus(paths: Iterable[Path]) -> LoadReport:
    """Parse every file; bad files are reported and skipped, good ones kept."""
    report = LoadReport()
    entries: list[RawEntry] = []
    for path in find_files(paths):
        report.files += 1
        try:
            found, skipped = parse_file(path)
        except (CorpusError, OSError) as exc:
            report.skipped.append(Skipped(str(path), str(exc)))
            continue
        entries += found
        report.skipped += skipped
    report.entries = len(entries)
    report.papers = dedupe(entries)
    return report


# ---------------------------------------------------------------- chunks
