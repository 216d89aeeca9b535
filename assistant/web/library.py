"""The reading library on the page: Save / Mark read / Not interested on every paper card shown
(the Sources tab's cards, answers and lists alike, and the Library tab's lists), and a Library
tab with the saved papers (status, tags, notes), an editor for them, from-library lists, what's
new, and the BibTeX of the saved papers.

A card's buttons are plain HTML (every corpus string escaped; no title in an attribute); one
script per panel (:data:`CARD_JS`, Gradio's ``js_on_load``) sends the button's action and the
card's paper id as the panel's ``click`` event, and the handler writes the library and re-draws
the card with its new state ("Saved ✓", "Dismissed").

With auth each login has its own library (Gradio's ``request.username``); without, the one local
library. A library file that cannot be used is one message here; the chat goes on without it.
"""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace
from typing import Any

from .render import STATE_LABELS, card_actions, esc, md_text, render_sources

STATUS_CHOICES = [("Saved", "saved"), ("Read", "read"), ("Not interested", "dismissed")]
DONE = {"saved": "Saved", "read": "Marked read", "dismissed": "Dismissed (never recommended)"}
NOTE_LIMIT = 4000
TAG_LIMIT = 40
_UNSAFE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")

# One delegated listener per panel: it outlives the panel's re-drawn HTML (Gradio sets innerHTML).
CARD_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-act]');
  const bar = button && button.closest('[data-pid]');
  if (!bar || !element.contains(bar)) return;
  event.preventDefault();
  if (button.dataset.act !== 'edit') {  // until the re-drawn card comes (or a few seconds, if it never does)
    bar.classList.add('pa-busy');
    setTimeout(() => bar.classList.remove('pa-busy'), 5000);
  }
  trigger('click', {action: button.dataset.act, paper_id: bar.dataset.pid});
});
"""


def user_of(request: Any) -> str:
    return str(getattr(request, "username", None) or "")


def _library(backend: Any, user: str) -> tuple[Any, str]:
    """(the user's Library, "") or (None, why not)."""
    if backend.assistant is None:
        return None, "The assistant is still loading."
    from ..store.library import LibraryError, open_library

    try:
        return open_library(backend.assistant.settings, user), ""
    except LibraryError as exc:
        return None, f"⚠ {md_text(str(exc))}"


def statuses(backend: Any, user: str) -> dict[str, str]:
    """paper id -> saved | read | dismissed in the user's library ({} when it cannot be used)."""
    from ..store.library import LibraryError

    library, _ = _library(backend, user)
    try:
        return library.status_of() if library is not None else {}
    except LibraryError:
        return {}


# ---------------------------------------------------------------- rendering


def render_library(library: Any) -> str:
    """The Library tab's papers as HTML: saved, then read, then dismissed; each with its state,
    tags and note (all escaped) and an Edit button."""
    entries = library.entries() if library is not None else []
    if not entries:
        return ('<div class="pa-sources pa-lib-entries pa-empty">Your library is empty: press Save on a paper '
                "shown in the chat (its card in the Sources tab).</div>")
    order = list(STATE_LABELS)
    entries = sorted(entries, key=lambda e: order.index(e.status) if e.status in order else len(order))
    counts = Counter(e.status for e in entries)
    head = " · ".join(f"{counts[s]} {label.lower()}" for label, s in STATUS_CHOICES if counts[s])
    rows = []
    for e in entries:
        tags = "".join(f'<span class="pa-tag">{esc(t)}</span>' for t in e.tags)
        note = f'<div class="pa-note">{esc(e.note)}</div>' if e.note else ""
        rows.append(f'<div class="pa-card pa-lib-entry pa-lib-{esc(e.status)}">'
                    f'<div class="pa-title">{esc(e.title or e.paper_id)}</div>'
                    f'{card_actions(e.paper_id, e.status, edit=True)}'
                    f'{f"<div class=pa-tags>{tags}</div>" if tags else ""}{note}</div>')
    return f'<div class="pa-sources pa-lib-entries"><div class="pa-head">{esc(head)}</div>{"".join(rows)}</div>'


def render_list(result: Any, states: dict[str, str] | None = None) -> str:
    """A from-library list or digest as HTML cards: title, why (because you saved ...), the
    quote, and each paper's library bar."""
    if result is None:
        return ""
    states = states or {}
    notice = f'<div class="pa-head">{esc(result.notice or ("" if result.items else "Nothing to show."))}</div>'
    cards = []
    for item in result.items:
        date = f'<div class="pa-meta">{esc(item.page_date)}</div>' if item.page_date else ""
        quote = f'<div class="pa-excerpt">“{esc(item.quote)}”</div>' if item.quote else ""
        cards.append(f'<div class="pa-card pa-cited pa-list-item"><div class="pa-title"><span class="pa-num">'
                     f'{int(item.rank)}.</span> {esc(item.title)}</div>{date}'
                     f'{card_actions(item.paper_id, states.get(item.paper_id, ""))}'
                     f'<div class="pa-reason">{esc(item.reason)}</div>{quote}</div>')
    return f'<div class="pa-sources pa-lib-listing">{notice}{"".join(cards)}</div>'


def _choices(library: Any) -> list[tuple[str, str]]:
    entries = library.entries() if library is not None else []
    return [(_short(f"{e.title or e.paper_id} ({e.status})"), e.paper_id) for e in entries]


def _short(text: str, most: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= most else text[: most - 1] + "…"


def clean_tags(text: str) -> list[str]:
    """Comma-separated tags: trimmed, bounded, de-duplicated, at most 20."""
    tags = [" ".join(_UNSAFE.sub(" ", t).split())[:TAG_LIMIT] for t in str(text or "").split(",")]
    return list(dict.fromkeys(t for t in tags if t))[:20]


def clean_note(text: str) -> str:
    """A note as typed (line breaks kept), without control or bidi characters, bounded."""
    text = str(text or "").replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub(" ", text).strip()[:NOTE_LIMIT]


# ---------------------------------------------------------------- the page


def library_actions(gr: Any, ui: SimpleNamespace) -> None:
    """Under the Sources tab's cards: the tags a card's Save adds, and what the last press did."""
    ui.lib_tags = gr.Textbox(label="Tags for Save", placeholder="optional, comma-separated: added when you press "
                             "Save on a card", elem_id="pa-lib-tags", max_lines=1)
    ui.lib_status = gr.Markdown("", elem_id="pa-lib-status")


def library_tab(gr: Any, ui: SimpleNamespace) -> None:
    with gr.Tab("Library", id="library") as ui.lib_tab:
        gr.Markdown("Your saved papers train the recommendations: ask “recommend from my library” in the chat, "
                    "or see what is new for you. Save or dismiss any paper from its card.")
        ui.lib_msg = gr.Markdown("", elem_id="pa-lib-msg")
        ui.lib_list = gr.HTML(render_library(None), elem_id="pa-lib-list", js_on_load=CARD_JS)
        with gr.Accordion("Edit a paper of your library", open=True, elem_id="pa-lib-editor"):
            ui.lib_pick = gr.Dropdown(choices=[], label="Paper", elem_id="pa-lib-pick")
            ui.lib_state = gr.Radio(STATUS_CHOICES, label="Status", elem_id="pa-lib-state")
            ui.lib_edit_tags = gr.Textbox(label="Tags", placeholder="comma-separated", max_lines=1,
                                          elem_id="pa-lib-edit-tags")
            ui.lib_note = gr.Textbox(label="Note", lines=3, max_lines=8, elem_id="pa-lib-note")
            with gr.Row():
                ui.lib_apply = gr.Button("Save changes", variant="primary", size="sm", elem_id="pa-lib-apply")
                ui.lib_remove = gr.Button("Remove from library", size="sm", elem_id="pa-lib-remove")
        with gr.Row():
            ui.lib_refresh = gr.Button("Refresh", size="sm", elem_id="pa-lib-refresh")
            ui.lib_recommend = gr.Button("Recommend from my library", size="sm", elem_id="pa-lib-recommend")
            ui.lib_digest = gr.Button("What's new for me", size="sm", elem_id="pa-lib-digest")
        ui.lib_panel = gr.HTML("", elem_id="pa-lib-panel", js_on_load=CARD_JS)
        ui.lib_export = gr.Textbox(label="BibTeX of the saved papers", lines=6, max_lines=12, interactive=False,
                                   buttons=["copy"], elem_id="pa-lib-bib")


def _requested(gr: Any, fn: Any, event: bool = False) -> Any:
    """``fn`` with Gradio's request (and event data) annotations: gradio is imported lazily."""
    fn.__annotations__["request"] = gr.Request
    if event:
        fn.__annotations__["evt"] = gr.EventData
    return fn


def wire_library(gr: Any, demo: Any, ui: SimpleNamespace, backend: Any) -> None:
    """The session learns its user at page load; the cards, the editor and the lists write the
    library and re-draw every place that shows it."""
    ui.lib_views = [ui.sources_html, ui.lib_panel, ui.lib_list, ui.lib_pick]

    def redraw(library: Any, sess: Any, keep: Any = True) -> tuple:
        """(Sources cards, Library list, Library papers, the editor's picker) after a change."""
        states = library.status_of()
        pick = gr.Dropdown(choices=_choices(library)) if keep else gr.Dropdown(choices=_choices(library), value=None)
        return (render_sources(sess.panel, states) if sess.panel is not None else gr.skip(),
                render_list(sess.lib_list, states) if sess.lib_list is not None else gr.skip(),
                render_library(library), pick)

    def on_load(sess, request: Any = None):  # noqa: ANN001, ANN202
        sess.user = user_of(request)
        library, _ = _library(backend, sess.user)
        return sess, render_library(library), gr.Dropdown(choices=_choices(library), value=None)

    def refresh(request: Any = None):  # noqa: ANN001, ANN202
        library, error = _library(backend, user_of(request))
        if library is None:
            return error, gr.skip(), gr.skip()
        return "", render_library(library), gr.Dropdown(choices=_choices(library))

    page = dict(queue=False, show_progress="hidden", api_visibility="private")
    demo.load(_requested(gr, on_load), inputs=[ui.session], outputs=[ui.session, ui.lib_list, ui.lib_pick], **page)
    ui.lib_tab.select(_requested(gr, refresh), outputs=[ui.lib_msg, ui.lib_list, ui.lib_pick], **page)
    _wire_cards(gr, ui, backend, redraw, page)
    _wire_editor(gr, ui, backend, redraw, page)
    _wire_lists(gr, ui, backend)


def _wire_cards(gr: Any, ui: SimpleNamespace, backend: Any, redraw: Any, page: dict) -> None:
    """A card's button: its action written to the library; the Library papers' Edit button fills the editor."""

    def act(tags, sess, evt: Any = None, request: Any = None):  # noqa: ANN001, ANN202
        data = getattr(evt, "_data", None) or {}
        action, pid = str(data.get("action", "")), str(data.get("paper_id", ""))[:300]
        if action not in STATE_LABELS or not pid:
            return "Unknown action.", *(gr.skip(),) * 4
        library, error = _library(backend, user_of(request))
        if library is None:
            return error, *(gr.skip(),) * 4
        title = _title(backend, sess, pid)
        if title is None:
            return "That paper is not in the index.", *(gr.skip(),) * 4
        library.set_status({pid: title}, action, clean_tags(tags) if action == "saved" else ())
        return f"{DONE[action]}: {md_text(title)}", *redraw(library, sess)

    def from_list(sess, evt: Any = None, request: Any = None):  # noqa: ANN001, ANN202
        return act("", sess, evt, request)

    def edit(evt: Any = None, request: Any = None):  # noqa: ANN001, ANN202
        pid = str((getattr(evt, "_data", None) or {}).get("paper_id", ""))
        library, error = _library(backend, user_of(request))
        entry = _entry(library, pid)
        if entry is None:
            return error or "That paper is not in your library.", *(gr.skip(),) * 4
        return ("", gr.Dropdown(choices=_choices(library), value=pid), entry.status, ", ".join(entry.tags),
                entry.note)

    ui.sources_html.click(_requested(gr, act, event=True), inputs=[ui.lib_tags, ui.session],
                          outputs=[ui.lib_status, *ui.lib_views], **page)
    ui.lib_panel.click(_requested(gr, from_list, event=True), inputs=[ui.session],
                       outputs=[ui.lib_msg, *ui.lib_views], **page)
    ui.lib_list.click(_requested(gr, edit, event=True),
                      outputs=[ui.lib_msg, ui.lib_pick, ui.lib_state, ui.lib_edit_tags, ui.lib_note], **page)


def _wire_editor(gr: Any, ui: SimpleNamespace, backend: Any, redraw: Any, page: dict) -> None:
    """The Library tab's editor: pick a paper, change its status, tags and note, or remove it."""

    def fill(pid, request: Any = None):  # noqa: ANN001, ANN202
        library, error = _library(backend, user_of(request))
        entry = _entry(library, pid)
        if entry is None:
            return error, None, "", ""
        return "", entry.status, ", ".join(entry.tags), entry.note

    def apply(pid, status, tags, note, sess, request: Any = None):  # noqa: ANN001, ANN202
        library, error = _library(backend, user_of(request))
        entry = _entry(library, pid)
        if entry is None:
            return error or "Pick a paper of your library first.", *(gr.skip(),) * 4
        if status in STATE_LABELS and status != entry.status:
            library.set_status({pid: ""}, status)
        wanted = clean_tags(tags)
        for tag in [t for t in entry.tags if t not in wanted]:
            library.tag([pid], tag, remove=True)
        for tag in [t for t in wanted if t not in entry.tags]:
            library.tag([pid], tag)
        library.set_note(pid, clean_note(note))
        return f"Updated: {md_text(entry.title or pid)}", *redraw(library, sess)

    def remove(pid, sess, request: Any = None):  # noqa: ANN001, ANN202
        library, error = _library(backend, user_of(request))
        entry = _entry(library, pid)
        if entry is None:
            return error or "Pick a paper of your library first.", *(gr.skip(),) * 7
        library.remove([pid])
        return f"Removed: {md_text(entry.title or pid)}", *redraw(library, sess, keep=False), None, "", ""

    edited = [ui.lib_state, ui.lib_edit_tags, ui.lib_note]
    ui.lib_pick.input(_requested(gr, fill), inputs=[ui.lib_pick], outputs=[ui.lib_msg, *edited], **page)
    ui.lib_apply.click(_requested(gr, apply), inputs=[ui.lib_pick, *edited, ui.session],
                       outputs=[ui.lib_msg, *ui.lib_views], **page)
    ui.lib_remove.click(_requested(gr, remove), inputs=[ui.lib_pick, ui.session],
                        outputs=[ui.lib_msg, *ui.lib_views, *edited], **page)


def _wire_lists(gr: Any, ui: SimpleNamespace, backend: Any) -> None:
    """Refresh (the BibTeX), Recommend from my library and What's new: lists drawn as cards."""

    def show(kind: str):  # noqa: ANN202
        def handler(sess, request: Any = None):  # noqa: ANN001, ANN202
            library, error = _library(backend, user_of(request))
            if library is None:
                return error, gr.skip(), gr.skip(), gr.skip(), gr.skip(), sess
            result, bib = panel(backend, library, kind)
            if result is not None:
                sess.lib_list = result
            listing = render_list(result, library.status_of()) if result is not None else gr.skip()
            return "", listing, bib, render_library(library), gr.Dropdown(choices=_choices(library)), sess

        return _requested(gr, handler)

    outputs = [ui.lib_msg, ui.lib_panel, ui.lib_export, ui.lib_list, ui.lib_pick, ui.session]
    for button, kind in ((ui.lib_refresh, "export"), (ui.lib_recommend, "library"), (ui.lib_digest, "digest")):
        button.click(show(kind), inputs=[ui.session], outputs=outputs, concurrency_limit=2,
                     concurrency_id="library", show_progress="minimal", api_visibility="private")


def _entry(library: Any, paper_id: str) -> Any:
    """The library's entry for ``paper_id``, or None."""
    if library is None or not paper_id:
        return None
    return next((e for e in library.entries() if e.paper_id == paper_id), None)


def _title(backend: Any, sess: Any, paper_id: str) -> str | None:
    """A paper's title: as shown in this chat or list, else from the store; None when it is not indexed."""
    if paper_id in sess.shown:
        return sess.shown[paper_id]
    for item in getattr(sess.lib_list, "items", None) or []:
        if item.paper_id == paper_id:
            return item.title
    try:
        paper = backend.assistant.retriever.store.papers([paper_id]).get(paper_id)
    except Exception:  # noqa: BLE001 - an id the store cannot look up is not a paper
        paper = None
    return (paper.get("display_title") or paper.get("title") or paper_id) if paper else None


def panel(backend: Any, library: Any, kind: str) -> tuple[Any, str]:
    """(the list for one of the tab's buttons, or None for Refresh; the BibTeX of the saved papers)."""
    from ..cli_library import export_library
    from ..library import default_since

    assistant = backend.assistant
    bib = export_library(assistant.settings, library, "bib")
    if kind == "export":
        return None, bib
    lists = assistant.library_recommender(library)
    if kind == "digest":
        result = lists.digest(default_since(library), n=assistant.settings.retrieval.top_k)
        library.visit()
    else:
        result = lists.recommend(n=assistant.settings.retrieval.top_k)
    return result, bib
