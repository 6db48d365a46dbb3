"""The order journal: every order this kit submitted, in SQLite, across kernel restarts.

Why a journal when the broker keeps orders: the broker does not keep the *quote at
the moment of the decision*, and that is what a researcher needs to measure their
own execution (slippage = fill price against that quote). The journal also keeps
the story of each order (submitted, replaced, canceled, filled) on local disk, so
``history()`` answers offline and after the broker's list has paged past it.

One file (``order_journal.sqlite`` next to the HTTP cache, WAL mode so a notebook
and a script can share it, created readable by its owner only), three tables:
``intents`` holds each order request before it is sent (its client order id, the
body, the quote); ``orders`` holds each order's latest JSON from the broker plus the
quote at submission; ``events`` is append-only. Each thread has its own connection,
so the journal is safe to use from any thread.

Intent first: the executor records the request before sending it and completes the
record with the broker's answer, so a kernel killed in between leaves a pending
intent, not a hole. The next ``history()`` (or a re-run of the same order with the
same client order id) asks the broker about it. A journal that cannot be written is a
:class:`JournalError`; before the send that means nothing was sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import JournalError
from ..private_files import create_private
from . import frames

log = logging.getLogger("trading_kit")

SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    client_order_id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    body TEXT NOT NULL,
    quote_bid REAL,
    quote_ask REAL,
    quote_time TEXT,
    created_at TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'pending',
    order_id TEXT
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    parent_id TEXT,
    status TEXT,
    quote_bid REAL,
    quote_ask REAL,
    quote_time TEXT,
    recorded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_client_id ON orders (client_order_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON events (order_id);
"""
#: Statuses worth an event of their own when first seen, named as the trade-update stream
#: names them, so ``last_event`` reads the same whether the stream or a read saw it.
STATUS_EVENTS = {
    "filled": "fill",
    "partially_filled": "partial_fill",
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "replaced",
    "rejected": "rejected",
}
#: Events this kit writes about its own actions, not about what happened to the order.
BOOKKEEPING = "'submitted', 'replacement', 'leg', 'close_position'"
HISTORY_EXTRA = (
    "venue",
    "parent_id",
    "quote_bid",
    "quote_ask",
    "quote_time",
    "arrival_price",
    "slippage",
    "slippage_bps",
    "last_event",
)


@dataclass(frozen=True)
class SubmissionQuote:
    """The bid and ask a decision was made against."""

    bid: float
    ask: float
    time: pd.Timestamp | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()  # as pandas writes it, sooner


@dataclass(frozen=True)
class Intent:
    """An order request recorded before it was sent, whose outcome is not known yet."""

    client_order_id: str
    body: dict[str, Any]
    quote: SubmissionQuote | None


class _Writer:
    """A daemon thread that runs journal writes in order, off the caller's critical path.

    Only writes whose loss is recoverable go here: the record of an order the broker
    already has (its intent was written synchronously first, so a kernel that dies
    before this write leaves a pending intent that ``history()`` settles) and trade
    updates (the broker keeps them too). Every read of the journal waits for the queue.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Condition()
        self._submitted = self._done = 0
        self._thread: threading.Thread | None = None

    def submit(self, write: Callable[..., Any], args: tuple[Any, ...]) -> None:
        with self._idle:
            self._submitted += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="trading-kit-journal", daemon=True
                )
                self._thread.start()
        self._queue.put((write, args))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every write submitted so far is done."""
        if self._thread is threading.current_thread():
            return
        with self._idle:
            target = self._submitted
            self._idle.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            write, args = job  # type: ignore[misc]
            try:
                write(*args)
            except JournalError as failure:
                log.warning("trading_kit: %s", failure)
            except Exception:  # a bug must not silence every later write
                log.exception("trading_kit: a journal write failed")
            with self._idle:
                self._done += 1
                self._idle.notify_all()


#: The path of a journal kept in memory for as long as it lives (a replay's, by default).
MEMORY = ":memory:"


class Journal:
    """SQLite order journal at ``path`` for orders on ``venue`` (``local`` or a host name).

    ``busy_timeout`` is how long a write waits for another process holding the file.
    ``path=MEMORY`` keeps it in memory, shared by this object's threads, gone with it.
    """

    def __init__(self, path: str | Path, venue: str, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.venue = venue
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._target: str | Path = self.path
        if str(path) == MEMORY:  # one in-memory database for every connection of this journal
            self._target = f"file:journal-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._keeper = sqlite3.connect(self._target, uri=True, check_same_thread=False)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                create_private(self.path)
            except OSError as problem:
                raise JournalError(self._unusable(problem)) from None
        with self._connect(doing="open") as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        self._writer = _Writer()

    def write_later(self, write: Callable[..., Any], *args: Any) -> None:
        """Run ``write(*args)`` on the journal's writer thread (see ``_Writer``)."""
        self._writer.submit(write, args)

    def flush(self) -> None:
        """Wait for the writes queued with ``write_later``."""
        self._writer.flush()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, venue={self.venue!r})"

    def _unusable(self, problem: Exception) -> str:
        return (
            f"The order journal {self.path} cannot be used ({type(problem).__name__}: "
            f"{problem}). Pass journal_path= to connect() or Orders(), or set "
            "TRADING_KIT_JOURNAL, to keep it somewhere writable."
        )

    @contextlib.contextmanager
    def _connect(self, doing: str = "write") -> Iterator[sqlite3.Connection]:
        """One transaction; any SQLite or OS failure is a ``JournalError``.

        Each thread keeps its connection open between operations: opening and closing
        one per operation (closing the last connection checkpoints the WAL) costs
        milliseconds, more than a replayed order. A connection that failed is dropped,
        so the next operation starts afresh (after a full disk was freed, say).
        """
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self._target, timeout=self.busy_timeout, uri=True)
                # WAL + NORMAL: a commit survives the kernel dying, costs no fsync per order.
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as problem:
                raise JournalError(self._unusable(problem)) from None
            self._local.db = db
        try:
            with db:  # one transaction per operation
                yield db
        except (sqlite3.Error, OSError) as problem:
            self._local.db = None
            db.close()
            raise JournalError(
                f"The order journal {self.path} could not {doing} ({type(problem).__name__}: "
                f"{problem})."
            ) from None

    # -- intents ----------------------------------------------------------------------
    def intend(self, body: Mapping[str, Any], quote: SubmissionQuote | None) -> None:
        """Record an order request before it is sent (again, if it was recorded before)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO intents (client_order_id, venue, body, quote_bid, quote_ask, "
                "quote_time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(client_order_id) DO UPDATE SET body = excluded.body, "
                "quote_bid = excluded.quote_bid, quote_ask = excluded.quote_ask, "
                "quote_time = excluded.quote_time, outcome = 'pending', order_id = NULL",
                (
                    body["client_order_id"],
                    self.venue,
                    orjson.dumps(body).decode(),
                    quote.bid if quote else None,
                    quote.ask if quote else None,
                    quote.time.isoformat() if quote and quote.time is not None else None,
                    _now(),
                ),
            )

    def intent(self, client_order_id: str) -> Intent | None:
        """The recorded request with this client order id, if any (pending or not).

        (Intents are written at once, never queued: no need to wait for the writer.)"""
        with self._connect(doing="read") as db:
            row = db.execute(
                "SELECT body, quote_bid, quote_ask, quote_time FROM intents "
                "WHERE client_order_id = ? AND venue = ?",
                (client_order_id, self.venue),
            ).fetchone()
        return None if row is None else _intent(client_order_id, row)

    def pending(self) -> list[Intent]:
        """Requests recorded but never completed: the kernel stopped before the answer."""
        self.flush()
        with self._connect(doing="read") as db:
            rows = db.execute(
                "SELECT client_order_id, body, quote_bid, quote_ask, quote_time FROM intents "
                "WHERE outcome = 'pending' AND venue = ? ORDER BY created_at",
                (self.venue,),
            ).fetchall()
        return [_intent(row[0], row[1:]) for row in rows]

    def not_placed(self, client_order_id: str) -> None:
        """The broker has no order for this intent: it never arrived."""
        with self._connect() as db:
            db.execute(
                "UPDATE intents SET outcome = 'not_placed' WHERE client_order_id = ? "
                "AND outcome = 'pending'",
                (client_order_id,),
            )

    # -- writing ----------------------------------------------------------------------
    def submitted(
        self,
        order: Mapping[str, Any],
        quote: SubmissionQuote | None,
        event: str = "submitted",
    ) -> None:
        """Record a new order (and its legs) with the quote it was submitted against."""
        now = _now()
        with self._connect() as db:
            for row, parent in _with_parents(order):
                q = quote if parent is None else None  # exits are priced by their own legs
                db.execute(
                    "INSERT INTO orders (id, client_order_id, venue, parent_id, status, "
                    "quote_bid, quote_ask, quote_time, recorded_at, updated_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    # a trade update may have recorded the order first: add what it lacked
                    # (the quote, the parent); the state is _observe's, which never regresses
                    "ON CONFLICT(id) DO UPDATE SET "
                    "quote_bid = COALESCE(excluded.quote_bid, orders.quote_bid), "
                    "quote_ask = COALESCE(excluded.quote_ask, orders.quote_ask), "
                    "quote_time = COALESCE(excluded.quote_time, orders.quote_time), "
                    "parent_id = COALESCE(orders.parent_id, excluded.parent_id)",
                    (
                        row["id"],
                        row["client_order_id"],
                        self.venue,
                        parent,
                        row.get("status"),
                        q.bid if q else None,
                        q.ask if q else None,
                        q.time.isoformat() if q and q.time is not None else None,
                        now,
                        now,
                        _dumps(row),
                    ),
                )
                db.execute(
                    "INSERT INTO events (order_id, event, status, at) VALUES (?, ?, ?, ?)",
                    (row["id"], event if parent is None else "leg", row.get("status"), now),
                )
            db.execute(
                "UPDATE intents SET outcome = 'placed', order_id = ? WHERE client_order_id = ?",
                (order["id"], order["client_order_id"]),
            )

    def quote_of(self, order_id: str) -> SubmissionQuote | None:
        self.flush()
        with self._connect(doing="read") as db:
            row = db.execute(
                "SELECT quote_bid, quote_ask, quote_time FROM orders WHERE id = ?", (order_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return SubmissionQuote(row[0], row[1], pd.Timestamp(row[2]) if row[2] else None)

    def observe(self, orders: Iterable[Mapping[str, Any]], event: str | None = None) -> None:
        """Update journaled orders from the broker's view; new statuses become events.

        Orders the journal never saw submitted are ignored: the journal is this kit's
        own execution record, not a copy of the account.
        """
        with self._connect() as db:
            self._observe(db, orders, _now(), event)

    def _observe(
        self,
        db: sqlite3.Connection,
        orders: Iterable[Mapping[str, Any]],
        now: str,
        event: str | None = None,
    ) -> None:
        for row in frames.flatten_orders(orders):
            known = db.execute(
                "SELECT status, body FROM orders WHERE id = ?", (row["id"],)
            ).fetchone()
            if known is None or _older(row, known[0], orjson.loads(known[1])):
                continue
            status = row.get("status")
            db.execute(
                "UPDATE orders SET status = ?, updated_at = ?, body = ? WHERE id = ?",
                (status, now, _dumps(row), row["id"]),
            )
            name = event or STATUS_EVENTS.get(status)
            if name and (event or known[0] != status):
                db.execute(
                    "INSERT INTO events (order_id, event, status, at) VALUES (?, ?, ?, ?)",
                    (row["id"], name, status, now),
                )

    def follow(self, updates: Iterable[Any]) -> None:
        """Record trade updates from the stream: every order of the account, ours or not.

        Each update is an event at its own timestamp (``fill``, ``partial_fill``,
        ``canceled``, ``replaced``…) and leaves the order as the update shows it, unless
        the journal already holds a later state (a closed order never reopens, filled
        quantities never go back). Orders placed outside trading_kit enter the journal
        with their first update, without a quote. An update seen twice (a replay after a
        reconnect) is recorded once.
        """
        with self._connect() as db:
            for update in updates:
                at = update.timestamp.isoformat()
                for row, parent in _with_parents(update.order):
                    self._follow_order(db, row, parent, at)
                db.execute(
                    "INSERT INTO events (order_id, event, status, at) SELECT :id, :event, "
                    ":status, :at WHERE NOT EXISTS (SELECT 1 FROM events WHERE order_id = :id "
                    "AND event = :event AND at = :at)",
                    {
                        "id": update.order_id,
                        "event": update.event,
                        "status": update.status,
                        "at": at,
                    },
                )

    def _follow_order(
        self, db: sqlite3.Connection, row: Mapping[str, Any], parent: str | None, at: str
    ) -> None:
        inserted = db.execute(
            "INSERT INTO orders (id, client_order_id, venue, parent_id, status, recorded_at, "
            "updated_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (row["id"], row["client_order_id"], self.venue, parent, row.get("status"), at, at,
             _dumps(row)),
        ).rowcount  # fmt: skip
        if inserted:  # first seen here (placed elsewhere, or its answer is not written yet)
            return
        status, body = db.execute(
            "SELECT status, body FROM orders WHERE id = ?", (row["id"],)
        ).fetchone()
        if _older(row, status, orjson.loads(body)):
            return
        db.execute(
            "UPDATE orders SET status = ?, updated_at = ?, body = ? WHERE id = ?",
            (row.get("status"), at, _dumps(row), row["id"]),
        )

    # -- reading ----------------------------------------------------------------------
    def open_since(self) -> pd.Timestamp | None:
        """Creation time of the oldest journaled order not yet in a final state."""
        self.flush()
        with self._connect(doing="read") as db:
            rows = db.execute(
                "SELECT body FROM orders WHERE venue = ? AND status NOT IN "
                f"({','.join('?' * len(frames.TERMINAL_STATUSES))})",
                (self.venue, *sorted(frames.TERMINAL_STATUSES)),
            ).fetchall()
        stamps = [frames.timestamp(orjson.loads(r[0]).get("created_at")) for r in rows]
        stamps = [s for s in stamps if s is not None]
        return min(stamps) if stamps else None

    def events(self) -> pd.DataFrame:
        """Every recorded event, oldest first: ``order_id event status at``."""
        self.flush()
        with self._connect(doing="read") as db:
            rows = db.execute(
                "SELECT order_id, event, status, at FROM events ORDER BY seq"
            ).fetchall()
        frame = pd.DataFrame(rows, columns=["order_id", "event", "status", "at"])
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        return frame

    def history(self, all_venues: bool = False) -> pd.DataFrame:
        """Journaled orders (the orders-frame columns plus ``HISTORY_EXTRA``), oldest first."""
        self.flush()
        query = (
            "SELECT o.body, o.venue, o.parent_id, o.quote_bid, o.quote_ask, o.quote_time, "
            # the latest event, preferring what happened to the order over this kit's own
            # bookkeeping (the record of a submission is written after the fact when the
            # trade-update stream is on, possibly after the fill it already reported)
            "(SELECT e.event FROM events e WHERE e.order_id = o.id ORDER BY "
            f"e.event IN ({BOOKKEEPING}), e.seq DESC LIMIT 1) "
            "FROM orders o"
        )
        params: tuple[Any, ...] = ()
        if not all_venues:
            query += " WHERE o.venue = ?"
            params = (self.venue,)
        with self._connect(doing="read") as db:
            rows = db.execute(query + " ORDER BY o.recorded_at, o.rowid", params).fetchall()
        bodies = [orjson.loads(r[0]) for r in rows]
        for body in bodies:
            body.pop("legs", None)  # legs are rows of their own here
        frame = frames.orders_frame(bodies)
        frame["venue"] = frames.text([r[1] for r in rows])
        frame["parent_id"] = frames.text([r[2] for r in rows])
        frame["quote_bid"] = np.array([_float(r[3]) for r in rows], dtype="float64")
        frame["quote_ask"] = np.array([_float(r[4]) for r in rows], dtype="float64")
        frame["quote_time"] = pd.DatetimeIndex(
            [frames.timestamp(r[5]) or pd.NaT for r in rows], dtype="datetime64[ns, UTC]"
        )
        frame["arrival_price"] = (frame["quote_bid"] + frame["quote_ask"]) / 2
        sign = np.where(frame["side"].to_numpy() == "sell", -1.0, 1.0)
        frame["slippage"] = sign * (frame["filled_avg_price"] - frame["arrival_price"])
        frame["slippage_bps"] = frame["slippage"] / frame["arrival_price"] * 1e4
        frame["last_event"] = frames.text([r[6] for r in rows])
        legs = {}
        for parent in frame["parent_id"].dropna().unique():
            legs[parent] = list(frame.index[frame["parent_id"] == parent])
        frame["legs"] = _objects([legs.get(i, []) for i in frame.index])
        return frame


def _intent(client_order_id: str, row: tuple[Any, ...]) -> Intent:
    body, bid, ask, time = row
    quote = None if bid is None else SubmissionQuote(bid, ask, pd.Timestamp(time) if time else None)
    return Intent(client_order_id, orjson.loads(body), quote)


def _older(row: Mapping[str, Any], status: str | None, body: Mapping[str, Any]) -> bool:
    """True when ``row`` is an earlier state of the order than the one held (``status``,
    ``body``): updates can arrive after the POST's answer was written."""
    if status in frames.TERMINAL_STATUSES and row.get("status") not in frames.TERMINAL_STATUSES:
        return True
    return frames.number(row.get("filled_qty") or 0) < frames.number(body.get("filled_qty") or 0)


def _with_parents(order: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str | None]]:
    return [(order, None), *((leg, order["id"]) for leg in order.get("legs") or ())]


def _dumps(row: Mapping[str, Any]) -> str:
    return orjson.dumps({k: v for k, v in row.items() if k != "legs"} | {"legs": None}).decode()


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _objects(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column
