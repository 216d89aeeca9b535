"""The personal library: saved, read and dismissed papers, tags and notes, in SQLite.

One file in the data directory, ``DATA_DIR/library.sqlite3`` (WAL journal, a busy timeout, so
several app sessions and CLI processes can write at once). Every row has a ``user`` column:
``""`` for the one local library, the login name when the app runs with auth. The schema is
versioned (``schema_version``) and created or migrated when the file is opened; a file that
is not a readable library raises :class:`LibraryError` naming it (the rest of the app goes on).

Also here: when each paper id was first seen (``seen``), for "what's new", and each user's
last visit.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import StoreError
from ..settings import Settings

SCHEMA_VERSION = 1
STATUSES = ("saved", "read", "dismissed")
FILENAME = "library.sqlite3"
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS entries (
        user TEXT NOT NULL, paper_id TEXT NOT NULL, status TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
        added REAL NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (user, paper_id));
    CREATE TABLE IF NOT EXISTS tags (
        user TEXT NOT NULL, paper_id TEXT NOT NULL, tag TEXT NOT NULL,
        PRIMARY KEY (user, paper_id, tag));
    CREATE TABLE IF NOT EXISTS seen (paper_id TEXT PRIMARY KEY, first_seen TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS visits (user TEXT PRIMARY KEY, last_visit TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
}


class LibraryError(StoreError):
    """The library file cannot be used; the message names it and says what to do."""


@dataclass
class Entry:
    paper_id: str
    title: str
    status: str
    tags: list[str] = field(default_factory=list)
    note: str = ""
    added: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"paper_id": self.paper_id, "title": self.title, "tags": list(self.tags), "status": self.status,
                "note": self.note, "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.added))}


def library_path(settings: Settings) -> Path:
    return Path(settings.library.file or Path(settings.store.data_dir) / FILENAME).expanduser()


class Library:
    """One user's view of the library file (``user=""`` without auth)."""

    def __init__(self, path: Path, user: str = "", timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.user = user
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._migrate()

    def for_user(self, user: str) -> "Library":
        return Library(self.path, user, self.timeout_s)

    # ------------------------------------------------------------ connection

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is not None:
            return con
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            con.execute("PRAGMA journal_mode = WAL")
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc
        self._local.con = con
        return con

    def _error(self, exc: BaseException) -> LibraryError:
        return LibraryError(
            f"cannot use the library file {self.path} ({exc}). Your saved papers are kept there: move it "
            "away (or restore it from a backup) to start an empty library; answers and lists work without it.")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue on the busy timeout)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._connect().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _migrate(self) -> None:
        with self._tx() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            version = int(row[0] or 0)
            if version > SCHEMA_VERSION:
                raise LibraryError(f"the library file {self.path} has schema version {version}, newer than this "
                                   f"assistant's {SCHEMA_VERSION}: upgrade paper-assistant to use it.")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, _MIGRATIONS[step].split(";")):
                    con.execute(statement)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", (step,))

    def schema_version(self) -> int:
        return int(self._rows("SELECT max(version) FROM schema_version")[0][0] or 0)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # ------------------------------------------------------------ writes

    def set_status(self, papers: dict[str, str], status: str, tags: Iterable[str] = ()) -> None:
        """Give each paper (id -> title) ``status`` (saved, read, dismissed), adding ``tags``."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        now = time.time()
        tags = [t.strip() for t in tags if t and t.strip()]
        with self._tx() as con:
            for pid, title in papers.items():
                con.execute(
                    "INSERT INTO entries (user, paper_id, status, title, added, updated) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user, paper_id) DO UPDATE SET status = excluded.status, updated = excluded.updated, "
                    "title = CASE WHEN excluded.title != '' THEN excluded.title ELSE title END",
                    (self.user, pid, status, title or "", now, now))
                con.executemany("INSERT OR IGNORE INTO tags (user, paper_id, tag) VALUES (?, ?, ?)",
                                [(self.user, pid, t) for t in tags])

    def save(self, papers: dict[str, str], tags: Iterable[str] = ()) -> None:
        self.set_status(papers, "saved", tags)

    def dismiss(self, papers: dict[str, str]) -> None:
        self.set_status(papers, "dismissed")

    def mark_read(self, papers: dict[str, str]) -> None:
        self.set_status(papers, "read")

    def remove(self, paper_ids: Iterable[str]) -> int:
        ids = list(paper_ids)
        with self._tx() as con:
            gone = sum(con.execute("DELETE FROM entries WHERE user = ? AND paper_id = ?", (self.user, p)).rowcount
                       for p in ids)
            con.executemany("DELETE FROM tags WHERE user = ? AND paper_id = ?", [(self.user, p) for p in ids])
        return gone

    def tag(self, paper_ids: Iterable[str], tag: str, remove: bool = False) -> int:
        """Add (or remove) ``tag`` on papers already in the library; the number changed."""
        known = {e.paper_id for e in self.entries()}
        ids = [p for p in paper_ids if p in known]
        with self._tx() as con:
            sql = ("DELETE FROM tags WHERE user = ? AND paper_id = ? AND tag = ?" if remove
                   else "INSERT OR IGNORE INTO tags (user, paper_id, tag) VALUES (?, ?, ?)")
            return sum(con.execute(sql, (self.user, p, tag.strip())).rowcount for p in ids)

    def set_note(self, paper_id: str, note: str) -> bool:
        with self._tx() as con:
            return con.execute("UPDATE entries SET note = ?, updated = ? WHERE user = ? AND paper_id = ?",
                               (note, time.time(), self.user, paper_id)).rowcount > 0

    # ------------------------------------------------------------ reads

    def entries(self, status: str | None = None, tag: str | None = None) -> list[Entry]:
        """This user's papers, oldest first (optionally one status or one tag)."""
        rows = self._rows("SELECT paper_id, title, status, note, added FROM entries WHERE user = ? ORDER BY added, paper_id",
                          (self.user,))
        tags: dict[str, list[str]] = {}
        for pid, t in self._rows("SELECT paper_id, tag FROM tags WHERE user = ? ORDER BY tag", (self.user,)):
            tags.setdefault(pid, []).append(t)
        out = [Entry(pid, title, st, tags.get(pid, []), note, added) for pid, title, st, note, added in rows]
        return [e for e in out if (status is None or e.status == status) and (tag is None or tag in e.tags)]

    def status_of(self) -> dict[str, str]:
        return dict(self._rows("SELECT paper_id, status FROM entries WHERE user = ?", (self.user,)))

    def tags(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT tag FROM tags WHERE user = ? ORDER BY tag", (self.user,))]

    # ------------------------------------------------------------ what's new

    def record_seen(self, paper_dates: dict[str, str], generation: str) -> int:
        """Note when each paper id was first seen: the first time ever (an empty table) every
        paper gets its page date when that is a YYYY-MM-DD date (else now); later, new ids get now. Skipped when the store's
        ``generation`` is the one recorded last time. The number of ids added."""
        if self.meta("seen_generation") == generation:
            return 0
        today = _now()
        with self._tx() as con:
            first = con.execute("SELECT count(*) FROM seen").fetchone()[0] == 0
            known = {r[0] for r in con.execute("SELECT paper_id FROM seen")}
            new = [(pid, (date if first and _ISO.fullmatch(date or "") else today)) for pid, date in paper_dates.items()
                   if pid not in known]
            con.executemany("INSERT INTO seen (paper_id, first_seen) VALUES (?, ?)", new)
            con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seen_generation', ?)", (generation,))
        return len(new)

    def seen_since(self, date: str) -> dict[str, str]:
        """paper id -> first seen (a date, or an ISO time), for papers first seen on or after
        ``date`` (YYYY-MM-DD), or after a time as :meth:`visit` records it."""
        op = ">" if len(date) > 10 else ">="  # after a recorded visit; on or after a day
        return dict(self._rows(f"SELECT paper_id, first_seen FROM seen WHERE first_seen {op} ?", (date,)))

    def last_visit(self) -> str:
        rows = self._rows("SELECT last_visit FROM visits WHERE user = ?", (self.user,))
        return rows[0][0] if rows else ""

    def visit(self, date: str | None = None) -> None:
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO visits (user, last_visit) VALUES (?, ?)",
                        (self.user, date or _now()))

    def meta(self, key: str) -> str:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_library(settings: Settings, user: str = "") -> Library:
    """The library in the settings' data directory (created, or migrated, on first use)."""
    path = library_path(settings)
    _check_file(path)
    return Library(path, user)


def _check_file(path: Path) -> None:
    """A file that is there but is not SQLite is refused with its name (SQLite would say only
    'file is not a database')."""
    from . import SQLITE_HEADER

    try:
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise LibraryError(f"cannot read the library file {path} ({exc.strerror or exc}).") from exc
    if header != SQLITE_HEADER:
        raise LibraryError(f"the library file {path} is not an SQLite database: it is damaged. Nothing was changed; "
                           "move it away (or restore it from a backup) to start an empty library. Answers and "
                           "lists work without it.")


def export_json(entries: list[Entry]) -> str:
    return json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2)
