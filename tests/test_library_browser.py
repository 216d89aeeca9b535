"""The reading library in a real Chromium: save a paper from an answer, then "recommend from my library"."""

from __future__ import annotations

import pytest
from fakes import RecordingChat
from test_browser import ARGS, CHROMIUM, EVIDENCE, QUESTION, Page, browser, serve  # noqa: F401 - the project's helpers and fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: apt-get install chromium"),
]


@pytest.fixture
def library_app(seeded, tmp_path):  # noqa: ANN001, ANN201
    from assistant.service import Assistant

    settings, _, retriever = seeded
    settings = settings.with_overrides(library_file=str(tmp_path / "library.sqlite3"))
    demo = serve(settings, Assistant(settings, retriever, chat_model=RecordingChat(replies={"answer": f"{EVIDENCE} [1]."})))
    yield f"http://127.0.0.1:{demo.server_port}/", settings
    demo.close()


def test_save_from_an_answer_then_recommend_from_the_library(library_app, browser):
    url, settings = library_app
    page = Page(browser, url)
    try:
        page.ask(QUESTION)
        saved = page.page.locator("#pa-more-dd input").input_value()  # the first paper shown, pre-selected
        assert saved
        page.page.click("#pa-lib-saved")
        page.page.wait_for_selector("#pa-lib-status:has-text('Saved')", timeout=20_000)
        page.page.fill("#pa-question textarea", "Recommend from my library")
        page.page.keyboard.press("Enter")
        page.wait_status("Ranked by your library", 60)
        reply = page.last_reply()
        titles = [t.inner_text() for t in reply.locator("ol > li strong").all()]
        assert titles and saved[:40] not in " ".join(titles), "a saved paper is never recommended"
        assert f"Because you saved “{saved[:30]}" in reply.inner_text()
        page.page.get_by_role("tab", name="Library").click()
        page.page.wait_for_selector("#pa-lib-list:has-text('saved')", timeout=10_000)
        assert saved[:30] in page.page.inner_text("#pa-lib-list")
    finally:
        page.close()
