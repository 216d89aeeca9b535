"""Evidence selection: stored sentence vectors (a lookup and a dot product) against embedding
every sentence of the top papers per answer (the code before sentence vectors were stored).

Indexes the seed corpus into a data directory (temporary unless ``--data-dir``), retrieves the
top 5 papers for the first N dev questions once, then times ``EvidenceBuilder.gather`` both
ways, alternating, over several rounds (side by side, so a busy machine slows both alike).

    .venv/bin/python benchmarks/evidence_lookup.py [--data-dir DIR] [--questions 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import DEV, SEEDS  # noqa: E402
from benchmarks.report import percentile  # noqa: E402


def _setup(data_dir: Path):  # noqa: ANN202
    from assistant.corpus import load_corpus
    from assistant.embeddings import embeddings_for
    from assistant.evidence import EvidenceBuilder
    from assistant.ingest import index_papers
    from assistant.retrieve import Retriever
    from assistant.settings import load_settings
    from assistant.store import Store

    settings = load_settings(env={}, data_dir=data_dir)
    embeddings = embeddings_for(settings)
    store = Store(settings, embeddings)
    print(index_papers(load_corpus([SEEDS]).papers, store, settings).line(), file=sys.stderr)
    return EvidenceBuilder(settings, store, embeddings), Retriever(store=store, embeddings=embeddings)


def _time(builder, hits: dict) -> list[float]:  # noqa: ANN001
    out = []
    for question, found in hits.items():
        t0 = time.perf_counter()
        builder.gather(question, found)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--questions", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="evidence-bench-"))
    builder, retriever = _setup(data_dir)
    questions = [q for q in (json.loads(line).get("question") for line in DEV.open()) if q][: args.questions]
    hits = {q: retriever.search(q, k=10)[:5] for q in questions}
    times: dict[str, list[float]] = {"stored": [], "embedded": []}
    stored_lookup = builder.store.sentences_of
    for _ in range(args.rounds):
        times["stored"] += _time(builder, hits)
        builder.store.sentences_of = lambda papers: {}  # as before: embed every sentence
        times["embedded"] += _time(builder, hits)
        builder.store.sentences_of = stored_lookup
    print("| evidence sentences | p50 ms | p95 ms |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} |")
    print(f"\nratio of medians: {percentile(times['embedded'], 50) / percentile(times['stored'], 50):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
