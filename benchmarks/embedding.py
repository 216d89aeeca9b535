"""Embedding throughput: the product's ``OnnxEmbeddings.embed_array`` against a bare
ONNX ``session.run`` of the same model file on the same pre-tokenised batches.

The texts are the ones ingest embeds (``"title. chunk"``), cut into the length-sorted
batches ``embed_array`` would make; each batch is embedded by the class and run bare,
in alternating order, so both paths see the same load on a shared machine.

    .venv/bin/python benchmarks/embedding.py [--corpus PATH] [--n 0] [--threads 2] [--batch 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import the checkout's packages
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from assistant.settings import Settings, load_settings  # noqa: E402
from benchmarks.paths import SEEDS  # noqa: E402
from benchmarks.report import load_average, table  # noqa: E402


def chunk_texts(paths: Sequence[Path], settings: Settings, n: int = 0) -> list[str]:
    """Texts embedded at ingest (``"title. chunk"``) of the first ``n`` chunks (0: all)."""
    from assistant.corpus import load_corpus
    from assistant.ingest import iter_chunks

    texts: list[str] = []
    papers = load_corpus(list(paths)).papers
    for paper, chunks in iter_chunks(papers, settings.store.chunk_size, settings.store.chunk_overlap):
        texts += [c.embed_text(paper.display_title) for c in chunks]
        if n and len(texts) >= n:
            break
    return texts[:n] if n else texts


def bare_session(threads: int, model: str = "minilm") -> Any:
    """An ONNX session of the embedder's model file with the product's session options."""
    import onnxruntime as ort

    from assistant.embeddings import spec_of

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(spec_of(model).files()[0]), options, providers=["CPUExecutionProvider"])


def embedding_throughput(texts: list[str], threads: int = 2, batch: int = 32, max_tokens: int = 256,
                         embedder: str = "minilm") -> dict[str, Any]:
    """chunks/s of our :class:`OnnxEmbeddings` and of a bare ONNX session on the same texts."""
    from assistant.embeddings import OnnxEmbeddings, spec_of

    model = OnnxEmbeddings(spec_of(embedder), threads=threads, batch_size=batch, max_tokens=max_tokens)
    session = bare_session(threads, embedder)
    model.embed_array(texts[:batch])  # warm-up, both paths
    session.run(None, model.feed([t or " " for t in texts[:batch]]))
    load = load_average()
    ordered = sorted(texts, key=len)
    spent = {"ours": 0.0, "bare": 0.0}
    for n, lo in enumerate(range(0, len(ordered), batch)):
        part = ordered[lo : lo + batch]
        feed = model.feed([t or " " for t in part])
        for path in ("ours", "bare") if n % 2 == 0 else ("bare", "ours"):  # alternate who goes first
            t0 = time.perf_counter()
            model.embed_array(part) if path == "ours" else session.run(None, feed)
            spent[path] += time.perf_counter() - t0
    return {
        "embedder": embedder,
        "n": len(texts),
        "chars": sum(map(len, texts)) / max(len(texts), 1),
        "threads": threads,
        "batch": batch,
        "ours_cps": len(texts) / spent["ours"],
        "bare_cps": len(texts) / spent["bare"],
        "ratio": spent["bare"] / spent["ours"],  # ours / bare in chunks/s: the share of the model's speed kept
        "load": load,
    }


def render(emb: dict[str, Any] | None) -> list[str]:
    """The "Embedding throughput" subsection."""
    lines = ["### Embedding throughput", ""]
    if not emb:
        return lines + ["Skipped.", ""]
    lines += [f"{emb['n']} seed chunks ({emb['chars']:.0f} characters on average), {emb.get('embedder', 'minilm')} int8 ONNX, "
              f"{emb['threads']} threads, batch {emb['batch']}.", ""]
    lines += table(("path", "chunks/s"), [
        ("`OnnxEmbeddings.embed_array` (tokenise, pad, run, pool, normalise)", f"{emb['ours_cps']:.1f}"),
        ("bare ONNX `session.run` on the same pre-tokenised batches", f"{emb['bare_cps']:.1f}"),
        ("ratio (ours / bare)", f"{emb['ratio']:.2f}"),
    ])
    return lines + [""]


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", help="corpus file or directory (repeatable; default: seeds/)")
    p.add_argument("--n", type=int, default=0, help="chunks to embed (0: all)")
    p.add_argument("--threads", type=int, default=settings.embedding.threads)
    p.add_argument("--batch", type=int, default=settings.embedding.batch)
    p.add_argument("--embedder", action="append", help="registered embedder (repeatable; default: every one)")
    args = p.parse_args(argv)
    from assistant.embeddings import EMBEDDERS

    texts = chunk_texts([Path(c) for c in args.corpus or [SEEDS]], settings, args.n)
    for name in args.embedder or list(EMBEDDERS):  # one after the other in the same run
        result = embedding_throughput(texts, args.threads, args.batch, settings.embedding.max_tokens, name)
        print("\n".join(render(result)) + f"load average {result['load']:.1f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
