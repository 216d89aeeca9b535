"""Retrieval latency at scale: the 58,545-paper mlanthology corpus.

Embedding 58k abstracts (~150k chunks) with MiniLM on 2 CPU cores takes hours, so the
chunks are indexed through the product's own ``index_papers`` -> ``Store`` path with a
cheap stand-in embedder (hashed bag of words projected to 384 dims, L2-normalised):
the Chroma collection, HNSW graph, metadata and BM25 index have the real size and
shape. Each query is embedded by the real MiniLM model (so ``embed_ms`` is real) and
searched with its stand-in vector (so Chroma walks a graph of the real size with an
in-distribution query); only the relevance of the dense ranking is meaningless.

Reports ingest throughput without the model (parse, chunk, write, BM25 build) and
per-query latency p50/p95 of ``Retriever.search(k=10)`` in hybrid mode, unfiltered and
with ``exclude_papers`` (as recommendations do) and with a source filter, split into embed / dense / bm25 /
fuse / fetch.

    .venv/bin/python benchmarks/scale_latency.py [--data-dir /tmp/pa-58k] [--limit N] [--queries 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import DEV, MLANTHOLOGY  # noqa: E402
from benchmarks.report import latency  # noqa: E402

_WORD = re.compile(r"[a-z0-9]+")


class TimedStandIn:
    """Query embedder for the benchmark: runs the real model (its cost is real) and
    returns the stand-in vector, so Chroma searches an in-distribution query."""

    def __init__(self, model, stand_in) -> None:  # noqa: ANN001
        self.model, self.stand_in = model, stand_in

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.model.embed_array(texts)
        return self.stand_in.embed_array(texts)


class HashEmbeddings(Embeddings):
    """Deterministic stand-in: sum of per-token random vectors (2^15 buckets), normalised."""

    def __init__(self, dim: int = 384, buckets: int = 1 << 15) -> None:
        self.table = np.random.default_rng(0).standard_normal((buckets, dim)).astype(np.float32)
        self.buckets = buckets
        self.dim = dim

    def embed_array(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            idx = [zlib.crc32(w.encode()) % self.buckets for w in _WORD.findall(text.lower())]
            if idx:
                out[row] = self.table[idx].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def load_papers(corpus: Path, limit: int, settings, report: dict) -> list:  # noqa: ANN001
    """Parse (and chunk, to time it) the corpus; the first ``limit`` papers (0: all)."""
    from assistant.corpus import load_corpus
    from assistant.ingest import iter_chunks

    t0 = time.perf_counter()
    papers = load_corpus([corpus]).papers
    if limit:
        papers = papers[:limit]
    t1 = time.perf_counter()
    n_chunks = sum(len(c) for _, c in iter_chunks(papers, settings.store.chunk_size, settings.store.chunk_overlap))
    t2 = time.perf_counter()
    report["papers"], report["chunks"] = len(papers), n_chunks
    report["parse_s"], report["chunk_s"] = round(t1 - t0, 1), round(t2 - t1, 1)
    print(f"{len(papers)} papers parsed in {t1 - t0:.1f}s; {n_chunks} chunks split in {t2 - t1:.1f}s", flush=True)
    return papers


def index_store(papers: list, settings, report: dict):  # noqa: ANN001, ANN201
    """Index with the stand-in embedder, then time the BM25 build (or load) and a reload."""
    from assistant.embeddings import embeddings_for
    from assistant.ingest import index_papers
    from assistant.retrieve import Retriever
    from assistant.store import Store

    store = Store(settings, HashEmbeddings())
    summary = index_papers(papers, store, settings, progress=False)
    report["index_s"] = round(summary.seconds, 1)
    report["index_chunks_embedded"] = summary.chunks_embedded
    print(f"index (stand-in embedder): {summary.line()}", flush=True)

    model = TimedStandIn(embeddings_for(settings), store.embeddings)
    retriever = Retriever(store=store, embeddings=model)
    t3 = time.perf_counter()
    retriever.bm25()
    report["bm25_first_load_s"] = round(time.perf_counter() - t3, 1)
    t4 = time.perf_counter()
    Retriever(store=store, embeddings=model).bm25()
    report["bm25_reload_s"] = round(time.perf_counter() - t4, 2)
    print(f"BM25 build or load {report['bm25_first_load_s']}s, reload from disk {report['bm25_reload_s']}s", flush=True)
    return retriever


def measure(retriever, papers: list, n_queries: int, report: dict) -> None:  # noqa: ANN001
    """p50/p95 of every timed part, unfiltered, excluding 5 papers and with a source filter."""
    from assistant.retrieve import Filters

    rng = random.Random(0)
    dev = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()] if DEV.exists() else []
    queries = [d.get("question") or " ".join(d["turns"]) for d in dev]
    queries += [f"{pp.display_title}" for pp in rng.sample(papers, max(0, n_queries - len(queries)))]
    queries = queries[:n_queries]
    for q in queries[:5]:
        retriever.search(q, k=10)  # warm-up
    exclude = Filters(exclude_papers=tuple(pp.paper_id for pp in rng.sample(papers, 5)))
    source = Filters(sources=(papers[0].source,))
    for label, filters in (("hybrid", None), ("hybrid+exclude5", exclude), ("hybrid+source", source)):
        timings: dict[str, list[float]] = {}
        for q in queries:
            retriever.search(q, k=10, filters=filters)
            for key, value in retriever.last_timings.items():
                timings.setdefault(key, []).append(value)
        report[label] = {key: latency(values) for key, values in timings.items()}
        parts = "  ".join(f"{k} {v['p50']:.1f}/{v['p95']:.1f}" for k, v in report[label].items())
        print(f"{label:<16} ms p50/p95: {parts}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/tmp/pa-58k")
    p.add_argument("--corpus", default=str(MLANTHOLOGY))
    p.add_argument("--limit", type=int, default=0, help="only the first N papers (0: all)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--out")
    args = p.parse_args()

    from assistant.settings import load_settings

    settings = load_settings(env={}, data_dir=Path(args.data_dir), collection="scale_hashed")
    report: dict = {"corpus": args.corpus}
    papers = load_papers(Path(args.corpus), args.limit, settings, report)
    retriever = index_store(papers, settings, report)
    measure(retriever, papers, args.queries, report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
