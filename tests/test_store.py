"""Real Chroma (embedded and server), incremental ingest, killed-ingest recovery."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from assistant.embeddings import embeddings_for
from assistant.corpus import load_corpus
from assistant.ingest import index_papers
from assistant.store import Store, StoreError

from conftest import REPO, SCIFACT, SEEDS, free_port

ABSTRACT = "We propose a method for testing stores. It works well on every benchmark we tried. " * 3


def small_corpus(tmp_path, n=5, name="c.jsonl"):
    topics = ["graphs", "proteins", "robots", "music", "weather", "poetry", "chess", "rivers"]
    rows = [{"title": f"Paper number {i}", "abstract": f"This paper is about {topics[i]}. " + ABSTRACT} for i in range(n)]
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def run_cli(*args, env_extra=None, **kw):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, **kw)


def test_reingest_of_unchanged_corpus_embeds_nothing(settings_for, tmp_path):
    settings = settings_for()
    store = Store(settings, embeddings_for(settings))
    papers = load_corpus([small_corpus(tmp_path)]).papers
    first = index_papers(papers, store, settings)
    gen = store.generation()
    second = index_papers(papers, store, settings)
    assert first.added == 5 and first.chunks_embedded == store.count()
    assert second.added == 0 and second.chunks_embedded == 0 and second.unchanged == 5
    assert store.generation() == gen  # nothing written


def test_changed_paper_is_reembedded_and_old_chunks_removed(settings_for, tmp_path):
    settings = settings_for()
    store = Store(settings, embeddings_for(settings))
    papers = load_corpus([small_corpus(tmp_path)]).papers
    index_papers(papers, store, settings)
    changed = [replace(papers[0], abstract="A completely new abstract about graphs. " * 4)] + papers[1:]
    summary = index_papers(changed, store, settings)
    assert summary.added == 1
    stored = store.papers([papers[0].paper_id])[papers[0].paper_id]
    assert stored["abstract"].startswith("A completely new abstract")
    assert store.stats()["papers"] == 5


def test_removed_papers_only_go_with_prune(settings_for, tmp_path):
    settings = settings_for()
    store = Store(settings, embeddings_for(settings))
    papers = load_corpus([small_corpus(tmp_path)]).papers
    index_papers(papers, store, settings)
    kept = index_papers(papers[:3], store, settings)
    assert kept.stale == 2 and store.stats()["papers"] == 5
    pruned = index_papers(papers[:3], store, settings, prune=True)
    assert pruned.removed == 2 and store.stats()["papers"] == 3


def test_abstract_is_rebuilt_from_chunk_spans(settings_for):
    settings = settings_for()
    store = Store(settings, embeddings_for(settings))
    papers = load_corpus([SEEDS]).papers[:10]
    index_papers(papers, store, settings)
    stored = store.papers([p.paper_id for p in papers])
    for paper in papers:
        assert stored[paper.paper_id]["abstract"] == paper.abstract
        assert stored[paper.paper_id]["page_date"] == paper.page_date


def test_store_persists_across_processes(tmp_path):
    corpus = small_corpus(tmp_path, n=4)
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    ingest = run_cli("ingest", str(corpus), "--quiet", env_extra=env)
    assert ingest.returncode == 0, ingest.stderr
    stats = run_cli("stats", "--json", env_extra=env)
    assert json.loads(stats.stdout)["papers"] == 4
    search = run_cli("search", "robots", "--json", "-k", "2", env_extra=env)
    rows = json.loads(search.stdout)
    assert rows[0]["title"] == "Paper number 2"


def test_corrupt_store_gives_a_clear_error(settings_for):
    settings = settings_for()
    db = settings.store.data_dir / "chroma"
    db.mkdir(parents=True)
    (db / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(settings, embeddings_for(settings))


def _indexed(tmp_path, n=4):
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    ingest = run_cli("ingest", str(small_corpus(tmp_path, n=n)), "--quiet", env_extra=env)
    assert ingest.returncode == 0, ingest.stderr
    return env, tmp_path / "data" / "chroma" / "chroma.sqlite3"


def _scribble(path, every=4096, size=512):
    """Random bytes over part of every page after the first (the header stays intact)."""
    data = bytearray(path.read_bytes())
    for start in range(every + 100, len(data) - size, every):
        data[start : start + size] = os.urandom(size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["zero-length", "scribbled", "not sqlite"])
def test_damaged_store_is_one_clear_line_in_the_cli_and_nothing_is_replaced(tmp_path, damage):
    env, db = _indexed(tmp_path)
    if damage == "zero-length":
        db.write_bytes(b"")
    elif damage == "scribbled":
        _scribble(db)
    else:
        db.write_bytes(b"garbage" * 1000)
    before = db.read_bytes()
    for args in (("stats",), ("search", "robots"), ("ask", "What is paper number 2 about?", "--provider", "extractive")):
        result = run_cli(*args, env_extra=env, timeout=120)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot open the store" in lines[0] and "chroma.sqlite3" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert db.read_bytes() == before  # nothing written over the user's file


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(), reason="shared scifact missing")
def test_killed_ingest_is_completed_by_the_next_run(tmp_path):
    lines = (SCIFACT / "corpus.jsonl").read_text().splitlines()[:400]
    corpus = tmp_path / "part.jsonl"
    corpus.write_text("\n".join(lines))
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "ingest", str(corpus)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    buf = ""
    deadline = time.time() + 300
    while "512/" not in buf and time.time() < deadline and proc.poll() is None:
        buf += proc.stderr.read(1)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = run_cli("ingest", str(corpus), "--quiet", env_extra={"ASSISTANT_DATA_DIR": str(tmp_path / "data")})
    assert resumed.returncode == 0, resumed.stderr
    # the resumed run embedded only what the killed one had not written
    done = int(resumed.stdout.split("embedded (")[1].split(" chunks")[0])
    stats = json.loads(run_cli("stats", "--json", env_extra={"ASSISTANT_DATA_DIR": str(tmp_path / "data")}).stdout)
    assert stats["papers"] == 400
    assert 0 < done < stats["chunks"]
    again = run_cli("ingest", str(corpus), "--quiet", env_extra={"ASSISTANT_DATA_DIR": str(tmp_path / "data")})
    assert "0 embedded (0 chunks" in again.stdout


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = REPO / ".venv" / "bin" / "chroma"
    exe = str(chroma) if chroma.exists() else "chroma"
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, ANONYMIZED_TELEMETRY="False"),
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.server
def test_same_code_over_a_chroma_server(settings_for, tmp_path, chroma_server):
    from assistant.retrieve import Retriever

    settings = settings_for(chroma_host="127.0.0.1", chroma_port=chroma_server)
    store = Store(settings, embeddings_for(settings))
    papers = load_corpus([SEEDS]).papers[:20]
    index_papers(papers, store, settings)
    assert store.stats()["papers"] == 20
    assert store.location == f"http://127.0.0.1:{chroma_server}"
    hits = Retriever(store=store, embeddings=store.embeddings).search(papers[3].display_title, k=3)
    assert hits[0].paper_id == papers[3].paper_id
    assert index_papers(papers, store, settings).chunks_embedded == 0


def test_unreachable_server_is_a_clear_error(settings_for):
    settings = settings_for(chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        Store(settings, embeddings_for(settings))


def _read_only_mounts_work() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _read_only_mounts_work(), reason="needs a private read-only bind mount (unshare -m)")
def test_read_only_data_directory_opens_for_reading(tmp_path):
    env, db = _indexed(tmp_path)
    data = tmp_path / "data"
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()}
    cli = f"{sys.executable} -m assistant.cli"
    script = (f"mount --bind {data} {data} && mount -o remount,ro,bind {data} && "
              f"{cli} stats --json && {cli} search robots -k 1 --json && "
              f"{cli} ask 'What is paper number 2 about?' --provider extractive; "
              f"printf '%s' '{{\"title\": \"A new paper on fish\", \"abstract\": \"{ABSTRACT}\"}}' > {tmp_path}/new.jsonl; "
              f"{cli} ingest {tmp_path}/new.jsonl --quiet; echo ingest-rc=$?")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO,
                            env=dict(os.environ, **env), timeout=300)
    assert '"papers": 4' in result.stdout and "Paper number 2" in result.stdout, result.stdout + result.stderr
    assert "[1]" in result.stdout
    assert "ingest-rc=2" in result.stdout and "is read-only" in result.stderr and "Traceback" not in result.stderr
    after = {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()}
    assert after == before  # nothing in the read-only directory was touched
