"""The reading library: a real SQLite file in tmp_path, the library model over the real seed index,
and the ``library`` / ``digest`` / ``recommend --from-library`` commands in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import REPO

from assistant.cli import main
from assistant.library import LibraryRecommender, corpus_vectors, library_request, train
from assistant.service import Assistant
from assistant.store.library import SCHEMA_VERSION, Library, LibraryError, open_library

TOPIC = "continual lifelong learning without forgetting"


@pytest.fixture
def library(tmp_path):
    return Library(tmp_path / "library.sqlite3")


@pytest.fixture(scope="module")
def continual(seeded):
    """Ids of the seed papers closest to continual learning, best first."""
    _, _, retriever = seeded
    return [h.paper_id for h in retriever.search(TOPIC, k=8)]


def lists(seeded, library, chat_model=None) -> LibraryRecommender:  # noqa: ANN001
    settings, store, retriever = seeded
    return Assistant(settings, retriever, chat_model).library_recommender(library)


# ---------------------------------------------------------------- the SQLite file


def test_library_operations(library):
    library.save({"p1": "One", "p2": "Two"}, tags=["rl"])
    library.dismiss({"p3": "Three"})
    library.mark_read({"p2": ""})
    assert library.tag(["p1", "unknown"], "agents") == 1
    assert library.set_note("p1", "read the appendix") and not library.set_note("nope", "x")
    by_id = {e.paper_id: e for e in library.entries()}
    assert by_id["p1"].tags == ["agents", "rl"] and by_id["p1"].note == "read the appendix"
    assert by_id["p2"].status == "read" and by_id["p2"].title == "Two"  # an empty title keeps the old one
    assert [e.paper_id for e in library.entries(tag="agents")] == ["p1"]
    assert [e.paper_id for e in library.entries(status="dismissed")] == ["p3"]
    assert library.tag(["p1"], "agents", remove=True) == 1 and library.tags() == ["rl"]
    assert library.remove(["p2", "p9"]) == 1
    assert set(library.status_of()) == {"p1", "p3"}


def test_the_library_persists_across_two_processes(tmp_path):
    path = tmp_path / "library.sqlite3"
    Library(path).save({"p1": "Saved in process one"}, tags=["x"])
    code = ("import json, sys; from assistant.store.library import Library; lib = Library(sys.argv[1]); "
            "lib.dismiss({'p2': 'From process two'}); print(json.dumps([e.to_dict() for e in lib.entries()]))")
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=REPO, env=env,
                         check=True).stdout
    seen = {e["paper_id"]: e for e in json.loads(out)}
    assert seen["p1"]["title"] == "Saved in process one" and seen["p1"]["tags"] == ["x"]
    assert {e.paper_id: e.status for e in Library(path).entries()} == {"p1": "saved", "p2": "dismissed"}


def test_two_sessions_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "library.sqlite3"
    sessions = [Library(path), Library(path)]
    errors: list[BaseException] = []

    def write(who: int) -> None:
        try:
            for i in range(40):
                sessions[who].save({f"s{who}-{i}": f"paper {i}"}, tags=[f"t{i % 3}"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(Library(path).entries()) == 80


def test_each_user_has_their_own_library(library):
    alice, bob = library.for_user("alice"), library.for_user("bob")
    alice.save({"p1": "Alice's"})
    bob.dismiss({"p1": "Bob's"})
    assert [(e.paper_id, e.status) for e in alice.entries()] == [("p1", "saved")]
    assert [(e.paper_id, e.status) for e in bob.entries()] == [("p1", "dismissed")]
    assert library.entries() == []  # the local (no-auth) library is a third one


def test_an_empty_file_is_migrated_to_the_current_schema(tmp_path):
    path = tmp_path / "library.sqlite3"
    path.write_bytes(b"")
    lib = Library(path)
    assert lib.schema_version() == SCHEMA_VERSION
    lib.save({"p1": "t"})
    assert Library(path).schema_version() == SCHEMA_VERSION and len(Library(path).entries()) == 1


def test_a_library_from_a_newer_version_is_refused_with_its_name(tmp_path):
    path = tmp_path / "library.sqlite3"
    Library(path)._rows("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(LibraryError, match="schema version 99"):
        Library(path)


def test_a_corrupt_library_is_one_clear_error_and_the_chat_still_answers(seeded, tmp_path):
    settings, _, retriever = seeded
    path = tmp_path / "library.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    settings = settings.with_overrides(library_file=str(path), provider="extractive")
    with pytest.raises(LibraryError) as exc:
        open_library(settings)
    assert str(path) in str(exc.value) and "move it away" in str(exc.value)
    assistant = Assistant(settings, retriever)
    from assistant.chain import Conversation

    answer = [e for e in assistant.respond("How does LeanAgent do lifelong learning?", Conversation())
              if e.kind == "answer"][-1].answer
    assert "LeanAgent" in answer.text
    listed = [e for e in assistant.respond("recommend from my library", Conversation()) if e.kind == "answer"][-1]
    assert str(path) in listed.answer.text
    assert path.read_bytes().startswith(b"this is not")  # nothing was changed


# ---------------------------------------------------------------- the library model


def test_library_picks_are_neighbours_of_saved_papers_and_never_library_papers(seeded, library, continual):
    saved, dismissed = continual[:3], continual[3:4]
    library.save({p: "" for p in saved})
    library.dismiss({p: "" for p in dismissed})
    result = lists(seeded, library).recommend(n=5)
    picked = [i.paper_id for i in result.items]
    assert len(picked) == 5 and not set(picked) & set(saved + dismissed)
    assert set(picked) & set(continual[4:]), "a continual-learning neighbour is recommended"
    assert all(i.because_id in saved and i.because and i.quote for i in result.items)
    assert result.items[0].reason.startswith("Because you saved")
    assert "a classifier trained on your 3 saved papers" in result.notice


def test_one_saved_paper_falls_back_to_similarity(seeded, library, continual):
    settings, store, _ = seeded
    corpus = corpus_vectors(store)
    titles = {pid: p["title"] for pid, p in store.papers(continual).items()}
    saved = next(pid for pid in continual if titles[pid].startswith("A Unified and General Framework for Continual"))
    model = train(corpus, [saved], [], settings)
    assert model.kind == "similarity"
    top = [corpus.ids[i] for i in model.scores().argsort()[::-1][:6]]
    assert top[0] == saved and len(set(top[1:]) & set(continual) - {saved}) >= 2
    full = train(corpus, continual[:3], continual[3:4], settings)
    assert full.kind == "classifier" and full.train_ms < 1000


def test_an_empty_library_says_how_to_fill_it(seeded, library):
    result = lists(seeded, library).recommend(n=5)
    assert not result.items and "assistant library add" in result.notice
    assert lists(seeded, library).recommend(n=5, tag="none").items == []


def test_free_text_lists_blend_the_library_and_exclude_its_papers(seeded, library, continual):
    settings, _, retriever = seeded
    library.save({p: "" for p in continual[:2]})
    assistant = Assistant(settings.with_overrides(library_file=str(library.path)), retriever)
    result = assistant.recommender.recommend("What should I read on continual or lifelong learning?", n=5)
    assert result.items and not {i.paper_id for i in result.items} & set(continual[:2])
    assert "picked with your library" in result.notice


def test_chat_messages_that_ask_for_the_library():
    assert library_request("recommend from my library") == ("library", None)
    assert library_request("Recommend papers from my library tagged rl") == ("library", "rl")
    assert library_request("what's new for me?") == ("digest", None)
    assert library_request("What should I read on continual learning?") is None


def test_digest_lists_papers_first_seen_after_the_last_visit(library):
    assert library.record_seen({"old1": "2024-01-02", "old2": "Mar 14"}, "g1") == 2
    assert library.record_seen({"old1": "", "old2": "", "x": ""}, "g1") == 0  # same generation: skipped
    assert set(library.seen_since("2024-01-01")) == {"old1", "old2"}
    assert set(library.seen_since("2024-06-01")) == {"old2"}  # no ISO page date: first seen now
    library.visit("2999-01-01T00:00:00Z")
    assert library.last_visit() == "2999-01-01T00:00:00Z" and library.seen_since(library.last_visit()) == {}
    library.record_seen({"old1": "", "old2": "", "new": "2020-01-01"}, "g2")
    assert library.seen_since("2026-01-01")["new"] >= "2026"  # a later paper is dated when first seen


def test_digest_ranks_new_papers_by_the_library(seeded, library, continual):
    library.save({p: "" for p in continual[:3]})
    result = lists(seeded, library).digest("2000-01-01", n=3)
    assert len(result.items) == 3 and all(i.because for i in result.items)
    assert not {i.paper_id for i in result.items} & set(continual[:3])
    assert lists(seeded, library).digest("2999-01-01", n=3).items == []


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli(seeded, tmp_path, monkeypatch):
    settings, _, _ = seeded
    monkeypatch.setenv("ASSISTANT_LIBRARY_FILE", str(tmp_path / "cli-library.sqlite3"))
    data = ["--data-dir", str(settings.store.data_dir)]

    def run(*args: str) -> tuple[int, str, str]:
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main([*args, *data])
        return code, out.getvalue(), err.getvalue()

    return run


def test_cli_library_add_tag_list_export_remove(cli, continual):
    a, b, c = continual[:3]
    assert cli("library", "add", a, b, "--tag", "continual")[0] == 0
    assert cli("library", "dismiss", c)[0] == 0
    assert cli("library", "read", b)[0] == 0
    code, _, err = cli("library", "add", "no-such-id")
    assert code == 2 and "no-such-id" in err and "assistant search --json" in err
    listed = json.loads(cli("library", "list", "--json")[1])
    assert {e["paper_id"]: e["status"] for e in listed} == {a: "saved", b: "read", c: "dismissed"}
    assert all({"paper_id", "title", "tags", "status"} <= set(e) for e in listed)
    assert [e["paper_id"] for e in json.loads(cli("library", "list", "--tag", "continual", "--json")[1])] == sorted([a, b])  # added together: by id
    bib = cli("library", "export", "--format", "bib")[1]
    assert bib.count("@misc{") == 2 and "title = {" in bib
    md = cli("library", "export", "--format", "md", "--tag", "continual")[1]
    assert md.startswith("# My reading library") and md.count("\n- **") == 2
    assert cli("library", "remove", a)[0] == 0
    assert a not in cli("library", "list")[1]
    assert cli("library", "list", "--tag", "nope")[1].strip() == "no paper in your library tagged 'nope'"


def test_cli_recommend_from_library_json(cli, continual):
    cli("library", "add", *continual[:3], "--tag", "cl")
    code, out, err = cli("recommend", "--from-library", "--tag", "cl", "-n", "3", "--provider", "extractive", "--json")
    assert code == 0, err
    items = json.loads(out)["items"]
    assert len(items) == 3
    assert all({"paper_id", "title", "reason", "quote", "because"} <= set(i) and i["because"] for i in items)
    assert not {i["paper_id"] for i in items} & set(continual[:3])
    assert cli("recommend", "robots", "--tag", "cl", "--provider", "extractive")[0] == 2


def test_cli_digest(cli, continual):
    cli("library", "add", *continual[:2])
    code, out, err = cli("digest", "--since", "2000-01-01", "-n", "2", "--json", "--provider", "extractive")
    assert code == 0, err
    assert len(json.loads(out)["items"]) == 2
    code, _, err = cli("digest", "--since", "12/3", "--provider", "extractive")
    assert code == 2 and "YYYY-MM-DD" in err
    assert cli("digest", "--provider", "extractive")[0] == 0  # since the last visit (none yet: a week)
    code, out, _ = cli("digest", "--provider", "extractive")
    assert code == 0 and "No new papers since" in out


# ---------------------------------------------------------------- lists streamed item by item


def test_a_list_shows_at_once_and_the_reasons_fill_in_one_at_a_time(seeded):
    from fakes import RecordingChat

    from assistant.web.session import Request, Session, respond_stream

    settings, _, retriever = seeded
    question = "What should I read on continual or lifelong learning?"
    quotes = [i.quote for i in Assistant(settings, retriever).recommender.recommend(question, n=3).items]
    reasons = "\n".join(f"{r}. It matters here because {q[0].lower()}{q[1:]}" for r, q in enumerate(quotes, 1))
    chat = RecordingChat(replies={"reasons": reasons}, p_yes=0.95)
    settings = settings.with_overrides(list_reasons=3)  # the default writes 1: docs/benchmarks.md
    updates = list(respond_stream(Assistant(settings, retriever, chat), Session(), Request(question, n=3)))
    texts = [u.history[-1]["content"] for u in updates if "1. **" in u.history[-1]["content"]]
    written = [t.count("It matters here because") for t in texts]
    assert written[0] == 0 and "quoted sentence" in texts[0], "the list comes before any model reason (templates)"
    assert {1, 2} <= set(written), "reasons appear one item at a time"
    assert written == sorted(written) and written[-1] == 3
    answer = updates[-1].answer
    assert answer.timings["first_item_s"] <= answer.timings["total_s"] and len(chat.sent("reasons")) == 1


def test_a_streamed_list_the_judge_refuses_gives_way_to_the_refusal(seeded):
    from fakes import RecordingChat

    from assistant.web.session import Request, Session, respond_stream

    settings, _, retriever = seeded
    chat = RecordingChat(replies={"reasons": "1. It is relevant."}, p_yes=0.01)
    updates = list(respond_stream(Assistant(settings, retriever, chat), Session(),
                                  Request("What should I read on continual or lifelong learning?", n=3)))
    shown = [u.history[-1]["content"] for u in updates]
    assert any("1. **" in t for t in shown), "the list came first, before the judge"
    answer = updates[-1].answer
    assert answer.refused and "1. **" not in shown[-1] and chat.sent("reasons") == []


def test_with_auth_each_login_gets_lists_from_their_own_library(seeded, tmp_path, continual):
    from assistant.web.session import Request, Session, respond_stream

    settings, _, retriever = seeded
    settings = settings.with_overrides(library_file=str(tmp_path / "library.sqlite3"), provider="extractive")
    open_library(settings, "alice").save({p: "" for p in continual[:3]})
    replies = {}
    for user in ("alice", "bob"):
        session = Session(user=user)  # the page sets it from Gradio's request.username
        updates = list(respond_stream(Assistant(settings, retriever), session, Request("recommend from my library")))
        replies[user] = updates[-1].answer
    assert "Because you saved" in replies["alice"].text and len(replies["alice"].references) == 5
    assert not replies["bob"].references and "no saved paper" in replies["bob"].text
    assert open_library(settings).entries() == []  # and the local (no-auth) library is untouched
