"""The one settings model (pydantic-settings): grouped, every field described and bounded.

Each field is read from an environment variable ``ASSISTANT_<NAME>`` (``assistant settings``
prints them all) and can be overridden by a CLI flag: ``load_settings(top_k=8)`` or
``settings.with_overrides(judge_below=0)`` take the same flat names as the variables.
Consumers read the groups: ``settings.retrieval.top_k``, ``settings.judge.below``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

Provider = Literal["local", "extractive", "openai", "ollama"]
PROVIDERS: tuple[str, ...] = get_args(Provider)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paper-assistant"


def setting(default: Any, description: str, env: str = "", **bounds: Any) -> Any:
    """A described field; ``env`` names its variable when it is not ASSISTANT_<FIELD NAME>."""
    extra = {"env": env} if env else None
    if callable(default):
        return Field(default_factory=default, description=description, json_schema_extra=extra, **bounds)
    return Field(default, description=description, json_schema_extra=extra, **bounds)


class Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class StoreSettings(Group):
    data_dir: Path = setting(_default_data_dir, "Directory holding the Chroma store, the BM25 index and assembled models.")
    model_dir: Path | None = setting(None, "Directory for assembled model files (default: DATA_DIR/models).")
    collection: str = setting("papers", "Chroma collection name.", min_length=1, max_length=63)
    chroma_host: str = setting("", "Chroma server host; empty means an embedded persistent store in DATA_DIR.")
    chroma_port: int = setting(8000, "Chroma server port (with CHROMA_HOST).", ge=1, le=65535)
    chunk_size: int = setting(700, "Target chunk size in characters.", ge=100, le=20000)
    chunk_overlap: int = setting(150, "Chunk overlap in characters.", ge=0, le=5000)

    @field_validator("data_dir", "model_dir", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if value is None or str(value) == "":
            return None
        return Path(str(value)).expanduser()

    @property
    def models_dir(self) -> Path:
        return Path(self.model_dir) if self.model_dir else Path(self.data_dir) / "models"


class EmbeddingSettings(Group):
    model: Literal["minilm", "bge-small"] = setting(
        "minilm", "Embedding model: minilm (all-MiniLM-L6-v2 int8; with the local model its answers cite better "
        "on the seed question sets) or bge-small (bge-small-en-v1.5 int8; better retrieval on SciFact). The store "
        "records which one built it; 'assistant ingest' re-embeds a store built with the other (incremental, "
        "resumable). docs/benchmarks.md has the figures.", "ASSISTANT_EMBED_MODEL")
    threads: int = setting(2, "CPU threads for the embedding model.", "ASSISTANT_EMBED_THREADS", ge=1, le=64)
    batch: int = setting(32, "Texts per embedding batch (sorted by length).", "ASSISTANT_EMBED_BATCH", ge=1, le=1024)
    max_tokens: int = setting(256, "Token limit per embedded text (chunks are about 180 tokens).", "ASSISTANT_EMBED_MAX_TOKENS",
                              ge=16, le=512)


class RetrievalSettings(Group):
    top_k: int = setting(5, "Papers retrieved per question (and listed per recommendation).", ge=1, le=50)
    answer_candidates: int = setting(10, "Papers retrieved before evidence is chosen for an answer (at least TOP_K).",
                                     ge=1, le=100)
    fusion_dense: float | None = setting(
        None, "Weight of the dense side in the hybrid fusion (BM25 takes the rest). Empty: the weight tuned on "
        "SciFact train for the embedding model (bge-small 0.9, minilm 0.6).", ge=0.0, le=1.0)
    depth: int = setting(200, "Candidates taken from each side (dense chunks, BM25 papers) before fusion.",
                         "ASSISTANT_RETRIEVAL_DEPTH", ge=10, le=5000)
    exact_filter_limit: int = setting(4000, "A date/source filter allowing at most this many chunks is searched "
                                      "exactly in numpy instead of through Chroma.", ge=0, le=1_000_000)
    max_fetch: int = setting(2000, "Most dense chunks over-fetched to post-filter a date/source filter.", ge=10,
                             le=100_000)
    overfetch: float = setting(1.5, "Over-fetch factor on the allowed share when post-filtering dense results.",
                               ge=1.0, le=10.0)
    mmr_lambda: float = setting(0.75, "Relevance vs diversity in recommendation lists (1: relevance only).",
                                ge=0.0, le=1.0)
    list_pool: int = setting(3, "Candidates retrieved per recommended paper, before diversifying.", ge=1, le=20)
    list_pool_min: int = setting(12, "Fewest candidates retrieved for a recommendation list.", ge=1, le=200)


class EvidenceSettings(Group):
    context_tokens: int = setting(
        200, "With an LLM: most tokens of sources (titles and evidence sentences, estimated at 5 characters per "
        "token) put in the prompt; when it is written from the paper(s) a question is about, FOCUS_TOKENS "
        "instead (without a model, this widens them). The local model's first token waits for the prefill of the "
        "whole prompt; see docs/benchmarks.md for the size chosen. 0: no limit.", ge=0, le=32000)
    focus_tokens: int = setting(
        250, "With an LLM, when the answer is written from the paper(s) the question is about (assistant/focus.py): "
        "most tokens of their sentences in the prompt, the closest to the question first (5 characters per token; "
        "see docs/benchmarks.md for the size chosen).", "ASSISTANT_FOCUS_TOKENS", ge=50, le=32000)
    per_paper: int = setting(2, "Evidence sentences per source.", "ASSISTANT_EVIDENCE_PER_PAPER", ge=1, le=10)
    papers: int = setting(5, "Sources given to the model (the best retrieved papers).", "ASSISTANT_EVIDENCE_PAPERS",
                          ge=1, le=20)
    extractive_lines: int = setting(3, "Sources quoted by the extractive answer (no model).", ge=1, le=20)


class JudgeSettings(Group):
    refuse_below: float | None = setting(
        None, "Without a model judge (extractive): refuse when the best evidence cosine is below this. Empty: "
        "the value calibrated for the embedding model on dev and the own question set (docs/benchmarks.md).",
        ge=0.0, le=1.0)
    below: float = setting(
        0.7, "With an LLM: refuse when its P(the sources cover the question) is below this (calibrated on dev "
        "absent vs the rest with the default context_tokens; 0 turns the check off).", "ASSISTANT_JUDGE_BELOW",
        ge=0.0, le=1.0)
    sure: float = setting(
        0.8, "With an LLM: when the question names something no paper mentions (a name, acronym or quoted title), "
        "refuse unless P(the sources cover the question) is at least this; when no paper stands out of the "
        "retrieval (STANDOUT), answer without a caveat only from this (chosen on "
        "benchmarks/coverage_questions.jsonl, checked on dev).", "ASSISTANT_JUDGE_SURE", ge=0.0, le=1.0)
    named: float = setting(
        0.5, "With an LLM: when the question names something rare in the corpus (in at most 0.1% of the papers, 3 "
        "at least) that a source contains (\"What is Cradle?\") and no near miss is suspected (STANDOUT), refuse "
        "only below this P(the sources cover the question).", "ASSISTANT_JUDGE_NAMED", ge=0.0, le=1.0)
    standout: float = setting(
        0.10, "With an LLM, for a question about one paper: the top paper stands out of the retrieval when its "
        "fused score leads the next paper's by at least this share of its own; when none does (a near miss that "
        "several papers half match) and the question names nothing no paper mentions, a P(the sources cover the "
        "question) under SURE but at least BELOW answers with a caveat, and under BELOW refuses. Topics and lists "
        "are not read this way. 0 turns it off.",
        "ASSISTANT_JUDGE_STANDOUT", ge=0.0, le=1.0)
    standout_below: float = setting(
        0.62, "With an LLM: when the top paper stands out (STANDOUT) and the question names nothing no paper "
        "mentions, refuse only below this P(the sources cover the question) (chosen on dev and the own set, "
        "checked on benchmarks/heldout_questions.jsonl).", "ASSISTANT_JUDGE_STANDOUT_BELOW", ge=0.0, le=1.0)
    clear_lead: float = setting(
        0.30, "With an LLM, for a question about one paper: when the top paper's fused score leads the next "
        "paper's by at least this share of its own and the question names nothing no paper mentions, answer "
        "without the model judge (its prefill costs about 1 s before the first token), when it was asked as "
        "written (not a rewritten follow-up), without a filter, and the embedding gate passes. On dev, the own set and "
        "benchmarks/heldout_questions.jsonl every absent question led by 0.20 at most, and every answerable one "
        "leading by 0.30 or more was judged covered; on the later benchmarks/fresh_questions.jsonl one absent "
        "question led by 0.32 and was answered. 0: always judge.", "ASSISTANT_JUDGE_CLEAR_LEAD",
        ge=0.0, le=1.0)
    list_unsure: float = setting(
        0.75, "With an LLM: a reading list the judge lets through with P(the papers cover the interest) below this "
        "says that its papers may only partly match (the judge does not separate lists: answerable lists of dev "
        "and the own set range from 0.71, absent ones of dev and benchmarks/fresh_questions.jsonl were let "
        "through at 0.71-0.74; docs/benchmarks.md). 0: never.", "ASSISTANT_JUDGE_LIST_UNSURE", ge=0.0, le=1.0)
    support_threshold: float | None = setting(
        None, "Cosine to the closest cited evidence sentence needed to mark a sentence supported (its numbers, "
        "acronyms and named methods must also be in a cited abstract). Empty: the value chosen for the embedding "
        "model on benchmarks/claim_pairs.jsonl (docs/benchmarks.md).", ge=0.0, le=1.0)
    reason_margin: float = setting(0.1, "A recommendation reason is kept when its cosine to its quote is at least "
                                   "SUPPORT_THRESHOLD minus this.", ge=0.0, le=1.0)


class GenerationSettings(Group):
    provider: Provider = setting("local", "Chat model provider: local, extractive, openai or ollama.")
    model_path: str = setting("", "GGUF file for the local provider (default: the packaged Qwen2.5-Coder-1.5B).")
    model_name: str = setting("", "Model name for the openai and ollama providers.")
    base_url: str = setting("", "Base URL for the openai (OpenAI-compatible) or ollama provider.")
    api_key: str = setting("not-needed", "API key for the openai provider.")
    threads: int = setting(2, "CPU threads for the local model.", "ASSISTANT_LLM_THREADS", ge=1, le=64)
    adapt_threads: bool = setting(
        True, "Run the local model on fewer threads while other processes keep the cores busy (sampled for 0.1 s "
        "before each call; 2 threads under contention fall below 2 tokens/s where 1 keeps 5-6).",
        "ASSISTANT_LLM_ADAPT_THREADS")
    ctx: int = setting(2048, "Context window of the local model in tokens.", "ASSISTANT_LLM_CTX", ge=256, le=32768)
    max_tokens: int = setting(256, "Most tokens generated per answer.", ge=1, le=4096)
    temperature: float = setting(0.1, "Sampling temperature.", ge=0.0, le=2.0)
    condense_tokens: int = setting(80, "Most tokens of a follow-up rewritten by the model.", ge=8, le=512)
    reason_tokens: int = setting(40, "Most tokens per recommended paper for the model's reasons.", ge=8, le=512)
    list_reasons: int = setting(1, "Items of a list (the best ones) whose reason the model writes; the rest get a "
                                "templated relation to the question. Bounds the list's time: docs/benchmarks.md. "
                                "0: every item.", ge=0, le=50)


class AppSettings(Group):
    host: str = setting("127.0.0.1", "Address the web app binds to.", min_length=1)
    port: int = setting(7860, "Port of the web app.", ge=1, le=65535)
    auth: str = setting("", "user:password required when the app binds elsewhere.")
    max_question_chars: int = setting(2000, "Longest question accepted.", ge=10, le=100_000)
    login_delay: float = setting(0.5, "With AUTH: seconds the login after a failed one waits, doubled with each "
                                 "further failure (0: no delay).", ge=0.0, le=60.0)
    login_delay_max: float = setting(30.0, "With AUTH: the longest wait before a login is checked.", ge=0.0,
                                     le=3600.0)
    sessions: int = setting(100, "Browser sessions whose state (chat, answers, sources) the app keeps in memory; "
                            "beyond this the oldest is dropped (Gradio's state_session_capacity; a closed tab is "
                            "dropped at once). Bounds the app's memory: docs/reliability.md.", "ASSISTANT_APP_SESSIONS",
                            ge=1, le=100_000)


class UpdateSettings(Group):
    daily_url: str = setting("https://huggingface.co", "Base URL of the Hugging Face Daily Papers API (the one host "
                             "'assistant update' and the app's periodic update contact).", min_length=1, max_length=500)
    every: int = setting(0, "Minutes between the app's automatic corpus updates (0: never; the default makes no "
                         "outbound connection).", "ASSISTANT_UPDATE_EVERY", ge=0, le=10080)
    days: int = setting(3, "Days of listings (today backwards) fetched by 'assistant update' without a date and by "
                        "each periodic update.", "ASSISTANT_UPDATE_DAYS", ge=1, le=366)
    timeout: float = setting(20.0, "Seconds to wait for the Daily Papers server per request.",
                             "ASSISTANT_UPDATE_TIMEOUT", ge=0.1, le=300.0)
    retries: int = setting(3, "Retries of a request answered 429/5xx or timed out (with backoff).",
                           "ASSISTANT_UPDATE_RETRIES", ge=0, le=10)
    backoff: float = setting(2.0, "Seconds before the first retry, doubled each time (a Retry-After header wins).",
                             "ASSISTANT_UPDATE_BACKOFF", ge=0.0, le=600.0)
    max_wait: float = setting(300.0, "Longest Retry-After honoured, in seconds; a longer one fails the date.",
                              "ASSISTANT_UPDATE_MAX_WAIT", ge=0.0, le=3600.0)
    delay: float = setting(1.0, "Polite pause in seconds between two requests for different dates.",
                           "ASSISTANT_UPDATE_DELAY", ge=0.0, le=60.0)
    fresh_minutes: int = setting(60, "Minutes a cached listing of today (or a date not yet over) is reused; past "
                                 "dates fetched after they ended are never fetched again.",
                                 "ASSISTANT_UPDATE_FRESH_MINUTES", ge=0, le=10080)


class LibrarySettings(Group):
    file: Path | None = setting(None, "The reading-library SQLite file (default: DATA_DIR/library.sqlite3).",
                                "ASSISTANT_LIBRARY_FILE")
    negatives: int = setting(5000, "Unsaved papers sampled as negatives when the library model is trained (dismissed "
                             "ones always count).", "ASSISTANT_LIBRARY_NEGATIVES", ge=100, le=1_000_000)
    ridge: float = setting(1.0, "L2 regularisation of the library model (a class-balanced ridge classifier over "
                           "paper embeddings).", "ASSISTANT_LIBRARY_RIDGE", gt=0.0, le=1000.0)
    dismissed_weight: float = setting(3.0, "Weight of a dismissed paper (a hard negative) against an unsaved one.",
                                      "ASSISTANT_LIBRARY_DISMISSED_WEIGHT", ge=1.0, le=100.0)
    blend: float = setting(0.5, "Free-text lists re-ranked within the relevant set: weight of the library model "
                           "against the query's ranking (0: the query only).", "ASSISTANT_LIBRARY_BLEND",
                           ge=0.0, le=1.0)
    min_saved: int = setting(2, "Saved papers needed to train the library model; with fewer, picks are the papers "
                             "most similar to what is saved.", "ASSISTANT_LIBRARY_MIN_SAVED", ge=1, le=100)

    @field_validator("file", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return None if value is None or str(value) == "" else Path(str(value)).expanduser()


GROUPS: dict[str, type[Group]] = {
    "store": StoreSettings, "embedding": EmbeddingSettings, "retrieval": RetrievalSettings,
    "evidence": EvidenceSettings, "judge": JudgeSettings, "generation": GenerationSettings, "app": AppSettings,
    "update": UpdateSettings, "library": LibrarySettings,
}


def env_name(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("env") or f"ASSISTANT_{name.upper()}")


def flat_names() -> dict[str, tuple[str, str]]:
    """flat name (the variable without ASSISTANT_, lower case) -> (group, field)."""
    out: dict[str, tuple[str, str]] = {}
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            out[env_name(name, info).removeprefix("ASSISTANT_").lower()] = (group, name)
    return out


class _FlatEnv(PydanticBaseSettingsSource):
    """Reads each field of each group from its own ASSISTANT_* variable."""

    def __init__(self, settings_cls: type[BaseSettings], env: dict[str, str] | None) -> None:
        super().__init__(settings_cls)
        self.env = os.environ if env is None else env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return from_env(self.env)


def from_env(env: Any) -> dict[str, dict[str, Any]]:
    """{group: {field: raw text}} of the ASSISTANT_* variables set in ``env``."""
    values: dict[str, dict[str, Any]] = {}
    for flat, (group, name) in flat_names().items():
        raw = env.get(f"ASSISTANT_{flat.upper()}")
        if raw is not None:
            values.setdefault(group, {})[name] = raw
    return values


class Settings(BaseSettings):
    """Every setting of the assistant, by group."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    store: StoreSettings = Field(default_factory=StoreSettings, description="Data directory, Chroma and chunking.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="The embedding model.")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description="Hybrid search and lists.")
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings, description="Sources given to the model.")
    judge: JudgeSettings = Field(default_factory=JudgeSettings, description="Refusals and support checks.")
    generation: GenerationSettings = Field(default_factory=GenerationSettings, description="The chat model.")
    app: AppSettings = Field(default_factory=AppSettings, description="The web app.")
    update: UpdateSettings = Field(default_factory=UpdateSettings, description="Fetching new Daily Papers.")
    library: LibrarySettings = Field(default_factory=LibrarySettings, description="The reading library's model.")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # noqa: ANN001, ANN206
        return (init_settings, _FlatEnv(settings_cls, None))

    @property
    def models_dir(self) -> Path:
        return self.store.models_dir

    # Thresholds whose scale depends on the embedding model: set, or calibrated for it.

    @property
    def fusion_dense(self) -> float:
        return _calibrated(self.retrieval.fusion_dense, self.embedding.model, "fusion_dense")

    @property
    def refuse_below(self) -> float:
        return _calibrated(self.judge.refuse_below, self.embedding.model, "refuse_below")

    @property
    def support_threshold(self) -> float:
        return _calibrated(self.judge.support_threshold, self.embedding.model, "support_threshold")

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with flat-named values replaced (``None`` values are ignored)."""
        groups = self.model_dump()
        _apply(groups, overrides)
        return _validated(groups)


def _calibrated(value: float | None, model: str, name: str) -> float:
    if value is not None:
        return value
    from .embeddings import spec_of

    return float(getattr(spec_of(model), name))


def _apply(groups: dict[str, dict[str, Any]], overrides: dict[str, Any]) -> None:
    names = flat_names()
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in names:
            raise ValueError(f"unknown setting {key!r}")
        group, name = names[key]
        groups[group][name] = value


def _validated(groups: dict[str, dict[str, Any]]) -> Settings:
    try:
        return Settings.model_validate(groups)
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    """One line per bad value, named by its environment variable."""
    names = {v: k for k, v in flat_names().items()}
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        flat = names.get(loc[-2:]) if len(loc) >= 2 else None
        where = f"ASSISTANT_{flat.upper()}" if flat else ".".join(loc)
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then ``ASSISTANT_*`` variables (``env``, default os.environ), then overrides."""
    groups: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
    for group, values in from_env(os.environ if env is None else env).items():
        groups[group].update(values)
    _apply(groups, overrides)
    return _validated(groups)


@dataclass(frozen=True)
class Described:
    group: str
    env: str
    value: Any
    description: str
    bounds: str


def bounds_of(info: FieldInfo) -> str:
    """The field's bounds as text, e.g. ``>= 0, <= 1``."""
    ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="), ("max_length", "length <="))
    parts = [f"{op} {getattr(m, key)}" for m in info.metadata for key, op in ops if getattr(m, key, None) is not None]
    return ", ".join(parts)


def describe(settings: Settings | None = None) -> list[Described]:
    """Every setting, group by group: its variable, value (default, or from ``settings``),
    description and bounds."""
    out = []
    for group, model in GROUPS.items():
        values = getattr(settings, group) if settings is not None else model()
        for name, info in model.model_fields.items():
            out.append(Described(group, env_name(name, info), getattr(values, name), info.description or "",
                                 bounds_of(info)))
    return out


def quiet_environment() -> None:
    """Turn off every phone-home before Chroma, Gradio, HF or onnxruntime code is imported."""
    for key, value in {
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ORT_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(key, value)
