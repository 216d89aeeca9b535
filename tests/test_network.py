"""Nothing leaves the machine: no socket connects, and no name is looked up, outside loopback
while indexing, searching and answering."""

from __future__ import annotations

import socket

import pytest

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def _is_loopback(host: object) -> bool:
    text = str(host)
    return text in LOOPBACK_NAMES or text.startswith("127.") or text == "::1"


@pytest.fixture
def no_outbound(monkeypatch):
    """Fails the test on any connect or DNS look-up of a non-loopback address."""
    attempts: list[str] = []
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guard(address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        host = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
        if not _is_loopback(host):
            attempts.append(repr(address))
            raise OSError(f"outbound connection blocked by the test: {address!r}")

    def connect(self, address):  # noqa: ANN001, ANN202
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):  # noqa: ANN001, ANN202
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host is not None and not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(f"getaddrinfo({host!r})")
            raise socket.gaierror(f"name look-up blocked by the test: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"outbound attempts: {attempts}"


def test_ingest_search_and_ask_make_no_outbound_connection(no_outbound, tmp_path, capsys):
    from assistant.cli import main

    from conftest import SEEDS

    data = str(tmp_path / "data")
    assert main(["ingest", str(SEEDS / "000_6b1eaca390782b18.txt"), "--quiet", "--data-dir", data]) == 0
    assert main(["search", "lifelong learning", "--data-dir", data, "--json"]) == 0
    assert main(["ask", "Which papers study lifelong learning?", "--provider", "extractive", "--data-dir", data]) == 0
    assert "[1]" in capsys.readouterr().out
    assert no_outbound == []


def test_app_start_and_requests_make_no_outbound_connection(no_outbound, seeded):
    """A launched app (the real Gradio server on 127.0.0.1) answering through gradio_client: the
    start-up, the page's config and two questions look up no name and connect nowhere else."""
    import httpx
    from gradio_client import Client

    from assistant.service import Assistant
    from assistant.web.layout import launch
    from conftest import free_port
    from fakes import RecordingChat

    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "LeanAgent learns lifelong [1]."})
    demo = launch(settings, assistant=Assistant(settings, retriever, chat_model=chat), block=False,
                  port=free_port(), quiet=True)
    try:
        assert httpx.get(demo.local_url, timeout=30).status_code == 200  # the page itself
        client = Client(demo.local_url, verbose=False)
        for question in ("How does LeanAgent do lifelong learning?", "What should I read on prompt optimization?"):
            history, *_rest, status = client.predict(question, "Auto", [], [], 5, "extractive", api_name="/ask")[:3]
            assert history[-1]["role"] == "assistant" and status.startswith("Done")
    finally:
        demo.close()
    assert no_outbound == []


GUARD = '''
import os, socket
_log, _gai, _connect = os.environ["NETPROBE_LOG"], socket.getaddrinfo, socket.socket.connect
def _loop(h): return h in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "None", "") or h.startswith("127.")
def _note(what):
    with open(_log, "a", encoding="utf-8") as fh: fh.write(what + "\\n")
def getaddrinfo(host, *a, **k):
    if not _loop(host.decode() if isinstance(host, bytes) else str(host)): _note(f"getaddrinfo({host!r})")
    return _gai(host, *a, **k)
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loop(str(address[0])): _note(f"connect({address!r})")
    return _connect(self, address)
socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
'''


def test_assistant_app_without_telemetry_variables_contacts_nothing(seeded, tmp_path):
    """``assistant app`` started with none of the telemetry variables set (quiet_environment must set
    them): start-up and two requests make no non-loopback look-up or connect (a sitecustomize guard
    in the app's process records every attempt)."""
    import os
    import subprocess
    import sys
    import time

    import httpx
    from gradio_client import Client

    from conftest import free_port, shared_models_dir

    settings, _, _ = seeded
    (tmp_path / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log, port = tmp_path / "attempts.txt", free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path),
           "NETPROBE_LOG": str(log), "ASSISTANT_MODEL_DIR": str(shared_models_dir())}
    app = subprocess.Popen([sys.executable, "-m", "assistant", "app", "--data-dir", str(settings.store.data_dir),
                            "--provider", "extractive", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and app.poll() is None:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert app.poll() is None, app.stderr.read().decode(errors="replace")[-2000:] if app.stderr else ""
        client = Client(url, verbose=False)
        for question in ("How does LeanAgent do lifelong learning?", "What should I read on prompt optimization?"):
            assert client.predict(question, "Auto", [], [], 5, "extractive", api_name="/ask")[2].startswith("Done")
    finally:
        app.terminate()
        app.wait(30)
    assert not log.exists(), log.read_text(encoding="utf-8")
