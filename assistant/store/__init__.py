"""The one module that owns the data directory and Chroma.

Layout of ``DATA_DIR``::

    chroma/            embedded persistent Chroma (unless a server host is set)
    bm25/<name>/       BM25 index kept in step with the collection's generation
    models/            assembled model files (see local_model.py)
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..records import Chunk, Paper
from ..settings import Settings, quiet_environment
from ..text import sentence_spans

PAGE = 5000
LEGACY_EMBEDDER = "all-MiniLM-L6-v2-onnx-int8"  # what stores were built with before the embedder was recorded (MiniLM's id in embeddings.EMBEDDERS)
SENTENCES = "__sentences"  # suffix of the collection holding one vector per abstract sentence


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says why and what to do."""


@dataclass
class StoredSentences:
    """One paper's abstract sentences as stored: spans into the abstract, texts, vectors (rows)."""

    spans: list[tuple[int, int]]
    texts: list[str]
    vectors: np.ndarray


@dataclass
class StoredChunk:
    """A chunk as stored: its id, text, metadata and (when asked for) its vector."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    vector: np.ndarray | None = None


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
        "n_sentences": len(sentence_spans(paper.abstract)),
        "authors": paper.authors,
        "year": paper.year,
        "venue": paper.venue,
        "url": paper.url,
        "arxiv_id": paper.arxiv_id, "upvotes": paper.upvotes,
    }


def _client(settings: Settings, path: Path | None = None):  # noqa: ANN202 - chromadb client
    quiet_environment()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.store.chroma_host:
        return chromadb.HttpClient(
            host=settings.store.chroma_host, port=settings.store.chroma_port, settings=chroma_settings
        )
    path = path or Path(settings.store.data_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _is_read_only(chroma_dir: Path, exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or (chroma_dir.is_dir() and not os.access(chroma_dir, os.W_OK))


def read_only_copy(chroma_dir: Path) -> Path:
    """A private copy of a store that cannot be written (Chroma writes on open): read from it,
    removed at exit. Nothing is ever written to the original."""
    target = Path(tempfile.mkdtemp(prefix="paper-assistant-readonly-")) / "chroma"
    shutil.copytree(chroma_dir, target)
    atexit.register(shutil.rmtree, target.parent, True)
    return target


class Store:
    """Chroma collection of chunks (cosine space) plus the files beside it."""

    def __init__(self, settings: Settings, embeddings: Any = None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.model_id: str | None = getattr(embeddings, "model_id", None)  # the embedder writing and querying
        self.read_only = False  # the data directory cannot be written: reads only, from a copy
        chroma_dir = Path(settings.store.data_dir) / "chroma"
        if not settings.store.chroma_host:
            check_database(chroma_dir)
        try:
            self._open(None)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - chromadb raises many kinds; a Rust panic is a BaseException
            if settings.store.chroma_host or not _is_read_only(chroma_dir, exc) or not chroma_dir.is_dir():
                raise StoreError(_explain(exc, settings)) from exc
            self._open_read_only(chroma_dir)

    def _open_read_only(self, chroma_dir: Path) -> None:
        try:
            self._open(read_only_copy(chroma_dir))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001
            raise StoreError(_explain(exc, self.settings)) from exc
        self.read_only = True

    def _open(self, path: Path | None) -> None:
        from langchain_chroma import Chroma

        self.client = _client(self.settings, path)
        self.vectorstore = Chroma(  # LangChain's view of the same collection (add_texts, as_retriever)
            collection_name=self.settings.store.collection,
            embedding_function=self.embeddings,
            client=self.client,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        self._chroma = self.client.get_collection(self.settings.store.collection, embedding_function=None)
        self._sentence_chroma: Any = None

    def _writable(self) -> None:
        if self.read_only:
            where = Path(self.settings.store.data_dir) / "chroma"
            raise StoreError(f"the store at {where} is read-only: it can be searched and asked, not changed. "
                             "Make the directory writable, or set ASSISTANT_DATA_DIR to a writable copy, to index.")

    # ------------------------------------------------------------ paths

    @property
    def bm25_dir(self) -> Path:
        where = self.settings.store.chroma_host or "local"
        name = f"{where}_{self.settings.store.chroma_port if self.settings.store.chroma_host else ''}_{self.settings.store.collection}"
        return Path(self.settings.store.data_dir) / "bm25" / name

    # ------------------------------------------------------------ reads

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the ``n`` chunks nearest ``vector``, best first; ``where`` is a
        Chroma metadata filter (slow on large collections: callers prefer post-filtering)."""
        if n <= 0:
            return []
        res = self._chroma.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()], n_results=n, where=where,
            include=["distances"],
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def vectors(self, chunk_ids: list[str]) -> tuple[list[str], np.ndarray]:
        """(ids found, their vectors as rows) for ``chunk_ids`` (order as Chroma returns them)."""
        ids: list[str] = []
        rows: list[np.ndarray] = []
        wanted = list(chunk_ids)
        for lo in range(0, len(wanted), PAGE):
            got = self._chroma.get(ids=wanted[lo : lo + PAGE], include=["embeddings"])
            if got["ids"]:
                ids += list(got["ids"])
                rows.append(np.asarray(got["embeddings"], dtype=np.float32))
        return ids, (np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32))

    def chunks(self, chunk_ids: list[str], with_vectors: bool = False) -> list[StoredChunk]:
        """The stored chunks with these ids (text, metadata and, if asked, vectors)."""
        if not chunk_ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got = self._chroma.get(ids=list(chunk_ids), include=include)
        vectors = np.asarray(got["embeddings"], dtype=np.float32) if with_vectors and got["ids"] else None
        return [
            StoredChunk(cid, doc or "", dict(meta or {}), None if vectors is None else vectors[i])
            for i, (cid, doc, meta) in enumerate(zip(got["ids"], got["documents"], got["metadatas"]))
        ]

    def sample_titles(self, limit: int = 200) -> list[str]:
        """Distinct titles of the first ``limit`` stored chunks (display form when there is one)."""
        got = self._chroma.get(limit=limit, include=["metadatas"])
        titles: list[str] = []
        for meta in got.get("metadatas") or []:
            title = (meta or {}).get("display_title") or (meta or {}).get("title")
            if title and title not in titles:
                titles.append(title)
        return titles

    def collections(self) -> list[str]:
        """Names of every collection in this Chroma (the store's own included)."""
        return sorted(c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections())

    def count(self) -> int:
        return self._chroma.count()

    def generation(self) -> str:
        # read afresh: the collection object caches its metadata, and another process (a cron
        # 'assistant update') may have bumped it since
        meta = self.client.get_collection(self.settings.store.collection, embedding_function=None).metadata or {}
        return str(meta.get("generation", "0"))

    def recorded_embedder(self) -> str | None:
        """The model id of the embedder that built the store (None: empty). Stores from before it
        was recorded were built with MiniLM."""
        meta = self.client.get_collection(self.settings.store.collection, embedding_function=None).metadata or {}
        if meta.get("embedder"):
            return str(meta["embedder"])
        return LEGACY_EMBEDDER if self.count() else None

    def embedder_mismatch(self) -> str:
        """'' when the store's vectors come from the embedder in use, else what to do about it."""
        recorded = self.recorded_embedder()
        if self.model_id is None or recorded in (None, self.model_id):
            return ""
        from ..embeddings import name_of

        return (f"the store at {self.location} was built with the {name_of(recorded)} embedder and this run embeds "
                f"with {name_of(self.model_id)}: run 'assistant ingest' to re-embed it (incremental, resumable), "
                f"or set ASSISTANT_EMBED_MODEL={name_of(recorded)}")

    def chunk_ids_not_embedded_by(self, model_id: str) -> list[str]:
        """Ids of the chunks whose vectors another embedder made (a re-embed still to do)."""
        return [c.chunk_id for c in self.iter_chunks(include_text=False)
                if c.metadata.get("embedder", LEGACY_EMBEDDER) != model_id]

    def iter_chunks(self, include_text: bool = True) -> Iterator[StoredChunk]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            page = self._chroma.get(include=include, limit=PAGE, offset=offset)
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
        page = self._chroma.get(where={"paper_id": {"$in": ids}}, include=["metadatas", "documents"])
        out: dict[str, list[StoredChunk]] = {pid: [] for pid in ids}
        for cid, doc, meta in zip(page["ids"], page["documents"], page["metadatas"]):
            out.setdefault(meta["paper_id"], []).append(StoredChunk(cid, doc or "", dict(meta)))
        for chunks in out.values():
            chunks.sort(key=lambda c: c.metadata.get("chunk_index", 0))
        return out

    def paper_vectors(self, paper_ids: Iterable[str] | None = None) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """(paper ids, one unit vector each: the normalised mean of its chunk vectors, the first
        chunk's metadata) for ``paper_ids``, or for every stored paper when None."""
        sums: dict[str, np.ndarray] = {}
        metas: dict[str, dict[str, Any]] = {}
        wanted = None if paper_ids is None else list(dict.fromkeys(paper_ids))
        pages = ([wanted[lo : lo + PAGE] for lo in range(0, len(wanted), PAGE)] if wanted is not None
                 else iter(lambda: None, 0))
        offset = 0
        for ids in pages:
            if ids is None:
                got = self._chroma.get(include=["embeddings", "metadatas"], limit=PAGE, offset=offset)
                offset += len(got["ids"])
            else:
                got = self._chroma.get(where={"paper_id": {"$in": ids}}, include=["embeddings", "metadatas"])
            if not got["ids"] and ids is None:
                break
            for vec, meta in zip(np.asarray(got["embeddings"], dtype=np.float32), got["metadatas"]):
                pid = meta["paper_id"]
                sums[pid] = sums[pid] + vec if pid in sums else vec.copy()
                if pid not in metas or meta.get("chunk_index", 0) == 0:
                    metas[pid] = dict(meta)
        ids_out = list(sums)
        if not ids_out:
            return [], np.zeros((0, 0), dtype=np.float32), []
        matrix = np.stack([sums[p] for p in ids_out])
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return ids_out, matrix, [metas[p] for p in ids_out]

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
            "collection": self.settings.store.collection,
            "location": self.location,
            "generation": self.generation(),
        }

    @property
    def location(self) -> str:
        if self.settings.store.chroma_host:
            return f"http://{self.settings.store.chroma_host}:{self.settings.store.chroma_port}"
        return str(Path(self.settings.store.data_dir) / "chroma")

    # ------------------------------------------------------------ writes

    def upsert(self, texts: list[str], metadatas: list[dict[str, Any]], ids: list[str], vectors: list[list[float]]) -> None:
        """Write pre-embedded chunks (ids are deterministic, so this is idempotent)."""
        self._writable()
        self._chroma.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=self._stamped(metadatas))

    def _stamped(self, metadatas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Metadata with the embedder that made the vectors (a re-embed resumes from what lacks it)."""
        return [dict(m, embedder=self.model_id) for m in metadatas] if self.model_id else metadatas

    def add_texts(self, texts: list[str], metadatas: list[dict[str, Any]], ids: list[str]) -> None:
        """Embed with the store's embedding model (LangChain path) and write."""
        self._writable()
        self.vectorstore.add_texts(texts=texts, metadatas=self._stamped(metadatas), ids=ids)

    def delete(self, chunk_ids: Iterable[str]) -> None:
        self._writable()
        ids = list(chunk_ids)
        for lo in range(0, len(ids), PAGE):
            self._chroma.delete(ids=ids[lo : lo + PAGE])

    def bump_generation(self, embedder: str | None = None) -> str:
        """A new generation token (running apps reload); ``embedder`` records who built the store."""
        self._writable()
        token = uuid.uuid4().hex[:12]
        current = self.client.get_collection(self.settings.store.collection, embedding_function=None).metadata or {}
        meta = {k: v for k, v in current.items() if not k.startswith("hnsw:")}
        meta["generation"] = token
        if embedder:
            meta["embedder"] = embedder
        self._chroma.modify(metadata=meta)
        shutil.rmtree(self.bm25_dir, ignore_errors=True)
        return token

    def mark_embedder(self) -> None:
        """Record the embedder in use as the one that built the store (every vector is its own)."""
        if self.model_id and self.recorded_embedder() != self.model_id:
            self.bump_generation(self.model_id)

    # ------------------------------------------------------------ sentence vectors

    @property
    def sentence_collection_name(self) -> str:
        return f"{self.settings.store.collection}{SENTENCES}"

    def _sentences(self, create: bool = False) -> Any:
        """The collection of abstract sentences (one vector each), or None when there is none yet."""
        if self._sentence_chroma is None:
            try:
                if create:
                    self._sentence_chroma = self.client.get_or_create_collection(
                        self.sentence_collection_name, embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}})
                else:
                    self._sentence_chroma = self.client.get_collection(self.sentence_collection_name,
                                                                       embedding_function=None)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - not created yet (an older store): callers fall back
                return None
        return self._sentence_chroma

    def sentence_state(self) -> dict[str, str]:
        """paper id -> the content hash its stored sentence vectors were made from."""
        state: dict[str, str] = {}
        collection = self._sentences()
        offset = 0
        while collection is not None:
            page = collection.get(include=["metadatas"], limit=PAGE, offset=offset)
            if not page["ids"]:
                break
            for meta in page["metadatas"]:
                if self._own_vector(meta):
                    state[str(meta["paper_id"])] = str(meta.get("paper_hash", ""))
            offset += len(page["ids"])
        return state

    def _own_vector(self, meta: dict[str, Any]) -> bool:
        """Whether a stored vector was made by the embedder in use (unstamped ones: MiniLM's)."""
        return self.model_id is None or meta.get("embedder", LEGACY_EMBEDDER) == self.model_id

    def write_sentences(self, paper_id: str, paper_hash: str, spans: list[tuple[int, int]], texts: list[str],
                        vectors: np.ndarray) -> None:
        """Replace a paper's sentence vectors (ids ``<paper id>#s<i>``: a rerun overwrites them)."""
        self._writable()
        collection = self._sentences(create=True)
        collection.delete(where={"paper_id": paper_id})
        if not texts:
            return
        collection.upsert(
            ids=[f"{paper_id}#s{i}" for i in range(len(texts))], documents=texts,
            embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
            metadatas=self._stamped([{"paper_id": paper_id, "paper_hash": paper_hash, "start": a, "end": b}
                                     for a, b in spans]),
        )

    def delete_sentences(self, paper_ids: Iterable[str]) -> None:
        self._writable()
        collection = self._sentences()
        if collection is None:
            return
        ids = list(paper_ids)
        for lo in range(0, len(ids), PAGE):
            collection.delete(where={"paper_id": {"$in": ids[lo : lo + PAGE]}})

    def sentences_of(self, papers: dict[str, dict[str, Any]]) -> dict[str, StoredSentences]:
        """Stored sentence spans, texts and vectors of ``papers`` (records from :meth:`papers`),
        for those whose vectors were made from the text now stored (same content hash)."""
        collection = self._sentences()
        if collection is None or not papers:
            return {}
        ids = [f"{pid}#s{i}" for pid, p in papers.items() for i in range(int(p.get("n_sentences") or 0))]
        got = collection.get(ids=ids, include=["documents", "metadatas", "embeddings"]) if ids else {"ids": []}
        if not got["ids"]:
            got = collection.get(where={"paper_id": {"$in": list(papers)}}, include=["documents", "metadatas", "embeddings"])
        return _group_sentences(got, papers, self._own_vector)

    # ------------------------------------------------------------ bm25 files

    def save_bm25(self, generation: str, saver: Any) -> None:
        if self.read_only:
            return  # kept in memory: a read-only data directory gets no index files
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


def _group_sentences(got: dict[str, Any], papers: dict[str, dict[str, Any]],
                     own: Any = lambda _meta: True) -> dict[str, StoredSentences]:
    rows: dict[str, list[tuple[int, int, str, int]]] = {}
    for i, (doc, meta) in enumerate(zip(got["documents"], got["metadatas"])):
        pid = str(meta["paper_id"])
        paper = papers.get(pid)
        if paper is not None and meta.get("paper_hash") == paper.get("paper_hash") and own(meta):
            rows.setdefault(pid, []).append((int(meta["start"]), int(meta["end"]), doc or "", i))
    vectors = np.asarray(got["embeddings"], dtype=np.float32) if got["ids"] else np.zeros((0, 0), dtype=np.float32)
    out: dict[str, StoredSentences] = {}
    for pid, found in rows.items():
        found.sort()
        abstract = papers[pid].get("abstract", "")
        if any(abstract[a:b] != text for a, b, text, _ in found):
            continue  # spans no longer match the stored abstract: let the caller embed afresh
        out[pid] = StoredSentences([(a, b) for a, b, _, _ in found], [t for _, _, t, _ in found],
                                   vectors[[i for _, _, _, i in found]])
    return out


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


SQLITE_HEADER = b"SQLite format 3\x00"
FULL_CHECK_BYTES = 256 * 2**20  # quick_check reads the whole file: done up to this size


def check_database(chroma_dir: Path) -> None:
    """Refuse a damaged Chroma database before Chroma opens it (it would panic, hang, or read
    a zero-length file as an empty store that the app then seeds over): one message naming
    the file and what to do. Nothing is changed on disk."""
    path = chroma_dir / "chroma.sqlite3"
    if not path.exists():
        return
    advice = (f"Nothing was changed. Move {chroma_dir} away (or restore it from a backup) and run "
              "'assistant ingest' to index the corpus again.")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot open the store at {chroma_dir}: cannot read {path} ({exc.strerror or exc}).") from exc
    what = f"cannot open the store at {chroma_dir}: its database {path}"
    if size == 0:
        raise StoreError(f"{what} is empty (0 bytes): it was truncated or damaged. {advice}")
    if header != SQLITE_HEADER:
        raise StoreError(f"{what} is not an SQLite database: it is damaged. {advice}")
    problem = _sqlite_problem(path, full=size <= FULL_CHECK_BYTES)
    if problem:
        raise StoreError(f"{what} is damaged ({problem}). {advice}")


def _sqlite_problem(path: Path, full: bool) -> str:
    """'' when SQLite reads the file cleanly (read-only, no lock taken), else what it said."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        if full:
            rows = con.execute("PRAGMA quick_check(3)").fetchall()
            found = [str(r[0]) for r in rows]
            return "" if found == ["ok"] else "; ".join(found)[:300]
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return ""
    except sqlite3.OperationalError as exc:
        return "" if "locked" in str(exc).lower() else str(exc)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        con.close()


def _explain(exc: BaseException, settings: Settings) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if settings.store.chroma_host:
        return f"cannot reach the Chroma server at {settings.store.chroma_host}:{settings.store.chroma_port} ({text})"
    lowered = text.lower()
    where = Path(settings.store.data_dir) / "chroma"
    if "locked" in lowered:
        return f"the store at {where} is locked by another process; close it and retry ({text})"
    return (
        f"cannot open the store at {where} ({text}). If it is corrupt, move that directory "
        "away and run 'assistant ingest' again."
    )


def open_store(settings: Settings, embeddings: Any = None) -> Store:
    return Store(settings, embeddings)
