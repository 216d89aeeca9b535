"""Command line: ``assistant ingest | search | stats | ask | recommend | eval | eval-beir | bench | app``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .settings import REPO_ROOT, describe, load_settings, quiet_environment

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def _settings(args: argparse.Namespace):  # noqa: ANN202
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        provider=getattr(args, "provider", None),
        chroma_host=getattr(args, "chroma_host", None),
        collection=getattr(args, "collection", None),
        model_path=getattr(args, "model_path", None),
        base_url=getattr(args, "base_url", None),
        model_name=getattr(args, "model", None),
    )


def _store(settings):  # noqa: ANN001, ANN202
    from .embeddings import embeddings_for
    from .store import Store

    return Store(settings, embeddings_for(settings))


# ---------------------------------------------------------------- ingest / search / stats


@command("ingest")
def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import index_papers, load_corpus

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
    summary = index_papers(report.papers, store, settings, prune=args.prune, progress=not args.quiet)
    print(summary.line())
    return 0


def _search_rows(settings, query: str, k: int, filters) -> list[dict[str, Any]]:  # noqa: ANN001
    from .retrieve import make_retriever
    from .text import split_sentences

    retriever = make_retriever(settings)
    hits = retriever.search(query, k=k, filters=filters)
    qvec = retriever.embeddings.embed_array([query])[0]
    rows = []
    for rank, hit in enumerate(hits, 1):
        sentences = [s for c in hit.chunks[:2] for s in split_sentences(c.text)] or [hit.chunks[0].text]
        sims = retriever.embeddings.embed_array(sentences) @ qvec
        rows.append({
            "rank": rank,
            "paper_id": hit.paper_id,
            "title": hit.title,
            "display_title": hit.display_title,
            "page_date": hit.metadata.get("page_date", ""),
            "source": hit.metadata.get("source", ""),
            "score": round(hit.score, 5),
            "similarity": round(hit.dense, 4),
            "sentence": sentences[int(sims.argmax())],
        })
    return rows


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from .retrieve import Filters

    settings = _settings(args)
    query = _check_question(args.query, settings)
    filters = Filters(page_dates=tuple(args.date or ()), sources=tuple(args.source or ()))
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


def _empty(settings) -> bool:  # noqa: ANN001
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
    for env, help_text, default in describe():
        print(f"{env:<28} {help_text} [default: {default}]")
    return 0


@command("bench")
def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import cmd_bench as run_bench

    return run_bench(args)


def _check_question(text: str, settings) -> str:  # noqa: ANN001
    text = (text or "").strip()
    if not text:
        raise UserError("the question is empty")
    if len(text) > settings.max_question_chars:
        raise UserError(f"the question is {len(text)} characters; the limit is {settings.max_question_chars}")
    return text


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
    p.add_argument("paths", nargs="*", help="files or directories (.txt Daily Papers pages, .jsonl, .csv, .gz)")
    p.add_argument("--prune", action="store_true", help="remove stored papers that are not in these files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("search", help="ranked papers for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="number of papers")
    p.add_argument("--date", action="append", help="only papers from this page date (repeatable)")
    p.add_argument("--source", action="append", help="only papers from this source file (repeatable)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("stats", help="papers and chunks in the store")
    p.add_argument("--json", action="store_true")
    _common(p)

    sub.add_parser("settings", help="every setting with its environment variable")
    from .bench import add_parser as add_bench_parser

    add_bench_parser(sub)
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

    for name in ("assistant.cli_answers", "assistant.cli_eval", "assistant.cli_app"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
