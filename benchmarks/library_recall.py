"""The library model offline: leave-one-out recall@10 on the dev recommend items, and training time.

Each dev recommend item's gold papers are a simulated library: hide one, save the rest, rank the
corpus (saved papers excluded) and ask whether the hidden one is in the top 10. Compared:
the library model (class-balanced ridge classifier over paper vectors, ``assistant/library.py``)
and plain similarity (each paper's cosine to its closest saved paper). Training time is measured
on a matrix the size of the 58k mlanthology corpus (random unit vectors: the cost depends on the
shape only).

    .venv/bin/python benchmarks/library_recall.py [--data-dir DIR] [--papers 58544]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.library import CorpusVectors, corpus_vectors, train  # noqa: E402
from assistant.text import fold_title  # noqa: E402
from benchmarks.dev_retrieval import open_seeded  # noqa: E402
from benchmarks.paths import DEV  # noqa: E402


def leave_one_out(corpus: CorpusVectors, gold_sets: list[list[str]], settings, k: int = 10) -> dict[str, float]:  # noqa: ANN001
    """recall@k of the hidden paper, over every (item, hidden paper), per ranking."""
    hits = {"classifier": [], "similarity": []}
    for gold in gold_sets:
        for hidden in gold:
            saved = [g for g in gold if g != hidden]
            for kind, min_saved in (("classifier", 2), ("similarity", 10_000)):
                model = train(corpus, saved, [], settings.with_overrides(library_min_saved=min(min_saved, 100)))
                scores = model.scores()
                scores[corpus.rows(saved)] = -np.inf
                top = {corpus.ids[i] for i in np.argsort(-scores)[:k]}
                hits[kind].append(float(hidden in top))
    return {kind: round(statistics.mean(v), 3) for kind, v in hits.items()} | {"pairs": len(hits["classifier"])}


def training_ms(settings, papers: int, saved: int = 20, repeats: int = 5) -> dict[str, float]:  # noqa: ANN001
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((papers, 384)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    corpus = CorpusVectors([f"p{i}" for i in range(papers)], matrix, [{} for _ in range(papers)])
    positives = [f"p{i}" for i in range(saved)]
    times, scoring = [], []
    for _ in range(repeats):
        model = train(corpus, positives, [f"p{saved}"], settings)
        times.append(model.train_ms)
        t0 = time.perf_counter()
        model.scores()
        scoring.append((time.perf_counter() - t0) * 1000)
    return {"papers": papers, "train_ms_p50": round(statistics.median(times), 1),
            "score_all_ms_p50": round(statistics.median(scoring), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="seed index to reuse (default: a temporary one)")
    parser.add_argument("--papers", type=int, default=58_544, help="corpus size for the training time")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="pa-library-"))
    settings, store = open_seeded(data_dir)
    corpus = corpus_vectors(store)
    by_title = {fold_title(m.get("title", "")): pid for pid, m in zip(corpus.ids, corpus.metas)}
    items = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    gold_sets = [[by_title[fold_title(t)] for t in item["gold_titles"] if fold_title(t) in by_title]
                 for item in items if item["type"] == "recommend"]
    gold_sets = [g for g in gold_sets if len(g) >= 3]  # at least 2 saved after hiding one
    report = {"dev_recommend_items": len(gold_sets), "corpus_papers": len(corpus.ids),
              "recall@10": leave_one_out(corpus, gold_sets, settings),
              "training": training_ms(settings, args.papers)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
