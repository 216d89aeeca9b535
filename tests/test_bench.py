"""``assistant bench`` (benchmarks/): the written section, the markers, the plot, and a real latency run."""

from __future__ import annotations

import struct

import pytest

from benchmarks import report, retrieval_latency, run

from conftest import SEEDS

pytest.importorskip("matplotlib")


def _results(**changes):
    results = {
        "command": "assistant bench --store-58k /tmp/pa-58k",
        "when": "2026-11-25 10:50 UTC",
        "machine": {"cpus": 2, "cpu_model": "AMD EPYC"},
        "loads": [0.4, 0.9],
        "memory": {"ingest": 120.0, "latency 58k": 2345.6},
        "ingest": {
            "command": "assistant ingest seeds --data-dir /tmp/x --quiet",
            "cold": {"seconds": 22.34, "peak_rss_mb": 612.0, "papers": 223, "chunks_embedded": 730, "rc": 0},
            "warm": {"seconds": 1.81, "peak_rss_mb": 401.0, "papers": 223, "chunks_embedded": 0, "rc": 0},
        },
        "embedding": {"n": 730, "chars": 613.0, "threads": 2, "batch": 32, "ours_cps": 29.5, "bare_cps": 31.0, "ratio": 0.952},
        "latency": {
            "seeds": {"papers": 223, "chunks": 730, "queries": 50, "k": 5, "first_search_s": 0.3, "p50_ms": 16.04,
                      "p95_ms": 28.0, "parts_p50_ms": {"embed": 4.0, "dense": 2.0, "bm25": 1.0, "fuse": 0.2, "fetch": 3.0},
                      "disk_bytes": 12 * 2**20, "other_collections": []},
            "10k": {"skipped": "--skip-large and no --store-10k"},
            "58k": {"papers": 58544, "chunks": 140080, "queries": 50, "k": 5, "first_search_s": 38.2, "p50_ms": 27.5,
                    "p95_ms": 39.5, "parts_p50_ms": {"embed": 4.5, "dense": 14.7, "bm25": 1.6, "fuse": 0.6, "fetch": 5.3},
                    "disk_bytes": int(1.9 * 2**30), "other_collections": ["scale_hashed"], "load": 3.64},
        },
        "plot": "bench-latency.png",
        "llm": {"model": "qwen.gguf", "threads": 2, "load_s": 1.2, "prompt_tokens": 502, "ttft_s": 6.4,
                "prompt_tokens_per_s": 78.0, "tokens_per_s": 24.9,
                "runs": [{"ttft_s": 6.4, "tokens_per_s": 24.9}, {"ttft_s": 6.1, "tokens_per_s": 25.3}, {"ttft_s": 6.7, "tokens_per_s": 24.1}]},
    }
    results.update(changes)
    return results


def test_section_has_every_figure():
    text = run.render_section(_results())
    assert "assistant bench --store-58k /tmp/pa-58k" in text
    assert "2 CPUs, AMD EPYC" in text
    assert "| cold (fresh data dir, imports and model load included) | 22.3 | 612 MB | 223 | 730 |" in text
    assert "| warm (second run, nothing changed) | 1.8 | 401 MB | 223 | 0 |" in text
    assert "| `OnnxEmbeddings.embed_array` (tokenise, pad, run, pool, normalise) | 29.5 |" in text
    assert "| ratio (ours / bare) | 0.95 |" in text
    assert "| seeds | 223 | 730 | 12 MB | 0.3 | 16.0 | 28.0 | 4.0 / 2.0 / 1.0 / 0.2 / 3.0 | – |" in text
    assert "| 10k | skipped: --skip-large and no --store-10k |" in text
    assert "| 58k | 58,544 | 140,080 | 1.9 GB (whole data dir, also holding `scale_hashed`) | 38.2 | 27.5 | 39.5 | 4.5 / 14.7 / 1.6 / 0.6 / 5.3 | 3.6 |" in text
    assert "![retrieval latency against corpus size](bench-latency.png)" in text
    assert "| time to first token | 6.4 s (78 prompt tokens/s) |" in text
    assert "| generation | 24.9 tokens/s |" in text
    assert "Peak RSS 2346 MB" in text
    assert "measured under load" not in text
    # every table row has as many cells as its header
    for block in text.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            assert {r.count("|") for r in rows} == {rows[0].count("|")}, block


def test_contended_run_is_flagged_and_skips_are_said():
    text = run.render_section(_results(loads=[1.2, 3.9], llm={"skipped": "--no-model"}, embedding=None))
    assert "1.2–3.9 (**measured under load**" in text
    assert "### Local model\n\nSkipped: --no-model." in text
    assert "### Embedding throughput\n\nSkipped." in text


def test_markers_are_appended_once_then_only_their_inside_is_replaced(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written figures\n")
    report.write_section(doc, "first body")
    assert doc.read_text() == f"# Benchmarks\n\nhand-written figures\n\n{report.MARK_START}\nfirst body\n{report.MARK_END}\n"
    doc.write_text(doc.read_text() + "\n## After\n\nkept too\n")
    report.write_section(doc, "second body\n")
    text = doc.read_text()
    assert text.count(report.MARK_START) == 1 and text.count(report.MARK_END) == 1
    assert "first body" not in text
    assert text.startswith("# Benchmarks\n\nhand-written figures\n\n")
    assert text.endswith(f"{report.MARK_START}\nsecond body\n{report.MARK_END}\n\n## After\n\nkept too\n")


def test_plot_is_a_png_of_the_measured_stores(tmp_path):
    path = tmp_path / "latency.png"
    assert retrieval_latency.plot_latency(_results()["latency"], path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 200
    assert not retrieval_latency.plot_latency({"10k": {"skipped": "no store"}}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_queries_alternate_dev_questions_and_titles(tmp_path):
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"question": "q1"}\n{"turns": ["a", "b"]}\n')
    assert retrieval_latency.bench_queries(5, dev, ["t1", "t2", "t3"]) == ["q1", "t1", "a b", "t2", "t3"]
    assert retrieval_latency.bench_queries(2, tmp_path / "missing.jsonl", ["t1", "t2", "t3"]) == ["t1", "t2"]


def test_latency_on_a_tiny_real_store(tmp_path):
    from assistant.embeddings import embeddings_for
    from assistant.corpus import load_corpus
    from assistant.ingest import index_papers
    from assistant.settings import load_settings
    from assistant.store import Store

    settings = load_settings(env={}, data_dir=tmp_path / "data")
    papers = load_corpus([SEEDS]).papers[:6]
    store = Store(settings, embeddings_for(settings))
    index_papers(papers, store, settings)
    queries = [p.display_title for p in papers] + ["diffusion models for video", "reinforcement learning agents"]

    result = retrieval_latency.measure_latency(settings, queries, k=3)

    assert result["papers"] == 6
    assert result["chunks"] == store.count() > 6 - 1
    assert result["queries"] == len(queries) and result["k"] == 3
    assert 0 < result["p50_ms"] <= result["p95_ms"] < 5000
    assert set(result["parts_p50_ms"]) == {"embed", "dense", "bm25", "fuse", "fetch"}
    assert result["disk_bytes"] > 100_000
    assert result["other_collections"] == []
    assert result["load"] >= 0
