"""The Gradio page: chat, sources panel, settings and export; :func:`launch` serves it.

The page comes up at once and loads the assistant in the background (:class:`Backend`). It
binds to loopback unless told otherwise, and refuses any other address without a password.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from types import SimpleNamespace
from typing import Any

from ..models import describe_model
from ..retrieve import Filters
from ..service import LOADING, Assistant, start_assistant
from ..settings import quiet_environment
from .backend import Backend, Loader
from .export import to_bibtex, write_exports
from .library import CARD_JS, library_actions, library_tab, statuses, user_of, wire_library
from .render import md_text, render_sources
from .session import Request, Session, respond_stream, stop_reply
from ..settings import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MODES = {"Auto": "auto", "Answer": "answer", "Recommend": "recommend"}


class AppError(RuntimeError):
    """The app cannot start as configured (message is for the user)."""


@functools.cache
def css() -> str:
    """The page's style sheet (assistant/web/style.css)."""
    return resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")


def theme() -> Any:
    import gradio as gr

    return gr.themes.Default(font=[gr.themes.Font("system-ui"), "sans-serif"], font_mono=["monospace"])


def build_app(source: Assistant | Backend | Loader) -> Any:
    """The Gradio Blocks: chat + sources panel + settings + export. Loading starts at once."""
    quiet_environment()
    import gradio as gr

    if isinstance(source, Backend):
        backend = source
    elif isinstance(source, Assistant):
        backend = Backend(assistant=source)
    else:
        backend = Backend(loader=source)
    backend.start()
    with gr.Blocks(title="Paper Assistant", analytics_enabled=False, fill_width=True,
                   delete_cache=(3600, 3600)) as demo:
        ui = SimpleNamespace(session=gr.State(Session()))
        with gr.Row(elem_classes="pa-header"):
            gr.Markdown("# Paper Assistant\nAnswers from the paper abstracts in your corpus, with checked citations; "
                        "or a ranked reading list. Everything runs on this machine.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=420):
                _chat_column(gr, ui, backend)
            with gr.Column(scale=5, min_width=360), gr.Tabs():
                _side_tabs(gr, ui, backend)
        ui.timer = gr.Timer(1.0, active=not backend.ready)
        _wire_status(gr, demo, ui, backend)
        _wire_replies(gr, ui, backend)
        _wire_controls(gr, ui, backend)
        wire_library(gr, demo, ui, backend)
    demo.backend = backend  # type: ignore[attr-defined]
    return demo


def _chat_column(gr: Any, ui: SimpleNamespace, backend: Backend) -> None:
    ui.chatbot = gr.Chatbot(
        label="Chat", height=540, sanitize_html=True, render_markdown=True, allow_tags=False,
        latex_delimiters=[], feedback_options=None, buttons=["copy"], elem_id="pa-chat",
        placeholder="Ask a question about the papers, or ask what to read on a topic.",
        layout="bubble", autoscroll=True,
    )
    ui.status = gr.Markdown(backend.status, elem_id="pa-status")
    ui.question = gr.Textbox(
        show_label=False, placeholder="Ask about the papers… e.g. “What should I read on diffusion models?”",
        lines=1, max_lines=6, submit_btn="Ask", stop_btn="Stop", elem_id="pa-question", autofocus=True,
    )
    with gr.Row(equal_height=True):
        ui.mode = gr.Radio(list(MODES), value="Auto", show_label=False, scale=4, container=False,
                           info=None, elem_id="pa-mode")
        ui.clear = gr.Button("Clear chat", scale=1, size="sm", variant="secondary", min_width=100)
    ui.examples = gr.Dataset(components=[ui.question], samples=_samples(backend), label="Examples", type="values",
                             visible=backend.ready, elem_id="pa-examples")


def _side_tabs(gr: Any, ui: SimpleNamespace, backend: Backend) -> None:
    with gr.Tab("Sources", id="sources"):
        ui.sources_html = gr.HTML(render_sources(None), elem_id="pa-sources-box", js_on_load=CARD_JS)
        with gr.Row(equal_height=False, elem_id="pa-more-row"):
            ui.more_dd = gr.Dropdown(choices=[], label="More like this paper", scale=4,
                                     elem_id="pa-more-dd", info="Any paper shown in this chat")
            ui.more_btn = gr.Button("More like this", scale=1, size="md", elem_id="pa-more-btn",
                                    min_width=150, variant="primary")
        library_actions(gr, ui)
    library_tab(gr, ui)
    with gr.Tab("Settings", id="settings"):
        info = backend.info()
        ui.dates = gr.Dropdown(choices=info["page_dates"], multiselect=True, label="Page date",
                               info="Only papers from these Daily Papers dates (none: all)")
        ui.srcs = gr.Dropdown(choices=info["sources"], multiselect=True, label="Source file",
                              info="Only papers from these corpus files (none: all)")
        ui.n_sources = gr.Slider(1, 10, step=1, value=5, label="Number of sources",
                                 info="Most papers given to the model (their sentences also fit "
                                      "ASSISTANT_CONTEXT_TOKENS), or papers recommended")
        ui.provider = gr.Dropdown(choices=backend.providers() or ["local", "extractive"],
                                  value=(backend.assistant.settings.generation.provider if backend.assistant else "local"),
                                  label="Provider", info="local model, or extractive (no LLM)")
        ui.model_info = gr.Markdown(model_line(backend, ""))
    with gr.Tab("Export", id="export"):
        gr.Markdown("The last answer with its references, as Markdown and BibTeX.")
        ui.files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="pa-files")
        ui.bibtex = gr.Textbox(label="BibTeX", lines=10, max_lines=20, interactive=False,
                               buttons=["copy"], elem_id="pa-bibtex")


def _samples(backend: Backend) -> list[list[str]]:
    return [[q] for q in backend.info()["examples"]] or [[""]]


def _wire_status(gr: Any, demo: Any, ui: SimpleNamespace, backend: Backend) -> None:
    """Poll the loading backend until it is ready (or failed), then fill in the settings."""

    def poll():  # noqa: ANN202
        info = backend.info()
        ready = backend.ready or bool(backend.error)
        provider_choices = backend.providers() or ["local", "extractive"]
        return (
            status_line(backend),
            gr.Timer(value=1.0 if not ready else 30.0, active=not ready or backend.updater is not None),
            gr.Dataset(samples=_samples(backend), visible=bool(info["examples"])),
            gr.Dropdown(choices=info["page_dates"]),
            gr.Dropdown(choices=info["sources"]),
            (gr.Dropdown(choices=provider_choices, value=backend.assistant.settings.generation.provider)
             if backend.assistant else gr.skip()),
            model_line(backend, ""),
        )

    outputs = [ui.status, ui.timer, ui.examples, ui.dates, ui.srcs, ui.provider, ui.model_info]
    ui.timer.tick(poll, outputs=outputs, show_progress="hidden", concurrency_limit=None, queue=False)
    demo.load(poll, outputs=outputs, show_progress="hidden", concurrency_limit=None, queue=False)


def _wire_replies(gr: Any, ui: SimpleNamespace, backend: Backend) -> None:
    """Ask (submit, stop) and "more like this": streamed chat updates, sources and exports."""

    def reply(message, sess, mode_label, date_sel, source_sel, n, prov, like_id="", login=None):  # noqa: ANN001, ANN202
        sess.user = user_of(login) if login is not None else sess.user  # whose reading library
        request = Request(message=message or "", mode=MODES.get(mode_label, "auto"), n=int(n) if n else None,
                          filters=Filters(page_dates=tuple(date_sel or ()), sources=tuple(source_sel or ())),
                          provider=prov or "", more_like=like_id or "")
        box: Any = ""  # the question box is emptied with the first update
        for up in respond_stream(backend, sess, request):
            if up.answer is None:
                yield up.history, box, up.status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), sess
            else:
                meta = backend.metadata(up.answer)
                yield (up.history, box, up.status, render_sources(up.answer, statuses(backend, sess.user)),
                       _more_choices(sess),
                       write_exports(up.answer, meta), to_bibtex(up.answer, meta), sess)
            box = gr.skip()

    def more(like_id, sess, mode_label, date_sel, source_sel, n, prov, login=None):  # noqa: ANN001, ANN202
        if not like_id:
            yield (gr.skip(), gr.skip(), "Pick a paper shown in the chat first.", gr.skip(), gr.skip(), gr.skip(),
                   gr.skip(), sess)
            return
        yield from reply("", sess, mode_label, date_sel, source_sel, n, prov, like_id=like_id, login=login)

    reply.__annotations__["login"] = more.__annotations__["login"] = gr.Request  # gradio is imported lazily

    ui.outputs = [ui.chatbot, ui.question, ui.status, ui.sources_html, ui.more_dd, ui.files, ui.bibtex, ui.session]
    choices = [ui.session, ui.mode, ui.dates, ui.srcs, ui.n_sources, ui.provider]
    ui.question.submit(reply, inputs=[ui.question, *choices], outputs=ui.outputs, api_name="ask",
                                   concurrency_limit=4, concurrency_id="chat", show_progress="minimal")
    # Stop marks the reply; the reply itself then says "Stopped." and ends (no cancels=: a
    # cancelled event leaves Gradio's error badge on its outputs).
    ui.question.stop(stop_reply, inputs=[ui.session], outputs=None, queue=False, show_progress="hidden")
    ui.more_btn.click(more, inputs=[ui.more_dd, *choices], outputs=ui.outputs, api_name="more_like",
                      concurrency_limit=4, concurrency_id="chat", show_progress="minimal")


def _wire_controls(gr: Any, ui: SimpleNamespace, backend: Backend) -> None:
    """Examples, clear, clicking an earlier answer, and the model line of the chosen provider."""

    def pick_example(sample):  # noqa: ANN001, ANN202
        return sample[0] if sample else ""

    def clear_chat():  # noqa: ANN202
        return [], "", "Chat cleared.", render_sources(None), gr.Dropdown(choices=[], value=None), None, "", Session()

    def select_message(sess, evt: gr.SelectData):  # noqa: ANN001, ANN202
        index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
        answer = sess.answers.get(index) or sess.answers.get(index + 1)
        if answer is None:
            return gr.skip(), sess
        sess.panel = answer  # a card's Save re-draws this answer's cards
        return render_sources(answer, statuses(backend, sess.user)), sess

    select_message.__annotations__["evt"] = gr.SelectData  # resolved here: gradio is imported lazily
    ui.examples.click(pick_example, inputs=[ui.examples], outputs=[ui.question], queue=False, show_progress="hidden")
    ui.clear.click(clear_chat, outputs=ui.outputs, queue=False, api_name="clear")
    ui.chatbot.clear(clear_chat, outputs=ui.outputs, queue=False, api_visibility="private")
    ui.chatbot.select(select_message, inputs=[ui.session], outputs=[ui.sources_html, ui.session], queue=False,
                      show_progress="hidden")
    ui.provider.change(lambda p: model_line(backend, p), inputs=[ui.provider], outputs=[ui.model_info], queue=False,
                       show_progress="hidden")


def status_line(backend: Backend) -> str:
    """The line under the chat: loading, failed, or ready with the corpus size and the model."""
    if backend.error:
        return f"⚠ {md_text(backend.error)}"
    if not backend.ready:
        return md_text(backend.status or LOADING)
    info = backend.info()
    assert backend.assistant is not None
    notice = f" ⚠ {md_text(backend.assistant.model_error)} Answers are extractive." if backend.assistant.model_error else ""
    updated = f" · {md_text(info['updated'])}" if info.get("updated") else ""
    return f"Ready · {info['papers']} papers indexed{updated} · {md_text(_model_label(backend))}{notice}"


def _model_label(backend: Backend) -> str:
    assert backend.assistant is not None
    return describe_model(backend.assistant.chat_model, backend.assistant.settings.generation.provider)


def model_line(backend: Backend, provider: str) -> str:
    if not backend.ready:
        return "Model: loading…"
    return f"Model: {md_text(backend.model_label(provider))}"


def _more_choices(sess: Session) -> Any:
    import gradio as gr

    choices = [(title if len(title) <= 90 else title[:89] + "…", pid) for pid, title in sess.shown.items()]
    first = choices[0][1] if choices else None
    return gr.Dropdown(choices=choices, value=first)


# ---------------------------------------------------------------- launch


def check_bind(host: str, auth: str) -> tuple[str, str] | None:
    """The (user, password) to require, or None on loopback without one; refuses an open bind."""
    pair = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise AppError("--auth must be user:password (both non-empty)")
        pair = (user, password)
    if host not in LOOPBACK and pair is None:
        raise AppError(
            f"refusing to serve on {host!r} without a password: anyone on the network could use it. "
            "Pass --auth user:password (or set ASSISTANT_AUTH), or bind to 127.0.0.1."
        )
    return pair


def launch(settings: Settings, *, assistant: Assistant | None = None, chat_model: Any = None,
           loader: Loader | None = None, block: bool = True, port: int | None = None, quiet: bool = False) -> Any:
    """Serve the app at http://HOST:PORT (settings.app.host/port) and return the Blocks.

    Binds to settings.app.host (127.0.0.1 by default) and refuses any other address without
    settings.app.auth. With ``assistant`` the app is ready at once; otherwise the store, the
    seed corpus (if the store is empty) and the model load in the background.
    ``block=False`` returns right after the server starts (tests; close with ``demo.close()``).
    """
    auth = check_bind(settings.app.host, settings.app.auth)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    quiet_environment()
    demo = build_app(assistant or loader or functools.partial(start_assistant, settings, chat_model=chat_model))
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(
        server_name=settings.app.host, server_port=port or settings.app.port, share=False, auth=_login(auth, settings),
        prevent_thread_lock=not block, show_error=False, quiet=quiet, inbrowser=False,
        theme=theme(), css=css(), footer_links=[], ssr_mode=False, pwa=False, mcp_server=False,
        enable_monitoring=False, state_session_capacity=settings.app.sessions,
    )
    return demo


def _login(pair: tuple[str, str] | None, settings: Settings) -> Any:
    """Gradio's ``auth``: the password check, slowed after each failure (assistant/web/login.py)."""
    if pair is None:
        return None
    from .login import LoginThrottle

    return LoginThrottle(*pair, first=settings.app.login_delay, most=settings.app.login_delay_max).check
