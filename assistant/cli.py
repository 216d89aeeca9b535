"""Command line: ``assistant ingest | search | stats | ask | recommend | eval | eval-beir | bench | app``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .settings import REPO_ROOT, load_settings, quiet_environment
from .settings import Settings

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def count_arg(limit: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``limit``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit} (got {value})")
        return value

    return parse


def iso_day(text: str) -> str:
    """An argparse type: a YYYY-MM-DD date."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


CREATES_INDEX = ("ingest", "eval-beir", "update")  # commands that may make a new data directory


def _settings(args: argparse.Namespace):  # noqa: ANN202
    data_dir = getattr(args, "data_dir", None)
    if data_dir and getattr(args, "command", "") not in CREATES_INDEX and not Path(data_dir).expanduser().is_dir():
        raise UserError(f"no data directory {data_dir}: check the path, or create the index there with "
                        f"'assistant ingest --data-dir {data_dir}'")
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        provider=getattr(args, "provider", None),
        chroma_host=getattr(args, "chroma_host", None),
        collection=getattr(args, "collection", None),
        model_path=getattr(args, "model_path", None),
        base_url=getattr(args, "base_url", None),
        model_name=getattr(args, "model", None),
    )


def _store(settings: Settings):  # noqa: ANN202
    from .embeddings import embeddings_for
    from .store import Store

    return Store(settings, embeddings_for(settings))


# ---------------------------------------------------------------- ingest / search / stats


@command("ingest")
def cmd_ingest(args: argparse.Namespace) -> int:
    from .corpus import load_corpus
    from .update import index_resolved  # stored papers keep their ids (a seed page and the API meet)

    settings = _settings(args)
    paths = [Path(p) for p in (args.paths or [REPO_ROOT / "seeds"])]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such file or directory: {', '.join(missing)}")
    report = load_corpus(paths)
    for skipped in report.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    print(f"read {report.files} files: {report.entries} entries -> {len(report.papers)} papers, {len(report.skipped)} skipped")
    if not report.papers:
        raise UserError("nothing to ingest: no parsable paper in the given files")
    store = _store(settings)
    summary = index_resolved(report.papers, store, settings, prune=args.prune, progress=not args.quiet)
    print(summary.line())
    return 0


def _search_rows(settings, query: str, k: int, filters) -> list[dict[str, Any]]:  # noqa: ANN001
    from .evidence import EvidenceBuilder
    from .retrieve import make_retriever

    retriever = make_retriever(settings)
    hits = retriever.search(query, k=k, filters=filters)
    builder = EvidenceBuilder(settings, retriever.store, retriever.embeddings)
    papers = retriever.store.papers([h.paper_id for h in hits])
    quotes = builder.best_quotes(builder.query_vector(query), papers)
    rows = []
    for rank, hit in enumerate(hits, 1):
        rows.append({
            "rank": rank,
            "paper_id": hit.paper_id,
            "title": hit.title,
            "display_title": hit.display_title,
            "page_date": hit.metadata.get("page_date", ""),
            "source": hit.metadata.get("source", ""),
            "score": round(hit.score, 5),
            "similarity": round(hit.dense, 4),
            "sentence": quotes.get(hit.paper_id, (hit.chunks[0].text, 0.0))[0],
        })
    return rows


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from .retrieve import Filters

    settings = _settings(args)
    query = _check_question(args.query, settings)
    filters = Filters(page_dates=tuple(args.date or ()), sources=tuple(args.source or ()),
                      since=args.since or "", until=args.until or "")
    rows = _search_rows(settings, query, args.k, filters)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no papers in the index match; run 'assistant ingest' first" if _empty(settings) else "no match")
        return 0
    for row in rows:
        print(f"{row['rank']:>2}. {row['display_title']}")
        print(f"    {row['page_date'] or '-'} | {row['source']} | score {row['score']:.4f} | cos {row['similarity']:.3f}")
        print(f"    \u201c{row['sentence']}\u201d")
    return 0


def _empty(settings: Settings) -> bool:
    return _store(settings).count() == 0


@command("stats")
def cmd_stats(args: argparse.Namespace) -> int:
    stats = _store(_settings(args)).stats()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return 0
    print(f"{stats['papers']} papers, {stats['chunks']} chunks in {stats['location']} ({stats['collection']})")
    for source, n in sorted(stats["sources"].items()):
        print(f"  {source}: {n} papers")
    return 0


@command("settings")
def cmd_settings(args: argparse.Namespace) -> int:
    """Every setting, group by group, from the settings model (with the value now in force)."""
    from .settings import describe

    current = load_settings()
    if args.json:
        print(json.dumps(current.model_dump(mode="json"), indent=2))
        return 0
    group = ""
    for row in describe(current):
        if row.group != group:
            group = row.group
            print(f"[{group}]")
        limits = f" [{row.bounds}]" if row.bounds else ""
        print(f"  {row.env:<34} = {row.value!s:<10} {row.description}{limits}")
    return 0


@command("bench")
def cmd_bench(args: argparse.Namespace) -> int:
    """``assistant bench ARGS``: ``benchmarks.run`` of the source checkout parses ARGS and runs."""
    bench = _benchmarks()
    if bench is None:
        raise UserError(f"benchmarks need the source checkout: benchmarks/ is not installed (none in {REPO_ROOT})")
    return bench.main(args.args, prog="assistant bench")


def _benchmarks():  # noqa: ANN202 - the module benchmarks.run, or None
    """The checkout's ``benchmarks.run``, or None when this package does not run from a
    source checkout (benchmarks are never installed)."""
    import importlib

    if not (REPO_ROOT / "benchmarks" / "run.py").is_file():
        return None
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        module = importlib.import_module("benchmarks.run")
    except ModuleNotFoundError as exc:  # another "benchmarks" came first on sys.path
        if exc.name not in ("benchmarks", "benchmarks.run"):
            raise
        return None
    return module if Path(module.__file__).resolve().parent.parent == REPO_ROOT.resolve() else None


def _check_question(text: str, settings) -> str:  # noqa: ANN001
    from .question import QuestionError, check_question

    try:
        return check_question(text, settings.app.max_question_chars)
    except QuestionError as exc:
        raise UserError(str(exc)) from None


# ---------------------------------------------------------------- parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (env ASSISTANT_DATA_DIR)")
    p.add_argument("--chroma-host", help="use a Chroma server at this host (env ASSISTANT_CHROMA_HOST)")
    p.add_argument("--collection", help="Chroma collection name")


def _llm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", choices=["local", "extractive", "openai", "ollama"], help="chat model provider")
    p.add_argument("--model-path", help="GGUF file for the local provider")
    p.add_argument("--model", help="model name for openai/ollama")
    p.add_argument("--base-url", help="base URL for openai/ollama")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Local-first research-paper assistant.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="parse, chunk, embed and store corpus files (default: seeds/)")
    p.add_argument("paths", nargs="*", help="files or directories (.txt Daily Papers pages, saved Daily Papers .html "
                   "pages or API .json responses, .jsonl, .csv, .gz)")
    p.add_argument("--prune", action="store_true", help="remove stored papers that are not in these files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("search", help="ranked papers for a query")
    p.add_argument("query")
    p.add_argument("-k", type=count_arg(100), default=5, help="number of papers (1-100)")
    p.add_argument("--date", action="append", help="only papers from this page date (repeatable)")
    p.add_argument("--source", action="append", help="only papers from this source file (repeatable)")
    p.add_argument("--since", type=iso_day, help="only papers on a page of this date (YYYY-MM-DD) or later; a "
                   "yearless seed date (\"Mar 13\") counts in the years the range spans")
    p.add_argument("--until", type=iso_day, help="only papers on a page of this date (YYYY-MM-DD) or earlier")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("stats", help="papers and chunks in the store")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("settings", help="every setting with its environment variable, bounds and current value")
    p.add_argument("--json", action="store_true", help="the current settings as JSON, by group")
    # every argument (--help too) goes to benchmarks/run.py, imported only when bench runs
    p = sub.add_parser("bench", help="measure ingest, embedding, retrieval and model speed; write docs/benchmarks.md "
                       "(source checkout only; see assistant bench --help)", add_help=False, prefix_chars="\0")
    p.add_argument("args", nargs="*")
    for extend in EXTENSIONS:
        extend(sub, _common, _llm_flags)
    return parser


EXTENSIONS: list[Callable[..., None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    quiet_environment()
    _load_extensions()
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one clear line
        from .store import StoreError

        if isinstance(exc, (StoreError, ValueError, OSError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


def _load_extensions() -> None:
    """Commands defined in other modules register themselves here."""
    import importlib

    for name in ("assistant.cli_answers", "assistant.cli_eval", "assistant.cli_app", "assistant.cli_library",
                 "assistant.cli_update"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


if __name__ == "__main__":  # pragma: no cover
    # ``python -m assistant.cli``: run the imported module's main, where the commands that other
    # modules define register themselves (this file's ``__main__`` copy has its own registry).
    from assistant.cli import main as _main

    raise SystemExit(_main())
