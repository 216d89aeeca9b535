"""``assistant eval-beir``: retrieval quality on a BEIR dataset (e.g. SciFact), mode by mode."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .cli import EXTENSIONS, UserError, _settings, command


def extend(sub, common, llm_flags) -> None:  # noqa: ANN001, ARG001
    p = sub.add_parser(
        "eval-beir",
        help="nDCG@10 / recall@100 of bm25, dense, rrf and hybrid on a BEIR dataset",
        description="Ingest a BEIR corpus into its own collection (beir_<name>, incremental), then rank "
        "papers (k=100) for every query of the qrels file in each mode and print the modes side by side.",
    )
    p.add_argument("corpus", help="BEIR corpus.jsonl ({_id, title, text})")
    p.add_argument("queries", help="BEIR queries.jsonl ({_id, text})")
    p.add_argument("qrels", help="BEIR qrels TSV (query-id, corpus-id, score)")
    p.add_argument("--out", help="write the full report (JSON) here")
    p.add_argument("--modes", default="bm25,dense,rrf,hybrid", help="comma-separated modes (default: all four)")
    p.add_argument("--quiet", action="store_true", help="no progress bar while embedding")
    common(p)


EXTENSIONS.append(extend)


@command("eval-beir")
def cmd_eval_beir(args: argparse.Namespace) -> int:
    from . import beir
    from .retrieve import MODES, make_retriever

    paths = [Path(args.corpus), Path(args.queries), Path(args.qrels)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UserError(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    args.collection = args.collection or beir.collection_for(paths[0])
    settings = _settings(args)
    queries, qrels = beir.load_queries(paths[1]), beir.load_qrels(paths[2])
    if not qrels:
        raise UserError(f"{paths[2]}: no judgment found")
    store, summary = beir.ingest(paths[0], settings, progress=not args.quiet)
    print(f"{settings.store.collection}: {summary.line()}", file=sys.stderr)
    retriever = make_retriever(settings, store=store, embeddings=store.embeddings)
    report = beir.evaluate(retriever, queries, qrels, modes)
    print(f"{paths[0].parent.name or paths[0].name} / {paths[2].name}: {report['queries']} queries, "
          f"{store.count()} chunks, collection {settings.store.collection}")
    print(beir.table(report))
    print(f"candidates p50 {report['candidates_ms_p50']:.1f} ms, p95 {report['candidates_ms_p95']:.1f} ms per query")
    if report["missing_queries"]:
        print(f"warning: {len(report['missing_queries'])} judged queries have no text", file=sys.stderr)
    if args.out:
        report |= {
            "corpus": str(paths[0]), "queries_file": str(paths[1]), "qrels": str(paths[2]),
            "collection": settings.store.collection, "data_dir": str(settings.store.data_dir),
            "fusion": asdict(retriever.fusion), "ingest": asdict(summary),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    return 0


# ---------------------------------------------------------------- assistant eval (dev questions, full chain)


def extend_eval(sub, common, llm_flags) -> None:  # noqa: ANN001
    p = sub.add_parser("eval", help="run question items (dev.jsonl format) through the real chain; write records and metrics")
    p.add_argument("questions", help="JSONL of items: id, type, question or turns, gold_titles, answer_facts")
    p.add_argument("--out", required=True, help="write one JSON record per item here; metrics go to OUT.metrics.json")
    p.add_argument("--limit", type=int, default=0, help="only the first N items")
    p.add_argument("--types", default="", help="comma-separated item types to run (default: all)")
    common(p)
    llm_flags(p)


EXTENSIONS.append(extend_eval)


def run_item(assistant, item: dict) -> dict:  # noqa: ANN001
    """One item through the service; followups are played as a conversation."""
    from .chain import Conversation

    conversation = Conversation()
    turns = item.get("turns") or [item["question"]]
    answer = None
    for turn in turns:
        for event in assistant.respond(turn, conversation):
            if event.kind == "answer":
                answer = event.answer
    record = answer.to_dict()
    record.update(id=item.get("id"), type=item.get("type"), question=turns[-1], turns=turns)
    record["timings"].setdefault("first_token_s", record["timings"].get("total_s"))
    return record


@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    from .metrics import summarise
    from .service import Assistant

    path = Path(args.questions)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if args.types:
        wanted = set(args.types.split(","))
        items = [i for i in items if i.get("type") in wanted]
    if args.limit:
        items = items[: args.limit]
    assistant = Assistant.create(_settings(args))
    if assistant.is_empty():
        raise UserError("the index is empty: run 'assistant ingest' first")
    if assistant.model_error:
        print(f"notice: {assistant.model_error}", file=sys.stderr)
    records = []
    with open(args.out, "w", encoding="utf-8") as out:
        for n, item in enumerate(items, 1):
            record = run_item(assistant, item)
            records.append(record)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(f"[{n}/{len(items)}] {item.get('id')} refused={record['refused']} cited={len(record['cited'])}", file=sys.stderr)
    summary = summarise(records, items)
    Path(args.out + ".metrics.json").write_text(json.dumps({k: summary[k] for k in ("overall", "by_type")}, indent=2))
    _print_summary(summary)
    return 0


def _print_summary(summary: dict) -> None:
    keys = ("n", "recall@5", "recall@10", "mrr", "citation_precision", "citation_validity", "fact_coverage",
            "refusal_accuracy", "false_refusal_rate", "content", "dropped_share")
    print("type       " + " ".join(f"{k[:10]:>10}" for k in keys))
    for name, row in [*summary["by_type"].items(), ("overall", summary["overall"])]:
        cells = [f"{row.get(k):>10.3f}" if isinstance(row.get(k), float) else f"{str(row.get(k)):>10}" for k in keys]
        print(f"{name:<10} " + " ".join(cells))
    lat = summary["overall"].get("latency", {})
    print("latency    " + "  ".join(f"{k}: p50 {v.get('p50')} p95 {v.get('p95')}" for k, v in lat.items()))
