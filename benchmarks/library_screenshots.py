"""Take docs/screenshots/library.png and library-list.png: the Library tab, and a from-library list.

Serves the app over the seed index (a fresh temporary one unless --data-dir is given; the
extractive provider, so the from-library reasons are templates and nothing waits for a model)
with a library of three saved continual-learning papers (tags, a note), one read and one
dismissed. Then, in Debian's /usr/bin/chromium driven by Playwright (never ``playwright install``):

- library-list.png: "Recommend from my library" in the chat ("because you saved ..."), and the
  list's cards in the Sources tab, the first one dismissed with one click on its card;
- library.png: the Library tab: every paper with its status, tags and note, the editor open on
  a saved paper, and the tab's own from-library list.

    .venv/bin/python -m benchmarks.library_screenshots [--data-dir DIR] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import SCREENSHOTS  # noqa: E402
from benchmarks.screenshots import ARGS, CHROMIUM, SCROLL_TO_TOP, wait_status  # noqa: E402

INTEREST = "continual lifelong learning without forgetting"
NOTE = "Compare its replay buffer with the one in the LeanAgent paper.\nRead the ablations first."


def serve(data_dir: Path, library_file: Path):  # noqa: ANN201 - the Gradio Blocks
    from assistant.service import start_assistant
    from assistant.settings import load_settings, quiet_environment
    from assistant.store.library import open_library
    from assistant.web.layout import launch

    quiet_environment()
    settings = load_settings(data_dir=data_dir, provider="extractive", library_file=str(library_file))
    assistant = start_assistant(settings, lambda text: print(text, flush=True), load_model=False)
    hits = assistant.retriever.search(INTEREST, k=6)
    library = open_library(settings)
    library.save({h.paper_id: h.display_title for h in hits[:3]}, tags=["continual"])
    library.tag([hits[0].paper_id], "to-discuss")
    library.set_note(hits[0].paper_id, NOTE)
    library.mark_read({hits[3].paper_id: hits[3].display_title})
    library.dismiss({hits[4].paper_id: hits[4].display_title})
    return launch(settings, assistant=assistant, block=False, quiet=True)


def open_page(browser, url: str):  # noqa: ANN001, ANN201
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.goto(url, wait_until="load")  # Gradio keeps a stream open: never wait for networkidle
    page.wait_for_selector("#pa-question textarea", timeout=30_000)
    wait_status(page, ("Ready",), 300)
    return page


def library_list(page, out: Path) -> None:  # noqa: ANN001
    """The chat's from-library list beside its cards; the first card dismissed with one click."""
    page.fill("#pa-question textarea", "Recommend from my library")
    page.keyboard.press("Enter")
    time.sleep(0.5)
    wait_status(page, ("Ranked by your library",), 120)
    first = page.locator("#pa-sources-box .pa-card").first
    first.locator("button[data-act=dismissed]").click()
    page.locator("#pa-sources-box .pa-card").first.locator(".pa-state").wait_for(timeout=20_000)
    time.sleep(1.5)  # the chat's own autoscroll ends; then show the question and the list's top
    page.locator("#pa-chat .message.user").last.evaluate(SCROLL_TO_TOP)
    time.sleep(0.5)
    page.screenshot(path=str(out / "library-list.png"))


def library_tab(page, out: Path) -> None:  # noqa: ANN001
    """The Library tab: papers with status, tags and notes, the editor on the first, the tab's list."""
    page.get_by_role("tab", name="Library").click()
    page.wait_for_selector("#pa-lib-list .pa-lib-entry", timeout=20_000)
    page.locator("#pa-lib-list .pa-lib-entry:has(.pa-note) button[data-act=edit]").first.click()
    page.wait_for_function("() => document.querySelector('#pa-lib-note textarea').value !== ''", timeout=20_000)
    page.click("#pa-lib-recommend")
    page.wait_for_selector("#pa-lib-panel .pa-list-item", timeout=120_000)
    time.sleep(1)
    page.screenshot(path=str(out / "library.png"), full_page=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="an indexed store (default: a fresh one with the seeds)")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pa-library-shots-") as tmp:
        demo = serve(args.data_dir or Path(tmp) / "data", Path(tmp) / "library.sqlite3")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = open_page(browser, demo.local_url)
                library_list(page, args.out)
                library_tab(page, args.out)
                browser.close()
        finally:
            demo.close()
    print(f"wrote {args.out / 'library-list.png'} and {args.out / 'library.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
