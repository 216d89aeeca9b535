"""Shared fixtures: real embedding model, real Chroma, the real seed corpus."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from benchmarks.paths import DEV, REPO, SCIFACT, SEEDS, SHARED  # noqa: E402, F401 - the one place for repo paths


def shared_models_dir() -> Path:
    default = Path.home() / ".local" / "share" / "paper-assistant" / "models"
    return Path(os.environ.get("ASSISTANT_MODEL_DIR", default))


def free_port() -> int:
    """A loopback port nothing listens on now (for servers a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings_for(tmp_path):
    """Settings with a fresh data directory (model files shared across tests)."""
    from assistant.settings import load_settings

    def make(**overrides):
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("model_dir", shared_models_dir())
        return load_settings(env={}, **overrides)

    return make


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """Settings, store and retriever over the indexed seed corpus (built once per run)."""
    from assistant.embeddings import embeddings_for
    from assistant.corpus import load_corpus
    from assistant.ingest import index_papers
    from assistant.retrieve import make_retriever
    from assistant.settings import load_settings
    from assistant.store import Store

    settings = load_settings(env={}, data_dir=tmp_path_factory.mktemp("seeded"), model_dir=shared_models_dir())
    embeddings = embeddings_for(settings)
    store = Store(settings, embeddings)
    index_papers(load_corpus([SEEDS]).papers, store, settings)
    return settings, store, make_retriever(settings, store=store, embeddings=embeddings)  # the product's fusion
