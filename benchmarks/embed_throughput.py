"""Embedding throughput of the ingest model (MiniLM int8 ONNX) on real chunks.

Splits the first papers of a corpus into chunks exactly as ingest does, embeds ``--n``
of them (``"title. chunk"``) at each batch size and prints chunks/s of the product's
``OnnxEmbeddings`` and of the bare ONNX session on the same batches, with the machine's
load average (the CPU is shared: compare runs only at similar load). The measuring code
lives in ``benchmarks/embedding.py`` (``assistant bench`` uses it on the seed chunks).

    .venv/bin/python benchmarks/embed_throughput.py [--corpus FILE] [--n 256] [--batches 16,32,64] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.paths import SCIFACT  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=str(SCIFACT / "corpus.jsonl"))
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batches", default="16,32,64")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    from assistant.settings import load_settings
    from benchmarks.embedding import chunk_texts, embedding_throughput

    settings = load_settings(env={})
    texts = chunk_texts([Path(args.corpus)], settings, args.n)
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} chunks of {Path(args.corpus).name}, {chars:.0f} chars on average, {args.threads} threads")
    for batch in (int(b) for b in args.batches.split(",")):
        r = embedding_throughput(texts, args.threads, batch, settings.embedding.max_tokens)
        print(f"batch {batch:>3}: {r['ours_cps']:6.1f} chunks/s, bare ONNX {r['bare_cps']:6.1f} "
              f"(ratio {r['ratio']:.2f}; load average {r['load']:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
