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

SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".html", ".htm", ".jsonl.gz", ".json.gz", ".csv.gz", ".txt.gz",
            ".html.gz")
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
    arxiv_id: str = ""
    upvotes: int = 0


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
    head = text.lstrip()[:1]
    if name.endswith((".html", ".htm")) or head == "<":
        return "html"
    if head == "[":  # a saved Daily Papers API response: one JSON list
        return "api"
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


# ---------------------------------------------------------------- Daily Papers API and HTML

_ARXIV = re.compile(r"^\d{4}\.\d{4,5}$|^[a-z-]+(?:\.[A-Z]{2})?/\d{7}$")


def api_entry(item: object, source: str, line: int, page_date: str = "") -> RawEntry | Skipped:
    """One entry of ``GET /api/daily_papers``: ``{"title", "publishedAt", "paper": {"id",
    "title", "summary", "authors": [{"name"}], "publishedAt", "upvotes"}}``."""
    if not isinstance(item, dict):
        return Skipped(source, "not a JSON object", line)
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    title = " ".join(str(paper.get("title") or item.get("title") or "").split())
    abstract = " ".join(str(paper.get("summary") or item.get("summary") or "").split())
    arxiv_id = str(paper.get("id") or "").strip()
    if not title:
        return Skipped(source, "missing title", line)
    if not abstract:
        return Skipped(source, f"missing abstract for {title[:60]!r}", line)
    if arxiv_id and not _ARXIV.match(arxiv_id):
        return Skipped(source, f"not an arXiv id {arxiv_id[:40]!r} for {title[:60]!r}", line)
    authors = [a.get("name", "") if isinstance(a, dict) else str(a) for a in paper.get("authors") or []]
    date = page_date or str(item.get("publishedAt") or paper.get("publishedAt") or "")[:10]
    upvotes = paper.get("upvotes", item.get("upvotes", 0))
    return RawEntry(
        title, abstract, source, line, page_date=date, ext_id=arxiv_id, arxiv_id=arxiv_id,
        authors=", ".join(a.strip() for a in authors if a and a.strip()),
        year=str(paper.get("publishedAt") or "")[:4],
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else "",
        upvotes=upvotes if isinstance(upvotes, int) and upvotes >= 0 else 0,
    )


def parse_api(text: str, source: str, page_date: str = "") -> tuple[list[RawEntry], list[Skipped]]:
    """A Daily Papers API response (a JSON list); ``page_date`` is the date it was asked
    for (a saved file: each entry's ``publishedAt`` day)."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"not a Daily Papers API response: bad JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(rows, dict):
        rows = rows.get("dailyPapers", rows.get("papers"))
    if not isinstance(rows, list):
        raise CorpusError("not a Daily Papers API response: expected a JSON list of papers")
    return _split(api_entry(row, source, n, page_date) for n, row in enumerate(rows, 1))


def _split(items: Iterable[RawEntry | Skipped]) -> tuple[list[RawEntry], list[Skipped]]:
    entries: list[RawEntry] = []
    skipped: list[Skipped] = []
    for item in items:
        (skipped if isinstance(item, Skipped) else entries).append(item)  # type: ignore[arg-type]
    return entries, skipped


_PROPS = re.compile(r"""data-props=(["'])(.*?)\1""", re.S)


def parse_html(text: str, source: str) -> tuple[list[RawEntry], list[Skipped]]:
    """A saved huggingface.co/papers page: its listing is the JSON in a ``data-props``
    attribute (``{"dailyPapers": [...], "date": ...}``), the same entries as the API."""
    import html

    for match in _PROPS.finditer(text):
        try:
            props = json.loads(html.unescape(match.group(2)))
        except json.JSONDecodeError:
            continue
        rows = props.get("dailyPapers") if isinstance(props, dict) else None
        if isinstance(rows, list):
            date = str(props.get("date") or "")[:10]
            return _split(api_entry(row, source, n, date) for n, row in enumerate(rows, 1))
    raise CorpusError("an HTML page without a Daily Papers listing (no data-props with dailyPapers)")


PARSERS = {"daily": parse_daily, "jsonl": parse_jsonl, "csv": parse_csv, "api": parse_api, "html": parse_html}


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
        arxiv_id=entry.arxiv_id,
        upvotes=entry.upvotes,
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
    extra = {"arxiv_id": paper.arxiv_id or entry.arxiv_id, "upvotes": max(paper.upvotes, entry.upvotes),
             "url": paper.url or entry.url, "authors": paper.authors or entry.authors}
    return replace(paper, appearances=appearances, aliases=aliases, abstract=abstract, **extra)


def dedupe(entries: Iterable[RawEntry]) -> list[Paper]:
    """One paper per external id and per folded title: an entry with an id (a Daily Papers
    API entry) and one without (a scraped page) of the same title are one paper."""
    papers: dict[str, Paper] = {}
    keys: dict[str, str] = {}  # "id:<ext id>" and "title:<folded>" -> key in papers
    idless: set[str] = set()  # papers first seen without an id: any entry of their title joins them
    for entry in entries:
        by_title = f"title:{fold_title(entry.title)}"
        key = keys.get(f"id:{entry.ext_id}") if entry.ext_id else None
        if key is None and by_title in keys and (not entry.ext_id or keys[by_title] in idless):
            key = keys[by_title]
        if key is None:
            key = f"id:{entry.ext_id}" if entry.ext_id else by_title
            idless |= set() if entry.ext_id else {key}
        papers[key] = _merge(papers[key], entry) if key in papers else _paper_from(entry)
        for name in ([f"id:{entry.ext_id}"] if entry.ext_id else []) + [by_title]:
            keys.setdefault(name, key)
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


# ---------------------------------------------------------------- papers already stored


def stored_keys(records: dict[str, dict]) -> dict[str, str]:
    """"id:<arXiv id or paper id>" and "title:<folded title or alias>" -> stored paper id,
    from each stored paper's metadata (``Store`` chunk metadata: title, aliases, arxiv_id)."""
    keys: dict[str, str] = {}
    for pid, meta in records.items():
        names = [f"id:{pid}"] + ([f"id:{meta['arxiv_id']}"] if meta.get("arxiv_id") else [])
        titles = [meta.get("title", ""), *str(meta.get("aliases") or "").split("\n")]
        names += [f"title:{fold_title(t)}" for t in titles if t]
        for name in names:
            keys.setdefault(name, pid)
    return keys


def match_stored(paper: Paper, keys: dict[str, str], records: dict[str, dict]) -> str:
    """The stored paper this one is ('' when none): same arXiv id or paper id, else the same
    folded title unless both carry different arXiv ids."""
    for name in ([f"id:{paper.arxiv_id}"] if paper.arxiv_id else []) + [f"id:{paper.paper_id}"]:
        if name in keys:
            return keys[name]
    for title in (paper.title, *paper.aliases):
        pid = keys.get(f"title:{fold_title(title)}", "")
        other = records.get(pid, {}).get("arxiv_id", "")
        if pid and not (other and paper.arxiv_id and other != paper.arxiv_id):
            return pid
    return ""


def keeps_stored_text(paper: Paper, record: dict) -> bool:
    """Whether the stored title and abstract stay: they are replaced only by a copy from the
    source they came from (``record["source"]``), or when neither side has an arXiv id (a
    scraped page ingested again). A Daily Papers entry of a paper first stored from a scraped
    page adds its id, URL and upvotes and is not re-embedded; the next listing of a paper
    stored from the API replaces a changed summary."""
    if paper.source == record.get("source") or not (paper.arxiv_id or record.get("arxiv_id")):
        return False
    return True


def merge_stored(paper: Paper, record: dict) -> Paper:
    """``paper`` under the stored paper's id, with every stored appearance and alias kept, and
    the stored text where :func:`keeps_stored_text` (``record`` then carries "abstract")."""
    appearances = tuple(dict.fromkeys([*str(record.get("appearances") or "").split(";"), *paper.appearances]))
    text = {} if not keeps_stored_text(paper, record) or "abstract" not in record else {
        "title": record["title"], "display_title": record.get("display_title") or clean_latex(record["title"]),
        "abstract": record["abstract"]}
    title = text.get("title", paper.title)
    aliases = [*str(record.get("aliases") or "").split("\n"), *paper.aliases, paper.title, record.get("title", "")]
    return replace(
        paper, paper_id=record.get("paper_id") or paper.paper_id, **text,
        source=record.get("source") or paper.source, page_date=record.get("page_date") or paper.page_date,
        appearances=tuple(a for a in appearances if a),
        aliases=tuple(dict.fromkeys(a for a in aliases if a and a != title)),
        arxiv_id=paper.arxiv_id or record.get("arxiv_id", ""),
        upvotes=max(paper.upvotes, int(record.get("upvotes") or 0)),  # an older listing has fewer
        url=paper.url or record.get("url", ""), authors=paper.authors or record.get("authors", ""),
    )


# ---------------------------------------------------------------- chunks
