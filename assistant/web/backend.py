"""The app's hold on the service: the Assistant, built in a background thread so the page comes up at once.

A thin holder: starting up, the models of each provider and corpus facts are the service's
(:func:`assistant.service.start_assistant`, :class:`assistant.models.ModelPool`,
:func:`assistant.service.corpus_info`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..models import GATE, ModelGate, ModelPool, Ticket
from ..records import Answer
from ..service import LOADING, Assistant, corpus_info
from ..store import StoreError

log = logging.getLogger(__name__)

Loader = Callable[[Callable[[str], None]], Assistant]


class Backend:
    """Holds the Assistant (given, or made by ``loader`` in a background thread) and its model pool."""

    def __init__(self, assistant: Assistant | None = None, loader: Loader | None = None) -> None:
        self.assistant: Assistant | None = None
        self.pool: ModelPool | None = None
        self.loader = loader
        self.status = LOADING
        self.error = ""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._info: dict[str, Any] | None = None
        self._info_generation = ""
        self.updater: Any = None  # assistant.update.PeriodicUpdater when ASSISTANT_UPDATE_EVERY is set
        if assistant is not None:
            self._attach(assistant)
            self._ready.set()

    def _attach(self, assistant: Assistant) -> None:
        self.pool = ModelPool(assistant.settings, assistant.chat_model, assistant.model_error)
        self.assistant = assistant
        self.status = "Ready."
        if assistant.settings.update.every > 0:
            from ..update import PeriodicUpdater

            self.updater = PeriodicUpdater(assistant.settings, assistant.retriever.store).start()

    def start(self) -> "Backend":
        if self._thread is None and not self._ready.is_set() and self.loader is not None:
            self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
            self._thread.start()
        return self

    def _load(self) -> None:
        try:
            assert self.loader is not None
            self._attach(self.loader(self._report))
        except StoreError as exc:  # its message names the file and what to do: shown whole
            log.error("the store cannot be opened: %s", exc)
            self.error = f"The assistant could not start: {' '.join(str(exc).split())}"
            self.status = self.error
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            log.exception("loading the assistant failed")
            self.error = f"The assistant could not start: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            self.status = self.error
        finally:
            self._ready.set()

    def _report(self, text: str) -> None:
        self.status = text

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.assistant is not None

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    @property
    def gate(self) -> ModelGate:
        return self.pool.gate if self.pool is not None else GATE

    def info(self) -> dict[str, Any]:
        """Corpus facts for the settings panel (computed after loading, again whenever the
        store's generation changes: an update, here or in another process)."""
        if self.ready:
            assert self.assistant is not None
            generation = self._generation()
            if self._info is None or generation != self._info_generation:
                self._info = corpus_info(self.assistant)
                self._info_generation = generation
            from ..update import last_update_line  # a small file, read each time: the run's record comes last

            return {**self._info, "updated": last_update_line(self.assistant.settings.store.data_dir)}
        return {"papers": 0, "page_dates": [], "sources": [], "examples": [], "updated": ""}

    def _generation(self) -> str:
        try:
            return self.assistant.retriever.store.generation() if self.assistant is not None else ""
        except Exception:  # noqa: BLE001 - a store gone away: keep the facts shown
            return self._info_generation

    def providers(self) -> list[str]:
        return self.pool.providers() if self.pool is not None else []

    def must_load(self, provider: str) -> bool:
        return self.pool is not None and self.pool.must_load(provider)

    def model_label(self, provider: str = "") -> str:
        return self.pool.model_label(provider) if self.pool is not None else ""

    def assistant_for(self, provider: str = "", n: int | None = None, ticket: Ticket | None = None) -> Assistant:
        assert self.assistant is not None and self.pool is not None
        return self.assistant.for_request(self.pool, provider, n, ticket)

    def metadata(self, answer: Answer) -> dict[str, dict[str, Any]]:
        return self.assistant.paper_metadata(answer) if self.assistant is not None else {}
