"""``assistant library add|dismiss|read|remove|tag|note|list|export`` and ``assistant digest``.

The library is the local one (user ``""``); the app keeps one per login when it runs with auth.
Paper ids are the ones ``assistant search --json`` prints.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from .cli import EXTENSIONS, UserError, _settings, command, count_arg

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def extend(sub, common, llm_flags) -> None:  # noqa: ANN001
    p = sub.add_parser("library", help="your reading library: save, dismiss, mark read, tag, list, export")
    actions = p.add_subparsers(dest="action", required=True)
    for name, text in (("add", "save papers (optionally with --tag)"), ("dismiss", "not interested: never recommend"),
                       ("read", "mark papers as read"), ("remove", "take papers out of the library")):
        a = actions.add_parser(name, help=text)
        a.add_argument("paper_ids", nargs="+", metavar="PAPER_ID")
        if name == "add":
            a.add_argument("--tag", action="append", default=[], help="tag the saved papers (repeatable)")
        common(a)
    a = actions.add_parser("tag", help="add (or with --remove, take off) a tag on papers in the library")
    a.add_argument("paper_ids", nargs="+", metavar="PAPER_ID")
    a.add_argument("--tag", required=True)
    a.add_argument("--remove", action="store_true")
    common(a)
    a = actions.add_parser("note", help="set a note on a paper in the library")
    a.add_argument("paper_id", metavar="PAPER_ID")
    a.add_argument("text")
    common(a)
    a = actions.add_parser("list", help="the papers in the library")
    a.add_argument("--tag")
    a.add_argument("--status", choices=["saved", "read", "dismissed"])
    a.add_argument("--json", action="store_true")
    common(a)
    a = actions.add_parser("export", help="the saved and read papers as BibTeX or Markdown")
    a.add_argument("--format", choices=["bib", "md"], required=True)
    a.add_argument("--tag")
    common(a)

    p = sub.add_parser("digest", help="papers new since your last visit (or --since), ranked by your library")
    p.add_argument("--since", help="YYYY-MM-DD (default: your last digest)")
    p.add_argument("--tag")
    p.add_argument("-n", type=count_arg(50), default=5, help="number of papers (1-50)")
    p.add_argument("--json", action="store_true")
    common(p)
    llm_flags(p)


EXTENSIONS.append(extend)


def _open(args: argparse.Namespace):  # noqa: ANN202 - (settings, Library)
    from .store.library import open_library

    settings = _settings(args)
    return settings, open_library(settings)


def _titles(settings, paper_ids: list[str]) -> dict[str, str]:  # noqa: ANN001
    """id -> title of each id in the index; an unknown id is an error naming it."""
    from .store import Store

    papers = Store(settings).papers(paper_ids)
    missing = [p for p in paper_ids if p not in papers]
    if missing:
        raise UserError(f"no paper with id {', '.join(missing)} in the index (paper ids are the ones "
                        "'assistant search --json' prints)")
    return {p: papers[p].get("display_title") or papers[p].get("title", "") for p in dict.fromkeys(paper_ids)}


@command("library")
def cmd_library(args: argparse.Namespace) -> int:
    settings, library = _open(args)
    action = args.action
    if action in ("add", "dismiss", "read"):
        papers = _titles(settings, args.paper_ids)
        library.set_status(papers, {"add": "saved", "dismiss": "dismissed", "read": "read"}[action],
                           getattr(args, "tag", []))
        verb = {"add": "saved", "dismiss": "dismissed", "read": "marked read"}[action]
        print(f"{verb} {len(papers)} paper{'s' * (len(papers) != 1)} in {library.path}")
    elif action == "remove":
        print(f"removed {library.remove(args.paper_ids)} of {len(args.paper_ids)} from {library.path}")
    elif action == "tag":
        changed = library.tag(args.paper_ids, args.tag, remove=args.remove)
        print(f"{'untagged' if args.remove else 'tagged'} {changed} paper{'s' * (changed != 1)} {args.tag!r}")
    elif action == "note":
        if not library.set_note(args.paper_id, args.text):
            raise UserError(f"{args.paper_id} is not in your library: add it first")
        print(f"noted {args.paper_id}")
    elif action == "list":
        _print_list(library.entries(status=args.status, tag=args.tag), args.json, _filtered(args))
    else:
        print(export_library(settings, library, args.format, args.tag), end="")
    return 0


def _filtered(args: argparse.Namespace) -> str:
    """The list's filters in words ("tagged 'lean'"), "" when none."""
    said = [f"tagged {args.tag!r}" if args.tag else "", f"with status {args.status!r}" if args.status else ""]
    return " and ".join(s for s in said if s)


def _print_list(entries: list[Any], as_json: bool, filtered: str = "") -> None:
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        return
    if not entries and filtered:
        print(f"no paper in your library {filtered}")
    elif not entries:
        print("your library is empty: 'assistant library add PAPER_ID' saves a paper")
    for e in entries:
        tags = f"  #{' #'.join(e.tags)}" if e.tags else ""
        print(f"[{e.status:<9}] {e.title}  ({e.paper_id}){tags}")
        if e.note:
            print(f"            note: {e.note}")


def export_library(settings, library, kind: str, tag: str | None = None) -> str:  # noqa: ANN001
    """The saved and read papers (optionally one tag) as BibTeX entries or a Markdown list."""
    from .records import Reference
    from .store import Store
    from .web.export import bib_entry, join_bibtex
    from .web.render import md_text

    entries = [e for e in library.entries(tag=tag) if e.status in ("saved", "read")]
    papers = Store(settings).papers([e.paper_id for e in entries]) if entries else {}
    if kind == "bib":
        refs = [(Reference(number=i, paper_id=e.paper_id, title=e.title, page_date=papers.get(e.paper_id, {}).get(
            "page_date", ""), source=papers.get(e.paper_id, {}).get("source", ""), abstract="", evidence=[]), e)
            for i, e in enumerate(entries, 1)]
        return join_bibtex([bib_entry(ref, papers.get(e.paper_id, {})) for ref, e in refs])
    lines = [f"# My reading library{f' ({md_text(tag)})' if tag else ''}", ""]
    for e in entries:
        meta = papers.get(e.paper_id, {})
        extra = ", ".join(md_text(x) for x in (meta.get("page_date", ""), e.status, *(f"#{t}" for t in e.tags)) if x)
        lines.append(f"- **{md_text(e.title)}** ({extra})")
        if e.note:
            lines.append(f"  - {md_text(e.note)}")
    return "\n".join(lines) + "\n"


@command("digest")
def cmd_digest(args: argparse.Namespace) -> int:
    from .library import default_since
    from .service import Assistant

    if args.since and not _DATE.fullmatch(args.since):
        raise UserError(f"--since must be a date YYYY-MM-DD (got {args.since!r})")
    settings = _settings(args)
    assistant = Assistant.create(settings, load_model=settings.generation.provider != "extractive")
    if assistant.is_empty():
        raise UserError("the index is empty: run 'assistant ingest' first")
    lists = assistant.library_recommender()
    since = args.since or default_since(lists.library)
    result = lists.digest(since, n=args.n, tag=args.tag)
    if not args.since:
        lists.library.visit()
    print_list(result, args.json)
    return 0


def print_list(result, as_json: bool, out=None) -> None:  # noqa: ANN001
    """A recommendation list as ``assistant recommend`` prints it (text, or its JSON shape)."""
    out = out or sys.stdout
    if as_json:
        print(json.dumps({"interest": result.interest, "refused": result.refused,
                          "items": [vars(i) | {"abstract": None} for i in result.items],
                          "closest": [h.title for h in result.closest], "gaps": result.notice},
                         ensure_ascii=False, indent=2), file=out)
        return
    if result.notice:
        print(f"notice: {result.notice}", file=sys.stderr if result.items else out)
    for item in result.items:
        print(f"{item.rank}. {item.title} ({item.page_date or item.source})  [{item.paper_id}]", file=out)
        print(f"   why: {item.reason}", file=out)
        if item.quote:
            print(f"   \u201c{item.quote}\u201d", file=out)
