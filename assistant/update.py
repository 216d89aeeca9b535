"""A living corpus: Hugging Face Daily Papers listings fetched, de-duplicated and indexed.

``GET {ASSISTANT_DAILY_URL}/api/daily_papers?date=YYYY-MM-DD`` per date (the one host this
module ever contacts; nothing here runs unless asked: ``assistant update`` or the app's
``ASSISTANT_UPDATE_EVERY``). Each good response is cached under the data directory before it
is indexed, so a second run makes no request for a finished past date, and a run killed
mid-way is completed by the next (chunk ids are deterministic, see :mod:`assistant.ingest`).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .corpus import (CorpusError, RawEntry, dedupe, keeps_stored_text, match_stored, merge_stored, parse_api,
                     stored_keys)
from .records import Paper
from .store.cache import ListingCache

log = logging.getLogger(__name__)
SOURCE = "daily_papers"  # the source name of papers fetched from the API (filters: --source daily_papers)
PAPER_FIELDS = ("title", "display_title", "aliases", "appearances", "arxiv_id", "upvotes", "url", "authors",
                "source", "page_date", "paper_id", "paper_hash")
USER_AGENT = "paper-assistant (local research-paper assistant; one request per date)"


class FetchError(RuntimeError):
    """One date could not be fetched; ``offline`` when the server could not be reached at all."""

    def __init__(self, message: str, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


@dataclass
class DateResult:
    date: str
    status: str  # "fetched" | "cached" | "failed" | "not tried"
    papers: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    error: str = ""


@dataclass
class UpdateSummary:
    dates: list[DateResult] = field(default_factory=list)
    offline: str = ""  # the one-line reason when the server could not be reached
    seconds: float = 0.0
    at: str = ""

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.dates)

    def count(self, *statuses: str) -> int:
        return sum(1 for d in self.dates if d.status in statuses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dates": len(self.dates), "fetched": self.count("fetched"), "cached": self.count("cached"),
            "failed": self.count("failed", "not tried"), "new": self.total("new"), "changed": self.total("changed"),
            "unchanged": self.total("unchanged"), "skipped": self.total("skipped"), "offline": self.offline,
            "at": self.at, "seconds": round(self.seconds, 2), "per_date": [asdict(d) for d in self.dates],
        }

    def line(self) -> str:
        d = self.to_dict()
        return (f"{d['dates']} dates: {d['fetched']} fetched, {d['cached']} from the cache, {d['failed']} failed; "
                f"{d['new']} new papers, {d['changed']} changed, {d['unchanged']} unchanged in {d['seconds']:.1f}s")


# ---------------------------------------------------------------- dates


def today_utc() -> Date:
    return datetime.now(timezone.utc).date()


def parse_day(text: str) -> Date:
    try:
        return Date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date {text!r}: use YYYY-MM-DD") from None


def dates_for(on: str | None = None, since: str | None = None, days: int | None = None,
              default_days: int = 1, today: Date | None = None, limit: int = 366) -> list[str]:
    """The dates to fetch, oldest first: one date, ``since`` a date up to today, or the last
    ``days`` days (today included)."""
    today = today or today_utc()
    if on:
        first = last = parse_day(on)
    elif since:
        first, last = parse_day(since), today
    else:
        first, last = today - timedelta(days=(days or default_days) - 1), today
    if last > today:
        raise ValueError(f"{last.isoformat()} is in the future (today is {today.isoformat()} UTC)")
    if first > last:
        raise ValueError(f"--since {first.isoformat()} is after today ({today.isoformat()} UTC)")
    if (last - first).days + 1 > limit:
        raise ValueError(f"at most {limit} dates per update (asked {(last - first).days + 1})")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


# ---------------------------------------------------------------- HTTP


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class DailyClient:
    """GET one listing with a timeout, retries with backoff on 429/5xx and timeouts
    (``Retry-After`` honoured up to ``max_wait``)."""

    def __init__(self, settings, sleep: Callable[[float], None] = time.sleep) -> None:  # noqa: ANN001
        self.cfg = settings.update
        self.base = self.cfg.daily_url.rstrip("/")
        self.sleep = sleep

    def url(self, day: str) -> str:
        return f"{self.base}/api/daily_papers?date={day}"

    def get(self, day: str) -> str:
        url = self.url(day)
        last = ""
        for attempt in range(self.cfg.retries + 1):
            wait = self.cfg.backoff * 2**attempt
            try:
                return self._once(url)
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise FetchError(f"{day}: the server answered HTTP {exc.code} {exc.reason}") from None
                asked = retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if asked is not None and asked > self.cfg.max_wait:
                    raise FetchError(f"{day}: HTTP {exc.code}, the server asks to retry in {asked:.0f}s "
                                     f"(more than ASSISTANT_UPDATE_MAX_WAIT={self.cfg.max_wait:.0f}s)") from None
                wait = asked if asked is not None else wait
                last = f"HTTP {exc.code} {exc.reason}"
            except (TimeoutError, socket.timeout):
                last = f"no answer within {self.cfg.timeout:g}s"
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"cannot reach {self.base} ({reason})"
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"no answer within {self.cfg.timeout:g}s"
                elif attempt >= min(self.cfg.retries, 1):  # unreachable: one retry, then offline
                    raise FetchError(last, offline=True) from None
            if attempt < self.cfg.retries:
                self.sleep(min(wait, self.cfg.max_wait))
        raise FetchError(f"{day}: {last} after {self.cfg.retries + 1} attempts",
                         offline=last.startswith("cannot reach"))

    def _once(self, url: str) -> str:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self.cfg.timeout) as response:  # noqa: S310 - the one base URL
            kind = response.headers.get_content_type()
            body = response.read().decode("utf-8", errors="replace")
        if kind == "text/html" or body.lstrip()[:1] == "<":
            raise FetchError(f"{url.rsplit('=', 1)[-1]}: the server answered an HTML page, not the Daily Papers "
                             f"JSON (is ASSISTANT_DAILY_URL={self.base} right?)")
        return body


# ---------------------------------------------------------------- one date


def listing(day: str, client: DailyClient, cache: ListingCache, now: datetime,
            fresh_minutes: int) -> tuple[list[RawEntry], int, bool]:
    """(entries, skipped count, from the cache) of one date; a good response is cached
    before anything is indexed."""
    cached = cache.get(day)
    if cached and (cached.final() or cached.age_minutes(now) < fresh_minutes):
        entries, skipped = parse_api(cached.body, SOURCE, page_date=day)
        return entries, len(skipped), True
    body = client.get(day)
    try:
        entries, skipped = parse_api(body, SOURCE, page_date=day)
    except CorpusError as exc:
        raise FetchError(f"{day}: {exc} (malformed response; nothing stored)") from None
    cache.put(day, client.url(day), body, now)
    return entries, len(skipped), False


def stored_records(store) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    """paper id -> the paper-level metadata of its first chunk, for every stored paper."""
    records: dict[str, dict[str, Any]] = {}
    for chunk in store.iter_chunks(include_text=False):
        meta = chunk.metadata
        pid = meta.get("paper_id", "")
        if pid not in records or int(meta.get("chunk_index", 0)) == 0:
            records[pid] = {k: meta.get(k, "") for k in PAPER_FIELDS}
    return records


def resolve(papers: list[Paper], store) -> list[Paper]:  # noqa: ANN001
    """Papers under the ids they are stored by (a paper stored from a scraped page under its
    title-derived id keeps that id), merged with what the store holds."""
    records = stored_records(store)
    keys = stored_keys(records)
    matched = {p.paper_id: match_stored(p, keys, records) for p in papers}
    cross = [pid for p in papers if (pid := matched[p.paper_id]) and keeps_stored_text(p, records[pid])]
    full = store.papers(cross) if cross else {}
    return [merge_stored(p, {**records[pid], **full.get(pid, {})}) if (pid := matched[p.paper_id]) else p
            for p in papers]


def _paper_fields(paper: Paper) -> dict[str, Any]:
    return {"appearances": ";".join(paper.appearances), "aliases": "\n".join(paper.aliases),
            "arxiv_id": paper.arxiv_id, "upvotes": paper.upvotes, "url": paper.url, "authors": paper.authors}


def refresh_metadata(papers: list[Paper], store) -> int:  # noqa: ANN001
    """Rewrite the metadata of stored papers whose text is unchanged but whose appearances,
    aliases, id, URL, authors or upvotes changed (same vectors: nothing is embedded)."""
    records = stored_records(store)
    stale = [p for p in papers if p.paper_id in records and records[p.paper_id].get("paper_hash") == p.content_hash
             and any(str(records[p.paper_id].get(k, "")) != str(v) for k, v in _paper_fields(p).items())]
    if not stale:
        return 0
    ids = [c.chunk_id for chunks in store.chunks_of(p.paper_id for p in stale).values() for c in chunks]
    fields = {p.paper_id: _paper_fields(p) for p in stale}
    chunks = store.chunks(ids, with_vectors=True)
    store.upsert(texts=[c.text for c in chunks], ids=[c.chunk_id for c in chunks],
                 metadatas=[{**c.metadata, **fields[c.metadata["paper_id"]]} for c in chunks],
                 vectors=[c.vector.tolist() for c in chunks])
    return len(stale)


def index_resolved(papers: list[Paper], store, settings, prune: bool = False, progress: bool = False):  # noqa: ANN001, ANN201
    """The incremental ingest of ``papers`` after :func:`resolve`, then their metadata
    refreshed (``assistant ingest`` and ``assistant update`` both index through here)."""
    return _index_and_refresh(resolve(papers, store), store, settings, prune, progress)


def _index_and_refresh(papers: list[Paper], store, settings, prune: bool, progress: bool):  # noqa: ANN001, ANN202
    from .ingest import index_papers

    summary = index_papers(papers, store, settings, prune=prune, progress=progress)
    if refresh_metadata(papers, store) and not summary.added:
        store.bump_generation()  # filters (dates, sources) and the library follow new appearances
    return summary


def index_entries(entries: list[RawEntry], store, settings) -> tuple[int, int, int]:  # noqa: ANN001
    """(new, changed, unchanged) after indexing one date's entries through the incremental ingest."""
    papers = resolve(dedupe(entries), store)
    state = store.paper_state()
    new = sum(1 for p in papers if p.paper_id not in state)
    changed = sum(1 for p in papers if p.paper_id in state and state[p.paper_id]["hash"] != p.content_hash)
    _index_and_refresh(papers, store, settings, prune=False, progress=False)
    return new, changed, len(papers) - new - changed


# ---------------------------------------------------------------- a run


def run_update(settings, store, dates: list[str], progress: bool = False, client: DailyClient | None = None,
               now: Callable[[], datetime] | None = None) -> UpdateSummary:  # noqa: ANN001
    """Fetch (or read from the cache) each date, oldest first, and index it before the next:
    a failed date loses nothing already stored; an unreachable server stops the run."""
    from tqdm import tqdm

    clock = now or (lambda: datetime.now(timezone.utc))
    client = client or DailyClient(settings)
    cache = ListingCache(settings.store.data_dir)
    summary = UpdateSummary()
    started, asked = time.perf_counter(), False
    bar = tqdm(dates, unit="date", disable=not progress, desc="daily papers", dynamic_ncols=True)
    for day in bar:
        bar.set_postfix_str(day)
        if summary.offline:
            summary.dates.append(DateResult(day, "not tried", error=summary.offline))
            continue
        result = DateResult(day, "cached")
        try:
            cached = cache.get(day)
            if asked and not (cached and (cached.final() or cached.age_minutes(clock()) < settings.update.fresh_minutes)):
                time.sleep(settings.update.delay)  # polite pause between two requests
            entries, result.skipped, from_cache = listing(day, client, cache, clock(), settings.update.fresh_minutes)
            asked |= not from_cache
            result.status = "cached" if from_cache else "fetched"
            result.papers = len(entries)
            if entries:
                result.new, result.changed, result.unchanged = index_entries(entries, store, settings)
        except FetchError as exc:
            result.status, result.error = "failed", str(exc)
            summary.offline = str(exc) if exc.offline else ""
        summary.dates.append(result)
    bar.close()
    summary.seconds = time.perf_counter() - started
    summary.at = clock().isoformat(timespec="seconds")
    cache.record_update(summary.to_dict())
    return summary


class PeriodicUpdater:
    """The app's background update (``ASSISTANT_UPDATE_EVERY`` minutes, off when 0): the last
    ``ASSISTANT_UPDATE_DAYS`` days at start, then once a period; the store's new generation
    makes the retriever, the corpus facts and the status line follow without a restart."""

    def __init__(self, settings, store) -> None:  # noqa: ANN001
        self.settings, self.store = settings, store
        self.last: UpdateSummary | None = None
        self.error = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "PeriodicUpdater":
        if self.settings.update.every > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="corpus-updater", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.settings.update.every * 60):
                return

    def run_once(self) -> UpdateSummary | None:
        """One update now (never raises: the reason is kept in ``error`` and logged)."""
        with self._lock:
            try:
                self.last = run_update(self.settings, self.store, dates_for(default_days=self.settings.update.days))
                self.error = self.last.offline
            except Exception as exc:  # noqa: BLE001 - a background thread: logged, shown, never raised
                log.exception("the periodic corpus update failed")
                self.error = f"{type(exc).__name__}: {exc}"
            return self.last


def last_update_line(data_dir) -> str:  # noqa: ANN001
    """'Corpus updated 2025-03-14T12:00:00+00:00: 3 new papers' from the last run's record ('' when none)."""
    record = ListingCache(data_dir).last_update()
    if not record or not record.get("at"):
        return ""
    failed = f", {record.get('failed')} dates failed" if record.get("failed") else ""
    return f"corpus updated {record['at']}: {record.get('new', 0)} new papers{failed}"
