"""The reading library on the page: save / not interested / read on any paper shown in the chat
(the Sources tab), and a Library tab with the saved papers, what's new, and exports.

With auth each login has its own library (Gradio's ``request.username``); without, the one local
library. A library file that cannot be used is one message here; the chat goes on without it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .render import md_text

ACTIONS = {"Save": "saved", "Not interested": "dismissed", "Mark read": "read"}


def user_of(request: Any) -> str:
    return str(getattr(request, "username", None) or "")


def _library(backend: Any, request: Any) -> tuple[Any, str]:
    """(the user's Library, "") or (None, why not)."""
    if backend.assistant is None:
        return None, "The assistant is still loading."
    assistant = backend.assistant
    from ..store.library import LibraryError, open_library

    try:
        return open_library(assistant.settings, user_of(request)), ""
    except LibraryError as exc:
        return None, f"⚠ {md_text(str(exc))}"


def render_library(library: Any) -> str:
    """The saved, read and dismissed papers as a Markdown list (corpus text escaped)."""
    entries = library.entries() if library is not None else []
    if not entries:
        return "*Your library is empty: pick a paper shown in the chat and press Save.*"
    lines = []
    for e in entries:
        tags = " ".join(f"`{md_text(t)}`" for t in e.tags)
        lines.append(f"- **{e.status}** · {md_text(e.title or e.paper_id)} {tags}".rstrip())
    return "\n".join(lines)


def render_list(result: Any) -> str:
    """A from-library list or digest as Markdown: title, why (because you saved ...), the quote."""
    if not result.items:
        return md_text(result.notice or "Nothing to show.")
    lines = [f"*{md_text(result.notice)}*", ""] if result.notice else []
    for item in result.items:
        lines.append(f"{item.rank}. **{md_text(item.title)}**: {md_text(item.reason)}")
        if item.quote:
            lines.append(f"   > “{md_text(item.quote)}”")
    return "\n".join(lines)


def library_actions(gr: Any, ui: SimpleNamespace) -> None:
    """Buttons under the Sources tab's paper picker (``ui.more_dd``: every paper shown in the chat)."""
    with gr.Row(equal_height=True, elem_id="pa-library-row"):
        ui.lib_tags = gr.Textbox(label="Tags", placeholder="optional, comma-separated", scale=2, elem_id="pa-lib-tags")
        ui.lib_buttons = [gr.Button(label, size="md", min_width=90, elem_id=f"pa-lib-{status}",
                                    variant="primary" if status == "saved" else "secondary")
                          for label, status in ACTIONS.items()]
    ui.lib_status = gr.Markdown("", elem_id="pa-lib-status")


def library_tab(gr: Any, ui: SimpleNamespace) -> None:
    with gr.Tab("Library", id="library"):
        gr.Markdown("Your saved papers train the recommendations: ask “recommend from my library” in the chat, "
                    "or see what is new for you.")
        ui.lib_list = gr.Markdown(render_library(None), elem_id="pa-lib-list")
        with gr.Row():
            ui.lib_refresh = gr.Button("Refresh", size="sm", elem_id="pa-lib-refresh")
            ui.lib_recommend = gr.Button("Recommend from my library", size="sm", elem_id="pa-lib-recommend")
            ui.lib_digest = gr.Button("What's new for me", size="sm", elem_id="pa-lib-digest")
        ui.lib_panel = gr.Markdown("", elem_id="pa-lib-panel")
        ui.lib_export = gr.Textbox(label="BibTeX of the saved papers", lines=6, max_lines=12, interactive=False,
                                   buttons=["copy"], elem_id="pa-lib-bib")


def wire_library(gr: Any, demo: Any, ui: SimpleNamespace, backend: Any) -> None:
    """The session learns its user at page load; the buttons write the library and refresh the tab."""

    def on_load(sess, request: Any = None):  # noqa: ANN001, ANN202
        sess.user = user_of(request)
        library, _ = _library(backend, request) if backend.assistant is not None else (None, "")
        return sess, render_library(library)

    def act(status: str):  # noqa: ANN202
        def handler(paper_id, tags, sess, request: Any = None):  # noqa: ANN001, ANN202
            if not paper_id:
                return "Pick a paper shown in the chat first.", gr.skip()
            library, error = _library(backend, request)
            if library is None:
                return error, gr.skip()
            title = sess.shown.get(paper_id, "")
            library.set_status({paper_id: title}, status, [t for t in (tags or "").split(",")])
            word = {"saved": "Saved", "dismissed": "Won't recommend", "read": "Marked read"}[status]
            return f"{word}: {md_text(title or paper_id)}", render_library(library)

        handler.__annotations__["request"] = gr.Request
        return handler

    def show(kind: str):  # noqa: ANN202
        def handler(request: Any = None):  # noqa: ANN001, ANN202
            library, error = _library(backend, request)
            if library is None:
                return error, gr.skip(), gr.skip()
            return (*panel(backend, library, kind), render_library(library))

        handler.__annotations__["request"] = gr.Request
        return handler

    on_load.__annotations__["request"] = gr.Request
    demo.load(on_load, inputs=[ui.session], outputs=[ui.session, ui.lib_list], queue=False, show_progress="hidden")
    for button, status in zip(ui.lib_buttons, ACTIONS.values()):
        button.click(act(status), inputs=[ui.more_dd, ui.lib_tags, ui.session], outputs=[ui.lib_status, ui.lib_list],
                     queue=False, show_progress="hidden")
    for button, kind in ((ui.lib_refresh, "export"), (ui.lib_recommend, "library"), (ui.lib_digest, "digest")):
        button.click(show(kind), outputs=[ui.lib_panel, ui.lib_export, ui.lib_list], concurrency_limit=2,
                     concurrency_id="library", show_progress="minimal")


def panel(backend: Any, library: Any, kind: str) -> tuple[str, str]:
    """(the panel's Markdown, the BibTeX of the saved papers) for one of the tab's buttons."""
    from ..cli_library import export_library
    from ..library import default_since

    assistant = backend.assistant
    bib = export_library(assistant.settings, library, "bib")
    if kind == "export":
        return "", bib
    lists = assistant.library_recommender(library)
    if kind == "digest":
        result = lists.digest(default_since(library), n=assistant.settings.retrieval.top_k)
        library.visit()
    else:
        result = lists.recommend(n=assistant.settings.retrieval.top_k)
    return render_list(result), bib
