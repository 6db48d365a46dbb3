"""The exchange as one object: market, clock, engine and store, and the lock that orders them.

Every operation goes through ``Exchange.run``: take the lock, let the engine catch up to
the clock (lazily, so the same code serves the manual and the realtime clock), do the
operation, write what changed in one transaction, and only then publish the trade
updates it caused to the listeners (``add_listener``). Requests arrive on several threads
and a notebook may advance the clock meanwhile; the lock makes each operation atomic
against both.

A change is applied only once it is written. When the store refuses a write (a full disk,
a read-only file), the engine reloads the last written state and the caller gets a 503 in
Alpaca's shape saying why; nothing is published. A read still answers, from the last
written state, without catching up to the clock (catching up would be a change it cannot
write).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from .account_store import AccountStore
from .clock import Clock
from .engine import Changes, Engine
from .market import Market
from .orders import TradeUpdate
from .store import Store, StoreError
from .wire import AlpacaError, unavailable

T = TypeVar("T")
Listener = Callable[[TradeUpdate], None]
log = logging.getLogger(__name__)


class Exchange:
    """A paper account on a market, persisted in SQLite (in memory when ``db_path`` is None)."""

    def __init__(
        self,
        market: Market | None = None,
        clock: Clock | None = None,
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
        self.store = Store(db_path)
        self.settings = AccountStore(self.store.path)  # configurations and watchlists
        self._listeners: list[Listener] = []
        self.engine = Engine(
            market,
            clock,
            seed=seed,
            partial_fills=partial_fills,
            cash=cash,
            shorting_enabled=shorting_enabled,
        )
        stored = self.settings.configurations()
        if "no_shorting" in stored:  # a restart keeps the account long-only if it was
            self.engine.shorting_enabled = not stored["no_shorting"]
        meta, orders, positions, fills = self.store.load()
        if meta:
            self.engine.restore(meta, orders, positions, fills)
            if self.manual_clock and self.clock.now() < self.engine.cursor:
                self.clock.set(self.engine.cursor)  # a restarted manual clock resumes, not rewinds
        try:
            self.store.save(self.engine.drain())
        except StoreError as error:
            raise RuntimeError(f"cannot write the exchange state to {db_path}: {error}") from None

    def __repr__(self) -> str:
        return f"Exchange(market={self.market!r}, clock={self.clock!r}, db={self.store.path})"

    # ------------------------------------------------------------------ operations
    def run(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Catch up to the clock, run ``operation``, persist the changes — atomically."""
        with self.lock:
            try:
                self.engine.process_until(self.clock.now())
                result = operation(*args, **kwargs)
            except AlpacaError:
                # the refusal changed nothing, but catching up may have; if that cannot be
                # written the engine is reloaded, and the refusal stands either way
                with contextlib.suppress(StoreError):
                    self._commit()
                raise
            except BaseException:
                self._reload()  # a bug: never keep (or write) half an operation
                raise
            try:
                self._commit()
            except StoreError as error:
                return self._without_writing(operation, args, kwargs, error)
            return result

    def _commit(self) -> None:
        """Write what changed, then publish its trade updates. On a failed write, reload the
        written state and raise (nothing is published)."""
        changes = self.engine.drain()
        try:
            self.store.save(changes)
        except StoreError:
            self._reload()
            raise
        self._publish(changes)

    def _reload(self) -> None:
        """Back to the last written state (the in-memory one may be ahead of the disk)."""
        self.engine.restore(*self.store.load())
        self.engine.drain()

    def _without_writing(
        self, operation: Callable[..., T], args: tuple, kwargs: dict, error: StoreError
    ) -> T:
        """After a failed write: answer a read from the written state, refuse a change."""
        try:
            result = operation(*args, **kwargs)
        except AlpacaError:
            self._reload()
            raise
        if self.engine.drain():
            self._reload()
            raise _unwritable(error)
        return result

    def _catch_up(self) -> None:
        """Run the engine up to the clock; a step that cannot be written is an error."""
        try:
            self.engine.process_until(self.clock.now())
        except BaseException:
            self._reload()
            raise
        try:
            self._commit()
        except StoreError as error:
            raise _unwritable(error) from None

    # ------------------------------------------------------------------ trade updates
    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each ``TradeUpdate`` once it is written; returns a remover.

        Listeners run under the exchange lock, in the order the updates happened: keep
        them quick (hand the update to a queue or an event loop).
        """
        with self.lock:
            self._listeners.append(listener)
            self.engine.emit_events = True

        def remove() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
                self.engine.emit_events = bool(self._listeners)

        return remove

    def _publish(self, changes: Changes) -> None:
        for update in changes.events:
            for listener in list(self._listeners):
                try:
                    listener(update)
                except Exception:  # a listener's bug must not undo a written change
                    log.exception("trade update listener %r failed", listener)

    # ------------------------------------------------------------------ the clock
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
            now = self.clock.advance(delta)  # type: ignore[attr-defined]
            self._catch_up()
        self._clock_stepped()
        return pd.Timestamp(self.clock.now()) if now is None else pd.Timestamp(now)

    def set_time(self, t: dt.datetime | str) -> pd.Timestamp:
        """Set a manual clock (never backwards) and run the engine up to it."""
        with self.lock:
            self.clock.set(t)  # type: ignore[attr-defined]
            self._catch_up()
        self._clock_stepped()
        return pd.Timestamp(self.clock.now())

    def close(self) -> None:
        with self.lock:
            self.settings.close()
            self.store.close()


def _unwritable(error: StoreError) -> AlpacaError:
    return unavailable(
        f"the exchange could not save this change ({error}); nothing was applied. "
        "Free disk space (or make the database writable) and retry"
    )
