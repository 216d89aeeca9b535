"""Where the local model's time to first token goes.

1. Raw llama.cpp prefill speed of a 600-token slice of the seed corpus under a few
   llama.cpp settings (batch size, flash attention), each in a fresh ``Llama``.
2. The whole chain on the first N dev lookup/fact questions: coverage judge, first token and
   total seconds, and the size of the answer prompt in tokens.

Needs an indexed seed store and the assembled model (any ``assistant ask`` makes it):

    .venv/bin/python benchmarks/local_latency.py --data-dir /tmp/pa-data [--n 4] [--skip-prefill]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import DEV, SEEDS  # noqa: E402

CONFIGS = ({}, {"flash_attn": True}, {"n_batch": 128, "n_ubatch": 128}, {"flash_attn": True, "n_batch": 128, "n_ubatch": 128})


def prefill(model_path: str, threads: int) -> None:
    from llama_cpp import Llama

    text = SEEDS.glob("*.txt").__next__().read_text(encoding="utf-8")[5000:9000]
    for cfg in CONFIGS:
        llm = Llama(model_path=model_path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False, **cfg)
        tokens = llm.tokenize(text.encode())[:600]
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        print(f"prefill {cfg or 'defaults'}: {len(tokens) / (time.perf_counter() - t0):.1f} tokens/s", flush=True)
        del llm


def chain(assistant, n: int) -> None:  # noqa: ANN001
    from assistant.chain import Conversation, answer_messages

    llama = assistant.chat_model.client
    items = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    for item in [i for i in items if i["type"] in ("lookup", "fact")][:n]:
        answer = [e.answer for e in assistant.respond(item["question"], Conversation()) if e.kind == "answer"][0]
        messages = answer_messages(answer.references, item["question"])
        text = "\n".join(str(getattr(m, "content", m[-1] if isinstance(m, tuple) else m)) for m in messages)
        t = answer.timings
        print(f"{item['id']}: prompt {len(llama.tokenize(text.encode()))} tokens, judge {t.get('judge_s')} s, "
              f"first token {t.get('first_token_s')} s, total {t.get('total_s')} s, refused {answer.refused}", flush=True)


def main() -> None:
    from assistant.llm import resolve_model_path
    from assistant.service import Assistant
    from assistant.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--skip-prefill", action="store_true")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    if not args.skip_prefill:
        prefill(str(resolve_model_path(settings)), settings.generation.threads)
    assistant = Assistant.create(settings)
    if assistant.chat_model is None:
        sys.exit(f"no local model: {assistant.model_error}")
    chain(assistant, args.n)


if __name__ == "__main__":
    main()
