"""Metric functions on hand-made cases (no model, no store)."""

from __future__ import annotations

import math

import pytest

from assistant import metrics as m
from assistant.citations import marker_uses

ITEMS = [
    {"id": "L1", "type": "lookup", "gold_titles": ["Attention Is All You Need"],
     "answer_facts": ["Transformer", "relies entirely on attention mechanisms"]},
    {"id": "C1", "type": "compare", "gold_titles": ["Paper A", "Paper B"], "answer_facts": []},
    {"id": "X1", "type": "absent", "gold_titles": [], "answer_facts": ["the corpus has no paper on X"]},
]


def record(rid, **kw):
    base = {"id": rid, "answer": "", "retrieved": [], "cited": [], "refused": False, "support": [],
            "timings": {"retrieval_ms": 10.0, "first_token_s": 0.5, "total_s": 2.0}, "provider": "local"}
    return base | kw


PERFECT = [
    record("L1", answer="The Transformer relies entirely on attention mechanisms [1].",
           retrieved=["Attention is all you need!", "Other"], cited=["Attention Is All You Need"],
           references=[{"number": 1}, {"number": 2}], support=[{"supported": True}]),
    record("C1", answer="A does this [1]; B does that [2].", retrieved=["Paper B", "Paper A"],
           cited=["Paper A", "Paper B"], references=[{"number": 1}, {"number": 2}],
           support=[{"supported": True}, {"supported": True}]),
    record("X1", answer="The corpus does not cover this.", retrieved=["Paper A"], refused=True),
]


# ---------------------------------------------------------------- ranking


def test_ndcg_perfect_and_graded():
    assert m.ndcg_at_k(["a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    # graded: the more relevant document first is ideal
    assert m.ndcg_at_k(["a", "b"], {"a": 2, "b": 1}, 10) == pytest.approx(1.0)
    swapped = (1 / 1 + 2 / math.log2(3)) / (2 / 1 + 1 / math.log2(3))
    assert m.ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(swapped)


def test_ndcg_position_and_cutoff():
    assert m.ndcg_at_k(["x", "a"], {"a": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert m.ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0
    # zero-relevance judgments are not relevant; no relevant document gives 0
    assert m.ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert m.ndcg_at_k([], {"a": 1}, 10) == 0.0


def test_recall_and_mrr():
    assert m.recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(1 / 3)
    assert m.recall_at_k(["a", "x", "b"], ["a", "b", "c"], 100) == pytest.approx(2 / 3)
    assert m.recall_at_k(["a"], {}, 10) == 0.0
    assert m.mrr(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert m.mrr(["x", "y", "a"], {"a"}, k=2) == 0.0
    assert m.mrr([], {"a"}) == 0.0
    # duplicates in a ranking do not count twice nor push ranks down
    assert m.mrr(["x", "x", "a"], {"a"}) == pytest.approx(1 / 2)


def test_paper_recall_folds_titles():
    got = ["ATTENTION is all you need.", "Something else"]
    assert m.paper_recall_at_k(got, ["Attention Is All You Need"], 1) == 1.0
    assert m.paper_recall_at_k(got[::-1], ["Attention Is All You Need"], 1) == 0.0
    assert m.paper_recall_at_k(got, [], 5) is None
    assert m.paper_mrr(got[::-1], ["attention is all you need"]) == 0.5


# ---------------------------------------------------------------- citations and facts


def test_citation_precision():
    assert m.citation_precision(["Paper A", "paper b"], ["Paper A"]) == 0.5
    assert m.citation_precision([], ["Paper A"]) is None


def test_markers_and_validity():
    assert marker_uses("x [1] y [2, 3] z [4-5] [12]; not [a]") == [1, 2, 3, 4, 5, 12]
    assert m.citation_validity([1, 2, 9], {1, 2}) == pytest.approx(2 / 3)
    assert m.citation_validity([], {1}) is None
    assert m.citation_validity([1], {1}, dangling=1) == 0.5
    rec = {"answer": "a [1] b [7]", "references": [{"number": 1}, {"number": 2}]}
    assert m.marker_counts(rec) == (1, 2)
    rec = {"answer": "a [1]", "retrieved": ["t1"], "notice": "Removed citation(s) to missing source(s): [7], [9]."}
    assert m.marker_counts(rec) == (1, 3)


def test_fact_matching():
    answer = "Cradle has six modules (information gathering, self-reflection) and runs in Red Dead Redemption II."
    assert m.fact_matches(answer, "Cradle")
    assert m.fact_matches(answer, "deployed in Red Dead Redemption II")  # token overlap, stopwords dropped
    assert not m.fact_matches(answer, "GSM8K accuracy improves to 44.5%")
    assert m.fact_matches("pass rises from 35.5% to 44.5%", "35.5%->44.5%")
    assert not m.fact_matches("pass rises from 35.5% to 44.6%", "35.5%->44.5%")
    assert m.fact_coverage(answer, ["Cradle", "GSM8K"]) == 0.5
    assert m.fact_coverage(answer, []) is None


def test_percentiles():
    assert m.percentile([1, 2, 3, 4, 5], 50) == 3
    assert m.percentile([1, 2], 50) == 1.5
    assert m.percentile(list(range(101)), 95) == pytest.approx(95)
    assert m.percentile([], 50) is None
    assert m.latency([10, None, 30]) == {"p50": 20.0, "p95": 29.0, "n": 2}


# ---------------------------------------------------------------- summarise


def test_summarise_perfect_run():
    out = m.summarise(PERFECT, ITEMS)
    overall = out["overall"]
    assert out["missing"] == [] and out["unknown"] == []
    assert overall["n"] == 3
    assert overall["recall@5"] == 1.0 and overall["recall@5_n"] == 2
    assert overall["mrr"] == 1.0
    assert overall["citation_precision"] == 1.0
    assert overall["citation_validity"] == 1.0 and overall["markers"] == 3
    assert overall["refusal_accuracy"] == 1.0
    assert overall["false_refusal_rate"] == 0.0
    assert overall["fact_coverage"] == 1.0 and overall["fact_coverage_n"] == 1
    assert overall["support_rate"] == 1.0
    assert overall["latency"]["retrieval_ms"] == {"p50": 10.0, "p95": 10.0, "n": 3}
    assert overall["providers"] == {"local": 3}
    assert set(out["by_type"]) == {"lookup", "compare", "absent"}
    assert out["by_type"]["absent"]["recall@5"] is None  # no gold
    assert out["by_type"]["absent"]["refusal_accuracy"] == 1.0
    assert out["by_type"]["lookup"]["refusal_accuracy"] is None


def test_summarise_empty_run():
    out = m.summarise([], ITEMS)
    assert out["missing"] == ["L1", "C1", "X1"]
    assert out["by_type"] == {}
    overall = out["overall"]
    assert overall["n"] == 0
    assert overall["recall@5"] is None and overall["citation_validity"] is None
    assert overall["latency"]["total_s"] == {"p50": None, "p95": None, "n": 0}
    assert m.summarise([], []) ["overall"]["n"] == 0


def test_summarise_dangling_citations_and_wrong_refusals():
    bad = [
        record("L1", answer="Transformers [1] use attention [3] and [4].", retrieved=["Other", "Attention Is All You Need"],
               cited=["Other"], references=[{"number": 1}, {"number": 2}], support=[{"supported": False}, {"supported": True}]),
        record("C1", answer="The corpus does not cover this.", retrieved=["Paper A"], refused=True),
        record("X1", answer="It is in [1].", retrieved=["Paper A"], cited=["Paper A"], references=[{"number": 1}]),
        record("ZZ", answer="stray"),
    ]
    out = m.summarise(bad, ITEMS)
    overall = out["overall"]
    assert out["unknown"] == ["ZZ"]
    assert overall["citation_validity"] == pytest.approx(2 / 4)  # [1] ok, [3] [4] dangling, X1's [1] ok
    assert out["by_type"]["lookup"]["citation_validity"] == pytest.approx(1 / 3)
    assert out["by_type"]["lookup"]["mrr"] == 0.5
    assert out["by_type"]["lookup"]["recall@5"] == 1.0
    assert out["by_type"]["lookup"]["citation_precision"] == 0.0
    assert out["by_type"]["lookup"]["fact_coverage"] == 0.5  # "Transformer" yes, "entirely ... mechanisms" no
    assert out["by_type"]["lookup"]["support_rate"] == 0.5
    assert out["by_type"]["compare"]["recall@5"] == 0.5
    assert out["by_type"]["compare"]["citation_precision"] is None  # refused: nothing cited
    assert overall["false_refusal_rate"] == 0.5
    assert overall["refusal_accuracy"] == 0.0
    # citing a paper for an absent item is never precise
    assert out["by_type"]["absent"]["citation_precision"] == 0.0


def test_content_share_counts_model_answers_with_a_kept_sentence():
    from assistant.metrics import dropped_share, has_content

    titles_only = {"provider": "local", "support": [{"text": "[1] LeanAgent [2] Other", "dropped": True}]}
    real = {"provider": "local", "support": [{"text": "[1] LeanAgent", "dropped": True},
                                             {"text": "It keeps a curriculum of theorems [1].", "dropped": False}]}
    assert has_content(titles_only) is False and has_content(real) is True
    assert has_content({"provider": "local", "refused": True}) is None
    assert has_content({"provider": "extractive", "support": []}) is None
    assert dropped_share(titles_only) == 1.0 and dropped_share(real) == 0.5
    items = [{"id": "a", "type": "lookup", "gold_titles": ["X"]}, {"id": "b", "type": "lookup", "gold_titles": ["X"]}]
    overall = m.summarise([dict(titles_only, id="a"), dict(real, id="b")], items)["overall"]
    assert overall["content"] == 0.5 and overall["content_n"] == 2 and overall["dropped_share"] == 0.75
