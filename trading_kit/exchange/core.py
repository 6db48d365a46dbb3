"""The exchange as one object: market, clock, engine and store, and the lock that orders them.

Every operation goes through ``Exchange.run``: take the lock, let the engine catch up to
the clock (lazily, so the same code serves the manual and the realtime clock), do the
operation, write what changed in one transaction. uvicorn runs requests on several
threads and a notebook may advance the clock meanwhile; the lock makes each operation
atomic against both.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from .engine import Engine
from .order_events import OrderEvents
from .store import Store

T = TypeVar("T")
log = logging.getLogger(__name__)


class Exchange:
    """A paper account on a market, persisted in SQLite (in memory when ``db_path`` is None)."""

    def __init__(
        self,
        market: Any = None,
        clock: Any = None,
        *,
        db_path: str | Path | None = None,
        seed: int = 0,
        partial_fills: bool = True,
        credentials: tuple[str, str] | None = None,
        cash: float | int = 100_000,
        shorting_enabled: bool = True,
        rate_limit: int | None = None,
        stream_symbol_limit: int | None = 30,
    ) -> None:
        if market is None:
            from .market import SimulatedMarket

            market = SimulatedMarket()
        if clock is None:
            from .clock import RealtimeClock

            clock = RealtimeClock()
        self.market = market
        self.clock = clock
        self.credentials = credentials
        self.rate_limit = rate_limit  # requests per minute; None = unlimited
        # Symbols per market-data websocket on the iex and test feeds (sip: no limit).
        self.stream_symbol_limit = stream_symbol_limit
        self.lock = threading.RLock()
        self._clock_listeners: list[Callable[[pd.Timestamp], None]] = []
        self._listeners: list[Callable[[Any], None]] = []
        self._events: OrderEvents | None = None
        self.store = Store(db_path)
        self.engine = Engine(
            market,
            clock,
            seed=seed,
            partial_fills=partial_fills,
            cash=cash,
            shorting_enabled=shorting_enabled,
        )
        meta, orders, positions, activities = self.store.load()
        if meta:
            self.engine.restore(meta, orders, positions, activities)
            if self.manual_clock and self.clock.now() < self.engine.cursor:
                self.clock.set(self.engine.cursor)  # a restarted manual clock resumes, not rewinds
        self.store.save(self.engine.drain())

    def __repr__(self) -> str:
        return f"Exchange(market={self.market!r}, clock={self.clock!r}, db={self.store.path})"

    def run(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Catch up to the clock, run ``operation``, persist the changes — atomically."""
        with self.lock:
            try:
                self.engine.process_until(self.clock.now())
                return operation(*args, **kwargs)
            finally:
                changes = self.engine.drain()
                self.store.save(changes)
                if self._listeners:
                    self._publish(changes)

    def add_listener(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``listener(update)`` with each trade update once its change is written (the
        ``data`` of Alpaca's ``trade_updates`` message); returns the remover. Listeners run
        under the exchange lock: keep them quick (hand the update to a loop or a queue)."""
        with self.lock:
            if self._events is None:
                self._events = OrderEvents(self.engine)
            self._listeners.append(listener)

        def remove() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
                if not self._listeners:
                    self._events = None

        return remove

    def _publish(self, changes: Any) -> None:
        assert self._events is not None
        for update in self._events.derive(changes.orders, changes.activities):
            for listener in list(self._listeners):
                try:
                    listener(update)
                except Exception:  # a listener's bug must not undo a written change
                    log.exception("trade update listener %r failed", listener)

    def on_clock_step(self, listener: Callable[[pd.Timestamp], None]) -> Callable[[], None]:
        """Call ``listener(now)`` after each step of a manual clock; returns the remover.

        The websocket publisher wakes on it, so prices stream as a notebook steps time.
        """
        self._clock_listeners.append(listener)
        return lambda: self._clock_listeners.remove(listener)

    def _clock_stepped(self) -> None:
        now = pd.Timestamp(self.clock.now())
        for listener in list(self._clock_listeners):
            listener(now)

    @property
    def manual_clock(self) -> bool:
        return hasattr(self.clock, "advance") and hasattr(self.clock, "set")

    def advance(self, delta: dt.timedelta | pd.Timedelta | str) -> pd.Timestamp:
        """Move a manual clock forward and run the engine up to the new time."""
        with self.lock:
            now = self.clock.advance(delta)
            self.run(lambda: None)
        self._clock_stepped()
        return pd.Timestamp(self.clock.now()) if now is None else pd.Timestamp(now)

    def set_time(self, t: dt.datetime | str) -> pd.Timestamp:
        """Set a manual clock (never backwards) and run the engine up to it."""
        with self.lock:
            self.clock.set(t)
            self.run(lambda: None)
        self._clock_stepped()
        return pd.Timestamp(self.clock.now())

    def close(self) -> None:
        with self.lock:
            self.store.close()
