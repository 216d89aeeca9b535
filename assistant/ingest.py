"""Indexing: papers -> chunks -> embeddings -> the store, incrementally (only new or changed
papers are embedded; a killed run is completed by the next)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .records import Chunk, Paper

def make_splitter(chunk_size: int, chunk_overlap: int):  # noqa: ANN201 - langchain type
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=[". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def chunk_paper(paper: Paper, splitter) -> list[Chunk]:  # noqa: ANN001
    """Sentence-aware chunks of the abstract with their character spans."""
    chunks: list[Chunk] = []
    cursor = 0
    for index, piece in enumerate(splitter.split_text(paper.abstract)):
        start = paper.abstract.find(piece, max(0, cursor - len(piece)))
        if start < 0:
            start = paper.abstract.find(piece)
        start = max(start, 0)
        end = start + len(piece)
        cursor = end
        chunk_id = f"{paper.paper_id}:{index}:{paper.content_hash[:8]}"
        chunks.append(Chunk(chunk_id, paper.paper_id, index, piece, start, end))
    return chunks


def iter_chunks(papers: Iterable[Paper], chunk_size: int, chunk_overlap: int) -> Iterator[tuple[Paper, list[Chunk]]]:
    splitter = make_splitter(chunk_size, chunk_overlap)
    for paper in papers:
        yield paper, chunk_paper(paper, splitter)


# ---------------------------------------------------------------- indexing


@dataclass
class IndexSummary:
    papers: int = 0  # papers in the corpus given
    unchanged: int = 0
    added: int = 0  # papers new or changed (re-embedded)
    chunks_embedded: int = 0
    sentences_embedded: int = 0  # abstract sentences embedded for evidence lookups
    reembedded: int = 0  # stored chunks re-embedded because the embedding model changed
    removed: int = 0  # papers removed with --prune
    stale: int = 0  # papers in the store but not in the corpus (kept)
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.chunks_embedded / self.seconds if self.seconds else 0.0
        text = (
            f"{self.papers} papers: {self.added} embedded ({self.chunks_embedded} chunks, "
            f"{rate:.1f} chunks/s), {self.unchanged} unchanged, {self.removed} removed"
        )
        if self.reembedded:
            text += f"; {self.reembedded} stored chunks re-embedded for the new embedding model"
        if self.sentences_embedded:
            text += f"; {self.sentences_embedded} evidence sentences embedded"
        if self.stale:
            text += f"; {self.stale} stored papers not in these files kept (use --prune to remove)"
        return text + f" in {self.seconds:.1f}s"


def _plan(papers: list[Paper], state: dict, settings) -> tuple[list[tuple[Paper, Chunk, int]], list[str], int]:  # noqa: ANN001
    """Chunks to embed, stale chunk ids to delete, count of unchanged papers."""
    todo: list[tuple[Paper, Chunk, int]] = []
    stale_ids: list[str] = []
    unchanged = 0
    for paper, chunks in iter_chunks(papers, settings.store.chunk_size, settings.store.chunk_overlap):
        have = state.get(paper.paper_id, {}).get("chunk_ids", set())
        want = {c.chunk_id for c in chunks}
        if have == want:
            unchanged += 1
            continue
        todo += [(paper, c, len(chunks)) for c in chunks if c.chunk_id not in have]
        stale_ids += sorted(have - want)
    return todo, stale_ids, unchanged


def index_papers(papers: list[Paper], store, settings, prune: bool = False, progress: bool = False,  # noqa: ANN001
                 sentences: bool = True) -> IndexSummary:
    """Bring the store in line with ``papers``: embed only what is new or changed.

    Chunk ids are deterministic (paper id, index, content hash), so a run that was
    killed half-way is completed by the next one.
    """
    import time

    from .store import chunk_metadata

    started = time.perf_counter()
    reembedded = reembed(store, settings, progress)
    state = store.paper_state()
    todo, stale_ids, unchanged = _plan(papers, state, settings)
    summary = IndexSummary(papers=len(papers), unchanged=unchanged)
    summary.added = len({p.paper_id for p, _, _ in todo} | {i.split(":")[0] for i in stale_ids})
    gone = set(state) - {p.paper_id for p in papers}
    summary.stale = 0 if prune else len(gone)
    if todo or stale_ids or (prune and gone):
        _embed_and_write(todo, store, settings, progress, chunk_metadata)
        store.delete(stale_ids)
        if prune and gone:
            store.delete([cid for pid in gone for cid in state[pid]["chunk_ids"]])
            summary.removed = len(gone)
        if prune and gone:
            store.delete_sentences(gone)
        store.bump_generation()
    summary.sentences_embedded = embed_sentences(papers, store, settings, progress) if sentences else 0
    store.mark_embedder()
    summary.chunks_embedded = len(todo)
    summary.reembedded = reembedded
    summary.seconds = time.perf_counter() - started
    return summary


def _embed_and_write(todo, store, settings, progress: bool, chunk_metadata) -> None:  # noqa: ANN001
    from tqdm import tqdm

    batch = max(settings.embedding.batch * 8, 64)
    bar = tqdm(total=len(todo), unit="chunk", disable=not progress, desc="embedding", dynamic_ncols=True)
    papers_done: set[str] = set()
    for lo in range(0, len(todo), batch):
        part = todo[lo : lo + batch]
        texts = [c.embed_text(p.display_title) for p, c, _ in part]
        vectors = store.embeddings.embed_array(texts)
        store.upsert(
            texts=[c.text for _, c, _ in part],
            metadatas=[chunk_metadata(p, c, n) for p, c, n in part],
            ids=[c.chunk_id for _, c, _ in part],
            vectors=vectors.tolist(),
        )
        papers_done |= {p.paper_id for p, _, _ in part}
        bar.update(len(part))
        rate = bar.n / max(bar.format_dict["elapsed"], 1e-6)
        bar.set_postfix_str(f"{len(papers_done)} papers, {rate * len(papers_done) / max(bar.n, 1):.1f} papers/s")
    bar.close()


@dataclass(frozen=True)
class StoredText:
    """What sentence vectors are made from (a :class:`Paper`, or a paper record of the store)."""

    paper_id: str
    content_hash: str
    abstract: str


def reembed(store, settings, progress: bool = False) -> int:  # noqa: ANN001
    """Bring a store built with another embedding model over to the one in use: chunk vectors in
    batches (each written with the new model's name, so a killed run resumes where it stopped),
    then every paper's sentence vectors; the store records the new model at the end. Returns
    the chunks re-embedded."""
    if not store.model_id or not store.embedder_mismatch():
        return 0
    from tqdm import tqdm

    from .store import PAGE

    ids = store.chunk_ids_not_embedded_by(store.model_id)
    bar = tqdm(total=len(ids), unit="chunk", disable=not progress or not ids, desc="re-embedding", dynamic_ncols=True)
    for lo in range(0, len(ids), PAGE):
        part = store.chunks(ids[lo : lo + PAGE])
        texts = [f"{c.metadata.get('display_title') or c.metadata.get('title', '')}. {c.text}" for c in part]
        store.upsert(texts=[c.text for c in part], metadatas=[c.metadata for c in part],
                     ids=[c.chunk_id for c in part], vectors=store.embeddings.embed_array(texts).tolist())
        bar.update(len(part))
    bar.close()
    state = store.sentence_state()  # only the sentence vectors the new model made count
    paper_ids = sorted(store.paper_state())
    for lo in range(0, len(paper_ids), 500):
        papers = store.papers(paper_ids[lo : lo + 500])
        embed_sentences([StoredText(pid, str(p.get("paper_hash", "")), p.get("abstract", ""))
                         for pid, p in papers.items()], store, settings, progress, state)
    store.mark_embedder()
    return len(ids)


def embed_sentences(papers: list[Paper] | list[StoredText], store, settings, progress: bool = False,  # noqa: ANN001
                    state: dict[str, str] | None = None) -> int:
    """Store one vector per abstract sentence for papers whose stored sentences are missing or
    stale (evidence is then a lookup and a dot product, not an embedding per answer). Written
    paper by paper, so a killed run is completed by the next."""
    from tqdm import tqdm

    from .text import sentence_spans

    state = store.sentence_state() if state is None else state
    todo = [p for p in papers if state.get(p.paper_id) != p.content_hash]
    done = 0
    per_batch = max(settings.embedding.batch, 8)  # papers per embedding call (about 10 sentences each)
    bar = tqdm(total=len(todo), unit="paper", disable=not progress or not todo, desc="sentences", dynamic_ncols=True)
    for lo in range(0, len(todo), per_batch):
        part = todo[lo : lo + per_batch]
        spans = [sentence_spans(p.abstract) for p in part]
        texts = [[p.abstract[a:b] for a, b in sp] for p, sp in zip(part, spans)]
        flat = [t for ts in texts for t in ts]
        vectors = store.embeddings.embed_array(flat) if flat else None
        at = 0
        for paper, sp, ts in zip(part, spans, texts):
            rows = vectors[at : at + len(ts)] if vectors is not None else []
            store.write_sentences(paper.paper_id, paper.content_hash, sp, ts, rows)
            at += len(ts)
        done += len(flat)
        bar.update(len(part))
    bar.close()
    return done
