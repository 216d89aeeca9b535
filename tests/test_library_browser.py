"""The reading library in a real Chromium: one click on a paper's card saves or dismisses it
(an answer's sources and a list's items alike), notes and tags are edited in the Library tab,
everything is still there after a reload, and "recommend from my library" learns from it."""

from __future__ import annotations

import pytest
from fakes import RecordingChat
from test_browser import ARGS, CHROMIUM, EVIDENCE, PAYLOAD, QUESTION, Page, browser, serve  # noqa: F401 - the project's helpers and fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: apt-get install chromium"),
]

CARDS = "#pa-sources-box .pa-card"


@pytest.fixture
def library_app(seeded, tmp_path):  # noqa: ANN001, ANN201
    from assistant.service import Assistant

    settings, _, retriever = seeded
    settings = settings.with_overrides(library_file=str(tmp_path / "library.sqlite3"))
    demo = serve(settings, Assistant(settings, retriever, chat_model=RecordingChat(replies={"answer": f"{EVIDENCE} [1]."})))
    yield f"http://127.0.0.1:{demo.server_port}/", settings
    demo.close()


def stored(settings) -> dict:  # noqa: ANN001
    """What the library file holds: paper id -> its entry (read from SQLite, not from the page)."""
    from assistant.store.library import open_library

    return {e.paper_id: e for e in open_library(settings).entries()}


def press(page: Page, card, action: str, label: str) -> str:  # noqa: ANN001
    """One click on a card's button; waits for the card to show ``label``; returns its paper id."""
    pid = card.locator(".pa-actions").get_attribute("data-pid")
    card.locator(f"button[data-act={action}]").click()
    bar = page.page.locator(f"{CARDS} .pa-actions[data-pid='{pid}']").first
    bar.locator(f".pa-state:has-text('{label}')").wait_for(timeout=20_000)
    return pid


def library_tab(page: Page) -> str:
    page.page.get_by_role("tab", name="Library").click()
    page.page.wait_for_selector("#pa-lib-list .pa-lib-entry", timeout=20_000)
    return page.page.inner_text("#pa-lib-list")


def test_save_from_an_answer_card_then_recommend_from_the_library(library_app, browser):
    url, settings = library_app
    page = Page(browser, url)
    try:
        page.ask(QUESTION)
        saved = press(page, page.page.locator(CARDS).first, "saved", "Saved ✓")
        title = stored(settings)[saved].title
        assert stored(settings)[saved].status == "saved" and title
        assert page.page.locator(f"{CARDS} button[data-act=saved]").count() == page.page.locator(CARDS).count() - 1
        page.page.wait_for_selector("#pa-lib-status:has-text('Saved')", timeout=10_000)

        page.page.fill("#pa-question textarea", "Recommend from my library")
        page.page.keyboard.press("Enter")
        page.page.wait_for_function(  # "Done in N s." then the list's note
            "() => document.querySelector('#pa-status').innerText.includes('Ranked by your library')", timeout=60_000)
        reply = page.last_reply()
        titles = [t.inner_text() for t in reply.locator("ol > li strong").all()]
        assert titles and title[:40] not in " ".join(titles), "a saved paper is never recommended"
        assert f"Because you saved “{title[:30]}" in reply.inner_text()

        item = page.page.locator(CARDS).first  # the list's first item, now in the Sources tab
        dismissed = press(page, item, "dismissed", "Dismissed")
        assert dismissed != saved and stored(settings)[dismissed].status == "dismissed"
        assert item.locator("button[data-act=saved]").count() == 1  # it can still be saved instead
    finally:
        page.close()


def test_a_note_and_tags_from_the_library_tab_survive_a_reload(library_app, browser):
    url, settings = library_app
    page = Page(browser, url)
    try:
        page.ask(QUESTION)
        page.page.fill("#pa-lib-tags textarea, #pa-lib-tags input", "lean")
        saved = press(page, page.page.locator(CARDS).first, "saved", "Saved ✓")
        dismissed = press(page, page.page.locator(CARDS).nth(1), "dismissed", "Dismissed")
        assert stored(settings)[saved].tags == ["lean"]
        library_tab(page)
        page.page.locator(f"#pa-lib-list .pa-actions[data-pid='{saved}'] button[data-act=edit]").click()
        page.page.wait_for_function("() => document.querySelector('#pa-lib-edit-tags textarea, #pa-lib-edit-tags "
                                    "input').value === 'lean'", timeout=10_000)
        page.page.fill("#pa-lib-note textarea", f"Read section 3 again.\n{PAYLOAD}")
        page.page.fill("#pa-lib-edit-tags textarea, #pa-lib-edit-tags input", "lean, provers")
        page.page.locator("#pa-lib-state label", has_text="Read").click()
        page.page.click("#pa-lib-apply")
        page.page.wait_for_selector("#pa-lib-msg:has-text('Updated')", timeout=10_000)
        entry = stored(settings)[saved]
        assert entry.note.startswith("Read section 3 again.\n<script>") and entry.tags == ["lean", "provers"]
        assert entry.status == "read"

        page.page.reload(wait_until="load")
        page.page.wait_for_selector("#pa-question textarea", timeout=30_000)
        page.wait_status("Ready", 60)
        text = library_tab(page)
        assert "Read section 3 again." in text and "<script>window.__pwned=1</script>" in text  # shown as text
        assert "Read ✓" in text and "Dismissed" in text and "provers" in text
        assert not page.pwned()
        page.ask(QUESTION)  # a new session: each card shows what the library holds
        page.page.get_by_role("tab", name="Sources").click()
        for pid, label in ((saved, "Read ✓"), (dismissed, "Dismissed")):
            bar = page.page.locator(f"{CARDS} .pa-actions[data-pid='{pid}']").first
            assert bar.locator(".pa-state").inner_text() == label
    finally:
        page.close()


def test_dismiss_from_a_library_list_and_remove_a_paper(library_app, browser):
    url, settings = library_app
    page = Page(browser, url)
    try:
        page.ask(QUESTION)
        saved = press(page, page.page.locator(CARDS).first, "saved", "Saved ✓")
        library_tab(page)
        page.page.click("#pa-lib-recommend")
        page.page.wait_for_selector("#pa-lib-panel .pa-list-item", timeout=60_000)
        assert "Because you saved" in page.page.inner_text("#pa-lib-panel")
        item = page.page.locator("#pa-lib-panel .pa-list-item").first
        pid = item.locator(".pa-actions").get_attribute("data-pid")
        item.locator("button[data-act=dismissed]").click()
        item.locator(".pa-state:has-text('Dismissed')").wait_for(timeout=20_000)
        assert pid != saved and stored(settings)[pid].status == "dismissed"
        page.page.wait_for_selector(f"#pa-lib-list .pa-actions[data-pid='{pid}']", timeout=10_000)

        page.page.locator(f"#pa-lib-list .pa-actions[data-pid='{saved}'] button[data-act=edit]").click()
        page.page.wait_for_function("() => document.querySelector('#pa-lib-pick input').value !== ''", timeout=10_000)
        page.page.click("#pa-lib-remove")
        page.page.wait_for_selector("#pa-lib-msg:has-text('Removed')", timeout=10_000)
        assert saved not in stored(settings)
        assert page.page.locator(f"#pa-lib-list .pa-actions[data-pid='{saved}']").count() == 0
        page.page.get_by_role("tab", name="Sources").click()
        assert page.page.locator(f"{CARDS} .pa-actions[data-pid='{saved}'] .pa-state").count() == 0  # Save again
    finally:
        page.close()


def test_with_auth_a_card_saves_into_the_login_s_own_library(seeded, tmp_path, browser):
    from assistant.service import Assistant
    from assistant.store.library import open_library

    settings, _, retriever = seeded
    settings = settings.with_overrides(library_file=str(tmp_path / "library.sqlite3"), auth="ann:s3cret-pass")
    demo = serve(settings, Assistant(settings, retriever, chat_model=RecordingChat(replies={"answer": f"{EVIDENCE} [1]."})))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{demo.server_port}/", wait_until="load")
        page.locator("input[type=text]").first.fill("ann")
        page.locator("input[type=password]").first.fill("s3cret-pass")
        page.keyboard.press("Enter")
        page.wait_for_selector("#pa-question textarea", timeout=30_000)
        page.wait_for_function("() => document.querySelector('#pa-status').innerText.startsWith('Ready')",
                               timeout=60_000)
        page.fill("#pa-question textarea", QUESTION)
        page.keyboard.press("Enter")
        card = page.locator(f"{CARDS} .pa-actions").first
        card.wait_for(timeout=60_000)
        pid = card.get_attribute("data-pid")
        card.locator("button[data-act=saved]").click()
        page.locator(f"{CARDS} .pa-actions[data-pid='{pid}'] .pa-state:has-text('Saved ✓')").wait_for(timeout=20_000)
        assert open_library(settings, "ann").status_of() == {pid: "saved"}
        assert open_library(settings).status_of() == {}  # not the local library, nor anyone else's
        assert open_library(settings, "bob").status_of() == {}
    finally:
        context.close()
        demo.close()
