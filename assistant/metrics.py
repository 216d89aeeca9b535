"""Evaluation metrics: pure functions over rankings, eval records and timings.

Ranking metrics (BEIR conventions, as computed by ``pytrec_eval``):

- ``ndcg_at_k``: graded relevance, linear gain ``rel / log2(rank + 1)``; the ideal DCG
  is built from the judged relevances (``rel > 0``) sorted descending. No relevant
  document -> 0.0.
- ``recall_at_k``: relevant documents found in the top ``k`` / all relevant ones.
- ``mrr``: reciprocal rank of the first relevant document (0.0 when none is found).

Answer metrics over eval records (see :func:`summarise` for the record format):

- paper recall@k: gold titles found among the first ``k`` retrieved titles, titles
  compared after :func:`assistant.text.fold_title` (case, accents, LaTeX, punctuation);
- citation precision: cited titles that are gold / cited titles (undefined, ``None``,
  when nothing is cited);
- citation validity: ``[n]`` markers that resolve to a numbered source / all markers,
  counting markers the chain had to drop as dangling;
- refusal accuracy: share of ``absent`` items refused; false-refusal rate: share of the
  other items refused;
- fact coverage: share of ``answer_facts`` matched by the answer (see :func:`fact_matches`);
- latency: p50 / p95 (linear interpolation between order statistics).

Functions return ``None`` where a metric is undefined for an item (no gold, no
citation, no facts); aggregates average over the defined values only and report how
many items they cover.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from .citations import marker_uses
from .text import fold_title

# ---------------------------------------------------------------- ranking metrics


def _relevant(qrels: Mapping[str, float] | Iterable[str]) -> dict[str, float]:
    if isinstance(qrels, Mapping):
        return {doc: float(rel) for doc, rel in qrels.items() if float(rel) > 0}
    return {doc: 1.0 for doc in qrels}


def _dedupe(ranked: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, float] | Iterable[str], k: int = 10) -> float:
    """nDCG@k with graded relevance (BEIR / trec_eval linear gain)."""
    rel = _relevant(qrels)
    if not rel or k <= 0:
        return 0.0
    gains = [rel.get(doc, 0.0) for doc in _dedupe(ranked)[:k]]
    ideal = dcg(sorted(rel.values(), reverse=True)[:k])
    return dcg(gains) / ideal if ideal else 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, float] | Iterable[str], k: int) -> float:
    """Relevant items in the top ``k`` / all relevant items (0.0 when none is relevant)."""
    rel = _relevant(qrels)
    if not rel:
        return 0.0
    return len(set(_dedupe(ranked)[:k]) & set(rel)) / len(rel)


def mrr(ranked: Sequence[str], qrels: Mapping[str, float] | Iterable[str], k: int | None = None) -> float:
    """Reciprocal rank of the first relevant item within the top ``k`` (all when None)."""
    rel = _relevant(qrels)
    items = _dedupe(ranked)
    for rank, doc in enumerate(items if k is None else items[:k], 1):
        if doc in rel:
            return 1.0 / rank
    return 0.0


# ---------------------------------------------------------------- title-level metrics


def folded(titles: Iterable[str]) -> list[str]:
    """Titles folded for matching, empty ones dropped, order and first copy kept."""
    return _dedupe(f for f in (fold_title(t or "") for t in titles) if f)


def paper_recall_at_k(retrieved_titles: Sequence[str], gold_titles: Iterable[str], k: int) -> float | None:
    """Gold papers among the first ``k`` retrieved / gold papers (None without gold)."""
    gold = folded(gold_titles)
    if not gold:
        return None
    return recall_at_k(folded(retrieved_titles), gold, k)


def paper_mrr(retrieved_titles: Sequence[str], gold_titles: Iterable[str], k: int | None = None) -> float | None:
    gold = folded(gold_titles)
    if not gold:
        return None
    return mrr(folded(retrieved_titles), gold, k)


def citation_precision(cited_titles: Iterable[str], gold_titles: Iterable[str]) -> float | None:
    """Cited papers that are gold / cited papers (None when nothing is cited)."""
    cited = folded(cited_titles)
    if not cited:
        return None
    gold = set(folded(gold_titles))
    return sum(1 for t in cited if t in gold) / len(cited)


def citation_validity(markers: Sequence[int], valid_numbers: Iterable[int], dangling: int = 0) -> float | None:
    """Markers that resolve / all markers; ``dangling`` adds markers already dropped."""
    valid = set(valid_numbers)
    total = len(markers) + dangling
    if not total:
        return None
    return sum(1 for n in markers if n in valid) / total


def marker_counts(record: Mapping[str, Any]) -> tuple[int, int]:
    """(resolved, total) citation markers of one eval record.

    Markers are parsed from ``answer``; a marker resolves when its number belongs to a
    source of the record: ``references[*].number`` when present, else ``valid_numbers``,
    else 1..len(retrieved). Markers the chain removed before writing the record count
    as unresolved: ``dangling`` (an int or a list) or the numbers in a notice
    "Removed citation(s) to source(s) the model was not given: ..." (earlier records: "to
    missing source(s): ...").
    """
    markers = marker_uses(str(record.get("answer") or ""))
    if record.get("references"):
        valid = {int(r["number"]) for r in record["references"] if "number" in r}
    elif record.get("valid_numbers") is not None:
        valid = {int(n) for n in record["valid_numbers"]}
    else:
        valid = set(range(1, len(_titles(record, "retrieved")) + 1))
    dangling = record.get("dangling")
    if isinstance(dangling, (list, tuple)):
        extra = len(dangling)
    elif dangling is not None:
        extra = int(dangling)
    else:
        notice = str(record.get("notice") or "")
        found = re.search(r"(?:missing source\(s\)|the model was not given):\s*(.*)", notice)
        extra = len(re.findall(r"\d+", found.group(1).split(".")[0])) if found else 0
    return sum(1 for n in markers if n in valid), len(markers) + extra


# ---------------------------------------------------------------- facts

_STOP = frozenset(
    "a an the of and or to in on for with by from as at is are was were be been its it this that these those "
    "into than then via vs per over under both each their his her which who whom what when where how why not "
    "no can could may might will would should using use used uses based".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
FACT_OVERLAP = 0.6  # share of a fact's content tokens the answer must contain


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # pragma: no cover - PyStemmer is a dependency
        return None


def normalise(text: str) -> str:
    """Lower case, accents stripped, every non-alphanumeric run to one space."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(_TOKEN.findall(text))


def content_tokens(text: str) -> list[str]:
    """Stemmed tokens of ``text`` without stopwords (numbers kept whole: ``35.5``)."""
    tokens = [t.rstrip(".,") for t in normalise(text).split() if t not in _STOP]
    stemmer = _stemmer()
    return stemmer.stemWords(tokens) if stemmer else tokens


def fact_matches(answer: str, fact: str, threshold: float = FACT_OVERLAP) -> bool:
    """A fact is covered when its normalised text is a substring of the normalised
    answer, or when at least ``threshold`` of its distinct stemmed content tokens
    (stopwords dropped, numbers kept whole) occur in the answer. Facts with no content
    token never match."""
    norm_fact, norm_answer = normalise(fact), normalise(answer)
    if not norm_fact:
        return False
    if f" {norm_fact} " in f" {norm_answer} ":
        return True
    want = set(content_tokens(fact))
    if not want:
        return False
    have = set(content_tokens(answer))
    return len(want & have) / len(want) >= threshold


def fact_coverage(answer: str, facts: Sequence[str], threshold: float = FACT_OVERLAP) -> float | None:
    """Share of ``facts`` covered by ``answer`` (None when there are no facts)."""
    if not facts:
        return None
    return sum(fact_matches(answer, f, threshold) for f in facts) / len(facts)


# ---------------------------------------------------------------- refusals and latency


def refusal_accuracy(refused_on_absent: Iterable[bool]) -> float | None:
    """Share of ``absent`` items that were refused."""
    values = [bool(v) for v in refused_on_absent]
    return sum(values) / len(values) if values else None


def false_refusal_rate(refused_on_answerable: Iterable[bool]) -> float | None:
    """Share of answerable (non-absent) items that were refused."""
    values = [bool(v) for v in refused_on_answerable]
    return sum(values) / len(values) if values else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None when empty."""
    data = sorted(float(v) for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def latency(values: Iterable[float]) -> dict[str, float | int | None]:
    data = [float(v) for v in values if v is not None]
    return {"p50": percentile(data, 50), "p95": percentile(data, 95), "n": len(data)}


def mean(values: Iterable[float | None]) -> float | None:
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None


# ---------------------------------------------------------------- eval records

TIMINGS = ("retrieval_ms", "evidence_s", "first_token_s", "total_s")


def _titles(record: Mapping[str, Any], kind: str) -> list[str]:
    """Titles of ``retrieved`` / ``cited`` (also ``<kind>_titles``; dicts with ``title``)."""
    value = record.get(kind)
    if value is None:
        value = record.get(f"{kind}_titles", [])
    return [v.get("title", "") if isinstance(v, Mapping) else str(v) for v in value or []]


def _support_rate(record: Mapping[str, Any]) -> float | None:
    support = record.get("support") or []
    if not support:
        return None
    return sum(1 for s in support if s.get("supported")) / len(support)


def has_content(record: Mapping[str, Any]) -> bool | None:
    """Whether an answer says something beyond titles and the question: a sentence of the model's
    that the claim checks kept (None for refusals and extractive answers, which quote sources)."""
    if record.get("refused") or record.get("provider") == "extractive" or record.get("kind") == "recommendations":
        return None
    return any(not s.get("dropped") and s.get("text") for s in record.get("support") or [])


def dropped_share(record: Mapping[str, Any]) -> float | None:
    """Share of the answer's sentences the claim checks dropped (titles only, the question echoed)."""
    support = record.get("support") or []
    if record.get("refused") or not support:
        return None
    return sum(1 for s in support if s.get("dropped")) / len(support)


def item_metrics(record: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    """Per-item metrics of one eval record against its dev item."""
    gold = item.get("gold_titles") or []
    retrieved = _titles(record, "retrieved")
    cited = _titles(record, "cited")
    resolved, markers = marker_counts(record)
    refused = bool(record.get("refused"))
    absent = item.get("type") == "absent"
    return {
        "id": item.get("id"),
        "type": item.get("type") or record.get("type"),
        "recall@5": paper_recall_at_k(retrieved, gold, 5),
        "recall@10": paper_recall_at_k(retrieved, gold, 10),
        "mrr": paper_mrr(retrieved, gold),
        "citation_precision": None if refused else citation_precision(cited, gold),
        "markers": markers,
        "markers_resolved": resolved,
        "refused": refused,
        "absent": absent,
        "fact_coverage": None if absent else fact_coverage(str(record.get("answer") or ""), item.get("answer_facts") or []),
        "support_rate": _support_rate(record),
        "content": has_content(record),
        "dropped_share": dropped_share(record),
        "timings": {key: (record.get("timings") or {}).get(key) for key in TIMINGS},
        "provider": record.get("provider", ""),
    }


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    markers = sum(r["markers"] for r in rows)
    absent = [r["refused"] for r in rows if r["absent"]]
    answerable = [r["refused"] for r in rows if not r["absent"]]
    out: dict[str, Any] = {"n": len(rows)}
    for key in ("recall@5", "recall@10", "mrr", "citation_precision", "fact_coverage", "support_rate", "content",
                "dropped_share"):
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = mean(values)
        out[f"{key}_n"] = len(values)
    out["citation_validity"] = sum(r["markers_resolved"] for r in rows) / markers if markers else None
    out["markers"] = markers
    out["refusal_accuracy"] = refusal_accuracy(absent)
    out["false_refusal_rate"] = false_refusal_rate(answerable)
    out["latency"] = {key: latency(r["timings"][key] for r in rows) for key in TIMINGS}
    providers: dict[str, int] = {}
    for r in rows:
        providers[r["provider"]] = providers.get(r["provider"], 0) + 1
    out["providers"] = providers
    return out


def summarise(results: list[dict], items: list[dict]) -> dict:
    """Per-question-type and overall metrics of eval records against dev items.

    A record carries ``id``, ``type``, ``answer`` (Markdown with ``[n]`` markers),
    ``retrieved`` (titles in rank order), ``cited`` (titles), ``refused``, ``support``
    (``[{"supported": bool, ...}]``), ``timings`` (``retrieval_ms``, ``first_token_s``,
    ``total_s``) and ``provider``; ``retrieved_titles`` / ``cited_titles`` are accepted
    too. Records are joined to items by ``id``; items without a record are listed in
    ``missing`` and records without an item in ``unknown``.

    Returns ``{"overall": {...}, "by_type": {type: {...}}, "missing": [...],
    "unknown": [...], "items": [per-item metrics]}``; each aggregate holds ``n``, means
    of recall@5/@10, mrr, citation_precision, fact_coverage, support_rate, content (the share
    of model answers with a kept sentence beyond titles), dropped_share (each with
    ``<name>_n``, the items it is defined for), citation_validity (micro over markers),
    refusal_accuracy, false_refusal_rate, latency p50/p95 per timing and providers.
    """
    by_id = {str(item["id"]): item for item in items}
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    unknown: list[str] = []
    for record in results:
        rid = str(record.get("id"))
        item = by_id.get(rid)
        if item is None:
            unknown.append(rid)
            continue
        seen.add(rid)
        rows.append(item_metrics(record, item))
    types = list(dict.fromkeys(str(item.get("type")) for item in items))
    by_type = {t: _aggregate([r for r in rows if r["type"] == t]) for t in types}
    by_type = {t: agg for t, agg in by_type.items() if agg["n"]}
    return {
        "overall": _aggregate(rows),
        "by_type": by_type,
        "missing": [i for i in by_id if i not in seen],
        "unknown": unknown,
        "items": rows,
    }
