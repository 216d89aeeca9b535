"""``assistant eval`` and ``assistant eval-beir`` end to end: real embeddings, real Chroma, real data."""

from __future__ import annotations

import json

import pytest

from conftest import DEV, SCIFACT

RECORD_KEYS = {"id", "question", "answer", "retrieved", "cited", "refused", "support", "timings", "provider"}


def dev_items(types: tuple[str, ...]) -> list[dict]:
    if not DEV.exists():
        pytest.skip(f"{DEV} is not here")
    items = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [next(i for i in items if i["type"] == t) for t in types]


def run_eval(tmp_path, seeded, items, provider):
    from assistant.cli import main

    settings, _, _ = seeded
    questions, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    questions.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    assert main(["eval", str(questions), "--out", str(out), "--data-dir", str(settings.store.data_dir), "--provider", provider]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    metrics = json.loads((tmp_path / "out.jsonl.metrics.json").read_text())
    return {r["id"]: r for r in records}, metrics


def test_eval_writes_a_record_per_item_and_the_metrics(tmp_path, seeded, capsys):
    items = dev_items(("lookup", "fact", "recommend", "compare", "absent", "followup"))
    records, metrics = run_eval(tmp_path, seeded, items, "extractive")
    assert len(records) == len(items)
    for item in items:
        record = records[item["id"]]
        assert RECORD_KEYS <= set(record), item["id"]
        assert len(record["retrieved"]) >= 10
        assert {"retrieval_ms", "first_token_s", "total_s"} <= set(record["timings"])
        assert record["provider"] == "extractive"
        if item["type"] != "absent":
            assert not record["refused"], item["id"]
            assert item["gold_titles"][0] in record["retrieved"][:10]
    followup = next(i for i in items if i["type"] == "followup")
    assert records[followup["id"]]["question"] == followup["turns"][-1]
    assert set(metrics["by_type"]) == {i["type"] for i in items}
    overall = metrics["overall"]
    assert overall["citation_validity"] == 1.0 and 0.0 <= overall["recall@5"] <= 1.0
    assert "recall@5" in capsys.readouterr().out


@pytest.mark.model
def test_eval_with_the_local_model(tmp_path, seeded):
    items = dev_items(("lookup", "absent"))
    records, metrics = run_eval(tmp_path, seeded, items, "local")
    lookup, absent = (records[i["id"]] for i in items)
    assert lookup["provider"] == "local" and not lookup["refused"]
    assert lookup["timings"]["first_token_s"] > 0 and lookup["cited"]
    assert absent["refused"] and absent["cited"] == []
    assert metrics["by_type"]["absent"]["refusal_accuracy"] == 1.0


def test_eval_beir_on_a_scifact_slice(tmp_path, capsys):
    from assistant.cli import main

    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip("SciFact is not here")
    qrels_lines = [line for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:] if line.strip()]
    wanted_queries = list(dict.fromkeys(line.split("\t")[0] for line in qrels_lines))[:20]
    qrels = [line for line in qrels_lines if line.split("\t")[0] in wanted_queries]
    judged = {line.split("\t")[1] for line in qrels}
    corpus_lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    corpus = [line for line in corpus_lines if json.loads(line)["_id"] in judged] + corpus_lines[:150]
    (tmp_path / "corpus.jsonl").write_text("\n".join(dict.fromkeys(corpus)) + "\n", encoding="utf-8")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")
    out = tmp_path / "report.json"
    args = [str(tmp_path / "corpus.jsonl"), str(SCIFACT / "queries.jsonl"), str(tmp_path / "qrels.tsv")]
    assert main(["eval-beir", *args, "--data-dir", str(tmp_path / "data"), "--out", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["queries"] == len(wanted_queries) and set(report["modes"]) == {"bm25", "dense", "rrf", "hybrid"}
    for mode, row in report["modes"].items():
        assert 0.3 < row["ndcg@10"] <= 1.0, (mode, row)  # a real ranking, far above chance on 20 claims
    assert "ndcg@10" in capsys.readouterr().out
