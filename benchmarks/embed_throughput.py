"""Embedding throughput of the ingest model (MiniLM int8 ONNX) on real chunks.

Splits the first papers of a corpus into chunks exactly as ingest does, embeds ``--n``
of them (``"title. chunk"``) at each batch size and prints chunks/s with the machine's
load average (the CPU is shared: compare runs only at similar load).

    .venv/bin/python benchmarks/embed_throughput.py [--corpus FILE] [--n 256] [--batches 16,32,64] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=str(SCIFACT))
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batches", default="16,32,64")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    from assistant.embeddings import MiniLMEmbeddings
    from assistant.ingest import iter_chunks, load_corpus
    from assistant.settings import load_settings

    settings = load_settings(env={})
    papers = load_corpus([Path(args.corpus)]).papers
    texts: list[str] = []
    for paper, chunks in iter_chunks(papers, settings.chunk_size, settings.chunk_overlap):
        texts += [c.embed_text(paper.display_title) for c in chunks]
        if len(texts) >= args.n:
            break
    texts = texts[: args.n]
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} chunks of {Path(args.corpus).name}, {chars:.0f} chars on average, {args.threads} threads")
    for batch in (int(b) for b in args.batches.split(",")):
        model = MiniLMEmbeddings(threads=args.threads, batch_size=batch, max_tokens=settings.embed_max_tokens)
        model.embed_array(texts[:batch])  # warm-up
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        model.embed_array(texts)
        seconds = time.perf_counter() - t0
        print(f"batch {batch:>3}: {len(texts) / seconds:6.1f} chunks/s ({seconds:.1f}s; load average {load:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
