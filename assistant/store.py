"""The one module that owns the data directory and Chroma.

Layout of ``DATA_DIR``::

    chroma/            embedded persistent Chroma (unless a server host is set)
    bm25/<name>/       BM25 index kept in step with the collection's generation
    models/            assembled model files (see local_model.py)
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .records import Chunk, Paper
from .settings import Settings, quiet_environment

PAGE = 5000


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says why and what to do."""


@dataclass
class StoredChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


def chunk_metadata(paper: Paper, chunk: Chunk, n_chunks: int) -> dict[str, Any]:
    return {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "display_title": paper.display_title,
        "page_date": paper.page_date,
        "source": paper.source,
        "appearances": ";".join(paper.appearances),
        "aliases": "\n".join(paper.aliases),
        "chunk_index": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "paper_hash": paper.content_hash,
        "n_chunks": n_chunks,
        "authors": paper.authors,
        "year": paper.year,
        "venue": paper.venue,
        "url": paper.url,
    }


def _client(settings: Settings):  # noqa: ANN202 - chromadb client
    quiet_environment()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    path = Path(settings.data_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Store:
    """Chroma collection of chunks (cosine space) plus the files beside it."""

    def __init__(self, settings: Settings, embeddings: Any = None) -> None:
        from langchain_chroma import Chroma

        self.settings = settings
        self.embeddings = embeddings
        try:
            self.client = _client(settings)
            self.vectorstore = Chroma(
                collection_name=settings.collection,
                embedding_function=embeddings,
                client=self.client,
                collection_configuration={"hnsw": {"space": "cosine"}},
            )
            self.collection = self.vectorstore._collection
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds
            raise StoreError(_explain(exc, settings)) from exc

    # ------------------------------------------------------------ paths

    @property
    def bm25_dir(self) -> Path:
        where = self.settings.chroma_host or "local"
        name = f"{where}_{self.settings.chroma_port if self.settings.chroma_host else ''}_{self.settings.collection}"
        return Path(self.settings.data_dir) / "bm25" / name

    # ------------------------------------------------------------ reads

    def count(self) -> int:
        return self.collection.count()

    def generation(self) -> str:
        meta = self.collection.metadata or {}
        return str(meta.get("generation", "0"))

    def iter_chunks(self, include_text: bool = True) -> Iterator[StoredChunk]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=PAGE, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            docs = page.get("documents") or [""] * len(ids)
            for cid, doc, meta in zip(ids, docs, page["metadatas"]):
                yield StoredChunk(cid, doc or "", dict(meta or {}))
            offset += len(ids)

    def paper_state(self) -> dict[str, dict[str, Any]]:
        """paper_id -> {"hash", "chunk_ids", "n_chunks"} as stored."""
        state: dict[str, dict[str, Any]] = {}
        for chunk in self.iter_chunks(include_text=False):
            meta = chunk.metadata
            entry = state.setdefault(
                meta["paper_id"], {"hash": meta.get("paper_hash"), "chunk_ids": set(), "n_chunks": meta.get("n_chunks", 0)}
            )
            entry["chunk_ids"].add(chunk.chunk_id)
        return state

    def chunks_of(self, paper_ids: Iterable[str]) -> dict[str, list[StoredChunk]]:
        ids = list(dict.fromkeys(paper_ids))
        if not ids:
            return {}
        page = self.collection.get(where={"paper_id": {"$in": ids}}, include=["metadatas", "documents"])
        out: dict[str, list[StoredChunk]] = {pid: [] for pid in ids}
        for cid, doc, meta in zip(page["ids"], page["documents"], page["metadatas"]):
            out.setdefault(meta["paper_id"], []).append(StoredChunk(cid, doc or "", dict(meta)))
        for chunks in out.values():
            chunks.sort(key=lambda c: c.metadata.get("chunk_index", 0))
        return out

    def papers(self, paper_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Paper records (metadata plus the abstract rebuilt from chunk spans)."""
        return {pid: paper_record(chunks) for pid, chunks in self.chunks_of(paper_ids).items() if chunks}

    def stats(self) -> dict[str, Any]:
        papers: set[str] = set()
        sources: dict[str, int] = {}
        dates: dict[str, int] = {}
        chunks = 0
        for chunk in self.iter_chunks(include_text=False):
            chunks += 1
            meta = chunk.metadata
            if meta["paper_id"] in papers:
                continue
            papers.add(meta["paper_id"])
            sources[meta.get("source", "")] = sources.get(meta.get("source", ""), 0) + 1
            dates[meta.get("page_date", "")] = dates.get(meta.get("page_date", ""), 0) + 1
        return {
            "papers": len(papers),
            "chunks": chunks,
            "sources": sources,
            "page_dates": dates,
            "collection": self.settings.collection,
            "location": self.location,
            "generation": self.generation(),
        }

    @property
    def location(self) -> str:
        if self.settings.chroma_host:
            return f"http://{self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(Path(self.settings.data_dir) / "chroma")

    # ------------------------------------------------------------ writes

    def upsert(self, texts: list[str], metadatas: list[dict[str, Any]], ids: list[str], vectors: list[list[float]]) -> None:
        """Write pre-embedded chunks (ids are deterministic, so this is idempotent)."""
        self.collection.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)

    def add_texts(self, texts: list[str], metadatas: list[dict[str, Any]], ids: list[str]) -> None:
        """Embed with the store's embedding model (LangChain path) and write."""
        self.vectorstore.add_texts(texts=texts, metadatas=metadatas, ids=ids)

    def delete(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)
        for lo in range(0, len(ids), PAGE):
            self.collection.delete(ids=ids[lo : lo + PAGE])

    def bump_generation(self) -> str:
        token = uuid.uuid4().hex[:12]
        meta = {k: v for k, v in (self.collection.metadata or {}).items() if not k.startswith("hnsw:")}
        meta["generation"] = token
        self.collection.modify(metadata=meta)
        shutil.rmtree(self.bm25_dir, ignore_errors=True)
        return token

    # ------------------------------------------------------------ bm25 files

    def save_bm25(self, generation: str, saver: Any) -> None:
        target = self.bm25_dir
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        saver(tmp)
        (tmp / "generation.json").write_text(json.dumps({"generation": generation}))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)

    def bm25_path_if_current(self, generation: str) -> Path | None:
        marker = self.bm25_dir / "generation.json"
        try:
            if json.loads(marker.read_text())["generation"] == generation:
                return self.bm25_dir
        except (OSError, ValueError, KeyError):
            return None
        return None


def paper_record(chunks: list[StoredChunk]) -> dict[str, Any]:
    """Metadata of a paper with its abstract rebuilt from the chunk spans."""
    meta = dict(chunks[0].metadata)
    length = max(int(c.metadata.get("end", 0)) for c in chunks)
    buf = [" "] * length
    for chunk in chunks:
        start = int(chunk.metadata.get("start", 0))
        buf[start : start + len(chunk.text)] = list(chunk.text)
    meta["abstract"] = "".join(buf[:length]).strip()
    for key in ("chunk_index", "start", "end"):
        meta.pop(key, None)
    return meta


def _explain(exc: Exception, settings: Settings) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if settings.chroma_host:
        return f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({text})"
    lowered = text.lower()
    where = Path(settings.data_dir) / "chroma"
    if "locked" in lowered:
        return f"the store at {where} is locked by another process; close it and retry ({text})"
    return (
        f"cannot open the store at {where} ({text}). If it is corrupt, move that directory "
        "away and run 'assistant ingest' again."
    )


def open_store(settings: Settings, embeddings: Any = None) -> Store:
    return Store(settings, embeddings)
