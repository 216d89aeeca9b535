"""One factory for chat models; every SDK is imported inside it.

``make_chat_model(settings)`` returns a LangChain chat model for the configured
provider (``local``, ``openai``, ``ollama``) or None for ``extractive``.  Any
failure to create or load a model raises ModelError with a one-line message.

The local provider wraps llama-cpp-python.  A GGUF is loaded once per process
per (path, n_ctx, n_threads) and every call into it (generation, streaming,
the yes/no forward pass) holds the process-wide model gate,
``assistant.models.GATE``: a llama.cpp context is not thread-safe, and two
generations on two CPU cores would only slow each other down.  It is the one
lock on the local model; the web app queues its requests on the same gate.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from assistant.local_model import ModelError, ensure_local_model
from assistant.models import GATE as _GENERATION_LOCK  # the one gate: held around every llama.cpp call

if TYPE_CHECKING:  # pragma: no cover
    from assistant.settings import Settings

__all__ = [
    "LocalLlamaChat",
    "ModelError",
    "check_chat_model",
    "load_llama",
    "make_chat_model",
    "resolve_model_path",
]

DEFAULT_OLLAMA_MODEL = "qwen2.5-coder:1.5b"
DEFAULT_OPENAI_MODEL = "local"
OPENAI_TIMEOUT_S = 120.0

# (resolved path, n_ctx, n_threads) -> llama_cpp.Llama, loaded once per process.
_LLAMA_CACHE: dict[tuple[str, int, int], Any] = {}
_LOAD_LOCK = threading.Lock()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------
# local provider: llama-cpp-python
# --------------------------------------------------------------------------


def load_llama(model_path: str | Path, n_ctx: int = 2048, n_threads: int = 2) -> Any:
    """The process-wide llama_cpp.Llama for this (path, n_ctx, n_threads)."""
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelError(f"local model file not found: {path}")
    key = (str(path.resolve()), int(n_ctx), int(n_threads))
    with _LOAD_LOCK:
        cached = _LLAMA_CACHE.get(key)
        if cached is not None:
            return cached
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed (needed by the local provider); "
                "install it or choose --provider extractive/openai/ollama"
            ) from exc
        try:
            llama = Llama(
                model_path=key[0],
                n_ctx=key[1],
                n_threads=key[2],
                n_threads_batch=key[2],
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as ValueError
            raise ModelError(f"could not load GGUF model {path}: {_one_line(exc)}") from exc
        _LLAMA_CACHE[key] = llama
        return llama


def _content_text(content: Any) -> str:
    """Plain text of a message's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            role = "assistant"
        elif isinstance(message, ToolMessage):
            role = "tool"
        elif isinstance(message, ChatMessage):
            role = message.role
        else:
            raise ModelError(f"unsupported message type for the local model: {message.type}")
        out.append({"role": role, "content": _content_text(message.content)})
    return out


class LocalLlamaChat(BaseChatModel):
    """LangChain chat model over a local GGUF run by llama-cpp-python.

    The Llama object comes from the process-wide cache (see load_llama), so
    several instances over the same file share one loaded model.
    """

    model_config = ConfigDict(protected_namespaces=())

    model_path: str
    """The GGUF file."""
    n_ctx: int = 2048
    n_threads: int = 2
    adapt_threads: bool = True
    """Use fewer threads while other processes keep the cores busy (assistant/cpu.py)."""
    last_threads: int = 0
    """The threads the last call ran with (0: none yet)."""
    max_tokens: int | None = 256
    """Most tokens generated per call (None or <= 0: up to the context window)."""
    temperature: float = 0.1
    top_p: float = 0.95
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] | None = Field(default=None)
    """Stop sequences added to those given per call."""

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repeat_penalty": self.repeat_penalty,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama-cpp"
        params["ls_model_name"] = Path(self.model_path).name
        return params

    @property
    def client(self) -> Any:
        """The loaded llama_cpp.Llama (loaded on first use, then cached)."""
        return load_llama(self.model_path, self.n_ctx, self.n_threads)

    def _adapt(self, llama: Any) -> None:
        """Set the context's threads for this call (under the gate: no other call is running)."""
        from .cpu import recent_busy, threads_for

        n = threads_for(self.n_threads, recent_busy()) if self.adapt_threads else self.n_threads
        if n != self.last_threads:
            setter = getattr(getattr(llama, "_ctx", None), "set_n_threads", None)
            if callable(setter):
                setter(n, n)
            self.last_threads = n

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        stops = [*(self.stop or []), *(stop or []), *(kwargs.get("stop") or [])]
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        params: dict[str, Any] = {
            "max_tokens": max_tokens if max_tokens and max_tokens > 0 else None,
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "top_p": float(kwargs.get("top_p", self.top_p)),
            "repeat_penalty": float(kwargs.get("repeat_penalty", self.repeat_penalty)),
            "stop": list(dict.fromkeys(stops)),
        }
        seed = kwargs.get("seed", self.seed)
        if seed is not None:
            params["seed"] = int(seed)
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = self.client
        params = self._params(stop, kwargs)
        chat = _to_llama_messages(messages)
        with _GENERATION_LOCK.hold():
            self._adapt(llama)
            try:
                response = llama.create_chat_completion(messages=chat, stream=False, **params)
            except Exception as exc:
                raise ModelError(f"local model generation failed: {_one_line(exc)}") from exc
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        usage = response.get("usage") or {}
        message = AIMessage(
            content=text,
            response_metadata={
                "model_name": Path(self.model_path).name,
                "finish_reason": choice.get("finish_reason"),
                "model_provider": "llama-cpp",
            },
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", 0)),
                "output_tokens": int(usage.get("completion_tokens", 0)),
                "total_tokens": int(usage.get("total_tokens", 0)),
            },
        )
        generation = ChatGeneration(
            message=message, generation_info={"finish_reason": choice.get("finish_reason")}
        )
        return ChatResult(generations=[generation], llm_output={"token_usage": usage})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama = self.client
        params = self._params(stop, kwargs)
        chat = _to_llama_messages(messages)
        # The lock is held until the stream ends or the consumer drops it
        # (closing the generator runs the finally clauses below).
        with _GENERATION_LOCK.hold():
            self._adapt(llama)
            try:
                stream = llama.create_chat_completion(messages=chat, stream=True, **params)
            except Exception as exc:
                raise ModelError(f"local model generation failed: {_one_line(exc)}") from exc
            finish_reason = None
            try:
                while True:
                    try:
                        event = next(stream)
                    except StopIteration:
                        break
                    except Exception as exc:
                        raise ModelError(
                            f"local model generation failed: {_one_line(exc)}"
                        ) from exc
                    choice = event["choices"][0]
                    finish_reason = choice.get("finish_reason") or finish_reason
                    text = (choice.get("delta") or {}).get("content") or ""
                    if not text:
                        continue
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        last = ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                response_metadata={
                    "model_name": Path(self.model_path).name,
                    "finish_reason": finish_reason,
                    "model_provider": "llama-cpp",
                },
            ),
            generation_info={"finish_reason": finish_reason},
        )
        if run_manager:
            run_manager.on_llm_new_token("", chunk=last)
        yield last


    def yes_probability(self, messages: Any) -> float:
        """P(the reply starts with "yes") renormalised over yes/no, from one forward pass.

        Shares llama.cpp's prompt cache with the next generation: a judge prompt and an
        answer prompt with the same sources pay for the sources' prefill once.
        """
        llama = self.client
        tokens = _chat_tokens(llama, _to_llama_messages(convert_to_messages(messages)))
        with _GENERATION_LOCK.hold():
            self._adapt(llama)
            try:
                logits = _next_token_logits(llama, tokens)
            except Exception as exc:
                raise ModelError(f"local model evaluation failed: {_one_line(exc)}") from exc
        return _yes_share(llama, logits)


def _chat_tokens(llama: Any, chat: list[dict[str, str]]) -> list[int]:
    """The prompt tokens create_chat_completion would feed for these messages."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError("the GGUF has no chat template; cannot score yes/no")
    eos = llama.detokenize([llama.token_eos()]).decode("utf-8", "ignore")
    bos = llama.detokenize([llama.token_bos()]).decode("utf-8", "ignore") if llama.token_bos() >= 0 else ""
    formatted = llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=chat)
    return llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)


def _next_token_logits(llama: Any, tokens: list[int]) -> Any:
    """Evaluate tokens (reusing the cached common prefix) and return the last logits."""
    import numpy as np

    cached = llama.input_ids[: llama.n_tokens].tolist()
    keep = 0
    for a, b in zip(cached, tokens[:-1]):
        if a != b:
            break
        keep += 1
    llama.n_tokens = keep
    llama.eval(tokens[keep:])
    return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()


def _yes_share(llama: Any, logits: Any) -> float:
    import numpy as np

    def ids(words: tuple[str, ...]) -> list[int]:
        return sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})

    yes = logits[ids(("yes", "Yes", " yes", " Yes", "YES"))]
    no = logits[ids(("no", "No", " no", " No", "NO"))]
    top = max(yes.max(), no.max())
    p_yes, p_no = np.exp(yes - top).sum(), np.exp(no - top).sum()
    return float(p_yes / (p_yes + p_no))


# --------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------


def resolve_model_path(settings: "Settings") -> Path:
    """GGUF of the local provider: settings.generation.model_path, else the packaged model."""
    if settings.generation.model_path:
        path = Path(settings.generation.model_path).expanduser()
        if not path.is_file():
            raise ModelError(f"local model file not found: {path}")
        return path
    return ensure_local_model(settings.models_dir)


def _make_local(settings: "Settings") -> BaseChatModel:
    path = resolve_model_path(settings)
    load_llama(path, settings.generation.ctx, settings.generation.threads)  # fail now, not mid-answer
    return LocalLlamaChat(
        model_path=str(path),
        n_ctx=settings.generation.ctx,
        n_threads=settings.generation.threads,
        adapt_threads=settings.generation.adapt_threads,
        max_tokens=settings.generation.max_tokens,
        temperature=settings.generation.temperature,
    )


@functools.lru_cache(maxsize=1)
def _compat_chat_openai() -> type:
    """ChatOpenAI subclass (built lazily so langchain-openai stays optional)."""
    from langchain_openai import ChatOpenAI

    class CompatChatOpenAI(ChatOpenAI):
        """ChatOpenAI that sends ``max_tokens`` to OpenAI-compatible servers.

        langchain-openai renames max_tokens to max_completion_tokens, which
        llama-cpp-python's server silently ignores (it then generates up to
        the context window).  With no base_url (api.openai.com) the upstream
        payload is kept.
        """

        def _get_request_payload(self, input_: Any, *, stop: Any = None, **kwargs: Any) -> dict:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if self.openai_api_base and "max_completion_tokens" in payload:
                payload["max_tokens"] = payload.pop("max_completion_tokens")
            return payload

    return CompatChatOpenAI


def _make_openai(settings: "Settings") -> BaseChatModel:
    try:
        chat_openai = _compat_chat_openai()
    except ImportError as exc:
        raise ModelError(
            "langchain-openai is not installed (needed by the openai provider)"
        ) from exc
    try:
        return chat_openai(
            base_url=settings.generation.base_url or None,
            api_key=settings.generation.api_key or "not-needed",
            model=settings.generation.model_name or DEFAULT_OPENAI_MODEL,
            temperature=settings.generation.temperature,
            max_tokens=settings.generation.max_tokens,
            streaming=True,
            timeout=OPENAI_TIMEOUT_S,
            max_retries=1,
        )
    except Exception as exc:
        raise ModelError(f"could not create the openai chat model: {_one_line(exc)}") from exc


def _make_ollama(settings: "Settings") -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as exc:
        raise ModelError(
            "langchain-ollama is not installed (needed by the ollama provider)"
        ) from exc
    try:
        return ChatOllama(
            model=settings.generation.model_name or DEFAULT_OLLAMA_MODEL,
            base_url=settings.generation.base_url or None,
            temperature=settings.generation.temperature,
            num_predict=settings.generation.max_tokens,
        )
    except Exception as exc:
        raise ModelError(f"could not create the ollama chat model: {_one_line(exc)}") from exc


def _make_extractive(settings: "Settings") -> None:
    return None


# The one registry of chat model factories, by provider (``settings.PROVIDERS``).
FACTORIES: dict[str, Any] = {
    "local": _make_local,
    "extractive": _make_extractive,
    "openai": _make_openai,
    "ollama": _make_ollama,
}


def make_chat_model(settings: "Settings") -> BaseChatModel | None:
    """The chat model for settings.generation.provider; None for ``extractive``.

    Raises ModelError (one-line message) when the model cannot be created or
    loaded.  Remote providers are not contacted here; see check_chat_model.
    """
    provider = settings.generation.provider
    factory = FACTORIES.get(provider)
    if factory is None:
        raise ModelError(f"unknown chat model provider {provider!r}; choose {', '.join(FACTORIES)}")
    return factory(settings)


def _describe_model(model: BaseChatModel) -> str:
    for attr in ("openai_api_base", "base_url"):
        url = getattr(model, attr, None)
        if url:
            name = getattr(model, "model_name", None) or getattr(model, "model", None)
            return f"{model._llm_type} model {name!r} at {url}"
    if isinstance(model, LocalLlamaChat):
        return f"local model {Path(model.model_path).name}"
    return f"{model._llm_type} model"


def check_chat_model(model: BaseChatModel | None) -> BaseMessage | None:
    """Ask the model for one token; raise ModelError if it does not answer.

    None (the extractive provider) has nothing to check.
    """
    if model is None:
        return
    limits: dict[str, Any] = {"max_tokens": 1}
    if model._llm_type == "chat-ollama":
        limits = {"options": {"num_predict": 1}}
    try:
        reply = model.invoke([HumanMessage(content="Say OK.")], **limits)
    except ModelError as exc:
        raise ModelError(f"{_describe_model(model)} did not answer: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"{_describe_model(model)} did not answer: {_one_line(exc)}") from exc
    if not isinstance(reply, BaseMessage):
        raise ModelError(f"{_describe_model(model)} returned no message")
    return reply
