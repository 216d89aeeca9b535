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
