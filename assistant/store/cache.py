"""The HTTP cache of Daily Papers listings and the record of the last corpus update, under
``DATA_DIR/http/`` (the store package owns the data directory).

Each listing is one JSON file per date, written atomically (a temporary file renamed), so a
run killed mid-write leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cached:
    """A stored response: its body, the URL asked and when (UTC) it was fetched."""

    date: str
    url: str
    body: str
    fetched_at: datetime

    def final(self) -> bool:
        """Fetched after its date ended (UTC): the listing of that day will not be asked again."""
        return self.fetched_at.date().isoformat() > self.date

    def age_minutes(self, now: datetime) -> float:
        return (now - self.fetched_at).total_seconds() / 60


def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or damaged: treated as not cached
    return data if isinstance(data, dict) else None


class ListingCache:
    """Daily Papers responses by date, in ``DATA_DIR/http/daily_papers/``."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "http"
        self.dir = self.root / "daily_papers"

    def get(self, date: str) -> Cached | None:
        data = _read(self.dir / f"{date}.json")
        if not data or not isinstance(data.get("body"), str):
            return None
        try:
            fetched = datetime.fromisoformat(str(data["fetched_at"]))
        except (KeyError, ValueError):
            return None
        return Cached(date, str(data.get("url", "")), data["body"], fetched)

    def put(self, date: str, url: str, body: str, now: datetime | None = None) -> None:
        fetched = (now or datetime.now(timezone.utc)).isoformat()
        _write_atomic(self.dir / f"{date}.json", {"date": date, "url": url, "fetched_at": fetched, "body": body})

    def dates(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.is_dir() else []

    # ------------------------------------------------------------ the last update

    def record_update(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.root / "last_update.json", summary)

    def last_update(self) -> dict[str, Any] | None:
        return _read(self.root / "last_update.json")
