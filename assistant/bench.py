"""``assistant bench``: measure ingest, embedding, retrieval and local-model speed, and
write the figures into docs/benchmarks.md (between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` only) with a plot of retrieval latency against corpus size
(docs/bench-latency.png).

What is measured:

1. cold ingest of ``seeds/`` into a fresh temporary data directory (``assistant ingest``
   as a subprocess, imports and model load included) and a warm re-ingest (second run):
   wall seconds and each child's peak RSS (``os.wait4``);
2. embedding throughput on the seed chunks: :class:`MiniLMEmbeddings.embed_array`
   (tokenise, pad, run, pool, normalise) against the bare ONNX ``session.run`` on the
   same pre-tokenised batches;
3. retrieval latency p50/p95 of the product retriever (hybrid, ``k = top_k``) over the
   same query set at 224 papers (seeds), 10k and 58k papers, with the store's size on disk;
4. the local model's time to first token and generation speed on a ~500-token prompt
   built from seed abstracts (median of 3 runs, each with a different prompt so that
   llama.cpp's prompt cache cannot help);
5. the bench process's own peak RSS after each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .metrics import percentile
from .settings import REPO_ROOT, Settings, load_settings

MARK_START = "<!-- bench:start -->"
MARK_END = "<!-- bench:end -->"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
PLOT = REPO_ROOT / "docs" / "bench-latency.png"
SEEDS = REPO_ROOT / "seeds"
SHARED = REPO_ROOT.parent / "shared"
MLANTHOLOGY = SHARED / "data" / "mlanthology-58k.jsonl.gz"
DEV = SHARED / "eval" / "dev.jsonl"
LARGE_N = 10_000


# ---------------------------------------------------------------- machine and memory


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count() or 0, "cpu_model": model or "unknown"}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        return 0.0


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (what ``du`` counts)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


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


# ---------------------------------------------------------------- 1. ingest


def assistant_command() -> list[str]:
    script = Path(sys.executable).parent / "assistant"
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall seconds and that child's own peak RSS (from ``wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        # read all output first (a full pipe would block the child), then reap it with wait4
        output = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
        _pid, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted: do not leave the child running
        proc.kill()
        proc.wait()
        raise
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stdout:
        proc.stdout.close()
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode, "output": output}


def ingest_runs(data_dir: Path, paths: Sequence[Path] = (SEEDS,)) -> dict[str, Any]:
    """Cold then warm ``assistant ingest`` of ``paths`` into ``data_dir`` (fresh)."""
    cmd = [*assistant_command(), "ingest", *map(str, paths), "--data-dir", str(data_dir), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_DATA_DIR"}
    shown = [os.path.relpath(p, REPO_ROOT) if Path(p).is_relative_to(REPO_ROOT) else str(p) for p in paths]
    out: dict[str, Any] = {"command": shlex.join(["assistant", "ingest", *shown, "--data-dir", "TMP", "--quiet"])}
    for run in ("cold", "warm"):
        result = run_measured(cmd, env)
        if result["rc"] != 0:
            raise RuntimeError(f"assistant ingest failed ({result['rc']}): {result['output'][-500:]}")
        found = re.search(r"\((\d+) chunks, ([\d.]+) chunks/s\)", result["output"])
        papers = re.search(r"^(\d+) papers:", result["output"], re.M)
        result["chunks_embedded"] = int(found.group(1)) if found else None
        result["papers"] = int(papers.group(1)) if papers else None
        out[run] = {k: v for k, v in result.items() if k != "output"}
    return out


# ---------------------------------------------------------------- 2. embedding throughput


def chunk_texts(paths: Sequence[Path], settings: Settings, n: int = 0) -> list[str]:
    """Texts embedded at ingest (``"title. chunk"``) of the first ``n`` chunks (0: all)."""
    from .ingest import iter_chunks, load_corpus

    texts: list[str] = []
    for paper, chunks in iter_chunks(load_corpus(list(paths)).papers, settings.chunk_size, settings.chunk_overlap):
        texts += [c.embed_text(paper.display_title) for c in chunks]
        if n and len(texts) >= n:
            break
    return texts[:n] if n else texts


def embedding_throughput(texts: list[str], threads: int = 2, batch: int = 32, max_tokens: int = 256) -> dict[str, Any]:
    """chunks/s of our :class:`MiniLMEmbeddings` and of its bare ONNX session on the same texts.

    The texts are cut into the length-sorted batches ``embed_array`` would make; each batch
    is embedded by the class and run bare (pre-tokenised, no pooling), in alternating order,
    so both paths see the same load on a shared machine.
    """
    from .embeddings import MiniLMEmbeddings

    model = MiniLMEmbeddings(threads=threads, batch_size=batch, max_tokens=max_tokens)
    model.embed_array(texts[:batch])  # warm-up
    load = load_average()
    ordered = sorted(texts, key=len)
    ours = bare = 0.0
    for n, lo in enumerate(range(0, len(ordered), batch)):
        part = ordered[lo : lo + batch]
        feed = model.feed([t or " " for t in part])
        for path in ("ours", "bare") if n % 2 == 0 else ("bare", "ours"):  # alternate who goes first
            t0 = time.perf_counter()
            if path == "ours":
                model.embed_array(part)
                ours += time.perf_counter() - t0
            else:
                model._session.run(None, feed)
                bare += time.perf_counter() - t0
    return {
        "n": len(texts),
        "chars": sum(map(len, texts)) / max(len(texts), 1),
        "threads": threads,
        "batch": batch,
        "ours_cps": len(texts) / ours,
        "bare_cps": len(texts) / bare,
        "ratio": bare / ours,  # ours / bare in chunks/s: the share of the model's speed the class keeps
        "load": load,
    }


# ---------------------------------------------------------------- 3. retrieval latency


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
    from .retrieve import make_retriever

    k = k or settings.top_k
    retriever = make_retriever(settings, store=store, embeddings=store.embeddings if store else None)
    t0 = time.perf_counter()
    retriever.search(queries[0], k=k)
    first = time.perf_counter() - t0
    parts: dict[str, list[float]] = {}
    for query in queries:
        retriever.search(query, k=k)
        for key, value in retriever.last_timings.items():
            parts.setdefault(key, []).append(value)
    index = retriever.bm25()
    collections = [c.name if hasattr(c, "name") else str(c) for c in retriever.store.client.list_collections()]
    total = parts.get("total_ms", [])
    return {
        "papers": len(index.ids),
        "chunks": retriever.store.count(),
        "queries": len(total),
        "k": k,
        "first_search_s": first,
        "p50_ms": percentile(total, 50),
        "p95_ms": percentile(total, 95),
        "parts_p50_ms": {key.removesuffix("_ms"): percentile(v, 50) for key, v in parts.items() if key != "total_ms"},
        "disk_bytes": disk_usage(Path(settings.data_dir)) if not settings.chroma_host else None,
        "other_collections": sorted(set(collections) - {settings.collection}),
        "data_dir": str(settings.data_dir),
        "load": load_average(),
    }


def derive_store(target: Path, papers: list, source: Path | None, settings: Settings, progress: bool = True) -> dict[str, Any]:
    """A store holding ``papers``: vectors copied from the store in ``source`` (same model,
    same deterministic chunk ids) where it has them, the rest embedded by ``index_papers``."""
    from .embeddings import embeddings_for
    from .ingest import index_papers, iter_chunks
    from .store import Store

    started = time.perf_counter()
    target_settings = settings.with_overrides(data_dir=target)
    store = Store(target_settings, embeddings_for(settings))
    copied = 0
    if source is not None:
        have = {cid for entry in store.paper_state().values() for cid in entry["chunk_ids"]}
        wanted = [c.chunk_id for _, chunks in iter_chunks(papers, settings.chunk_size, settings.chunk_overlap) for c in chunks]
        wanted = [cid for cid in wanted if cid not in have]
        origin = Store(settings.with_overrides(data_dir=source), store.embeddings)
        for lo in range(0, len(wanted), 2000):
            got = origin.collection.get(ids=wanted[lo : lo + 2000], include=["embeddings", "documents", "metadatas"])
            if got["ids"]:
                store.upsert(list(got["documents"]), [dict(m) for m in got["metadatas"]], list(got["ids"]),
                             [list(map(float, v)) for v in got["embeddings"]])
                copied += len(got["ids"])
        if copied:
            store.bump_generation()
    summary = index_papers(papers, store, target_settings, progress=progress)
    return {"copied_chunks": copied, "embedded_chunks": summary.chunks_embedded, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------- 4. local model


def llm_prompts(abstracts: list[str], count_tokens, runs: int = 3, target: int = 500) -> list[str]:  # noqa: ANN001
    """``runs`` prompts of about ``target`` tokens, each opening with different abstracts."""
    ask = "\n\nIn three sentences, what do the papers above have in common?"
    prompts = []
    for run in range(runs):
        parts: list[str] = []
        for i in range(run * 7, run * 7 + len(abstracts)):
            if count_tokens("\n\n".join(parts) + ask) >= target:
                break
            parts.append(abstracts[i % len(abstracts)])
        text = "\n\n".join(parts)
        while count_tokens(text + ask) > target * 1.05 and len(text) > 200:  # trim to about target
            text = text[: int(len(text) * 0.97)]
        prompts.append(text + ask)
    return prompts


def llm_speed(settings: Settings, abstracts: list[str], runs: int = 3, max_tokens: int = 100) -> dict[str, Any]:
    """Time to first token and generation tokens/s of the local model (median of ``runs``)."""
    from .llm import make_chat_model

    t0 = time.perf_counter()
    model = make_chat_model(settings.with_overrides(provider="local"))
    load_s = time.perf_counter() - t0
    llama = model.client

    def count(text: str) -> int:
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False))

    rows = []
    for prompt in llm_prompts(abstracts, count, runs):
        started = time.perf_counter()
        first = None
        pieces = []
        for chunk in model.stream(prompt, max_tokens=max_tokens, temperature=0.0):
            if chunk.content:
                first = first or time.perf_counter()
                pieces.append(chunk.content)
        end = time.perf_counter()
        generated = count("".join(pieces))
        rows.append({
            "prompt_tokens": count(prompt),
            "ttft_s": (first or end) - started,
            "generated": generated,
            "tokens_per_s": (generated - 1) / (end - first) if first and end > first and generated > 1 else None,
            "prompt_tokens_per_s": count(prompt) / ((first or end) - started),
        })
    rates = [r["tokens_per_s"] for r in rows if r["tokens_per_s"]]
    return {
        "model": Path(model.model_path).name,
        "threads": settings.llm_threads,
        "load_s": load_s,
        "runs": rows,
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in rows),
        "ttft_s": statistics.median(r["ttft_s"] for r in rows),
        "tokens_per_s": statistics.median(rates) if rates else None,
        "prompt_tokens_per_s": statistics.median(r["prompt_tokens_per_s"] for r in rows),
    }


# ---------------------------------------------------------------- writing


def _f(value: Any, fmt: str = ".1f", none: str = "–") -> str:
    return none if value is None else format(value, fmt)


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / 1024:.0f} KB"


def under_load(results: dict[str, Any]) -> bool:
    loads = results.get("loads") or []
    return bool(loads) and max(loads) > 0.75 * max(results["machine"]["cpus"], 1)


def render_section(results: dict[str, Any]) -> str:
    """The Markdown written between the markers (no markers)."""
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
    lines.append("")

    ingest = results.get("ingest")
    lines += ["### Ingest of `seeds/`", ""]
    if ingest:
        lines += [
            f"`{ingest['command']}`, twice, into a fresh temporary data directory.",
            "",
            "| run | wall s | peak RSS | papers | chunks embedded |",
            "|---|---|---|---|---|",
        ]
        for run, label in (("cold", "cold (fresh data dir, imports and model load included)"), ("warm", "warm (second run, nothing changed)")):
            r = ingest[run]
            lines.append(f"| {label} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} MB | {_f(r.get('papers'), 'd')} | {_f(r.get('chunks_embedded'), 'd')} |")
    else:
        lines.append("Skipped.")
    lines.append("")

    emb = results.get("embedding")
    lines += ["### Embedding throughput", ""]
    if emb:
        lines += [
            f"{emb['n']} seed chunks ({emb['chars']:.0f} characters on average), MiniLM int8 ONNX, "
            f"{emb['threads']} threads, batch {emb['batch']}.",
            "",
            "| path | chunks/s |",
            "|---|---|",
            f"| `MiniLMEmbeddings.embed_array` (tokenise, pad, run, pool, normalise) | {emb['ours_cps']:.1f} |",
            f"| bare ONNX `session.run` on the same pre-tokenised batches | {emb['bare_cps']:.1f} |",
            f"| ratio (ours / bare) | {emb['ratio']:.2f} |",
        ]
    else:
        lines.append("Skipped.")
    lines.append("")

    lat = results.get("latency") or {}
    lines += ["### Retrieval latency against corpus size", ""]
    any_lat = next((v for v in lat.values() if isinstance(v, dict) and "p50_ms" in v), None)
    if any_lat:
        lines += [
            f"`Retriever.search` in hybrid mode (the product), k={any_lat['k']}, {any_lat['queries']} queries "
            "(dev questions alternating with seed titles), query embedding included. The first search "
            "loads or builds the BM25 index and is timed apart. The last column is the 1-minute load average "
            "when the store was measured: on a shared machine, compare rows only at similar load.",
            "",
        ]
    lines += [
        "| store | papers | chunks | size on disk | first search s | p50 ms | p95 ms | p50 embed / dense / bm25 / fuse / fetch ms | load average |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in lat.items():
        if not isinstance(r, dict) or "p50_ms" not in r:
            reason = r.get("skipped") if isinstance(r, dict) else r
            lines.append(f"| {name} | skipped: {reason} | | | | | | | |")
            continue
        parts = r.get("parts_p50_ms") or {}
        split = " / ".join(_f(parts.get(p)) for p in ("embed", "dense", "bm25", "fuse", "fetch"))
        size = _size(r.get("disk_bytes"))
        if r.get("other_collections"):
            size += " (whole data dir, also holding " + ", ".join(f"`{c}`" for c in r["other_collections"]) + ")"
        lines.append(f"| {name} | {r['papers']:,} | {r['chunks']:,} | {size} | {r['first_search_s']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {split} | {_f(r.get('load'))} |")
    notes = [r["note"] for r in lat.values() if isinstance(r, dict) and r.get("note")]
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    if results.get("plot"):
        lines += [f"![retrieval latency against corpus size]({results['plot']})", ""]

    llm = results.get("llm")
    lines += ["### Local model", ""]
    if llm and "ttft_s" in llm:
        lines += [
            f"{llm['model']}, llama.cpp, {llm['threads']} threads; prompts of about {llm['prompt_tokens']:.0f} tokens "
            f"from seed abstracts, a different one each run, {len(llm['runs'])} runs, median.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| model load (process's first) | {llm['load_s']:.1f} s |",
            f"| time to first token | {llm['ttft_s']:.1f} s ({llm['prompt_tokens_per_s']:.0f} prompt tokens/s) |",
            f"| generation | {_f(llm['tokens_per_s'])} tokens/s |",
            "| runs (TTFT s / tokens/s) | " + ", ".join(f"{r['ttft_s']:.1f} / {_f(r['tokens_per_s'])}" for r in llm["runs"]) + " |",
        ]
    else:
        lines.append(f"Skipped{': ' + llm['skipped'] if llm and llm.get('skipped') else ''}.")
    lines.append("")

    mem = results.get("memory") or {}
    lines += ["### Memory of the bench process", ""]
    if mem:
        lines.append(f"Peak RSS {max(mem.values()):.0f} MB. After each stage: "
                     + ", ".join(f"{stage} {mb:.0f} MB" for stage, mb in mem.items()) + ".")
    return "\n".join(lines).rstrip() + "\n"


def write_section(doc: Path, body: str) -> None:
    """Replace what lies between the markers with ``body``; append the markers if absent."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"{MARK_START}\n{body.rstrip()}\n{MARK_END}"
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(MARK_END):]
    else:
        text = text + ("" if not text or text.endswith("\n") else "\n") + ("\n" if text else "") + block + "\n"
    doc.write_text(text, encoding="utf-8")


def plot_latency(latency: dict[str, Any], path: Path) -> bool:
    """p50/p95 against papers (log x); False (and no file) when no store was measured."""
    points = sorted((r["papers"], r["p50_ms"], r["p95_ms"], name) for name, r in latency.items()
                    if isinstance(r, dict) and "p50_ms" in r)
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


# ---------------------------------------------------------------- the command


def add_parser(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("bench", help="measure ingest, embedding, retrieval and model speed; write docs/benchmarks.md",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store-10k", help="data dir of an existing 10k-paper store (default: build one)")
    p.add_argument("--store-58k", help="data dir of an existing 58k-paper store (default: skipped)")
    p.add_argument("--build-10k", default=str(Path(tempfile.gettempdir()) / "pa-bench-10k"),
                   help="where a missing 10k store is built and kept (default: %(default)s)")
    p.add_argument("--skip-large", action="store_true", help="measure no store that would have to be built")
    p.add_argument("--no-model", action="store_true", help="skip the local-model measurement")
    p.add_argument("--queries", type=int, default=50, help="latency queries per store")
    p.add_argument("--embed-n", type=int, default=0, help="seed chunks for embedding throughput (0: all)")
    p.add_argument("--doc", default=str(DOC), help="Markdown file to write (default: docs/benchmarks.md)")
    p.add_argument("--plot", default=str(PLOT), help="PNG to write (default: docs/bench-latency.png)")
    p.add_argument("--out", help="also write every figure as JSON here")
    p.add_argument("--wait-timeout", type=float, default=3600,
                   help="seconds to wait for another process still writing a given store (then it is skipped)")


def run_bench(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    from .ingest import load_corpus

    settings = load_settings()
    results: dict[str, Any] = {
        "command": shlex.join(["assistant", *argv]),
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "loads": [load_average()],
        "memory": {},
        "latency": {},
    }

    def stage(name: str) -> None:
        results["memory"][name] = peak_rss_mb()
        results["loads"].append(load_average())
        print(f"[bench] {name} done (peak RSS {peak_rss_mb():.0f} MB, load {load_average():.1f})", file=sys.stderr, flush=True)

    seed_papers = load_corpus([SEEDS]).papers
    queries = bench_queries(args.queries, DEV, [p.display_title for p in seed_papers])
    with tempfile.TemporaryDirectory(prefix="pa-bench-seeds-") as tmp:
        data_dir = Path(tmp) / "data"
        results["ingest"] = ingest_runs(data_dir)
        stage("ingest")
        texts = chunk_texts([SEEDS], settings, args.embed_n)
        results["embedding"] = embedding_throughput(texts, settings.embed_threads, settings.embed_batch, settings.embed_max_tokens)
        stage("embedding")
        seed_settings = settings.with_overrides(data_dir=data_dir, chroma_host="", collection="papers")
        results["latency"]["seeds"] = measure_latency(seed_settings, queries)
        stage("latency seeds")

    if args.no_model:
        results["llm"] = {"skipped": "--no-model"}
    else:
        try:
            results["llm"] = llm_speed(settings, [p.abstract for p in seed_papers if p.abstract])
        except Exception as exc:  # noqa: BLE001 - report it in the table, keep the rest
            results["llm"] = {"skipped": f"{type(exc).__name__}: {exc}"}
        stage("local model")

    large = settings.with_overrides(chroma_host="", collection="papers")
    given = {name: Path(where) for name, where in (("10k", args.store_10k), ("58k", args.store_58k)) if where}
    for name, where in list(given.items()):
        if not where.is_dir():
            results["latency"][name] = {"skipped": f"{where} not found"}
            del given[name]
        elif not wait_for_writers(where, args.wait_timeout):
            results["latency"][name] = {"skipped": f"{where} was still being written after {args.wait_timeout:.0f} s"}
            del given[name]
    note_10k = ""
    if "10k" not in given and "10k" not in results["latency"]:
        if args.skip_large:
            results["latency"]["10k"] = {"skipped": "--skip-large and no --store-10k"}
        elif args.store_58k and "58k" not in given:
            results["latency"]["10k"] = {"skipped": "it is derived from the 58k store, which was not available "
                                                    "(embedding 10k papers from scratch takes about 25 minutes: pass --store-10k)"}
        elif not MLANTHOLOGY.exists():
            results["latency"]["10k"] = {"skipped": f"{MLANTHOLOGY} not found"}
        else:
            papers = load_corpus([MLANTHOLOGY]).papers[:LARGE_N]
            source = given.get("58k")
            built = derive_store(Path(args.build_10k), papers, source, large)
            given["10k"] = Path(args.build_10k)
            how = (f"vectors of {built['copied_chunks']:,} chunks copied from the 58k store, which holds the same "
                   f"model's vectors under the same chunk ids; {built['embedded_chunks']:,} embedded") if source \
                else f"{built['embedded_chunks']:,} chunks embedded"
            note_10k = (f"10k: the first {LARGE_N:,} papers of `{MLANTHOLOGY.name}`, built into `{args.build_10k}` in "
                        f"{built['seconds']:.0f} s ({how}).")
            stage("build 10k")
    for name in ("10k", "58k"):
        if name in given:
            results["latency"][name] = measure_latency(large.with_overrides(data_dir=given[name]), queries)
            if name == "10k" and note_10k:
                results["latency"][name]["note"] = note_10k
            stage(f"latency {name}")
        else:
            results["latency"].setdefault(name, {"skipped": f"no --store-{name}"})

    results["latency"] = {name: results["latency"][name] for name in ("seeds", "10k", "58k") if name in results["latency"]}
    results["plot"] = None
    if plot_latency(results["latency"], Path(args.plot)):
        try:
            results["plot"] = os.path.relpath(args.plot, Path(args.doc).parent)
        except ValueError:  # pragma: no cover - another drive
            results["plot"] = str(args.plot)
    return results


def cmd_bench(args: argparse.Namespace) -> int:
    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name in ("assistant", "cli.py", "__main__.py") else ["bench"]
    results = run_bench(args, argv)
    write_section(Path(args.doc), render_section(results))
    print(render_section(results))
    print(f"wrote {args.doc}" + (f" and {args.plot}" if results.get("plot") else ""), file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    return 0
