"""Local model speed: time to first token and generation tokens/s of the packaged
llama.cpp model on ~500-token prompts built from seed abstracts (median of 3 runs, each
with a different prompt so that llama.cpp's prompt cache cannot help), and the time the
process takes to load it first.

    .venv/bin/python benchmarks/local_model.py [--runs 3] [--max-tokens 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.settings import Settings, load_settings  # noqa: E402
from benchmarks.paths import SEEDS  # noqa: E402
from benchmarks.report import num, table  # noqa: E402

ASK = "\n\nIn three sentences, what do the papers above have in common?"


def llm_prompts(abstracts: list[str], count_tokens: Callable[[str], int], runs: int = 3, target: int = 500) -> list[str]:
    """``runs`` prompts of about ``target`` tokens, each opening with different abstracts."""
    prompts = []
    for run in range(runs):
        parts: list[str] = []
        for i in range(run * 7, run * 7 + len(abstracts)):
            if count_tokens("\n\n".join(parts) + ASK) >= target:
                break
            parts.append(abstracts[i % len(abstracts)])
        text = "\n\n".join(parts)
        while count_tokens(text + ASK) > target * 1.05 and len(text) > 200:  # trim to about target
            text = text[: int(len(text) * 0.97)]
        prompts.append(text + ASK)
    return prompts


def timed_run(model: Any, prompt: str, count: Callable[[str], int], max_tokens: int) -> dict[str, Any]:
    """One streamed answer: prompt tokens, time to first token, generated tokens and their rate."""
    started = time.perf_counter()
    first = None
    pieces = []
    for chunk in model.stream(prompt, max_tokens=max_tokens, temperature=0.0):
        if chunk.content:
            first = first or time.perf_counter()
            pieces.append(chunk.content)
    end = time.perf_counter()
    generated = count("".join(pieces))
    return {
        "prompt_tokens": count(prompt),
        "ttft_s": (first or end) - started,
        "generated": generated,
        "tokens_per_s": (generated - 1) / (end - first) if first and end > first and generated > 1 else None,
        "prompt_tokens_per_s": count(prompt) / ((first or end) - started),
    }


def llm_speed(settings: Settings, abstracts: list[str], runs: int = 3, max_tokens: int = 100) -> dict[str, Any]:
    """Time to first token and generation tokens/s of the local model (median of ``runs``)."""
    from assistant.llm import make_chat_model

    t0 = time.perf_counter()
    model = make_chat_model(settings.with_overrides(provider="local"))
    load_s = time.perf_counter() - t0
    llama = model.client

    def count(text: str) -> int:
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False))

    rows = [timed_run(model, prompt, count, max_tokens) for prompt in llm_prompts(abstracts, count, runs)]
    rates = [r["tokens_per_s"] for r in rows if r["tokens_per_s"]]
    return {
        "model": Path(model.model_path).name,
        "threads": settings.generation.threads,
        "load_s": load_s,
        "runs": rows,
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in rows),
        "ttft_s": statistics.median(r["ttft_s"] for r in rows),
        "tokens_per_s": statistics.median(rates) if rates else None,
        "prompt_tokens_per_s": statistics.median(r["prompt_tokens_per_s"] for r in rows),
    }


def seed_abstracts() -> list[str]:
    from assistant.corpus import load_corpus

    return [p.abstract for p in load_corpus([SEEDS]).papers if p.abstract]


def render(llm: dict[str, Any] | None) -> list[str]:
    """The "Local model" subsection."""
    lines = ["### Local model", ""]
    if not llm or "ttft_s" not in llm:
        return lines + [f"Skipped{': ' + llm['skipped'] if llm and llm.get('skipped') else ''}.", ""]
    lines += [f"{llm['model']}, llama.cpp, {llm['threads']} threads; prompts of about {llm['prompt_tokens']:.0f} tokens "
              f"from seed abstracts, a different one each run, {len(llm['runs'])} runs, median.", ""]
    runs = ", ".join(f"{r['ttft_s']:.1f} / {num(r['tokens_per_s'])}" for r in llm["runs"])
    lines += table(("figure", "value"), [
        ("model load (process's first)", f"{llm['load_s']:.1f} s"),
        ("time to first token", f"{llm['ttft_s']:.1f} s ({llm['prompt_tokens_per_s']:.0f} prompt tokens/s)"),
        ("generation", f"{num(llm['tokens_per_s'])} tokens/s"),
        ("runs (TTFT s / tokens/s)", runs),
    ])
    return lines + [""]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=100)
    args = p.parse_args(argv)
    print("\n".join(render(llm_speed(load_settings(), seed_abstracts(), args.runs, args.max_tokens))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
