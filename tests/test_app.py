"""The web app's pure parts and its API, with a recording chat model over the real seed index."""

from __future__ import annotations

import re
import threading
import time

from pathlib import Path

import pytest
from conftest import free_port
from fakes import RecordingChat

from assistant.chain import Conversation
from assistant.models import GATE, GatedModel, ModelGate, Ticket
from assistant.records import Answer, Reference, SentenceSupport
from assistant.service import LOADING, SEED_EXAMPLES, Assistant, corpus_info, start_assistant
from assistant.web.backend import Backend
from assistant.web.export import to_bibtex, to_markdown, write_exports
from assistant.web.layout import AppError, build_app, check_bind, launch, status_line
from assistant.web.render import esc, highlight, md_text, render_reply, render_sources, safe_markdown
from assistant.web.session import Request, Session, Update, respond_stream

QUESTION = "How does LeanAgent do lifelong learning for formal theorem proving?"
EVIDENCE = ("LeanAgent is a lifelong learning framework for theorem proving that continuously generalizes to and "
            "improves on ever-expanding mathematical knowledge without forgetting previously learned knowledge")
XSS_TITLE = 'Evil <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> {50%} & co_op \\x'
XSS_ABSTRACT = ("First sentence is harmless. Then <script>window.__pwned=1</script> and "
                '<img src=x onerror="window.__pwned=1"> and [click](javascript:window.__pwned=1). Last one.')


def answering(text: str | list[str], **replies) -> RecordingChat:  # noqa: ANN003
    """A chat model whose answer is ``text`` (a list: one per answer); the judge says yes (0.9)."""
    return RecordingChat(replies={"answer": text, **replies})


def ask(source, message: str, session: Session | None = None, **options) -> list[Update]:  # noqa: ANN001, ANN003
    return list(respond_stream(source, session if session is not None else Session(), Request(message, **options)))


def number_of(retriever, question: str, needle: str) -> int:
    """The source number the chain will give the paper whose title contains ``needle``."""
    hits = retriever.search(question, k=10)[:5]
    for i, hit in enumerate(hits, 1):
        if needle.lower() in hit.title.lower():
            return i
    pytest.skip(f"retrieval no longer ranks {needle!r} in the top 5 for the test question")


def assistant_messages(update: Update) -> list[str]:
    return [m["content"] for m in update.history if m["role"] == "assistant"]


@pytest.fixture(scope="module")
def lean(seeded):
    settings, store, retriever = seeded
    return number_of(retriever, QUESTION, "LeanAgent")


# ---------------------------------------------------------------- the streamed reply


def test_stream_grows_then_shows_cited_sources(seeded, lean):
    settings, _, retriever = seeded
    chat = answering(f"{EVIDENCE} [{lean}]. It never forgets [{lean}].")
    session = Session()
    updates = ask(Assistant(settings, retriever, chat_model=chat), QUESTION, session)

    texts = [assistant_messages(u)[-1] for u in updates]
    streamed = [t for t, u in zip(texts, updates) if u.status == "Generating the answer…"]
    assert len(streamed) >= 5, "tokens are streamed one update at a time"
    assert all(len(b) >= len(a) for a, b in zip(streamed, streamed[1:]))
    assert len(streamed[-1]) > len(streamed[0])

    final = updates[-1]
    assert final.answer is not None and session.last is final.answer
    assert [m["role"] for m in final.history] == ["user", "assistant"]
    message = final.history[-1]["content"]
    assert f"[\\[{lean}\\]](#src-{lean})" in message  # the marker links to its source card
    assert "supported by the cited abstracts" in message

    panel = render_sources(final.answer)
    assert f'id="src-{lean}"' in panel
    assert "<mark>" in panel and "LeanAgent" in panel
    assert '<span class="pa-mark">✓</span>' in panel
    ref = next(r for r in final.answer.references if r.number == lean)
    assert ref.cited and ref.spans
    # the evidence sentences are exactly what is highlighted
    a, b = ref.spans[0]
    assert f"<mark>{esc(ref.abstract[a:b])}" in panel
    assert set(session.shown) == {r.paper_id for r in final.answer.references}


def test_unsupported_sentence_gets_a_cross_with_reason(seeded, lean):
    settings, _, retriever = seeded
    text = f"{EVIDENCE} [{lean}]. Bananas are the main export of Iceland and grow on glaciers [{lean}]."
    updates = ask(Assistant(settings, retriever, chat_model=answering(text)), QUESTION)
    answer = updates[-1].answer
    assert answer is not None
    assert any(not s.supported for s in answer.support)
    panel = render_sources(answer)
    assert '<span class="pa-mark">✗</span>' in panel and "Bananas" in panel
    assert "⚠" in updates[-1].history[-1]["content"]


def test_followup_keeps_the_conversation(seeded, lean):
    settings, _, retriever = seeded
    chat = answering([f"{EVIDENCE} [{lean}].", f"{EVIDENCE} [1]."],
                     condense="LeanAgent lifelong learning without forgetting")
    assistant = Assistant(settings, retriever, chat_model=chat)
    session = Session()
    ask(assistant, QUESTION, session)
    ask(assistant, "Does it forget what it learned before?", session)
    assert len(session.conversation.turns) == 2
    assert [m["role"] for m in session.history] == ["user", "assistant", "user", "assistant"]
    assert len(session.answers) == 2


@pytest.mark.parametrize("message, expected", [
    ("   ", "Please type a question"),
    ("x" * 5000, "the limit is 2,000"),
])
def test_bad_questions_become_chat_messages(seeded, message, expected):
    settings, _, retriever = seeded
    chat = answering("unused")
    updates = ask(Assistant(settings, retriever, chat_model=chat), message)
    reply = updates[-1].history[-1]
    assert reply["role"] == "assistant" and expected in reply["content"]
    assert "Traceback" not in reply["content"]
    assert updates[-1].answer is None and chat.calls == []


def test_empty_index_is_a_chat_message(settings_for):
    from assistant.retrieve import make_retriever

    settings = settings_for()
    assistant = Assistant(settings, make_retriever(settings), chat_model=answering("unused"))
    updates = ask(assistant, "What is grokking?")
    assert "index is empty" in updates[-1].history[-1]["content"]
    assert "assistant ingest" in updates[-1].status


def test_model_down_falls_back_with_a_notice(seeded):
    settings, _, retriever = seeded
    broken = answering(ConnectionError("connection refused by 127.0.0.1:8080"))  # the model's server is down
    updates = ask(Assistant(settings, retriever, chat_model=broken), QUESTION)
    answer = updates[-1].answer
    assert answer is not None and answer.provider == "extractive"
    message = updates[-1].history[-1]["content"]
    assert "**Note:**" in message and "language model failed" in message
    assert "Traceback" not in message


def test_missing_model_notice(seeded):
    settings, _, retriever = seeded
    assistant = Assistant(settings, retriever, None, "The local model is unavailable: no GGUF file.")
    updates = ask(assistant, QUESTION)
    message = updates[-1].history[-1]["content"]
    assert "unavailable" in message and "extractive" in message
    assert any("unavailable" in u.status for u in updates)


def test_recommendations_are_a_ranked_list_with_reasons(seeded):
    settings, _, retriever = seeded
    session = Session()
    updates = ask(Assistant(settings, retriever, None), "What should I read on continual or lifelong learning?", session, n=4)
    answer = updates[-1].answer
    assert answer is not None and answer.kind == "recommendations" and len(answer.references) == 4
    message = updates[-1].history[-1]["content"]
    for rank in range(1, 5):
        assert f"\n{rank}. **" in message and f"(#src-{rank})" in message
    assert message.count("Why: ") == 4
    panel = render_sources(answer)
    assert panel.count('class="pa-card') == 4 and "<mark>" in panel and "templated" in panel  # no model: no model reason

    # "more like this" on the first paper: a new ranked list without the papers already shown
    first = answer.references[0]
    more = ask(Assistant(settings, retriever, None), "", session, n=3, more_like=first.paper_id)
    again = more[-1].answer
    assert again is not None and again.references
    assert not {r.paper_id for r in again.references} & {r.paper_id for r in answer.references}
    assert more[-1].history[-2]["content"].startswith("More like: “")


def test_mode_switch_forces_recommend(seeded):
    settings, _, retriever = seeded
    updates = ask(Assistant(settings, retriever, None), "length generalization in transformers", mode="recommend", n=3)
    assert updates[-1].answer is not None and updates[-1].answer.kind == "recommendations"


def test_waits_for_loading_then_answers(seeded, lean):
    settings, _, retriever = seeded
    go = threading.Event()

    def loader(report):  # noqa: ANN001, ANN202
        report(LOADING)
        go.wait(10)
        return Assistant(settings, retriever, chat_model=answering(f"{EVIDENCE} [{lean}]."))

    backend = Backend(loader=loader).start()
    stream = respond_stream(backend, Session(), Request(QUESTION))
    first = next(stream)
    assert first.status == LOADING and "Loading the model" in first.history[-1]["content"]
    go.set()
    rest = list(stream)
    assert rest[-1].answer is not None


def test_queued_behind_another_generation(seeded, lean):
    settings, _, retriever = seeded
    backend = Backend(assistant=Assistant(settings, retriever, chat_model=answering(f"{EVIDENCE} [{lean}].")))
    release, holding = threading.Event(), threading.Event()

    def other_user() -> None:
        with backend.gate.hold():
            holding.set()
            release.wait(20)

    threading.Thread(target=other_user, daemon=True).start()
    holding.wait(5)
    statuses = []
    for update in respond_stream(backend, Session(), Request(QUESTION)):
        statuses.append(update.status)
        if update.status.startswith("Queued"):
            assert "Queued" in update.history[-1]["content"]
            release.set()
    assert any(s.startswith("Queued: waiting for the model (1 request ahead") for s in statuses)
    assert statuses[-1].startswith("Done")


@pytest.mark.parametrize("call", ["invoke", "yes_probability"])
def test_gate_allows_one_model_call_at_a_time(call):
    gate = ModelGate()
    active, peak = [0], [0]
    lock = threading.Lock()

    class Slow:
        def invoke(self, *_a, **_k):  # noqa: ANN002, ANN003, ANN202
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
            return "ok"

        yes_probability = invoke  # the coverage judge's forward pass

    threads = [threading.Thread(target=getattr(GatedModel(Slow(), gate, Ticket()), call), args=(["q"],))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1 and not gate.busy and gate.waiting == 0


def test_one_gate_for_the_local_model_and_the_app():
    from assistant import llm

    assert llm._GENERATION_LOCK is GATE  # the local model's own lock is the app's gate
    gate = ModelGate()

    class SelfGated:  # like the local model: holds the gate around each call
        def invoke(self, *_a, **_k):  # noqa: ANN002, ANN003, ANN202
            with gate.hold():
                return gate.busy

    got: list[bool] = []
    call = threading.Thread(target=lambda: got.append(GatedModel(SelfGated(), gate).invoke("q")), daemon=True)
    call.start()
    call.join(10)
    assert got == [True] and not gate.busy  # the wrapper's hold covers the model's own: no deadlock
    assert GatedModel(SelfGated(), gate).yes_probability is None  # no scorer: the judge invokes instead
    with pytest.raises(AttributeError, match="not gated"):
        GatedModel(RecordingChat(), gate).batch  # noqa: B018 - no way around the gate


def test_every_model_call_of_a_reply_holds_the_gate(seeded, lean):
    settings, _, retriever = seeded
    busy: list[tuple[str, bool]] = []

    class Watched(RecordingChat):
        def _reply(self, messages):  # noqa: ANN001, ANN202
            busy.append(("call", GATE.busy))
            return super()._reply(messages)

        def yes_probability(self, messages) -> float:  # noqa: ANN001
            busy.append(("judge", GATE.busy))
            return super().yes_probability(messages)

    chat = Watched(replies={"answer": f"{EVIDENCE} [{lean}].", "reasons": "1. It learns without forgetting."})
    assistant = Assistant(settings, retriever, chat_model=chat)
    session = Session()
    ask(assistant, QUESTION, session)
    ask(assistant, "What should I read on continual or lifelong learning?", session)
    assert {"judge", "answer", "reasons"} <= set(chat.roles())
    assert busy and all(held for _, held in busy)
    assert not GATE.busy


def test_request_choices_become_settings(seeded):
    settings, _, retriever = seeded
    backend = Backend(assistant=Assistant(settings, retriever, chat_model=answering("unused")))
    chosen = backend.assistant_for("extractive", 3)
    assert chosen.chat_model is None and chosen.settings.generation.provider == "extractive"
    assert chosen.settings.retrieval.top_k == 3 and chosen.settings.evidence.papers == 3  # what the chain reads
    default = backend.assistant_for("", None)
    assert isinstance(default.chat_model, GatedModel)
    assert default.settings == settings


# ---------------------------------------------------------------- rendering and escaping


def evil_answer(page_date: str = "Mar 13") -> Answer:
    ref = Reference(number=1, paper_id="abc123def456", title=XSS_TITLE, page_date=page_date, source="evil_corpus.jsonl",
                    abstract=XSS_ABSTRACT, evidence=["Then <script>window.__pwned=1</script> and"],
                    spans=[(28, 104), (0, 27)], cited=True)
    support = [SentenceSupport("It is evil <b>bold</b> [1].", [1], True, 0.8, ""),
               SentenceSupport("Uncited claim.", [], False, 0.0, "no citation")]
    text = "It is evil <b>bold</b> [1]. See [click](javascript:window.__pwned=1) ![x](http://remote.example/x.png)."
    return Answer(question="What is <script>evil</script>?", text=text, references=[ref], support=support, provider="local")


def test_sources_panel_escapes_titles_and_abstracts():
    panel = render_sources(evil_answer())
    assert "<script" not in panel and "<img" not in panel and "<b>" not in panel
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in panel
    assert "onerror=&quot;window.__pwned=1&quot;" in panel  # as text, inside no tag
    assert "<mark>First sentence is harmless.</mark>" in panel
    assert "<mark>Then &lt;script&gt;" in panel
    assert "✗" in panel and "no citation" in panel and "✓" in panel


def test_chat_markdown_cannot_link_embed_or_run():
    message = render_reply(evil_answer())
    assert "<" not in message.replace("&lt;", "")
    assert not re.search(r"(?<!\\)\]\(javascript:", message) and "\\[click\\](javascript:" in message
    assert "![x](" not in message
    assert "[\\[1\\]](#src-1)" in message
    assert safe_markdown("a \\[click](javascript:x)") == "a \\\\\\[click\\](javascript:x)"
    assert safe_markdown("`<img>` $$x$$") == "\\`&lt;img>\\` \\$\\$x\\$\\$"
    assert md_text("**[x](javascript:y)**") == "\\*\\*\\[x\\](javascript:y)\\*\\*"


def test_highlight_merges_and_clips_spans():
    text = "One. Two <b>. Three."
    assert highlight(text, [(5, 13), (0, 4), (3, 6), (50, 60)]) == "<mark>One. Two &lt;b&gt;.</mark> Three."
    assert highlight(text, []) == "One. Two &lt;b&gt;. Three."


def test_markdown_export():
    md = to_markdown(evil_answer())
    assert md.startswith("# What is &lt;script&gt;evil&lt;/script&gt;?")
    assert "## References" in md and "evil\\_corpus.jsonl" in md and "Mar 13" in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and "<script" not in md
    assert "- ✓ It is evil" in md and "- ✗ Uncited claim. (no citation)" in md


def test_bibtex_export_has_no_invented_fields():
    bib = to_bibtex(evil_answer())
    assert bib.startswith("@misc{evil_abc123de,\n")
    assert "title = {Evil <script>window.\\_\\_pwned=1</script>" in bib
    assert "\\{50\\%\\} \\& co\\_op \\textbackslash{}x" in bib
    assert "note = {Abstract from evil\\_corpus.jsonl, page date Mar 13}" in bib
    for invented in ("year", "author", "url", "journal", "howpublished", "doi"):
        assert f"{invented} =" not in bib

    dated = to_bibtex(evil_answer(page_date="Mar 13, 2024"))
    assert "year = {2024}" in dated and "@misc{evil2024_" in dated
    meta = {"abc123def456": {"authors": "Ada Lovelace, Alan Turing", "year": "1950", "url": "https://example.org/p",
                             "venue": "Mind"}}
    full = to_bibtex(evil_answer(), meta)
    assert "author = {Ada Lovelace and Alan Turing}" in full and "year = {1950}" in full
    assert "url = {https://example.org/p}" in full and "howpublished = {Mind}" in full
    assert "url =" not in to_bibtex(evil_answer(), {"abc123def456": {"url": "javascript:alert(1)"}})


def test_bibtex_cites_only_cited_papers(seeded, lean):
    settings, _, retriever = seeded
    updates = ask(Assistant(settings, retriever, chat_model=answering(f"{EVIDENCE} [{lean}].")), QUESTION)
    answer = updates[-1].answer
    bib = to_bibtex(answer)
    assert bib.count("@misc{") == len(answer.cited_references) == 1
    assert "LeanAgent" in bib and "year =" not in bib  # Daily Papers dates have no year
    paths = write_exports(answer)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["answer.md", "references.bib"]


def test_a_process_export_folder_goes_when_it_exits(tmp_path):
    """Each app process left its /tmp/paper-assistant-exports-* folder behind."""
    import subprocess
    import sys

    script = ("import sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
              "from assistant.records import Answer\n"
              "from assistant.web.export import write_exports\n"
              "print(write_exports(Answer(question='q', text='a'))[0])\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.is_relative_to(tmp_path) and written.name == "answer.md"
    assert not list(tmp_path.glob("paper-assistant-exports-*"))


# ---------------------------------------------------------------- binding and the served app


def test_refuses_open_bind_without_auth():
    assert check_bind("127.0.0.1", "") is None
    assert check_bind("0.0.0.0", "ann:secret") == ("ann", "secret")
    with pytest.raises(AppError, match="--auth"):
        check_bind("0.0.0.0", "")
    with pytest.raises(AppError, match="user:password"):
        check_bind("127.0.0.1", "nopassword")


def test_launch_refuses_before_serving(seeded):
    settings, _, _ = seeded
    with pytest.raises(AppError):
        launch(settings.with_overrides(host="0.0.0.0", port=free_port()), block=False)


def test_api_through_gradio_client(seeded, lean):
    from gradio_client import Client

    settings, _, retriever = seeded
    assistant = Assistant(settings, retriever, chat_model=answering(f"{EVIDENCE} [{lean}]."))
    demo = launch(settings, assistant=assistant, block=False, port=free_port(), quiet=True)
    try:
        assert demo.analytics_enabled is False and demo.share is False  # nothing phones home
        deps = {d.api_name: d for d in demo.fns.values()}
        assert deps["ask"].concurrency_limit == 4 and deps["ask"].concurrency_id == "chat"
        client = Client(demo.local_url, verbose=False)
        history, box, status, panel, more, files, bibtex = client.predict(
            QUESTION, "Auto", [], [], 5, "local", api_name="/ask")
        assert history[-1]["role"] == "assistant" and f"(#src-{lean})" in str(history[-1]["content"])
        assert "<mark>" in panel and f'id="src-{lean}"' in panel
        assert status.startswith("Done")
        assert "@misc{" in bibtex and "LeanAgent" in bibtex
        assert len(files) == 2
        error = client.predict("", "Auto", [], [], 5, "local", api_name="/ask")[0]
        assert "Please type a question" in str(error[-1]["content"])
    finally:
        demo.close()


def test_page_comes_up_while_loading(seeded):
    """build_app returns at once; the status says the model is loading until the loader finishes."""
    go = threading.Event()
    settings, _, retriever = seeded

    def loader(report):  # noqa: ANN001, ANN202
        report(LOADING)
        go.wait(10)
        return Assistant(settings, retriever, None)

    started = time.monotonic()
    demo = build_app(loader)
    assert time.monotonic() - started < 10
    backend = demo.backend
    assert not backend.ready and status_line(backend) == "Loading the model…"
    go.set()
    assert backend.wait(10) and backend.ready
    assert status_line(backend).startswith("Ready · ")
    assert backend.info()["examples"] == SEED_EXAMPLES
    assert set(backend.info()["page_dates"]) == {"Mar 13", "Mar 14", "Jul 30"}


def test_conversation_state_is_per_session():
    a, b = Session(), Session()
    a.conversation.turns.append(None)  # type: ignore[arg-type]
    assert b.conversation.turns == [] and isinstance(b.conversation, Conversation)


def test_loader_indexes_an_empty_store_then_loads(settings_for, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tiny.jsonl").write_text(
        '{"title": "Llama gardening", "abstract": "Llamas help gardens grow. They carry soil sensors."}\n', encoding="utf-8")
    settings = settings_for(provider="extractive")
    reports: list[str] = []
    assistant = start_assistant(settings, reports.append, seeds=[corpus])
    assert not assistant.is_empty() and assistant.chat_model is None
    assert any("indexing the seed corpus" in r for r in reports)
    assert corpus_info(assistant)["examples"] == ["What does the paper “Llama gardening” propose?"]  # from its titles


def test_loader_failure_is_shown_not_raised():
    def loader(report):  # noqa: ANN001, ANN202
        raise OSError("disk full")

    backend = Backend(loader=loader).start()
    assert backend.wait(10)
    updates = ask(backend, "What is grokking?")
    assert "could not start" in updates[-1].history[-1]["content"] and "disk full" in updates[-1].status
    assert status_line(backend).startswith("⚠ The assistant could not start")


class SlowChat(RecordingChat):
    """Streams its answer a word every 50 ms (a slow local model)."""

    def _stream(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for chunk in super()._stream(*args, **kwargs):
            time.sleep(0.05)
            yield chunk


def test_two_users_at_once_one_generation_queued(seeded, lean):
    from gradio_client import Client

    settings, _, retriever = seeded
    text = f"{EVIDENCE} [{lean}]."
    model = SlowChat(replies={"answer": text})
    demo = launch(settings, assistant=Assistant(settings, retriever, chat_model=model), block=False,
                  port=free_port(), quiet=True)
    try:
        clients = [Client(demo.local_url, verbose=False) for _ in range(2)]
        jobs = [c.submit(QUESTION, "Auto", [], [], 5, "local", api_name="/ask") for c in clients]
        finals = [job.result(timeout=120) for job in jobs]
        assert all(f[2].startswith("Done") for f in finals)
        statuses = [str(out[2]) for job in jobs for out in job.outputs()]
        assert any(s.startswith("Queued: waiting for the model") for s in statuses)
    finally:
        demo.close()


# ---------------------------------------------------------------- the same exports from the CLI


def test_cli_ask_exports_bibtex_or_markdown(seeded, capsys):
    from assistant.cli import main

    settings, _, _ = seeded
    common = ["--data-dir", str(settings.store.data_dir), "--provider", "extractive"]
    assert main(["ask", QUESTION, "--export", "bib", *common]) == 0
    bib = capsys.readouterr().out
    assert bib.startswith("@misc{") and "LeanAgent" in bib and "year =" not in bib  # only the export
    assert "References:" not in bib
    assert main(["ask", QUESTION, "--followup", "Does it forget what it learned before?", "--export", "md", *common]) == 0
    md = capsys.readouterr().out
    assert md.startswith(f"# {md_text(QUESTION)}\n") and md.count("\n# ") == 1  # one document per question
    assert "## References" in md and "LeanAgent" in md
    assert main(["ask", QUESTION, "--json", *common]) == 0
    assert '"question": ' in capsys.readouterr().out


# ---------------------------------------------------------------- the library on the page


def test_every_card_has_one_click_library_actions_and_shows_its_state():
    answer = evil_answer()
    plain_panel = render_sources(answer)
    assert plain_panel.count('data-act="saved"') == plain_panel.count('data-act="dismissed"') == 1
    assert '<div class="pa-actions" data-pid="abc123def456">' in plain_panel and "Saved ✓" not in plain_panel
    saved = render_sources(answer, {"abc123def456": "saved"})
    assert "Saved ✓" in saved and 'data-act="saved"' not in saved  # its other actions stay
    assert 'data-act="read"' in saved and 'data-act="dismissed"' in saved
    dismissed = render_sources(answer, {"abc123def456": "dismissed"})
    assert ">Dismissed</span>" in dismissed and 'data-act="saved"' in dismissed
    for tag in re.findall(r"<[^>]+>", saved):  # no corpus text inside any tag (titles are hostile)
        assert "Evil" not in tag and "pwned" not in tag


def test_a_hostile_paper_id_stays_inside_its_attribute():
    from assistant.web.render import card_actions

    bar = card_actions('x" onmouseover="window.__pwned=1', "saved")
    assert 'data-pid="x&quot; onmouseover=&quot;window.__pwned=1"' in bar and "onmouseover=\"" not in bar
    assert card_actions("p1", "bogus").count("data-act=") == 3 and "pa-state" not in card_actions("p1", "bogus")


def test_the_library_panel_shows_status_tags_and_notes_escaped(tmp_path):
    from assistant.store.library import Library
    from assistant.web.library import render_library

    library = Library(tmp_path / "library.sqlite3")
    assert "Your library is empty" in render_library(library)
    library.dismiss({"p0": "Dull paper"})
    library.save({"p1": XSS_TITLE}, tags=["<b>rl</b>"])
    library.set_note("p1", "Line one <script>window.__pwned=1</script>\nline two")
    library.mark_read({"p2": "Read paper"})
    html = render_library(library)
    assert "<script" not in html and "<b>" not in html and "&lt;b&gt;rl&lt;/b&gt;" in html
    assert "Line one &lt;script&gt;window.__pwned=1&lt;/script&gt;\nline two" in html  # pre-wrap keeps the break
    assert "1 saved · 1 read · 1 not interested" in html
    assert html.index("Saved ✓") < html.index("Read ✓") < html.index(">Dismissed<")  # saved first
    assert html.count('data-act="edit"') == 3 and 'data-act="saved"' not in html


def test_a_library_list_is_cards_with_because_and_actions():
    from assistant.recommend import RecommendationSet
    from assistant.records import Recommendation
    from assistant.web.library import render_list

    item = Recommendation(rank=1, paper_id="p9", title=XSS_TITLE, page_date="Mar 13",
                          reason="Because you saved “<i>Old</i>” (similarity 0.81).", quote="A <b>quote</b>.", score=0.5)
    result = RecommendationSet(interest="from your library", items=[item], notice="Ranked by your library.")
    html = render_list(result, {"p9": "dismissed"})
    assert "<script" not in html and "<i>" not in html and "<b>" not in html
    assert "Because you saved “&lt;i&gt;Old&lt;/i&gt;”" in html and "Ranked by your library." in html
    assert 'data-pid="p9"' in html and ">Dismissed<" in html and 'data-act="saved"' in html
    assert "Every paper" in render_list(RecommendationSet(interest="x", notice="Every paper is in your library."))


def test_tags_and_notes_are_cleaned_before_they_are_stored():
    from assistant.web.library import NOTE_LIMIT, clean_note, clean_tags

    assert clean_tags(" rl, ,agents,rl, " + "x" * 80) == ["rl", "agents", "x" * 40]
    assert clean_tags("a\u202eb,\x00c") == ["a b", "c"]
    assert clean_note("one\r\ntwo\x07 \ud800") == "one\ntwo"
    assert len(clean_note("n" * (NOTE_LIMIT + 50))) == NOTE_LIMIT
