"""Load and soak: N clients asking through gradio_client against a launched app, loopback only.

The app runs as its own process (``python -m assistant app`` on 127.0.0.1, a free port, the
extractive provider unless told otherwise), so its RSS is sampled alone (``/proc/PID/status``).
Each client asks the seed questions in turn; the run stops after ``--questions`` per client or
``--minutes``, whichever comes first. Prints one JSON line: errors, p50/p95/max latency, RSS
samples, and the RSS growth after the warm-up (the first quarter of the run)::

    .venv/bin/python benchmarks/soak.py --data-dir DATA --clients 20 --questions 5
    .venv/bin/python benchmarks/soak.py --data-dir DATA --clients 4 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.report import load_average, machine  # noqa: E402

QUESTIONS = [
    "How does LeanAgent do lifelong learning for formal theorem proving?",
    "How many parameters does DigitalBrain (DB1) have?",
    "What should I read on continual or lifelong learning?",
    "Which papers propose ways to optimize prompts automatically?",
    "What is grokking in neural networks?",
]
QUIET = {"ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
         "HF_HUB_DISABLE_TELEMETRY": "1", "ORT_DISABLE_TELEMETRY": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_app(data_dir: str, provider: str, port: int, timeout: float = 300) -> subprocess.Popen:
    """``assistant app`` on 127.0.0.1:PORT; returns once the page answers (and the store is loaded)."""
    import httpx

    cmd = [sys.executable, "-m", "assistant", "app", "--data-dir", data_dir, "--provider", provider,
           "--port", str(port), "--host", "127.0.0.1"]
    app = subprocess.Popen(cmd, env={**os.environ, **QUIET}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited with {app.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    app.terminate()
    raise SystemExit("the app did not come up")


def client_loop(url: str, provider: str, index: int, until: float, most: int, out: list[dict[str, Any]],
                fresh: bool = False) -> None:
    """One client: its own session (with ``fresh``, a new one per question: many short visits),
    questions in turn until ``until`` or ``most`` asked."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    for i in range(most):
        if time.monotonic() >= until:
            return
        if fresh and i:
            client.reset_session()
        question = QUESTIONS[(index + i) % len(QUESTIONS)]
        started = time.perf_counter()
        try:
            status = str(client.predict(question, "Auto", [], [], 5, provider, api_name="/ask")[2])
            ok = status.startswith(("Done", "Note")) or "does not cover" in status
        except Exception as exc:  # noqa: BLE001 - counted, never fatal
            status, ok = f"{type(exc).__name__}: {exc}"[:200], False
        out.append({"client": index, "s": time.perf_counter() - started, "ok": ok, "status": status[:120],
                    "at": time.monotonic()})


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def soak(data_dir: str, clients: int, questions: int, minutes: float, provider: str, fresh: bool = False,
         warmup: int = 1) -> dict[str, Any]:
    port = free_port()
    app = start_app(data_dir, provider, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        warm: list[dict[str, Any]] = []
        client_loop(url, provider, 0, time.monotonic() + 120, warmup, warm)  # loads the embedder, BM25
        rss = [(0.0, rss_mb(app.pid))]
        results: list[dict[str, Any]] = []
        started = time.monotonic()
        until = started + minutes * 60
        threads = [threading.Thread(target=client_loop, args=(url, provider, i, until, questions, results, fresh))
                   for i in range(clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1.0)
            rss.append((round(time.monotonic() - started, 1), rss_mb(app.pid)))
        wall = time.monotonic() - started
    finally:
        app.terminate()
        app.wait(30)
    return {**summary(results, rss, wall, clients, questions, minutes, provider), "fresh_sessions": fresh}


def summary(results: list[dict[str, Any]], rss: list[tuple[float, float]], wall: float, clients: int,
            questions: int, minutes: float, provider: str) -> dict[str, Any]:
    latencies = [r["s"] for r in results]
    after_warmup = [mb for t, mb in rss if t >= wall / 4] or [rss[-1][1]]
    errors = [r["status"] for r in results if not r["ok"]]
    return {
        "clients": clients, "questions_per_client": questions, "minutes_limit": minutes, "provider": provider,
        "requests": len(results), "errors": len(errors), "error_samples": errors[:5],
        "wall_s": round(wall, 1), "throughput_per_min": round(60 * len(results) / wall, 1) if wall else None,
        "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies) if latencies else None,
        "mean_s": statistics.fmean(latencies) if latencies else None,
        "rss_mb_start": round(rss[0][1], 1), "rss_mb_peak": round(max(mb for _, mb in rss), 1),
        "rss_mb_end": round(rss[-1][1], 1),
        "rss_growth_after_warmup_mb": round(after_warmup[-1] - after_warmup[0], 1),
        "rss_samples": [(t, round(mb, 1)) for t, mb in rss[:: max(1, len(rss) // 20)]],
        "load_average": load_average(), "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", required=True, help="an indexed data directory (assistant ingest seeds)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=5, help="most questions per client")
    parser.add_argument("--minutes", type=float, default=5.0, help="stop after this long (bounded)")
    parser.add_argument("--provider", default="extractive")
    parser.add_argument("--fresh", action="store_true", help="a new session per question (many short visits)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.minutes <= 60:
        parser.error("--clients 1-64 and --minutes up to 60")
    result = soak(args.data_dir, args.clients, args.questions, args.minutes, args.provider, args.fresh)
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
