"""SQLite persistence for the exchange: the engine's state, written through after every request.

The engine keeps everything in memory and reports what changed (``Engine.drain``); the
store writes those rows in one transaction, so a killed server loses at most the request
in flight. A write that fails (a full disk, a read-only file) is rolled back and raised as
``StoreError``; the exchange then reloads its last written state, so memory never runs
ahead of the disk. Orders keep their full state as JSON next to a few indexed columns; positions,
activities and the account/cursor metadata have their own tables. WAL mode keeps commits
cheap enough for the per-request write-through.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import orjson

from .engine import Changes
from .orders import Fill, Order, Position


class StoreError(Exception):
    """The database refused a write (its message says why, e.g. "database or disk is full")."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activities (
    id TEXT PRIMARY KEY,
    activity_type TEXT NOT NULL,
    order_id TEXT,
    transaction_time TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


class Store:
    """One SQLite database (a file, or in memory when ``path`` is None)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # The exchange serialises access with its own lock; requests arrive on many threads.
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self) -> tuple[dict[str, str], list[Order], list[Position], list[Fill]]:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        orders = [
            Order.from_state(orjson.loads(row[0]))
            for row in self._db.execute("SELECT state FROM orders ORDER BY rowid")
        ]
        positions = [
            Position.from_state(orjson.loads(row[0]))
            for row in self._db.execute("SELECT state FROM positions")
        ]
        fills = [
            Fill.from_state(orjson.loads(row[0]))
            for row in self._db.execute("SELECT body FROM activities ORDER BY rowid")
        ]
        return meta, orders, positions, fills

    def save(self, changes: Changes) -> None:
        """Write one operation's changes atomically, or raise ``StoreError`` and write nothing."""
        if not changes:
            return
        db = self._db
        try:
            db.execute("BEGIN")
            _write(
                db,
                "INSERT INTO orders (id, client_order_id, symbol, status, submitted_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "status = excluded.status, state = excluded.state",
                [
                    (
                        o.id,
                        o.client_order_id,
                        o.symbol,
                        o.status,
                        (o.submitted_at or o.created_at).isoformat(),
                        orjson.dumps(o.to_state()).decode(),
                    )
                    for o in changes.orders
                ],
            )
            _write(
                db,
                "INSERT OR REPLACE INTO positions (symbol, state) VALUES (?, ?)",
                [(p.symbol, orjson.dumps(p.to_state()).decode()) for p in changes.positions],
            )
            _write(
                db,
                "DELETE FROM positions WHERE symbol = ?",
                [(s,) for s in changes.removed_positions],
            )
            _write(
                db,
                "INSERT INTO activities (id, activity_type, order_id, transaction_time, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        f.id,
                        "FILL",
                        f.order_id,
                        f.time.isoformat(),
                        orjson.dumps(f.to_state()).decode(),
                    )
                    for f in changes.fills
                ],
            )
            _write(
                db,
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                list(changes.meta.items()),
            )
            db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise StoreError(str(error)) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._db.close()


def _write(db: sqlite3.Connection, statement: str, rows: list[tuple]) -> None:
    """``executemany``, skipped when there is nothing to write (a clock step changes the
    cursor alone: the other tables' empty calls cost more than its one row)."""
    if rows:
        db.executemany(statement, rows)
