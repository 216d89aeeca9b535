"""``assistant app``: the web app (Gradio) on http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli import EXTENSIONS, UserError, _settings, command


def extend(sub, common, llm_flags) -> None:  # noqa: ANN001
    p = sub.add_parser("app", help="serve the web app (chat, sources, recommendations) on 127.0.0.1:7860")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; any other needs --auth)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--auth", help="user:password required to use the app (env ASSISTANT_AUTH)")
    p.add_argument("--max-tokens", type=int, help="most tokens generated per answer")
    common(p)
    llm_flags(p)


EXTENSIONS.append(extend)


@command("app")
def cmd_app(args: argparse.Namespace) -> int:
    from .store import check_database
    from .web.layout import AppError, check_bind, launch

    settings = _settings(args).with_overrides(host=args.host, port=args.port, auth=args.auth, max_tokens=args.max_tokens)
    try:
        check_bind(settings.app.host, settings.app.auth)  # refuse before loading anything
        if not settings.store.chroma_host:  # a damaged store: one message now, not a page that cannot start
            check_database(Path(settings.store.data_dir) / "chroma")
        print(f"Serving on http://{settings.app.host}:{settings.app.port} (Ctrl+C to stop); the model loads in the background.")
        launch(settings, block=True, quiet=True)
    except AppError as exc:
        raise UserError(str(exc)) from exc
    return 0
