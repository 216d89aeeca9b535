"""BEIR-format retrieval evaluation (e.g. SciFact): nDCG@10 and recall@100 per fusion mode.

The corpus is ingested with the project's own pipeline (``load_corpus`` ->
``index_papers`` -> ``Store``) into a collection of its own, ``beir_<name>``; the
corpus ``_id`` becomes the paper id, so qrels map straight onto ranked paper ids. The
store is incremental: a second run over the same data directory embeds nothing.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics
from .settings import Settings

MODES = ("bm25", "dense", "rrf", "hybrid")
NDCG_K = 10
RECALL_K = 100


def corpus_name(path: Path) -> str:
    """``scifact/corpus.jsonl`` -> ``scifact``; ``nfcorpus.jsonl.gz`` -> ``nfcorpus``."""
    path = Path(path)
    stem = path.name.split(".")[0]
    if stem in ("corpus", "docs", "documents") and path.parent.name:
        stem = path.parent.name
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", stem).strip("_-").lower() or "corpus"


def collection_for(path: Path) -> str:
    return f"beir_{corpus_name(path)}"


def load_queries(path: Path) -> dict[str, str]:
    """``{"_id", "text"}`` lines -> id -> text."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out[str(row["_id"])] = str(row.get("text", ""))
    return out


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (``query-id corpus-id score``, header optional) -> qid -> {doc: rel}."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # header or blank line
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    return qrels


def ingest(corpus: Path, settings: Settings, progress: bool = False):  # noqa: ANN201 - (Store, IndexSummary)
    """Index a BEIR corpus into ``settings.store.collection`` (incremental)."""
    from .embeddings import embeddings_for
    from .corpus import load_corpus
    from .ingest import index_papers
    from .store import Store

    report = load_corpus([Path(corpus)])
    if not report.papers:
        raise ValueError(f"{corpus}: no document could be read")
    store = Store(settings, embeddings_for(settings))
    summary = index_papers(report.papers, store, settings, progress=progress, sentences=False)  # ranking only
    return store, summary


@dataclass
class ModeResult:
    ndcg: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    fuse_ms: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        n = len(self.ndcg) or 1
        return {
            f"ndcg@{NDCG_K}": sum(self.ndcg) / n,
            f"recall@{RECALL_K}": sum(self.recall) / n,
            "fuse_ms_p50": metrics.percentile(self.fuse_ms, 50) or 0.0,
        }


def evaluate(retriever: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]],
             modes: Iterable[str] = MODES, fusion: Any = None) -> dict[str, Any]:
    """Rank papers (k=100) for every judged query in every mode from one candidate set."""
    modes = tuple(modes)
    results = {mode: ModeResult() for mode in modes}
    candidate_ms: list[float] = []
    per_query: dict[str, dict[str, float]] = {}
    missing = [qid for qid in qrels if qid not in queries]
    for qid, rels in qrels.items():
        if qid not in queries:
            continue
        t0 = time.perf_counter()
        cands = retriever.candidates(queries[qid], depth=retriever.depth_for(RECALL_K))
        candidate_ms.append((time.perf_counter() - t0) * 1000)
        per_query[qid] = {}
        for mode in modes:
            t1 = time.perf_counter()
            ranked = [pid for pid, _ in retriever.rank(cands, mode=mode, k=RECALL_K, fusion=fusion)]
            results[mode].fuse_ms.append((time.perf_counter() - t1) * 1000)
            ndcg = metrics.ndcg_at_k(ranked, rels, NDCG_K)
            results[mode].ndcg.append(ndcg)
            results[mode].recall.append(metrics.recall_at_k(ranked, rels, RECALL_K))
            per_query[qid][mode] = round(ndcg, 4)
    return {
        "queries": len(per_query),
        "missing_queries": missing,
        "modes": {mode: res.row() for mode, res in results.items()},
        "candidates_ms_p50": metrics.percentile(candidate_ms, 50),
        "candidates_ms_p95": metrics.percentile(candidate_ms, 95),
        "per_query_ndcg": per_query,
    }


def table(report: dict[str, Any]) -> str:
    """The modes side by side."""
    modes = report["modes"]
    head = f"{'metric':<12}" + "".join(f"{m:>10}" for m in modes)
    lines = [head, "-" * len(head)]
    for key in (f"ndcg@{NDCG_K}", f"recall@{RECALL_K}"):
        lines.append(f"{key:<12}" + "".join(f"{modes[m][key]:>10.4f}" for m in modes))
    return "\n".join(lines)
