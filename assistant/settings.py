"""The one settings object.

Every field is described; each can be set by an environment variable named
``ASSISTANT_<FIELD>`` (upper case) or by a CLI flag that overrides it.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

PROVIDERS = ("local", "extractive", "openai", "ollama")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paper-assistant"


def _describe(help_text: str, default: Any = None, factory: Any = None) -> Any:
    meta = {"help": help_text}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _describe(
        "Directory holding the Chroma store, the BM25 index and assembled models.",
        factory=_default_data_dir,
    )
    model_dir: Path | None = _describe(
        "Directory for assembled model files (default: DATA_DIR/models).", None
    )
    collection: str = _describe("Chroma collection name.", "papers")
    chroma_host: str = _describe(
        "Chroma server host; empty means an embedded persistent store in DATA_DIR.", ""
    )
    chroma_port: int = _describe("Chroma server port (with CHROMA_HOST).", 8000)
    embed_threads: int = _describe("CPU threads for the embedding model.", 2)
    embed_batch: int = _describe("Texts per embedding batch (sorted by length).", 32)
    embed_max_tokens: int = _describe("Token limit per embedded text (MiniLM: 256).", 256)
    chunk_size: int = _describe("Target chunk size in characters.", 700)
    chunk_overlap: int = _describe("Chunk overlap in characters.", 150)
    top_k: int = _describe("Papers retrieved per question.", 5)
    provider: str = _describe(
        "Chat model provider: local, extractive, openai or ollama.", "local"
    )
    model_path: str = _describe(
        "GGUF file for the local provider (default: the packaged Qwen2.5-Coder-1.5B).", ""
    )
    model_name: str = _describe("Model name for the openai and ollama providers.", "")
    base_url: str = _describe(
        "Base URL for the openai (OpenAI-compatible) or ollama provider.", ""
    )
    api_key: str = _describe("API key for the openai provider.", "not-needed")
    llm_threads: int = _describe("CPU threads for the local model.", 2)
    llm_ctx: int = _describe("Context window of the local model in tokens.", 2048)
    max_tokens: int = _describe("Most tokens generated per answer.", 256)
    context_tokens: int = _describe(
        "With an LLM: most tokens of sources (titles and evidence sentences, estimated at 5 "
        "characters per token) put in the prompt. The local model's first token waits for the "
        "prefill of the whole prompt; see docs/benchmarks.md for the size chosen. 0: no limit.",
        200,
    )
    temperature: float = _describe("Sampling temperature.", 0.1)
    refuse_below: float = _describe(
        "Without a model judge (extractive): refuse when the best evidence cosine is below this (calibrated on dev absent).",
        0.45,
    )
    judge_below: float = _describe(
        "With an LLM: refuse when its P(the sources cover the question) is below this "
        "(calibrated on dev absent vs the rest with the default context_tokens; 0 turns the check off).",
        0.7,
    )
    judge_sure: float = _describe(
        "With an LLM: when the question names something no paper mentions (a name, acronym or "
        "quoted title), refuse unless P(the sources cover the question) is at least this "
        "(chosen on benchmarks/coverage_questions.jsonl, checked on dev).",
        0.8,
    )
    judge_named: float = _describe(
        "With an LLM: when the question names something rare in the corpus (in at most 0.1% of "
        "the papers, 3 at least) that a source contains (\"What is Cradle?\"), refuse only below "
        "this P(the sources cover the question).",
        0.5,
    )
    support_threshold: float = _describe(
        "Sentence-evidence cosine needed to mark a sentence supported.", 0.55
    )
    max_question_chars: int = _describe("Longest question accepted.", 2000)
    host: str = _describe("Address the web app binds to.", "127.0.0.1")
    port: int = _describe("Port of the web app.", 7860)
    auth: str = _describe("user:password required when the app binds elsewhere.", "")

    @property
    def models_dir(self) -> Path:
        return Path(self.model_dir) if self.model_dir else Path(self.data_dir) / "models"

    def with_overrides(self, **overrides: Any) -> "Settings":
        clean = {k: v for k, v in overrides.items() if v is not None}
        return _coerce(replace(self, **clean))


def _coerce(settings: Settings) -> Settings:
    values = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name in ("data_dir", "model_dir") and value not in (None, ""):
            value = Path(value).expanduser()
        values[f.name] = value
    return Settings(**values)


def _cast(kind: Any, raw: str) -> Any:
    text = str(kind)
    if "int" in text and "Path" not in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    if "Path" in text:
        return Path(raw).expanduser() if raw else None
    return raw


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then ``ASSISTANT_*`` variables, then overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f"ASSISTANT_{f.name.upper()}")
        if raw is None:
            continue
        try:
            values[f.name] = _cast(f.type, raw)
        except ValueError as exc:
            raise ValueError(f"ASSISTANT_{f.name.upper()}={raw!r}: {exc}") from exc
    settings = Settings(**values).with_overrides(**overrides)
    if settings.provider not in PROVIDERS:
        raise ValueError(f"unknown provider {settings.provider!r}; choose from {PROVIDERS}")
    return settings


def describe() -> list[tuple[str, str, Any]]:
    """(env var, help, default) for every setting."""
    out = []
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out.append((f"ASSISTANT_{f.name.upper()}", f.metadata["help"], default))
    return out


def quiet_environment() -> None:
    """Turn off every phone-home before Chroma, Gradio or HF code is imported."""
    for key, value in {
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(key, value)
