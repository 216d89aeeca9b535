"""Faults, bad input and load in the served app: a damaged store, characters that cannot be
encoded, wrong passwords. Every app here is a real ``launch()`` on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from fakes import RecordingChat

from assistant.cli import main
from assistant.service import Assistant
from assistant.web.layout import launch
from assistant.web.render import md_text

ASK = ("Auto", [], [], 5, "extractive")


def damaged_data_dir(root: Path) -> Path:
    """A data directory whose Chroma database was truncated to 0 bytes."""
    db = root / "data" / "chroma" / "chroma.sqlite3"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    return root / "data"


def text_of(content: object) -> str:
    """A chat message's text as the API returns it (Gradio 6: a list of {"text", "type"} parts)."""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return str(content)


# ---------------------------------------------------------------- a damaged store


def test_damaged_store_is_one_message_in_the_app_at_once_and_is_never_seeded_over(settings_for, tmp_path):
    from gradio_client import Client

    data = damaged_data_dir(tmp_path)
    db = data / "chroma" / "chroma.sqlite3"
    settings = settings_for(data_dir=data, provider="extractive")
    demo = launch(settings, block=False, port=free_port(), quiet=True)  # the real loader: start_assistant
    try:
        assert demo.backend.wait(60) and demo.backend.error
        started = time.monotonic()
        history, _box, status = Client(demo.local_url, verbose=False).predict("What is LeanAgent?", *ASK,
                                                                              api_name="/ask")[:3]
        assert time.monotonic() - started < 30, "the question waited for a store that will never open"
        reply = text_of(history[-1]["content"])
        for text, path in ((reply, md_text(str(db))), (status, str(db))):  # the chat shows Markdown
            assert path in text and "0 bytes" in text and "assistant ingest" in text
        assert "Traceback" not in reply and "Loading the embedding model" not in reply
    finally:
        demo.close()
    assert db.stat().st_size == 0 and sorted(p.name for p in db.parent.iterdir()) == ["chroma.sqlite3"]


def test_damaged_store_stops_assistant_app_before_it_serves(tmp_path, capsys):
    data = damaged_data_dir(tmp_path)
    port = free_port()
    assert main(["app", "--data-dir", str(data), "--provider", "extractive", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert str(data / "chroma" / "chroma.sqlite3") in err and "assistant ingest" in err
    assert "Traceback" not in err
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert (data / "chroma" / "chroma.sqlite3").stat().st_size == 0


# ---------------------------------------------------------------- characters that cannot be encoded

QUESTION = "How does LeanAgent do lifelong learning for formal theorem proving?"


@pytest.fixture(scope="module")
def served(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "LeanAgent learns lifelong [1]."})
    demo = launch(settings, assistant=Assistant(settings, retriever, chat_model=chat), block=False,
                  port=free_port(), quiet=True)
    yield demo
    demo.close()


def call(app, data: list, session: str, raw: bytes | None = None) -> tuple[str, object]:
    """One /ask request the way the page sends it (POST /gradio_api/queue/join, then the session's
    event stream), JSON with \\uXXXX escapes, so a lone surrogate arrives intact. Returns the last
    message's kind ("process_completed" with "success", or what came instead) and its output data."""
    import json

    fn_index = next(i for i, fn in app.fns.items() if fn.api_name == "ask")
    body = raw if raw is not None else json.dumps(
        {"data": [data[0], None, *data[1:]], "fn_index": fn_index, "session_hash": session}).encode("ascii")
    base = app.local_url.rstrip("/") + "/gradio_api/queue"
    posted = httpx.post(f"{base}/join", content=body, headers={"content-type": "application/json"}, timeout=30)
    if posted.status_code != 200:
        return f"http {posted.status_code}", posted.text
    event_id = posted.json()["event_id"]
    try:
        with httpx.stream("GET", f"{base}/data", params={"session_hash": session}, timeout=120) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[6:]) if line.startswith("data: ") else {}
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    return ("success" if message.get("success") else "failed"), output.get("data", output)
    except httpx.RemoteProtocolError as exc:  # the server could not encode an update: the stream broke
        return "stream broken", str(exc)
    return "no completion", None


def test_a_lone_surrogate_through_the_api_does_not_poison_the_session(served):
    """Messages with lone surrogates (what invalid UTF-8 decodes to) are answered, and the same
    session's next question is too (it once left every later request failing until Clear)."""
    for question in ("How does LeanAgent\ud800 do lifelong learning?", "What is \udcff\udcfe LeanAgent?", QUESTION):
        kind, out = call(served, [question, *ASK], session="surrogates")
        assert kind == "success", out
        history, _box, status = out[:3]
        assert status.startswith("Done"), status
        assert history[-2]["role"] == "user" and "LeanAgent" in text_of(history[-2]["content"])
    assert len(history) == 6 and "\ufffd" in text_of(history[0]["content"])


def test_invalid_utf8_in_a_request_body_is_refused_and_the_session_still_answers(served):
    """Raw bytes that are not UTF-8, posted to the API: refused, and the session goes on answering."""
    fn_index = next(i for i, fn in served.fns.items() if fn.api_name == "ask")
    body = (b'{"data": ["What is LeanAgent\xff\xfe?", null, "Auto", [], [], 5, "extractive"], "fn_index": %d, '
            b'"session_hash": "bytes"}' % fn_index)
    kind, out = call(served, [], session="bytes", raw=body)
    assert kind == "http 400" and "parsing the body" in str(out)
    kind, out = call(served, [QUESTION, *ASK], session="bytes")
    assert kind == "success" and out[2].startswith("Done"), out


# ---------------------------------------------------------------- slowed logins


def test_fifty_wrong_passwords_cost_minutes_with_the_default_delays():
    from assistant.settings import load_settings
    from assistant.web.login import LoginThrottle

    app = load_settings(env={}).app
    throttle = LoginThrottle("ann", "secret", first=app.login_delay, most=app.login_delay_max)
    total = 0.0
    for n in range(50):
        total += throttle.delay("ann")
        throttle.failures["ann"] = n + 1
    assert total > 20 * 60 and throttle.delay("ann") == app.login_delay_max


def login(app, user: str, password: str) -> int:
    url = app.local_url.rstrip("/") + "/login"
    return httpx.post(url, data={"username": user, "password": password}, timeout=60).status_code


def test_failed_logins_are_slowed_and_the_right_password_still_gets_in(seeded):
    """Against a launched app with --auth (delays 0.05 s doubling to 0.4 s): twelve parallel wrong
    passwords queue behind each other's delay; the owner then gets in and can ask."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    settings, _, retriever = seeded
    settings = settings.with_overrides(auth="ann:s3cret", login_delay=0.05, login_delay_max=0.4)
    chat = RecordingChat(replies={"answer": "LeanAgent learns lifelong [1]."})
    demo = launch(settings, assistant=Assistant(settings, retriever, chat_model=chat), block=False,
                  port=free_port(), quiet=True)
    try:
        assert httpx.get(demo.local_url.rstrip("/") + "/config", timeout=30).status_code in (401, 403)
        started = time.monotonic()
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda i: login(demo, "ann" if i % 2 else "root", f"guess{i}"), range(12)))
        elapsed = time.monotonic() - started
        assert codes == [400] * 12
        # 6 on "ann" and 6 on other names, each account one at a time: 0 + 0.05 + 0.1 + 0.2 + 0.4 + 0.4
        assert elapsed >= 1.1, f"12 wrong passwords took {elapsed:.2f} s"
        started = time.monotonic()
        assert login(demo, "ann", "s3cret") == 200
        assert time.monotonic() - started < 5
        client = Client(demo.local_url, auth=("ann", "s3cret"), verbose=False)
        assert client.predict(QUESTION, *ASK, api_name="/ask")[2].startswith("Done")
    finally:
        demo.close()


# ---------------------------------------------------------------- memory: sessions kept


def test_the_app_keeps_at_most_app_sessions_sessions_and_drops_the_oldest(seeded):
    """The soak's RSS growth was one kept state per visit (gradio_client never closes a tab):
    ASSISTANT_APP_SESSIONS bounds them; the newest sessions still answer."""
    settings, _, retriever = seeded
    small = settings.with_overrides(app_sessions=3)
    demo = launch(small, assistant=Assistant(small, retriever, chat_model=RecordingChat(
        replies={"answer": "LeanAgent learns lifelong [1]."})), block=False, port=free_port(), quiet=True)
    try:
        for n in range(5):
            kind, out = call(demo, [QUESTION, *ASK], session=f"visit-{n}")
            assert kind == "success" and out[2].startswith("Done"), out
        kept = list(demo.state_holder.session_data)
        assert len(kept) == 3 and "visit-0" not in kept and "visit-4" in kept
    finally:
        demo.close()
