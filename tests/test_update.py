"""A living corpus: Daily Papers listings from a real HTTP server on 127.0.0.1 (started here,
replaying responses written in the API's shape), fetched, cached, de-duplicated and indexed."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from assistant.corpus import load_corpus
from assistant.text import fold_title

from conftest import SEEDS, free_port
from test_network import no_outbound  # noqa: F401 - the fixture

D1, D2, D3 = "2025-03-12", "2025-03-13", "2025-03-14"
SEED_TITLE = r"$\textbf{Only-IF}$:Revealing the Decisive Effect of Instruction Diversity on Generalization"
LONG = ("We study {topic} with a new benchmark and a simple method. Experiments on twelve datasets show that "
        "the method improves accuracy by 7 points over strong baselines while using half the compute.")


def entry(arxiv: str, title: str, topic: str, day: str, upvotes: int = 3, summary: str | None = None) -> dict:
    """One entry as GET /api/daily_papers?date= answers it."""
    paper = {"id": arxiv, "title": title, "upvotes": upvotes, "publishedAt": f"{day}T09:00:00.000Z",
             "authors": [{"_id": "a1", "name": "Ada Lovelace", "hidden": False}, {"_id": "a2", "name": "Émile Noether"}]}
    if summary is not False:
        paper["summary"] = summary if summary is not None else LONG.format(topic=topic)
    return {"paper": paper, "publishedAt": f"{day}T12:00:00.000Z", "title": title, "numComments": 1,
            "submittedBy": {"name": "someone"}}


def listings() -> dict[str, list[dict]]:
    return {
        D1: [entry("2503.00001", "Sparse Mixture Routing for Protein Folding", "protein folding routing", D1, 40),
             entry("2503.00002", "Zürich Street Scenes: A Unicode Benchmark — ünïcödé", "street scene parsing", D1, 5),
             entry("2503.00003", "A Paper Without Its Abstract", "", D1, summary=False)],
        D2: [entry("2503.00001", "Sparse Mixture Routing for Protein Folding", "protein folding routing", D2, 41),
             entry("2410.06456", "Only-IF: Revealing the Decisive Effect of Instruction Diversity on Generalization",
                   "instruction diversity", D2, 12)],
        D3: [entry("2503.00004", "Tidal Energy Forecasting with Graph Transformers", "tidal energy forecasting", D3, 9)],
    }


class Replay:
    """A real HTTP server on 127.0.0.1: per date a list of scripted answers (the last repeats)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.script: dict[str, list[tuple]] = {}
        self.requests: list[str] = []
        self.stop_after: str = ""  # stop serving once this date has been answered
        self.server: ThreadingHTTPServer | None = None

    def serve(self, day: str, *answers: tuple) -> None:
        self.script[day] = list(answers)

    def serve_json(self, data: dict[str, list[dict]]) -> None:
        for day, rows in data.items():
            self.serve(day, (200, {"Content-Type": "application/json"}, json.dumps(rows)))

    def start(self) -> "Replay":
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                day = parse_qs(url.query).get("date", [""])[0]
                replay.requests.append(day)
                answers = replay.script.get(day) or [(404, {"Content-Type": "application/json"}, "[]")]
                status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
                if status == "sleep":
                    time.sleep(float(body))
                    status, headers, body = 200, {"Content-Type": "application/json"}, "[]"
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body.encode())
                if day == replay.stop_after:
                    threading.Thread(target=replay.stop, daemon=True).start()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def replay():
    server = Replay().start()
    yield server
    server.stop()


def noon(day: str):
    return lambda: datetime.fromisoformat(f"{day}T12:00:00+00:00")


@pytest.fixture
def world(tmp_path, settings_for, replay):
    """Settings aimed at the replay server, a store holding one scraped seed page."""
    from assistant.embeddings import embeddings_for
    from assistant.store import Store
    from assistant.update import index_resolved

    lines = (SEEDS / "000_6b1eaca390782b18.txt").read_text().splitlines()
    start = lines.index(SEED_TITLE)
    page = tmp_path / "seed_page.txt"
    page.write_text("Mar 13\n\n" + "\n\n".join([lines[start], lines[start + 2], lines[start + 4], lines[start + 6]]) + "\n")
    settings = settings_for(daily_url=replay.url, update_delay=0, update_backoff=0, update_retries=2, update_timeout=2)
    store = Store(settings, embeddings_for(settings))
    index_resolved(load_corpus([page]).papers, store, settings)
    return settings, store, replay


def _stored(store) -> dict[str, dict]:
    from assistant.update import stored_records

    return stored_records(store)


def test_saved_api_response_and_html_page_parse_to_papers(tmp_path):
    import html

    (tmp_path / "daily.json").write_text(json.dumps(listings()[D1] + listings()[D2]))
    props = html.escape(json.dumps({"date": f"{D3}T00:00:00.000Z", "dailyPapers": listings()[D3]}), quote=True)
    (tmp_path / "page.html").write_text(f'<html><body><div data-target="DailyPapers" data-props="{props}"></div>'
                                        "</body></html>")
    (tmp_path / "seed.txt").write_text(f"Mar 13\n\n{SEED_TITLE}\n\n{LONG.format(topic='instruction diversity')}\n")
    report = load_corpus([tmp_path])
    by_id = {p.arxiv_id: p for p in report.papers}
    assert set(by_id) == {"2503.00001", "2503.00002", "2410.06456", "2503.00004"}  # the seed page merged into 2410
    routing = by_id["2503.00001"]
    assert routing.appearances == (f"daily.json|{D1}", f"daily.json|{D2}") and routing.upvotes == 41
    assert routing.authors == "Ada Lovelace, Émile Noether" and routing.url == "https://arxiv.org/abs/2503.00001"
    assert "Zürich" in by_id["2503.00002"].display_title
    assert by_id["2503.00004"].page_date == D3 and by_id["2503.00004"].source == "page.html"
    only_if = by_id["2410.06456"]
    assert f"seed.txt|Mar 13" in only_if.appearances and fold_title(SEED_TITLE) == fold_title(only_if.title)
    assert [s.reason for s in report.skipped] == ["missing abstract for 'A Paper Without Its Abstract'"]


def test_first_run_indexes_second_makes_no_request_and_a_changed_summary_is_reembedded(world):
    from assistant.update import run_update

    settings, store, replay = world
    seed_id = next(pid for pid, meta in _stored(store).items() if meta["title"] == SEED_TITLE)
    replay.serve_json(listings())
    first = run_update(settings, store, [D1, D2, D3], now=noon(D3))
    assert (first.count("fetched"), first.total("new"), first.total("skipped")) == (3, 3, 1)
    stored = _stored(store)
    assert len(stored) == 5  # the 2 seed papers + 3 new: 2503.00001 once though it is on two dates
    assert stored["2503.00001"]["appearances"] == f"daily_papers|{D1};daily_papers|{D2}"
    assert stored["2503.00001"]["upvotes"] == 41 and stored["2503.00001"]["page_date"] == D1
    assert stored[seed_id]["arxiv_id"] == "2410.06456" and "2410.06456" not in stored  # not stored twice
    assert stored[seed_id]["title"] == SEED_TITLE and f"daily_papers|{D2}" in stored[seed_id]["appearances"]
    generation, asked = store.generation(), len(replay.requests)

    second = run_update(settings, store, [D1, D2, D3], now=noon(D3))
    assert len(replay.requests) == asked and second.count("cached") == 3  # D3 is today, fresh: cached too
    assert store.generation() == generation and second.total("new") == second.total("changed") == 0

    changed = listings()[D3]
    changed[0]["paper"]["summary"] = LONG.format(topic="tidal energy forecasting, revised with new data")
    replay.serve_json({D3: changed})
    third = run_update(settings.with_overrides(update_fresh_minutes=0), store, [D1, D2, D3], now=noon(D3))
    assert replay.requests[asked:] == [D3] and third.total("changed") == 1
    assert "revised" in store.papers(["2503.00004"])["2503.00004"]["abstract"]


def test_429_with_retry_after_and_500_then_success(world):
    from assistant.update import DailyClient, run_update

    settings, store, replay = world
    good = (200, {"Content-Type": "application/json"}, json.dumps(listings()[D1]))
    replay.serve(D1, (429, {"Retry-After": "1", "Content-Type": "text/plain"}, "slow down"), good)
    replay.serve(D2, (500, {"Content-Type": "text/html"}, "<h1>oops</h1>"), (503, {}, ""), good)
    waits: list[float] = []
    summary = run_update(settings, store, [D1, D2], client=DailyClient(settings, sleep=waits.append))
    assert [d.status for d in summary.dates] == ["fetched", "fetched"] and waits == [1.0, 0.0, 0.0]
    assert replay.requests == [D1, D1, D2, D2, D2] and "2503.00002" in _stored(store)


@pytest.mark.parametrize("answer, message", [
    (("sleep", {}, "3"), "no answer within 1s"),
    ((200, {"Content-Type": "application/json"}, '[{"paper": {"id": "2503.0'), "bad JSON"),
    ((200, {"Content-Type": "text/html"}, "<html><body>Rate limited. Try later.</body></html>"), "HTML page"),
    ((404, {"Content-Type": "text/html"}, "<html>Not found</html>"), "HTTP 404"),
    ((200, {"Content-Type": "application/json"}, '{"error": "Invalid date"}'), "expected a JSON list"),
])
def test_a_bad_answer_fails_its_date_with_a_clear_message_and_loses_nothing(world, answer, message):
    from assistant.store.cache import ListingCache
    from assistant.update import run_update

    settings, store, replay = world
    settings = settings.with_overrides(update_timeout=1, update_retries=1)
    before = (store.count(), _stored(store))
    replay.serve(D1, answer)
    summary = run_update(settings, store, [D1])
    assert summary.dates[0].status == "failed" and message in summary.dates[0].error
    assert (store.count(), _stored(store)) == before and ListingCache(settings.store.data_dir).get(D1) is None
    replay.serve_json({D1: listings()[D1]})
    assert run_update(settings, store, [D1]).total("new") == 2


def test_server_stopped_mid_run_then_restarted_the_next_run_completes(world):
    from assistant.update import run_update

    settings, store, replay = world
    replay.serve_json(listings())
    replay.stop_after = D1
    summary = run_update(settings, store, [D1, D2, D3])
    assert [d.status for d in summary.dates] == ["fetched", "failed", "not tried"]
    assert summary.offline.startswith("cannot reach") and len(_stored(store)) == 4  # D1's two papers kept
    time.sleep(0.2)
    again = Replay(port=replay.port)
    again.serve_json(listings())
    again.start()
    try:
        done = run_update(settings, store, [D1, D2, D3])
    finally:
        again.stop()
    assert again.requests == [D2, D3] and [d.status for d in done.dates] == ["cached", "fetched", "fetched"]
    assert len(_stored(store)) == 5 and not done.offline


def test_cli_update_json_summary_and_offline_is_one_line(world, monkeypatch, capsys):
    from assistant.cli import main

    settings, store, replay = world
    replay.serve_json(listings())
    data = str(settings.store.data_dir)
    monkeypatch.setenv("ASSISTANT_DAILY_URL", replay.url)
    monkeypatch.setenv("ASSISTANT_UPDATE_DELAY", "0")
    monkeypatch.setenv("ASSISTANT_MODEL_DIR", str(settings.store.models_dir))
    assert main(["update", "--date", D1, "--json", "--data-dir", data]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["dates"], summary["fetched"], summary["new"], summary["failed"]) == (1, 1, 2, 0)
    assert main(["update", "--date", D1, "--json", "--data-dir", data]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] == 1 and replay.requests == [D1]
    assert main(["update", "--date", "13 March", "--data-dir", data]) == 2
    assert "use YYYY-MM-DD" in capsys.readouterr().err
    monkeypatch.setenv("ASSISTANT_DAILY_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["update", "--date", D2, "--quiet", "--data-dir", data]) == 1
    err = capsys.readouterr().err
    assert "offline: cannot reach" in err and "Traceback" not in err


def test_the_app_updates_while_a_session_is_open_and_finds_the_new_paper(world):
    from assistant.service import Assistant
    from assistant.update import today_utc
    from assistant.web.backend import Backend
    from assistant.web.layout import status_line
    from assistant.web.session import Request, Session, respond_stream

    settings, store, replay = world
    question = "Which paper forecasts tidal energy with graph transformers?"
    backend = Backend(assistant=Assistant.create(settings.with_overrides(provider="extractive")))
    session = Session()
    before = list(respond_stream(backend, session, Request(question)))[-1].answer
    assert all("Tidal" not in r.title for r in before.references) and backend.info()["papers"] == 2
    today = today_utc().isoformat()
    replay.serve_json({today: [entry("2503.00004", "Tidal Energy Forecasting with Graph Transformers",
                                     "tidal energy forecasting", today, 9)]})
    live = Backend(assistant=Assistant(settings.with_overrides(update_every=60, update_days=1, provider="extractive"),
                                       backend.assistant.retriever))  # the same open index, now with updates on
    deadline = time.monotonic() + 120
    while live.updater.last is None and time.monotonic() < deadline:
        time.sleep(0.2)
    live.updater.stop()
    assert live.updater.last is not None and live.updater.last.total("new") == 1 and replay.requests == [today]
    assert backend.info()["papers"] == 3 and "1 new papers" in status_line(backend)
    after = list(respond_stream(backend, session, Request(question)))[-1].answer
    assert after.references and "Tidal Energy" in after.references[0].title


def test_the_default_settings_start_no_updater(settings_for, no_outbound):
    from assistant.settings import load_settings
    from assistant.web.backend import Backend
    from assistant.service import Assistant

    assert load_settings(env={}).update.every == 0
    settings = settings_for(provider="extractive")
    from assistant.corpus import load_corpus
    from assistant.update import index_resolved

    assistant = Assistant.create(settings)
    index_resolved(load_corpus([SEEDS / "000_6b1eaca390782b18.txt"]).papers[:3], assistant.retriever.store, settings)
    backend = Backend(assistant=assistant)
    assert backend.updater is None and backend.info()["papers"] == 3 and backend.info()["updated"] == ""


def test_a_run_killed_mid_way_leaves_the_store_consistent_and_the_next_run_completes_it(world, tmp_path):
    """The killed process has fetched (and cached) the date and written its first batch of
    chunks (64 with ASSISTANT_EMBED_BATCH=1) when it dies; the next run makes no request and
    completes the date."""
    import os
    import signal
    import subprocess
    import sys

    from assistant.store.cache import ListingCache
    from assistant.update import run_update

    settings, store, replay = world
    rows = [entry(f"2503.1{i:04d}", f"Paper number {i} on topic {i}", f"topic {i} " * 12, D1, i) for i in range(80)]
    replay.serve_json({D1: rows})
    env = {**os.environ, "ASSISTANT_DAILY_URL": replay.url, "ASSISTANT_MODEL_DIR": str(settings.store.models_dir),
           "ASSISTANT_UPDATE_DELAY": "0", "ASSISTANT_EMBED_BATCH": "1"}
    cmd = [sys.executable, "-m", "assistant", "update", "--date", D1, "--quiet", "--data-dir", str(settings.store.data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache, seeds = ListingCache(settings.store.data_dir), store.count()
    deadline = time.monotonic() + 120
    while (cache.get(D1) is None or store.count() == seeds) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert 0 < len(_stored(store)) - 2 < 80, "killed before or after indexing, not mid-way"
    done = run_update(settings, store, [D1])
    assert replay.requests == [D1] and done.dates[0].status == "cached"
    stored = _stored(store)
    assert {f"2503.1{i:04d}" for i in range(80)} <= set(stored)
    state = store.paper_state()
    assert all(len(state[pid]["chunk_ids"]) == state[pid]["n_chunks"] for pid in stored)
    assert run_update(settings, store, [D1]).total("unchanged") == 80


def test_date_ranges_filter_search_and_seed_dates_keep_working(world, monkeypatch, capsys):
    from assistant.cli import main
    from assistant.records import Filters
    from assistant.retrieve import make_retriever
    from assistant.update import run_update

    settings, store, replay = world
    replay.serve_json(listings())
    run_update(settings, store, [D1, D2, D3])
    retriever = make_retriever(settings)

    def found(**filters) -> set[str]:
        return {h.paper_id for h in retriever.search("a new benchmark and a simple method", k=10, filters=Filters(**filters))}

    assert found(since=D2, until=D3) >= {"2503.00001", "2503.00004"}  # 2503.00001 is on D1 and D2: any appearance
    assert "2503.00002" not in found(since=D2, until=D3) and found(since=D3) <= {"2503.00004"}
    assert found(since="2025-04-01") == set()
    seeds = found(page_dates=("Mar 13",))
    assert len(seeds) == 2 and seeds <= found(since="2025-03-13", until="2025-03-13")  # yearless: in the range's year
    monkeypatch.setenv("ASSISTANT_MODEL_DIR", str(settings.store.models_dir))
    data = str(settings.store.data_dir)
    assert main(["search", "instruction diversity", "--date", "Mar 13", "--json", "--data-dir", data]) == 0
    assert {r["paper_id"] for r in json.loads(capsys.readouterr().out)} == seeds
    assert main(["search", "tidal energy", "--since", D3, "--until", D3, "--json", "--data-dir", data]) == 0
    assert [r["paper_id"] for r in json.loads(capsys.readouterr().out)] == ["2503.00004"]
    with pytest.raises(SystemExit):
        main(["search", "tidal energy", "--since", "March 14", "--data-dir", data])
    assert "use YYYY-MM-DD" in capsys.readouterr().err


def test_a_list_sorted_by_upvotes_or_recency_when_asked(world):
    from assistant.records import Recommendation
    from assistant.recommend import is_recommendation, order_asked, order_items
    from assistant.retrieve import make_retriever
    from assistant.update import run_update

    settings, store, replay = world
    replay.serve_json(listings())
    run_update(settings, store, [D1, D2, D3])
    assert order_asked("the most upvoted papers on protein folding") == "upvotes"
    assert order_asked("newest papers on street scenes") == "recent" and is_recommendation("newest papers on agents")
    assert order_asked("What should I read on continual learning?") == ""
    hits = make_retriever(settings).search("a new benchmark and a simple method", k=10)
    items = [Recommendation(i, h.paper_id, h.title, h.metadata.get("page_date", ""), "", "", h.score)
             for i, h in enumerate(hits, 1)]
    by_votes = order_items(items, hits, "upvotes")
    only_if = next(h.paper_id for h in hits if h.metadata.get("arxiv_id") == "2410.06456")  # stored under its seed id
    assert [r.paper_id for r in by_votes][:4] == ["2503.00001", only_if, "2503.00004", "2503.00002"]
    assert [r.rank for r in by_votes] == list(range(1, len(items) + 1))
    newest = [r.paper_id for r in order_items(items, hits, "recent")]
    assert newest[0] == "2503.00004" and newest.index("2503.00001") < newest.index("2503.00002")
    assert set(newest[-1:]) <= {h.paper_id for h in hits if not h.metadata.get("arxiv_id")}  # the yearless seed last
