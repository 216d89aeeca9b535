"""Run every speed benchmark and write the figures into docs/benchmarks.md (between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` only) with a plot of retrieval latency
against corpus size (docs/bench-latency.png). ``assistant bench`` runs this, from a checkout.

What is measured (one script of this package each):

1. ``ingest``: cold ingest of ``seeds/`` into a fresh temporary data directory (``assistant
   ingest`` as a subprocess, imports and model load included) and a warm re-ingest (second
   run): wall seconds and each child's peak RSS (``os.wait4``);
2. ``embedding``: embedding throughput on the seed chunks: ``OnnxEmbeddings.embed_array``
   (tokenise, pad, run, pool, normalise) against a bare ONNX ``session.run`` on the same
   pre-tokenised batches;
3. ``retrieval_latency``: retrieval latency p50/p95 of the product retriever (hybrid,
   ``k = top_k``) over the same query set at 224 papers (seeds), 10k and 58k papers, with
   the store's size on disk;
4. ``local_model``: the local model's time to first token and generation speed on a
   ~500-token prompt built from seed abstracts (median of 3 runs, each with a different
   prompt so that llama.cpp's prompt cache cannot help);
5. ``memory``: the bench process's own peak RSS after each stage.

    .venv/bin/python -m benchmarks.run [--store-58k DIR] [--store-10k DIR] [--skip-large] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import embedding, ingest, local_model, memory, retrieval_latency  # noqa: E402
from benchmarks.paths import DEV, DOC, PLOT, SEEDS  # noqa: E402
from benchmarks.report import load_average, machine, under_load, write_section  # noqa: E402


# ---------------------------------------------------------------- arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    retrieval_latency.add_arguments(p)
    p.add_argument("--no-model", action="store_true", help="skip the local-model measurement")
    p.add_argument("--embed-n", type=int, default=0, help="seed chunks for embedding throughput (0: all)")
    p.add_argument("--doc", default=str(DOC), help="Markdown file to write (default: docs/benchmarks.md)")
    p.add_argument("--plot", default=str(PLOT), help="PNG to write (default: docs/bench-latency.png)")
    p.add_argument("--out", help="also write every figure as JSON here")


# ---------------------------------------------------------------- running


def seed_stages(args: argparse.Namespace, settings: Any, queries: list[str], results: dict[str, Any],
                stage: memory.Stages) -> None:
    """Ingest, embedding throughput and seed-store latency, in one temporary data directory."""
    with tempfile.TemporaryDirectory(prefix="pa-bench-seeds-") as tmp:
        data_dir = Path(tmp) / "data"
        results["ingest"] = ingest.ingest_runs(data_dir)
        stage("ingest")
        texts = embedding.chunk_texts([SEEDS], settings, args.embed_n)
        results["embedding"] = embedding.embedding_throughput(
            texts, settings.embedding.threads, settings.embedding.batch, settings.embedding.max_tokens,
            settings.embedding.model)
        stage("embedding")
        seed_settings = settings.with_overrides(data_dir=data_dir, chroma_host="", collection="papers")
        results["latency"]["seeds"] = retrieval_latency.measure_latency(seed_settings, queries)
        stage("latency seeds")


def model_stage(args: argparse.Namespace, settings: Any, abstracts: list[str], stage: memory.Stages) -> dict[str, Any]:
    if args.no_model:
        return {"skipped": "--no-model"}
    try:
        result = local_model.llm_speed(settings, abstracts)
    except Exception as exc:  # noqa: BLE001 - report it in the table, keep the rest
        result = {"skipped": f"{type(exc).__name__}: {exc}"}
    stage("local model")
    return result


def plot_path(latency: dict[str, Any], args: argparse.Namespace) -> str | None:
    """Write the plot; its path relative to the document (None when nothing was measured)."""
    if not retrieval_latency.plot_latency(latency, Path(args.plot)):
        return None
    try:
        return os.path.relpath(args.plot, Path(args.doc).parent)
    except ValueError:  # pragma: no cover - another drive
        return str(args.plot)


def run_bench(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Every measurement, as one dict (what --out writes)."""
    from assistant.corpus import load_corpus
    from assistant.settings import load_settings

    settings = load_settings()
    results: dict[str, Any] = {
        "command": command,
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "loads": [load_average()],
        "memory": {},
        "latency": {},
    }
    stage = memory.Stages(results)
    seed_papers = load_corpus([SEEDS]).papers
    queries = retrieval_latency.bench_queries(args.queries, DEV, [p.display_title for p in seed_papers])
    seed_stages(args, settings, queries, results, stage)
    results["llm"] = model_stage(args, settings, [p.abstract for p in seed_papers if p.abstract], stage)
    retrieval_latency.large_stores(args, settings, queries, results["latency"], stage)
    results["latency"] = {name: results["latency"][name] for name in retrieval_latency.STORES
                          if name in results["latency"]}
    results["plot"] = plot_path(results["latency"], args)
    return results


# ---------------------------------------------------------------- writing


def render_header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    loads = results.get("loads") or []
    lines = [
        "## Measured by `assistant bench`",
        "",
        "Written by the command below; everything in this section is replaced on each run.",
        "",
        "```",
        results["command"],
        "```",
        "",
        f"- When: {results['when']}",
        f"- Machine: {m['cpus']} CPUs, {m['cpu_model']}",
    ]
    if loads:
        note = " (**measured under load**: other jobs shared the cores)" if under_load(results) else ""
        lines.append(f"- 1-minute load average during the run: {min(loads):.1f}–{max(loads):.1f}{note}")
    return lines + [""]


def render_section(results: dict[str, Any]) -> str:
    """The Markdown written between the markers (no markers)."""
    lines = render_header(results)
    lines += ingest.render(results.get("ingest"))
    lines += embedding.render(results.get("embedding"))
    lines += retrieval_latency.render(results.get("latency"), results.get("plot"))
    lines += local_model.render(results.get("llm"))
    lines += memory.render(results.get("memory"))
    return "\n".join(lines).rstrip() + "\n"


def cmd_bench(args: argparse.Namespace, command: str) -> int:
    """Run, write the document's section (and the plot, and --out), print the section."""
    results = run_bench(args, command)
    section = render_section(results)
    write_section(Path(args.doc), section)
    print(section)
    print(f"wrote {args.doc}" + (f" and {args.plot}" if results.get("plot") else ""), file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks.run") -> int:
    """Parse ``argv`` (default: sys.argv) and run; ``assistant bench`` passes its own arguments and name."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return cmd_bench(p.parse_args(argv), shlex.join([*prog.split(), *argv]))


if __name__ == "__main__":
    raise SystemExit(main())
