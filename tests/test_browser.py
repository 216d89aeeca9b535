"""The web app in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Never run ``playwright install``: the Makefile's test target installs Debian's chromium.
Every page records its requests; any to a non-loopback host is aborted and fails the test.
docs/screenshots/*.png are taken by a script, benchmarks/screenshots.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import free_port
from fakes import RecordingChat

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
QUESTION = "How does LeanAgent do lifelong learning for formal theorem proving?"
EVIDENCE = ("LeanAgent is a lifelong learning framework for theorem proving that continuously generalizes to and "
            "improves on ever-expanding mathematical knowledge without forgetting previously learned knowledge")
PAYLOAD = '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=1)'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: apt-get install chromium "
                       "(make browser-deps); never 'playwright install'"),
]


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


class Page:
    """A page that records every request and blocks those leaving the machine."""

    def __init__(self, browser, url: str) -> None:  # noqa: ANN001
        self.outside: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.goto(url, wait_until="load")  # Gradio keeps a stream open: never wait for networkidle
        self.page.wait_for_selector("#pa-question textarea", timeout=30_000)
        self.wait_status("Ready", 120)

    def _route(self, route) -> None:  # noqa: ANN001
        url = route.request.url
        self.requests.append(url)
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK_HOSTS:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def status(self) -> str:
        return self.page.inner_text("#pa-status").strip()

    def wait_status(self, prefix: str | tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.status()
            if text.startswith(prefix):
                return text
            time.sleep(0.25)
        raise AssertionError(f"status never started with {prefix!r}; it says {self.status()!r}")

    def ask(self, question: str, mode: str = "Auto", timeout: float = 60) -> str:
        if mode != "Auto":
            self.page.locator("#pa-mode label", has_text=mode).click()
        self.page.fill("#pa-question textarea", question)
        self.page.keyboard.press("Enter")
        time.sleep(0.3)
        return self.wait_status(("Done", "Note", "The language model", "The local model"), timeout)

    def last_reply(self):  # noqa: ANN201
        return self.page.locator("#pa-chat .message.bot").last

    def pwned(self) -> bool:
        return self.page.evaluate("() => window.__pwned !== undefined")

    def close(self) -> None:
        assert self.outside == [], f"requests left the machine: {self.outside}"
        self.context.close()


@pytest.fixture
def open_page(browser):  # noqa: ANN001, ANN201
    pages: list[Page] = []

    def make(url: str) -> Page:
        pages.append(Page(browser, url))
        return pages[-1]

    yield make
    for page in pages:
        page.close()


def serve(settings, assistant):  # noqa: ANN001, ANN201
    from assistant.web.layout import launch

    return launch(settings, assistant=assistant, block=False, port=free_port(), quiet=True)


@pytest.fixture(scope="module")
def lean(seeded):  # noqa: ANN001, ANN201
    _, _, retriever = seeded
    for i, hit in enumerate(retriever.search(QUESTION, k=10)[:5], 1):
        if "LeanAgent" in hit.title:
            return i
    pytest.skip("retrieval no longer ranks LeanAgent in the top 5 for the test question")


@pytest.fixture(scope="module")
def fake_app(seeded, lean):  # noqa: ANN001, ANN201
    from assistant.service import Assistant

    settings, _, retriever = seeded
    demo = serve(settings, Assistant(settings, retriever, chat_model=RecordingChat(replies={"answer": f"{EVIDENCE} [{lean}]."})))
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def evil_app(tmp_path_factory):  # noqa: ANN001, ANN201
    """A tiny corpus whose title and abstract carry script, onerror and javascript: payloads."""
    from assistant.embeddings import embeddings_for
    from assistant.corpus import load_corpus
    from assistant.ingest import index_papers
    from assistant.retrieve import Retriever
    from assistant.service import Assistant
    from assistant.settings import load_settings
    from assistant.store import Store

    from conftest import shared_models_dir

    root = tmp_path_factory.mktemp("evil")
    corpus = root / "corpus"
    corpus.mkdir()
    rows = [
        {"title": f"Quantum llama gardening {PAYLOAD}",
         "abstract": f"Quantum llama gardening grows alpine vegetables with llamas that carry quantum soil sensors. "
                     f"{PAYLOAD} Results show that quantum llama gardening doubles vegetable yields."},
        {"title": "Llama grazing patterns in alpine meadows",
         "abstract": "We study how llamas graze alpine meadows. Grazing llamas spread seeds and fertilise the soil of gardens."},
        {"title": "Quantum sensors for soil moisture <b>in gardens</b>",
         "abstract": "Quantum sensors measure soil moisture in vegetable gardens. They help gardeners water less."},
    ]
    (corpus / "evil.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    settings = load_settings(env={}, data_dir=root / "data", model_dir=shared_models_dir())
    embeddings = embeddings_for(settings)
    store = Store(settings, embeddings)
    index_papers(load_corpus([corpus]).papers, store, settings)
    reply = (f"Quantum llama gardening doubles vegetable yields [1]. {PAYLOAD} "
             '<a href="javascript:window.__pwned=1">link</a> <svg onload="window.__pwned=1"></svg>')
    chat = RecordingChat(replies={"answer": reply, "reasons": f"1. {reply}"})  # hostile reasons too
    demo = serve(settings, Assistant(settings, Retriever(store=store, embeddings=embeddings), chat_model=chat))
    yield demo.local_url
    demo.close()


# ---------------------------------------------------------------- tests


def test_cited_answer_links_to_highlighted_source(fake_app, open_page, lean):
    page = open_page(fake_app)
    assert page.status().startswith("Ready · 223 papers")
    page.ask(QUESTION)
    reply = page.last_reply()
    assert "LeanAgent is a lifelong learning framework" in reply.inner_text()
    text = reply.inner_text()
    assert text.startswith("Evidence") and text.index("Evidence") < text.index("Answer")
    # a marker per quoted evidence sentence of the paper (the question names it: the answer is
    # written from it alone, with more of its abstract), the label's, then the answer's own
    assert "Answer (written from [1])" in text
    links = reply.locator(f'a[href="#src-{lean}"]')
    assert links.count() >= 3 and {x.inner_text() for x in links.all()} == {f"[{lean}]"}
    link = links.last

    card = page.page.locator(f"#pa-sources-box #src-{lean}")
    assert "LeanAgent" in card.locator(".pa-title").inner_text()
    assert card.locator(".pa-meta").inner_text().startswith("Mar 14")
    # the evidence sentences are highlighted in the abstract (in its order: the closest is among them)
    assert any("without forgetting previously learned knowledge" in m for m in card.locator("mark").all_inner_texts())
    assert card.locator(".pa-support .pa-ok").count() >= 1 and "✓" in card.locator(".pa-support").inner_text()

    link.click()
    assert page.page.evaluate("() => location.hash") == f"#src-{lean}"
    assert card.evaluate("el => el.matches(':target')")
    # the export tab has the BibTeX of the cited paper (no year: Daily Papers dates have none)
    page.page.get_by_role("tab", name="Export").click()
    bib = page.page.locator("#pa-bibtex textarea").input_value()
    assert bib.startswith("@misc{") and "LeanAgent" in bib and "year =" not in bib
    for name in ("answer.md", "references.bib"):
        assert page.page.locator(f'#pa-files a[download="{name}"]').count() == 1


def test_recommendations_ranked_with_reasons_and_more_like_this(fake_app, open_page):
    page = open_page(fake_app)
    page.ask("What should I read on continual or lifelong learning?")
    reply = page.last_reply()
    items = reply.locator("ol > li")
    assert items.count() == 5
    for i in range(5):
        text = items.nth(i).inner_text()
        assert "Why:" in text and "“" in text
        assert items.nth(i).locator(f'a[href="#src-{i + 1}"]').count() == 1
    assert page.page.locator("#pa-sources-box .pa-card").count() == 5
    first_title = items.first.locator("strong").inner_text()

    page.page.click("#pa-more-btn")  # "more like this" on the first paper shown (pre-selected)
    page.wait_status("Done", 60)
    assert first_title in page.page.locator("#pa-chat .message.user").last.inner_text()
    again = page.last_reply().locator("ol > li")
    assert again.count() >= 1
    assert first_title not in page.last_reply().inner_text()

    # clicking the first list in the chat brings its sources back
    assert first_title not in page.page.inner_text("#pa-sources-box")
    page.page.locator("#pa-chat .message.bot").first.click(position={"x": 200, "y": 12})
    deadline = time.monotonic() + 10
    while first_title not in page.page.inner_text("#pa-sources-box") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first_title in page.page.inner_text("#pa-sources-box")

    # the mode switch forces a list even without "what should I read"
    page.ask("length generalization in transformers", mode="Recommend")
    assert page.last_reply().locator("ol > li").count() >= 1


def test_errors_are_chat_messages(fake_app, open_page):
    page = open_page(fake_app)
    page.page.fill("#pa-question textarea", "x" * 2500)
    page.page.keyboard.press("Enter")
    try:
        page.wait_status("The question is", 30)
    except AssertionError:  # on loaded cores the first Enter can come before the page listens
        page.page.get_by_role("button", name="Ask").click()
        page.wait_status("The question is", 60)
    assert "the limit is 2,000" in page.last_reply().inner_text()
    assert "Traceback" not in page.page.inner_text("#pa-chat")
    page.page.fill("#pa-question textarea", "   ")
    page.page.keyboard.press("Enter")
    page.wait_status("Please type a question", 30)
    assert "Please type a question" in page.last_reply().inner_text()
    page.page.get_by_role("button", name="Clear chat").click()
    page.wait_status("Chat cleared", 10)
    assert page.page.locator("#pa-chat .message").count() == 0
    assert "Sources appear here" in page.page.inner_text("#pa-sources-box")


def test_hostile_corpus_entry_cannot_run_script(evil_app, open_page):
    page = open_page(evil_app)
    page.ask("What is quantum llama gardening?")
    chat = page.page.inner_text("#pa-chat")
    assert "<script>window.__pwned=1</script>" in chat  # shown as text
    assert "[click](javascript:window.__pwned=1)" in chat
    sources = page.page.inner_text("#pa-sources-box")
    assert '<img src=x onerror="window.__pwned=1">' in sources and "Quantum llama gardening" in sources
    assert page.page.locator("#pa-sources-box mark").count() >= 1

    page.ask("What should I read on quantum llama gardening?")
    assert "Quantum llama gardening <script>" in page.last_reply().inner_text()
    page.page.click("#pa-more-btn")
    page.wait_status("Done", 60)
    page.page.get_by_role("tab", name="Export").click()
    page.page.get_by_role("tab", name="Settings").click()
    page.page.get_by_role("tab", name="Sources").click()
    for link in page.page.locator("#pa-chat a, #pa-sources-box a").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript")
        link.click(no_wait_after=True)  # clicking anything shown runs nothing
    time.sleep(1)
    assert page.page.locator('img[src="x"]').count() == 0
    assert page.page.locator('#pa-chat script, #pa-sources-box script, svg[onload]').count() == 0
    assert not page.pwned(), "a corpus entry ran script in the page"


def test_no_request_leaves_the_machine(fake_app, open_page):
    page = open_page(fake_app)
    page.ask(QUESTION)
    hosts = {urlparse(u).hostname for u in page.requests if not u.startswith(("data:", "blob:"))}
    assert hosts <= LOOPBACK_HOSTS and page.requests
    assert page.outside == []
    assert not any("fonts.googleapis" in u or "gstatic" in u for u in page.requests)


def test_page_shows_loading_until_ready(seeded, open_page, browser):
    from assistant.service import LOADING, Assistant
    from assistant.web.layout import launch

    settings, _, retriever = seeded
    go = threading.Event()

    def loader(report):  # noqa: ANN001, ANN202
        report(LOADING)
        go.wait(30)
        return Assistant(settings, retriever, None)

    demo = launch(settings, loader=loader, block=False, port=free_port(), quiet=True)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(demo.local_url, wait_until="load")
        page.wait_for_selector("#pa-status", timeout=30_000)
        deadline = time.monotonic() + 20
        while "Loading the model" not in page.inner_text("#pa-status") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Loading the model" in page.inner_text("#pa-status")
        go.set()
        deadline = time.monotonic() + 30
        while not page.inner_text("#pa-status").startswith("Ready") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert page.inner_text("#pa-status").startswith("Ready")
        context.close()
    finally:
        go.set()
        demo.close()


@pytest.fixture(scope="module")
def real_model_app(seeded):  # noqa: ANN001, ANN201
    from assistant.models import load_chat_model
    from assistant.service import Assistant

    settings, _, retriever = seeded
    settings = settings.with_overrides(max_tokens=60)
    started = time.monotonic()
    model, error = load_chat_model(settings)
    if model is None:
        pytest.skip(f"the local model is not available: {error}")
    if time.monotonic() - started > 120:
        pytest.skip("the local model loads too slowly here")
    demo = serve(settings, Assistant(settings, retriever, chat_model=model))
    yield demo.local_url
    demo.close()


@pytest.mark.model
def test_real_local_model_answers_in_the_browser(real_model_app, open_page):
    page = open_page(real_model_app)
    assert "qwen" in page.status().lower()
    page.ask(QUESTION, timeout=420)
    reply = page.last_reply().inner_text()
    assert len(reply) > 40 and "Traceback" not in reply
    assert page.page.locator("#pa-sources-box .pa-card").count() >= 1
    assert page.page.locator("#pa-sources-box mark").count() >= 1
    assert "the local model" in reply or "Note:" in reply or "does not cover" in reply
    assert not page.pwned()


class StallingChat(RecordingChat):
    """A model that takes 30 s to judge and to answer (a lookup whose paper leads by far is not
    judged): the reply shows its evidence and waits under it."""

    def yes_probability(self, messages) -> float:  # noqa: ANN001
        time.sleep(30)
        return super().yes_probability(messages)

    def _reply(self, messages) -> str:  # noqa: ANN001
        time.sleep(30)
        return super()._reply(messages)


def test_stop_says_stopped_and_clears_the_status(seeded, open_page):
    from assistant.service import Assistant

    settings, _, retriever = seeded
    demo = serve(settings, Assistant(settings, retriever, chat_model=StallingChat(replies={"answer": "Never."})))
    try:
        page = open_page(demo.local_url)
        page.page.fill("#pa-question textarea", QUESTION)
        page.page.keyboard.press("Enter")
        stop = page.page.get_by_role("button", name="Stop")
        stop.wait_for(timeout=30_000)
        page.wait_status(("Searching", "Evidence", "Checking", "Generating"), 30)
        time.sleep(2)  # the reply is under way (a press in the first instant cancels before it starts)
        # the evidence is up long before the answer could be: quoted sentences, each with its [n]
        deadline = time.monotonic() + 20
        while "Evidence" not in page.last_reply().inner_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        shown = page.last_reply().inner_text()
        assert shown.startswith("Evidence") and "LeanAgent" in shown and "Answer" in shown
        assert re.search(r"“[^”]+” \[\d\]", shown) and not page.status().startswith("Done")
        stop.click()
        page.wait_status("Stopped", 10)
        time.sleep(1.5)  # nothing of the cancelled reply comes after
        assert page.status().startswith("Stopped")
        stopped = page.last_reply().inner_text().strip()
        assert stopped.startswith("Evidence") and stopped.endswith("Stopped.") and "LeanAgent" in stopped
        assert [m.inner_text().strip() for m in page.page.locator("#pa-chat .message.user").all()] == [QUESTION]
        assert page.page.locator("#pa-question textarea").input_value() in ("", QUESTION)
    finally:
        demo.close()


def type_raw(page, text: str) -> None:  # noqa: ANN001
    """Put ``text`` in the question box as a paste would, characters no keyboard types included."""
    page.page.evaluate("""text => {
        const box = document.querySelector('#pa-question textarea');
        box.focus();
        box.value = text;
        box.dispatchEvent(new Event('input', {bubbles: true}));
    }""", text)
    page.page.keyboard.press("Enter")


def test_a_garbled_question_is_answered_not_lost(fake_app, open_page):
    """A question with a bell, a NUL and a lone surrogate (what a bad paste or invalid UTF-8
    gives) is shown and answered; one of nothing but such characters gets a clear message; the
    next question in the same session is answered too."""
    page = open_page(fake_app)
    users = page.page.locator("#pa-chat .message.user")
    type_raw(page, "How does LeanAgent\u0007 do lifelong\u0000 learning\ud800 for theorem proving?")
    status = page.wait_status(("Done", "Note", "⚠", "Please", "The question"), 60)
    assert users.count() == 1, f"the question vanished (status {status!r})"
    asked = users.last.inner_text()
    assert "LeanAgent do lifelong learning\ufffd for theorem proving?" in asked, asked
    assert "LeanAgent is a lifelong learning framework" in page.last_reply().inner_text()

    type_raw(page, "\u0007\ud800\u0000 \u200b")
    page.wait_status("Please type a question", 30)
    assert users.count() == 2 and "Please type a question" in page.last_reply().inner_text()
    assert "Traceback" not in page.page.inner_text("#pa-chat")

    page.ask(QUESTION)
    assert users.count() == 3 and users.last.inner_text().strip() == QUESTION
    assert "LeanAgent is a lifelong learning framework" in page.last_reply().inner_text()
    assert page.page.locator("#pa-chat .message.bot").count() == 3
