"""Dev-set retrieval: paper recall@5/@10 and MRR per question type, per mode.

Indexes the seed corpus (``seeds/``) into a data directory (a temporary one unless
``--data-dir`` is given; the store is incremental, so a kept directory is reused), then
asks every dev question (followup: its turns joined with spaces) and matches retrieved
titles against ``gold_titles`` (``assistant.text.fold_title``). Absent items have no
gold: the table shows, instead, how many of them have a top hit whose cosine is under
the refusal threshold (``refuse_below``). Measurement only: nothing here feeds tuning.

    .venv/bin/python benchmarks/dev_retrieval.py [--data-dir DIR] [--modes bm25,dense,rrf,hybrid] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant import metrics  # noqa: E402
from assistant.retrieve import MODES, Fusion, Retriever, make_retriever  # noqa: E402
from benchmarks.paths import DEV, SEEDS  # noqa: E402
from benchmarks.report import latency  # noqa: E402

TYPES = ("lookup", "fact", "recommend", "compare", "followup", "absent")


def question_of(item: dict) -> str:
    return " ".join(item["turns"]) if item.get("turns") else item["question"]


def open_seeded(data_dir: Path):  # noqa: ANN201
    from assistant.embeddings import embeddings_for
    from assistant.corpus import load_corpus
    from assistant.ingest import index_papers
    from assistant.settings import load_settings
    from assistant.store import Store

    settings = load_settings(env={}, data_dir=data_dir)
    store = Store(settings, embeddings_for(settings))
    summary = index_papers(load_corpus([SEEDS]).papers, store, settings)
    print(f"seeds: {summary.line()}", file=sys.stderr)
    return settings, store


def evaluate(retriever: Retriever, items: list[dict], mode: str, refuse_below: float) -> dict:
    rows: dict[str, list[dict]] = {t: [] for t in TYPES}
    latencies: list[float] = []
    for item in items:
        hits = retriever.search(question_of(item), k=10, mode=mode)
        latencies.append(retriever.last_timings["total_ms"])
        got = [h.title for h in hits]
        gold = item["gold_titles"]
        rows.setdefault(item["type"], []).append({
            "id": item["id"],
            "recall@5": metrics.paper_recall_at_k(got, gold, 5),
            "recall@10": metrics.paper_recall_at_k(got, gold, 10),
            "mrr": metrics.paper_mrr(got, gold),
            "top_cosine": hits[0].dense if hits else 0.0,
        })
    out: dict = {"latency_ms": latency(latencies), "types": {}}
    for kind, found in rows.items():
        if not found:
            continue
        entry = {"n": len(found)}
        for key in ("recall@5", "recall@10", "mrr"):
            entry[key] = metrics.mean(r[key] for r in found)
        entry["below_refuse"] = sum(r["top_cosine"] < refuse_below for r in found) / len(found)
        entry["misses@5"] = [r["id"] for r in found if r["recall@5"] is not None and r["recall@5"] < 1.0]
        out["types"][kind] = entry
    answerable = [r for kind, found in rows.items() if kind != "absent" for r in found]
    out["types"]["all (non-absent)"] = {
        "n": len(answerable),
        **{key: metrics.mean(r[key] for r in answerable) for key in ("recall@5", "recall@10", "mrr")},
    }
    return out


def print_table(results: dict[str, dict]) -> None:
    modes = list(results)
    kinds = list(next(iter(results.values()))["types"])
    print(f"{'type':<18}{'n':>4}  " + "  ".join(f"{m + ' R@5/R@10/MRR':>26}" for m in modes))
    for kind in kinds:
        n = results[modes[0]]["types"][kind]["n"]
        cells = []
        for m in modes:
            e = results[m]["types"][kind]
            if e.get("recall@5") is None:
                cells.append(f"{'top cos < refuse: ' + format(e['below_refuse'], '.2f'):>26}")
            else:
                cells.append(f"{e['recall@5']:>10.3f}{e['recall@10']:>8.3f}{e['mrr']:>8.3f}")
        print(f"{kind:<18}{n:>4}  " + "  ".join(cells))
    print(f"{'p50/p95 ms':<22}" + "  ".join(
        f"{results[m]['latency_ms']['p50']:>17.1f}{results[m]['latency_ms']['p95']:>9.1f}" for m in modes))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="keep the seed index here (default: a temporary directory)")
    p.add_argument("--dev", default=str(DEV), help="question set (JSONL), e.g. benchmarks/own_questions.jsonl")
    p.add_argument("--modes", default=",".join(("bm25", "dense", "rrf", "hybrid")))
    p.add_argument("--fusion", help="JSON of Fusion fields to use for hybrid instead of PRODUCT")
    p.add_argument("--out", help="write the results (JSON)")
    args = p.parse_args()
    items = [json.loads(line) for line in Path(args.dev).read_text().splitlines() if line.strip()]
    modes = [m for m in args.modes.split(",") if m]
    assert all(m in MODES for m in modes), modes
    with tempfile.TemporaryDirectory(prefix="pa-dev-") as tmp:
        settings, store = open_seeded(Path(args.data_dir or tmp))
        retriever = make_retriever(settings, store=store, embeddings=store.embeddings)  # the product's fusion
        if args.fusion:
            retriever.fusion = Fusion(**json.loads(args.fusion))
        retriever.search("warm up", k=10)
        results = {m: evaluate(retriever, items, m, settings.refuse_below) for m in modes}
    print(f"dev: {len(items)} questions, {store.count()} chunks; fusion {retriever.fusion}")
    print_table(results)
    if args.out:
        Path(args.out).write_text(json.dumps({"fusion": vars(retriever.fusion), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
