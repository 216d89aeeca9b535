"""The chat models a process uses, and the one gate every model call goes through.

:data:`GATE` lets one chat-model call run at a time in this process. The local model holds it
around every llama.cpp call (a llama.cpp context is not thread-safe, and two generations on
two CPU cores only slow each other down), so the CLI is serialised without the app; the app
wraps each request's model in :class:`GatedModel` with a :class:`Ticket`, so every call it
makes (``invoke``, ``stream``, ``yes_probability``), whatever the provider, queues on the same
gate and the page can say how many requests are ahead. A call made while its own context
already holds the gate (a wrapper calling the local model) goes straight through.

:class:`ModelPool` holds the model of each provider the app offers: the configured one, the
others loaded the first time they are chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import PROVIDERS
from .settings import Settings


@dataclass
class Ticket:
    """One request's place at the gate (shown in the page while it waits)."""

    state: str = "idle"  # idle | waiting | running | done
    ahead: int = 0
    cancelled: bool = False


class ModelGate:
    """At most one chat-model call at a time; knows how many are waiting.

    ``with gate.hold(ticket):`` waits for the gate (re-entrant within one context);
    ``with gate:`` holds it like a plain lock (not re-entrant).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.busy = False
        self.waiting = 0
        self._held: ContextVar[bool] = ContextVar(f"model-gate-{id(self)}", default=False)

    def locked(self) -> bool:
        return self.busy

    def _acquire(self, ticket: Ticket | None) -> None:
        with self._cond:
            if ticket is not None:
                ticket.state, ticket.ahead = "waiting", self.waiting + int(self.busy)
            self.waiting += 1
            while self.busy:
                self._cond.wait()
            self.waiting -= 1
            self.busy = True
        if ticket is not None:
            ticket.state = "running"

    def _release(self, ticket: Ticket | None) -> None:
        with self._cond:
            self.busy = False
            self._cond.notify()
        if ticket is not None:
            ticket.state = "done"

    @contextmanager
    def hold(self, ticket: Ticket | None = None) -> Iterator[None]:
        if self._held.get():  # this context holds it already: a gated wrapper calling its model
            yield
            return
        self._acquire(ticket)
        token = self._held.set(True)
        try:
            if ticket is not None and ticket.cancelled:
                raise RuntimeError("cancelled")
            yield
        finally:
            _reset(self._held, token)
            self._release(ticket)

    def __enter__(self) -> "ModelGate":
        self._acquire(None)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release(None)


def _reset(var: ContextVar[bool], token: Token) -> None:
    try:
        var.reset(token)
    except ValueError:  # a stream closed from another context (async executors): nothing was set there
        pass


GATE = ModelGate()
"""The gate of this process: every chat-model call, from the app or the CLI, passes it."""


class GatedModel:
    """A chat model whose every call waits for the gate under a request's ticket.

    Only the calls the chain and the recommender make exist here (``invoke``, ``stream``,
    ``yes_probability`` where the model has it); other attributes are read from the model,
    but none of its other methods can be called around the gate.
    """

    def __init__(self, inner: Any, gate: ModelGate = GATE, ticket: Ticket | None = None) -> None:
        self.inner, self.gate, self.ticket = inner, gate, ticket or Ticket()

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        with self.gate.hold(self.ticket):
            return self.inner.invoke(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.gate.hold(self.ticket):
            yield from self.inner.stream(*args, **kwargs)

    @property
    def yes_probability(self) -> Any:
        """The model's P(yes) scorer, gated; None when the model has none (the judge then invokes)."""
        scorer = getattr(self.inner, "yes_probability", None)
        if not callable(scorer):
            return None

        def gated(messages: Any) -> float:
            with self.gate.hold(self.ticket):
                return scorer(messages)

        return gated

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "gate", "ticket"):
            raise AttributeError(name)
        value = getattr(self.inner, name)
        if callable(value):
            raise AttributeError(f"{name} is not gated: a gated model only offers invoke, stream and yes_probability")
        return value


def load_chat_model(settings: Settings) -> tuple[Any, str]:
    """(model, "") or (None, a one-line reason): a missing model never stops the app."""
    from .llm import make_chat_model
    from .local_model import ModelError

    try:
        return make_chat_model(settings), ""
    except ModelError as exc:
        return None, f"The {settings.generation.provider} model is unavailable: {exc}."
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes a notice
        return None, f"The {settings.generation.provider} model failed to load ({type(exc).__name__}: {exc})."


def describe_model(chat_model: Any, provider: str) -> str:
    """The model file or name that answers, e.g. "local: qwen2.5-coder-1.5b.gguf"."""
    if chat_model is None:
        return "extractive (no language model)"
    path = getattr(chat_model, "model_path", "")
    name = Path(path).name if path else (getattr(chat_model, "model_name", "") or getattr(chat_model, "model", ""))
    return f"{provider}: {name}" if name else f"{provider}: {type(chat_model).__name__}"


class ModelPool:
    """The chat model of each provider offered: the configured one, others loaded on first use."""

    def __init__(self, settings: Settings, chat_model: Any = None, model_error: str = "", gate: ModelGate = GATE) -> None:
        self.settings, self.chat_model, self.model_error, self.gate = settings, chat_model, model_error, gate
        self._models: dict[str, tuple[Any, str]] = {}
        self._lock = threading.Lock()

    @property
    def provider(self) -> str:
        return self.settings.generation.provider

    def providers(self) -> list[str]:
        """The configured provider, local and extractive; a remote one only where a base URL is set."""
        out = [self.provider, "local", "extractive"]
        if self.settings.generation.base_url:  # no default cloud URL
            out += ["openai", "ollama"]
        return [p for p in dict.fromkeys(out) if p in PROVIDERS]

    def chat_model_for(self, provider: str = "") -> tuple[Any, str]:
        """(model, why there is none) for ``provider`` ("" is the configured one); loads it once."""
        if provider == self.provider or not provider:
            return self.chat_model, self.model_error
        if provider == "extractive":
            return None, ""
        with self._lock:
            if provider not in self._models:
                self._models[provider] = load_chat_model(self.settings.with_overrides(provider=provider))
            return self._models[provider]

    def gated(self, provider: str = "", ticket: Ticket | None = None) -> tuple[GatedModel | None, str]:
        """Like :meth:`chat_model_for`, the model wrapped so that its calls pass the gate with ``ticket``."""
        model, error = self.chat_model_for(provider)
        return (GatedModel(model, self.gate, ticket) if model is not None else None), error

    def must_load(self, provider: str) -> bool:
        """True when answering with ``provider`` first loads its model (the first time it is chosen)."""
        return bool(provider) and provider not in (self.provider, "extractive") and provider not in self._models

    def model_label(self, provider: str = "") -> str:
        """What answers with ``provider``: the model file or name, or why there is none."""
        provider = provider or self.provider
        if provider == "extractive":
            return describe_model(None, provider)
        if provider == self.provider:
            model, error = self.chat_model, self.model_error
        elif provider in self._models:
            model, error = self._models[provider]
        else:
            return f"{provider} (loads with the first question)"
        if model is None:
            return f"{provider}: unavailable, answers are extractive" + (f" ({error})" if error else "")
        return describe_model(model, provider)
