"""Take docs/screenshots/library-list.png: a from-library list in the chat beside the Library tab.

Serves the app over a seed index (extractive provider: the from-library reasons are templates),
with a library of three saved continual-learning papers and one dismissed, asks "Recommend from my
library" and shows the Library tab. Debian's /usr/bin/chromium via Playwright (never
``playwright install``).

    .venv/bin/python -m benchmarks.library_screenshots --data-dir DIR [--out docs/screenshots]
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


def serve(data_dir: Path, library_file: Path):  # noqa: ANN201 - the Gradio Blocks
    from assistant.service import Assistant
    from assistant.settings import load_settings, quiet_environment
    from assistant.store.library import open_library
    from assistant.web.layout import launch

    quiet_environment()
    settings = load_settings(data_dir=data_dir, provider="extractive", library_file=str(library_file))
    assistant = Assistant.create(settings, load_model=False)
    hits = assistant.retriever.search("continual lifelong learning without forgetting", k=4)
    library = open_library(settings)
    library.save({h.paper_id: h.display_title for h in hits[:3]}, tags=["continual"])
    library.dismiss({hits[3].paper_id: hits[3].display_title})
    return launch(settings, assistant=assistant, block=False, quiet=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an indexed store (e.g. the seeds)")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pa-library-shots-") as tmp:
        demo = serve(args.data_dir, Path(tmp) / "library.sqlite3")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(demo.local_url, wait_until="load")
                page.wait_for_selector("#pa-question textarea", timeout=30_000)
                wait_status(page, ("Ready",), 120)
                page.fill("#pa-question textarea", "Recommend from my library")
                page.keyboard.press("Enter")
                time.sleep(0.5)
                wait_status(page, ("Ranked by your library",), 120)
                time.sleep(2)
                page.locator("#pa-chat .message.user").last.evaluate(SCROLL_TO_TOP)
                page.get_by_role("tab", name="Library").click()
                page.click("#pa-lib-refresh")
                time.sleep(2)
                page.screenshot(path=str(args.out / "library-list.png"))
                browser.close()
        finally:
            demo.close()
    print(f"wrote {args.out / 'library-list.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
