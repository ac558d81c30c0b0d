"""A response cache on disk, so a repeated configuration or a resumed study pays nothing twice.

The key is a hash of everything that changes the answer: the model's identity (endpoint
URL and model name, or the in-process client), the messages and every sampling
parameter including the seed. API keys never take part (they do not change the answer).
Entries record the answer's tokens and latency so a hit reports what the call cost
when it was made. SQLite gives atomic writes, safe sharing between threads (one
connection behind a lock) and between processes (WAL journal).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Next to the default study storage (``sqlite:///stacktune.db`` in the working directory).
DEFAULT_CACHE_DIR = ".stacktune-cache"
_FILE_NAME = "responses.sqlite3"


@dataclass(frozen=True)
class CachedResponse:
    """One recorded answer: its text and what producing it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    latency: float


def cache_key(model_identity: str, request: Mapping[str, Any]) -> str:
    """A stable hash of the model identity and the full request (messages + sampling)."""
    payload = json.dumps({"model": model_identity, "request": request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """Answers stored in ``<directory>/responses.sqlite3``; opened on first use."""

    def __init__(self, directory: str | Path = DEFAULT_CACHE_DIR) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r})"

    def __getstate__(self) -> dict[str, object]:
        return {"directory": self.directory}  # a copy (another process) opens its own connection

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["directory"])  # type: ignore[misc, arg-type]

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache (``__len__`` would make it falsy)

    @property
    def path(self) -> Path:
        return self.directory / _FILE_NAME

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                "input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, latency REAL NOT NULL, "
                "created REAL NOT NULL)"
            )
            self._connection = connection
        return self._connection

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT text, input_tokens, output_tokens, latency FROM responses WHERE key = ?", (key,))
                .fetchone()
            )
        return CachedResponse(row[0], int(row[1]), int(row[2]), float(row[3])) if row else None

    def put(self, key: str, response: CachedResponse) -> None:
        with self._lock:
            self._connect().execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, response.text, response.input_tokens, response.output_tokens, response.latency, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._connect().execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


__all__ = ["DEFAULT_CACHE_DIR", "CachedResponse", "ResponseCache", "cache_key"]
