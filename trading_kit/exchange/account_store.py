"""Account configurations and watchlists, in their own tables of the exchange's SQLite file.

The engine's ``Store`` writes orders, positions and fills; these settings change rarely and
on their own routes, so they get a small store of their own on the same file (WAL lets two
connections share it). With no file (an in-memory exchange) they live in memory too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS account_configurations (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watchlists (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    symbols TEXT NOT NULL
);
"""


class AccountStore:
    """Read and write-through of the account's settings; one lock, short transactions."""

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    # -- configurations ---------------------------------------------------------------

    def configurations(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM account_configurations").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def save_configurations(self, values: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO account_configurations (key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in values.items()],
            )

    # -- watchlists -------------------------------------------------------------------

    def watchlists(self) -> list[dict[str, Any]]:
        """Every watchlist, oldest first: id, name, created_at, updated_at, symbols."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, created_at, updated_at, symbols FROM watchlists ORDER BY rowid"
            ).fetchall()
        keys = ("id", "name", "created_at", "updated_at", "symbols")
        return [
            {**dict(zip(keys, row, strict=True)), "symbols": json.loads(row[4])} for row in rows
        ]

    def save_watchlist(self, watchlist: dict[str, Any]) -> None:
        """Insert or replace; a name another watchlist has raises ``sqlite3.IntegrityError``."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO watchlists (id, name, created_at, updated_at, symbols) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
                "updated_at = excluded.updated_at, symbols = excluded.symbols",
                (
                    watchlist["id"],
                    watchlist["name"],
                    watchlist["created_at"],
                    watchlist["updated_at"],
                    json.dumps(watchlist["symbols"]),
                ),
            )

    def delete_watchlist(self, watchlist_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM watchlists WHERE id = ?", (watchlist_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
