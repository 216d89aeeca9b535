"""Calibrate the no-model refusal (extractive provider): which score separates questions the
corpus answers from those it does not, and where to cut it.

For every single-turn question of dev and the own set (lookup, fact, compare: answerable;
absent: should be refused), runs the product's retrieval and evidence selection and records:

- ``cosine``: the best evidence cosine (what the gate used before), and
- ``standout``: that cosine minus the question's background, the mean cosine of its dense
  candidates ranked 50-200 (how far the best match stands out from the corpus as a whole for
  this question: a score that does not depend on where an embedder's cosines bunch),
- whether the term check (a name, acronym or quoted title no paper has) already refuses it.

Prints, per score, the ROC AUC on each set and the refusal / false-refusal rates over a
threshold grid, gaps included. Needs an indexed seed store.

    .venv/bin/python -m benchmarks.refusal_calibration --data-dir /tmp/pa-data [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.paths import DEV, OWN

ANSWERABLE = ("lookup", "fact", "compare")
BACKGROUND = (50, 200)  # dense candidate ranks whose mean cosine is the question's background


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["type"] in ANSWERABLE + ("absent",)]


def features(assistant, item: dict) -> dict:  # noqa: ANN001
    """The gate's inputs for one question, from the product's own code path."""
    chain = assistant.chain
    retriever = assistant.retriever
    q = item["question"]
    cands = retriever.candidates(q, depth=BACKGROUND[1])
    tail = [c for _, c in cands.dense[BACKGROUND[0] : BACKGROUND[1]]] or [0.0]
    hits = retriever.search(q, k=chain.candidates())
    evidence = chain.gather(q, hits)
    verdict = chain.coverage.screen(q, evidence)  # refuse_below 0: only the term check refuses
    cosine = max(evidence.best, hits[0].dense) if hits else 0.0
    return {"id": item["id"], "absent": item["type"] == "absent", "cosine": cosine,
            "standout": cosine - float(np.mean(tail)), "gap": bool(verdict.refused)}


def auc(rows: list[dict], key: str) -> float:
    """P(an answerable question scores above an absent one)."""
    pos = [r[key] for r in rows if not r["absent"]]
    neg = [r[key] for r in rows if r["absent"]]
    if not pos or not neg:
        return float("nan")
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def rates(rows: list[dict], key: str, t: float) -> tuple[float, float]:
    """(share of absent refused, share of answerable refused) when refusing below ``t`` or on a gap."""
    refused = [r["gap"] or r[key] < t for r in rows]
    absent = [x for x, r in zip(refused, rows) if r["absent"]]
    rest = [x for x, r in zip(refused, rows) if not r["absent"]]
    return (sum(absent) / max(len(absent), 1), sum(rest) / max(len(rest), 1))


def main(argv: list[str] | None = None) -> int:
    from assistant.service import Assistant
    from assistant.settings import load_settings

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--json", type=Path, help="write every question's features here")
    args = p.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir, provider="extractive", refuse_below=0.0)
    assistant = Assistant.create(settings, load_model=False)
    sets = {"dev": [features(assistant, i) for i in load(DEV)], "own": [features(assistant, i) for i in load(OWN)]}
    print(f"embedder {settings.embedding.model}")
    for key, grid in (("cosine", np.arange(0.3, 0.9, 0.02)), ("standout", np.arange(0.0, 0.4, 0.01))):
        print(f"\n{key}: AUC dev {auc(sets['dev'], key):.3f}, own {auc(sets['own'], key):.3f}")
        for t in grid:
            dev, own = rates(sets["dev"], key, t), rates(sets["own"], key, t)
            print(f"  t={t:.2f}  dev refusal {dev[0]:.2f} false {dev[1]:.2f} | own refusal {own[0]:.2f} false {own[1]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(sets, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
