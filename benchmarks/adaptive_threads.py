"""The local model's thread count under contention: fixed 2 threads against adaptive threads
(``ASSISTANT_LLM_ADAPT_THREADS``), on an idle machine and with CPU burners running, pair by
pair in one run. Prints generation tokens/s per condition (median of ``--runs``).

    .venv/bin/python -m benchmarks.adaptive_threads [--burners 2] [--runs 3] [--tokens 48]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PROMPT = "Explain in three sentences what lifelong learning for formal theorem proving means."
BURN = "import time\nt = time.time() + 600\nwhile time.time() < t: pass\n"


def generate(chat, tokens: int) -> float:  # noqa: ANN001
    """Generation tokens/s after the first token (the prefill excluded)."""
    started, first, n = time.perf_counter(), None, 0
    for chunk in chat.stream(PROMPT, max_tokens=tokens, temperature=0.0):
        if chunk.content:
            n += 1
            first = first or time.perf_counter()
    return (n - 1) / max(time.perf_counter() - (first or started), 1e-6)


def main(argv: list[str] | None = None) -> int:
    from assistant.llm import make_chat_model
    from assistant.settings import load_settings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--burners", type=int, default=2, help="busy-loop processes started for the busy condition")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tokens", type=int, default=48)
    args = p.parse_args(argv)
    chat = make_chat_model(load_settings(provider="local"))
    generate(chat, 8)  # warm-up
    rates: dict[str, list[float]] = {}
    for busy in (False, True):
        burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners if busy else 0)]
        try:
            time.sleep(5.5 if busy else 0.0)  # past cpu.recent_busy's 5 s: the next call samples the burners
            for run in range(args.runs):
                for adapt in ((False, True) if run % 2 == 0 else (True, False)):  # alternate who goes first
                    chat.adapt_threads = adapt
                    rate = generate(chat, args.tokens)
                    key = f"{'busy' if busy else 'idle'} {'adaptive' if adapt else 'fixed 2'}"
                    rates.setdefault(key, []).append(rate)
                    rates.setdefault(key + " threads", []).append(chat.last_threads)
        finally:
            for b in burners:
                b.kill()
    print(json.dumps({k: (statistics.median(v) if "threads" not in k else v) for k, v in rates.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
