"""Retake docs/screenshots/answer.png, compare.png, recommend.png and flagged.png: the app with the real local model in Chromium.

Indexes the seed corpus into a data directory (a fresh temporary one by default), serves the
app on 127.0.0.1:ASSISTANT_PORT (7860) with the local model, asks a question, a compare question, a
reading-list request and a question whose answer the model garbles (flagged.png: it invents the
model's size, which the abstract does not give; the check marks the number) in Debian's /usr/bin/chromium (driven by Playwright; never ``playwright install``)
and saves a screenshot of each. Takes a few minutes on two CPU cores.

    .venv/bin/python -m benchmarks.screenshots [--data-dir DIR] [--model-dir DIR] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import SCREENSHOTS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MODELS = Path.home() / ".local" / "share" / "paper-assistant" / "models"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
QUESTION = "How does LeanAgent do lifelong learning for formal theorem proving?"
READING = "What should I read on continual or lifelong learning?"
FLAGGED = "How many instructions was CoEdIT fine-tuned on, and how many parameters does it have?"
COMPARE = ("LightGCL and DCCF both use graph contrastive learning for recommendation. What does each change about "
           "how the contrastive views are built?")
# Scroll the chat's scrolling box so that this message starts at its top.
SCROLL_TO_TOP = """el => {
  let box = el.parentElement;
  while (box && !(box.scrollHeight > box.clientHeight + 4 && getComputedStyle(box).overflowY !== 'visible')) {
    box = box.parentElement;
  }
  if (box) box.scrollTop += el.getBoundingClientRect().top - box.getBoundingClientRect().top - 4;
}"""


def serve(data_dir: Path, model_dir: Path):  # noqa: ANN201 - the Gradio Blocks
    from assistant.service import start_assistant
    from assistant.settings import load_settings, quiet_environment
    from assistant.web.layout import launch

    quiet_environment()
    settings = load_settings(data_dir=data_dir, model_dir=model_dir, provider="local", max_tokens=60)
    assistant = start_assistant(settings, lambda text: print(text, flush=True))
    if assistant.chat_model is None:
        raise SystemExit(f"the local model is not available: {assistant.model_error}")
    return launch(settings, assistant=assistant, block=False, quiet=True)  # on ASSISTANT_PORT (7860)


def wait_status(page, prefixes: tuple[str, ...], timeout: float) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = page.inner_text("#pa-status").strip()
        if text.startswith(prefixes):
            return text
        time.sleep(0.5)
    raise SystemExit(f"the status never started with {prefixes}: {page.inner_text('#pa-status')!r}")


def ask(browser, url: str, question: str):  # noqa: ANN001, ANN201 - the page, once answered
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url, wait_until="load")  # Gradio keeps a stream open: never wait for networkidle
    page.wait_for_selector("#pa-question textarea", timeout=30_000)
    wait_status(page, ("Ready",), 120)
    page.fill("#pa-question textarea", question)
    page.keyboard.press("Enter")
    time.sleep(0.5)
    wait_status(page, ("Done", "Note", "The language model", "The local model"), 600)
    return page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="store to use (default: a fresh one with the seeds)")
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("ASSISTANT_MODEL_DIR") or MODELS),
                        help="assembled model files (default: ASSISTANT_MODEL_DIR, else the user's data directory)")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pa-screenshots-") as tmp:
        demo = serve(args.data_dir or Path(tmp) / "data", args.model_dir)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                ask(browser, demo.local_url, QUESTION).screenshot(path=str(args.out / "answer.png"))
                page = ask(browser, demo.local_url, COMPARE)
                time.sleep(2)
                page.locator("#pa-chat .message.user").last.evaluate(SCROLL_TO_TOP)
                time.sleep(0.5)
                page.screenshot(path=str(args.out / "compare.png"))
                page = ask(browser, demo.local_url, READING)
                time.sleep(2)  # let the chat finish its own autoscroll, then show the question and the list's top
                page.locator("#pa-chat .message.user").last.evaluate(SCROLL_TO_TOP)
                time.sleep(0.5)
                page.screenshot(path=str(args.out / "recommend.png"))
                page = ask(browser, demo.local_url, FLAGGED)
                time.sleep(2)  # the chat scrolls to the answer's end: the flagged sentence and its note
                page.screenshot(path=str(args.out / "flagged.png"))
                browser.close()
        finally:
            demo.close()
    print(f"wrote answer.png, compare.png, recommend.png and flagged.png in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
