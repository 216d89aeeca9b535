"""Retrieval latency against corpus size: p50/p95 of the product retriever (hybrid,
``k = top_k``) over one query set at 224 papers (seeds), 10k and 58k papers, with each
store's size on disk, and a plot of latency against papers (log scale).

The queries are dev questions (followups: turns joined) alternating with seed titles.
The first search of each store loads or builds its BM25 index and is timed apart. A 10k
store missing is built from the first 10,000 mlanthology papers, copying the vectors a
given 58k store holds under the same chunk ids (same model, deterministic ids).

    .venv/bin/python benchmarks/retrieval_latency.py [--seeds-data-dir DIR] [--store-58k DIR] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.settings import Settings, load_settings  # noqa: E402
from benchmarks.paths import DEV, MLANTHOLOGY, PLOT, SEEDS  # noqa: E402
from benchmarks.report import disk_usage, load_average, num, percentile, row, size, table  # noqa: E402

LARGE_N = 10_000
STORES = ("seeds", "10k", "58k")
PARTS = ("embed", "dense", "bm25", "fuse", "fetch")


# ---------------------------------------------------------------- measuring one store


def bench_queries(n: int = 50, dev: Path = DEV, titles: Iterable[str] = ()) -> list[str]:
    """``n`` queries: dev questions (followups: turns joined) alternating with paper titles."""
    questions: list[str] = []
    if dev.exists():
        for line in dev.read_text().splitlines():
            if line.strip():
                item = json.loads(line)
                questions.append(" ".join(item["turns"]) if item.get("turns") else item["question"])
    titles = list(titles)
    out: list[str] = []
    for i in range(max(len(questions), len(titles))):
        out += [q[i] for q in (questions, titles) if i < len(q)]
    return out[:n]


def measure_latency(settings: Settings, queries: Sequence[str], k: int | None = None, store: Any = None) -> dict[str, Any]:
    """p50/p95 of ``Retriever.search(k)`` in hybrid mode, after one untimed warm-up search
    (which loads or builds the BM25 index; its time is reported as ``first_search_s``)."""
    from assistant.retrieve import make_retriever

    k = k or settings.retrieval.top_k
    retriever = make_retriever(settings, store=store, embeddings=store.embeddings if store else None)
    t0 = time.perf_counter()
    retriever.search(queries[0], k=k)
    first = time.perf_counter() - t0
    parts: dict[str, list[float]] = {}
    for query in queries:
        retriever.search(query, k=k)
        for key, value in retriever.last_timings.items():
            parts.setdefault(key, []).append(value)
    total = parts.get("total_ms", [])
    return {
        "papers": len(retriever.bm25().ids),
        "chunks": retriever.store.count(),
        "queries": len(total),
        "k": k,
        "first_search_s": first,
        "p50_ms": percentile(total, 50),
        "p95_ms": percentile(total, 95),
        "parts_p50_ms": {key.removesuffix("_ms"): percentile(v, 50) for key, v in parts.items() if key != "total_ms"},
        "disk_bytes": disk_usage(Path(settings.store.data_dir)) if not settings.store.chroma_host else None,
        "other_collections": sorted(set(retriever.store.collections())
                                    - {settings.store.collection, retriever.store.sentence_collection_name}),
        "data_dir": str(settings.store.data_dir),
        "load": load_average(),
    }


# ---------------------------------------------------------------- building the 10k store


def copy_vectors(store: Any, origin: Any, wanted: list[str], page: int = 2000) -> int:
    """Copy the chunks ``origin`` holds among ``wanted`` (text, metadata, vector) into ``store``."""
    copied = 0
    for lo in range(0, len(wanted), page):
        found = origin.chunks(wanted[lo : lo + page], with_vectors=True)
        if found:
            store.upsert([c.text for c in found], [dict(c.metadata) for c in found], [c.chunk_id for c in found],
                         [list(map(float, c.vector)) for c in found])
            copied += len(found)
    if copied:
        store.bump_generation()
    return copied


def derive_store(target: Path, papers: list, source: Path | None, settings: Settings, progress: bool = True) -> dict[str, Any]:
    """A store holding ``papers``: vectors copied from the store in ``source`` (same model,
    same deterministic chunk ids) where it has them, the rest embedded by ``index_papers``."""
    from assistant.embeddings import embeddings_for
    from assistant.ingest import index_papers, iter_chunks
    from assistant.store import Store

    started = time.perf_counter()
    target_settings = settings.with_overrides(data_dir=target)
    store = Store(target_settings, embeddings_for(settings))
    copied = 0
    if source is not None:
        have = {cid for entry in store.paper_state().values() for cid in entry["chunk_ids"]}
        chunked = iter_chunks(papers, settings.store.chunk_size, settings.store.chunk_overlap)
        wanted = [c.chunk_id for _, chunks in chunked for c in chunks if c.chunk_id not in have]
        copied = copy_vectors(store, Store(settings.with_overrides(data_dir=source), store.embeddings), wanted)
    summary = index_papers(papers, store, target_settings, progress=progress)
    return {"copied_chunks": copied, "embedded_chunks": summary.chunks_embedded, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------- stores still being written


def _ancestors() -> set[int]:
    """This process and its parents (their command lines name the stores too)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def writers(path: Path) -> list[int]:
    """Other processes with ``path`` on their command line (e.g. an ingest still writing it)."""
    needle = str(Path(path)).rstrip("/").encode()
    mine = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def wait_for_writers(path: Path, timeout_s: float) -> bool:
    """Wait until no other process names ``path``; False if ``timeout_s`` passed first."""
    deadline = time.monotonic() + timeout_s
    pids = writers(path)
    if pids:
        print(f"[bench] waiting for process(es) {pids} using {path} (at most {timeout_s:.0f} s)", file=sys.stderr, flush=True)
    while pids:
        if time.monotonic() > deadline:
            return False
        time.sleep(10)
        pids = writers(path)
    return True


# ---------------------------------------------------------------- the large stores


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options naming, building and waiting for the 10k and 58k stores."""
    p.add_argument("--store-10k", help="data dir of an existing 10k-paper store (default: build one)")
    p.add_argument("--store-58k", help="data dir of an existing 58k-paper store (default: skipped)")
    p.add_argument("--build-10k", default=str(Path(tempfile.gettempdir()) / "pa-bench-10k"),
                   help="where a missing 10k store is built and kept (default: %(default)s)")
    p.add_argument("--skip-large", action="store_true", help="measure no store that would have to be built")
    p.add_argument("--queries", type=int, default=50, help="latency queries per store")
    p.add_argument("--wait-timeout", type=float, default=3600,
                   help="seconds to wait for another process still writing a given store (then it is skipped)")


def given_stores(args: argparse.Namespace, latency: dict[str, Any]) -> dict[str, Path]:
    """The stores named by --store-10k/--store-58k that exist and nobody writes (others: skipped)."""
    given = {name: Path(where) for name, where in (("10k", args.store_10k), ("58k", args.store_58k)) if where}
    for name, where in list(given.items()):
        if not where.is_dir():
            latency[name] = {"skipped": f"{where} not found"}
            del given[name]
        elif not wait_for_writers(where, args.wait_timeout):
            latency[name] = {"skipped": f"{where} was still being written after {args.wait_timeout:.0f} s"}
            del given[name]
    return given


def build_10k(args: argparse.Namespace, settings: Settings, given: dict[str, Path], latency: dict[str, Any]) -> str:
    """Build the 10k store into --build-10k unless given or skipped; the note saying how ("" if not built)."""
    if "10k" in given or "10k" in latency:
        return ""
    if args.skip_large:
        latency["10k"] = {"skipped": "--skip-large and no --store-10k"}
        return ""
    if args.store_58k and "58k" not in given:
        latency["10k"] = {"skipped": "it is derived from the 58k store, which was not available "
                                     "(embedding 10k papers from scratch takes about 25 minutes: pass --store-10k)"}
        return ""
    if not MLANTHOLOGY.exists():
        latency["10k"] = {"skipped": f"{MLANTHOLOGY} not found"}
        return ""
    from assistant.corpus import load_corpus

    papers = load_corpus([MLANTHOLOGY]).papers[:LARGE_N]
    source = given.get("58k")
    built = derive_store(Path(args.build_10k), papers, source, settings)
    given["10k"] = Path(args.build_10k)
    how = (f"vectors of {built['copied_chunks']:,} chunks copied from the 58k store, which holds the same "
           f"model's vectors under the same chunk ids; {built['embedded_chunks']:,} embedded") if source \
        else f"{built['embedded_chunks']:,} chunks embedded"
    return (f"10k: the first {LARGE_N:,} papers of `{MLANTHOLOGY.name}`, built into `{args.build_10k}` in "
            f"{built['seconds']:.0f} s ({how}).")


def large_stores(args: argparse.Namespace, settings: Settings, queries: Sequence[str], latency: dict[str, Any],
                 stage: Callable[[str], None] = lambda name: None) -> None:
    """Measure the 10k and 58k stores into ``latency`` (building the 10k one if need be)."""
    large = settings.with_overrides(chroma_host="", collection="papers")
    given = given_stores(args, latency)
    note_10k = build_10k(args, large, given, latency)
    if note_10k:
        stage("build 10k")
    for name in ("10k", "58k"):
        if name in given:
            latency[name] = measure_latency(large.with_overrides(data_dir=given[name]), queries)
            if name == "10k" and note_10k:
                latency[name]["note"] = note_10k
            stage(f"latency {name}")
        else:
            latency.setdefault(name, {"skipped": f"no --store-{name}"})


# ---------------------------------------------------------------- plot and table


def measured(latency: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, r) for name, r in latency.items() if isinstance(r, dict) and "p50_ms" in r]


def plot_latency(latency: dict[str, Any], path: Path) -> bool:
    """p50/p95 against papers (log x); False (and no file) when no store was measured."""
    points = sorted((r["papers"], r["p50_ms"], r["p95_ms"], name) for name, r in measured(latency))
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    papers, p50, p95, names = zip(*points)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.plot(papers, p50, "o-", label="p50")
    ax.plot(papers, p95, "s--", label="p95")
    for x, y, name in zip(papers, p95, names):
        ax.annotate(f"{name}\n{x:,} papers", (x, y), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(100, min(papers) / 2), max(100_000, max(papers) * 2))
    ax.set_ylim(0, max(p95) * 1.35)
    ax.set_xlabel("papers in the store (log scale)")
    ax.set_ylabel("search latency, ms")
    k = next(r["k"] for r in latency.values() if isinstance(r, dict) and "k" in r)
    ax.set_title(f"Hybrid retrieval latency (k={k}, query embedding included)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


HEADER = ("store", "papers", "chunks", "size on disk", "first search s", "p50 ms", "p95 ms",
          "p50 embed / dense / bm25 / fuse / fetch ms", "load average")


def table_row(name: str, r: Any) -> str:
    """One store's row: its figures, or why it was skipped."""
    if not isinstance(r, dict) or "p50_ms" not in r:
        reason = r.get("skipped") if isinstance(r, dict) else r
        return row([name, f"skipped: {reason}"] + [""] * (len(HEADER) - 2))
    parts = r.get("parts_p50_ms") or {}
    split = " / ".join(num(parts.get(p)) for p in PARTS)
    disk = size(r.get("disk_bytes"))
    if r.get("other_collections"):
        disk += " (whole data dir, also holding " + ", ".join(f"`{c}`" for c in r["other_collections"]) + ")"
    return row([name, f"{r['papers']:,}", f"{r['chunks']:,}", disk, f"{r['first_search_s']:.1f}", f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}", split, num(r.get("load"))])


def render(latency: dict[str, Any] | None, plot: str | None = None) -> list[str]:
    """The "Retrieval latency against corpus size" subsection (``plot``: the PNG's path from the document)."""
    latency = latency or {}
    lines = ["### Retrieval latency against corpus size", ""]
    first = next((r for _, r in measured(latency)), None)
    if first:
        lines += [
            f"`Retriever.search` in hybrid mode (the product), k={first['k']}, {first['queries']} queries "
            "(dev questions alternating with seed titles), query embedding included. The first search "
            "loads or builds the BM25 index and is timed apart. The last column is the 1-minute load average "
            "when the store was measured: on a shared machine, compare rows only at similar load.",
            "",
        ]
    lines += table(HEADER, [])
    lines += [table_row(name, r) for name, r in latency.items()]
    notes = [r["note"] for r in latency.values() if isinstance(r, dict) and r.get("note")]
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    if plot:
        lines += [f"![retrieval latency against corpus size]({plot})", ""]
    return lines


# ---------------------------------------------------------------- alone


def seed_latency(settings: Settings, queries: Sequence[str], data_dir: Path | None) -> dict[str, Any]:
    """Latency over the seed store in ``data_dir`` (indexed there first if need be; default: a temporary one)."""
    from assistant.embeddings import embeddings_for
    from assistant.corpus import load_corpus
    from assistant.ingest import index_papers
    from assistant.store import Store

    with tempfile.TemporaryDirectory(prefix="pa-bench-seeds-") as tmp:
        seeds = settings.with_overrides(data_dir=data_dir or Path(tmp) / "data", chroma_host="", collection="papers")
        store = Store(seeds, embeddings_for(seeds))
        index_papers(load_corpus([SEEDS]).papers, store, seeds, progress=False)
        return measure_latency(seeds, queries, store=store)


def main(argv: Sequence[str] | None = None) -> int:
    from assistant.corpus import load_corpus

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds-data-dir", help="seed store to measure, indexed there if need be (default: a temporary one)")
    add_arguments(p)
    p.add_argument("--plot", help=f"also write the plot here (e.g. {PLOT})")
    p.add_argument("--out", help="also write every figure as JSON here")
    args = p.parse_args(argv)
    settings = load_settings()
    queries = bench_queries(args.queries, DEV, [x.display_title for x in load_corpus([SEEDS]).papers])
    latency = {"seeds": seed_latency(settings, queries, Path(args.seeds_data_dir) if args.seeds_data_dir else None)}
    large_stores(args, settings, queries, latency)
    latency = {name: latency[name] for name in STORES if name in latency}
    plotted = bool(args.plot) and plot_latency(latency, Path(args.plot))
    print("\n".join(render(latency, args.plot if plotted else None)))
    if args.out:
        Path(args.out).write_text(json.dumps(latency, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
