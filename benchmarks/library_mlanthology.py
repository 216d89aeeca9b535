"""The library model at scale: leave-one-out recall@10 on mlanthology, library model vs similarity.

Simulated interests are title-word clusters: the papers whose titles share a two-word phrase
("graph neural", "knowledge distillation"; phrases held by 40-400 papers of the sample, chosen at
random). For each interest, ``--saved`` members are saved, one other member is hidden, every other
paper of the sample is a candidate; a hit when the hidden paper is in the top 10. Also reported:
the share of the top 10 that belong to the interest (precision@10). Ranked by the product's own
code (``assistant.library.train``): the class-balanced ridge classifier over paper vectors, and
plain similarity (cosine to the closest saved paper). Training and scoring time at the sample size.

Paper vectors: ``title. abstract`` embedded once by the product's embedder (MiniLM, 256 tokens),
cached under ``--cache``. A random sample (``--papers``, default 20,000 of the 58,544: the whole
file takes about 45 minutes to embed on these 2 cores).

    .venv/bin/python benchmarks/library_mlanthology.py [--papers 20000] [--interests 40] [--cache /tmp/ml-vectors.npz]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.embeddings import get_embeddings  # noqa: E402
from assistant.library import CorpusVectors, train  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from benchmarks.paths import MLANTHOLOGY as DATA  # noqa: E402

STOP = frozenset("""with from for and the via using towards toward into under over through beyond without learning
neural network networks deep model models based large data efficient improving improved approach method methods
analysis study new robust scalable fast better simple general generalization""".split())


def load_sample(n: int, seed: int = 0) -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r.get("title") and r.get("abstract")]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return [rows[i] for i in sorted(pick)]


def vectors(rows: list[dict], cache: Path) -> np.ndarray:
    ids = [r["id"] for r in rows]
    if cache.exists():
        saved = np.load(cache, allow_pickle=False)
        if saved["ids"].tolist() == ids:
            return saved["matrix"]
    embedder = get_embeddings()
    t0 = time.perf_counter()
    matrix = np.asarray(embedder.embed_array([f"{r['title']}. {r['abstract']}" for r in rows]), dtype=np.float32)
    print(f"embedded {len(rows)} papers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    np.savez(cache, ids=np.array(ids), matrix=matrix)
    return matrix


def phrases(title: str) -> set[str]:
    tokens = [w for w in re.findall(r"[a-z][a-z\-]+", title.lower())]
    return {f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if a not in STOP and b not in STOP and len(a) > 2 and len(b) > 2}


def interests(rows: list[dict], k: int, saved: int, seed: int = 0) -> dict[str, list[int]]:
    members: dict[str, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(rows):
        for p in phrases(r["title"]):
            members[p].append(i)
    eligible = sorted(p for p, m in members.items() if max(40, saved + 2) <= len(m) <= 400)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(eligible), size=min(k, len(eligible)), replace=False)
    return {eligible[i]: members[eligible[i]] for i in sorted(chosen)}


def leave_one_out(corpus: CorpusVectors, groups: dict[str, list[int]], saved: int, repeats: int,
                  settings, seed: int = 0) -> dict:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    hits = {"classifier": [], "similarity": []}
    precision = {"classifier": [], "similarity": []}
    train_ms, score_ms = [], []
    for members in groups.values():
        member_set = set(members)
        for _ in range(repeats):
            pick = rng.choice(len(members), size=saved + 1, replace=False)
            library = [corpus.ids[members[i]] for i in pick[:-1]]
            hidden = members[pick[-1]]
            for kind, min_saved in (("classifier", settings.library.min_saved), ("similarity", 10_000)):
                model = train(corpus, library, [], settings.with_overrides(library_min_saved=min(min_saved, 100)))
                t0 = time.perf_counter()
                scores = model.scores()
                scores[corpus.rows(library)] = -np.inf
                top = np.argpartition(-scores, 10)[:10]
                if kind == "classifier":
                    train_ms.append(model.train_ms)
                    score_ms.append((time.perf_counter() - t0) * 1000)
                hits[kind].append(float(hidden in set(top.tolist())))
                precision[kind].append(len(member_set & set(top.tolist())) / 10)
    return {"recall@10": {k: round(statistics.mean(v), 3) for k, v in hits.items()},
            "precision@10": {k: round(statistics.mean(v), 3) for k, v in precision.items()},
            "pairs": len(hits["classifier"]),
            "train_ms_p50": round(statistics.median(train_ms), 1), "score_all_ms_p50": round(statistics.median(score_ms), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--interests", type=int, default=40)
    parser.add_argument("--saved", type=int, default=10, help="papers saved per simulated library")
    parser.add_argument("--repeats", type=int, default=5, help="hidden papers per interest")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ml-vectors.npz"))
    args = parser.parse_args(argv)
    rows = load_sample(args.papers)
    matrix = vectors(rows, args.cache)
    corpus = CorpusVectors([r["id"] for r in rows], matrix, [{"title": r["title"]} for r in rows])
    groups = interests(rows, args.interests, args.saved)
    settings = load_settings()
    report = {"papers": len(rows), "interests": len(groups), "saved_per_library": args.saved,
              "examples": list(groups)[:8], **leave_one_out(corpus, groups, args.saved, args.repeats, settings)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
