"""``replay()``: a strategy trades a DataFrame of bars through the real paper order path.

The bars are served by an exchange in this process (``ReplayMarket`` on a
``ManualClock``); the strategy gets a ``Kit`` connected to it through the in-process
transport, so its orders take the same path as live paper trading (validation,
pre-trade checks, risk rules, journal, idempotent POST) and fill by the exchange's
rules: at the quote, with its buying power and its positions. Each step:

    1. move the clock to the end of the next bar(s) and read the exchange's books (with
       open orders the exchange catches up first: they may trigger and fill), in one
       locked operation;
    2. hand the strategy the bars that just closed (``tape.Step``: views of the history
       up to now, never later) and the ``Kit``;
    3. read equity and positions again if the strategy made a request: no request here.

Only the strategy's own calls are requests. Ctrl-C stops after the step in progress
and returns what was replayed so far (``result.interrupted``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ReplayError
from ..kit import Kit, connect
from ..orders.journal import MEMORY, SubmissionQuote
from ..rules import NEW_YORK
from .result import ReplayResult
from .tape import Bar, History, Step, Tape

if TYPE_CHECKING:
    from ..exchange import Exchange

log = logging.getLogger("trading_kit")

Strategy = Callable[[Step, Kit], Any]
#: Progress bar refreshes per replay: often enough to watch, rarely enough to cost nothing.
PROGRESS_UPDATES = 200


def replay(
    bars: pd.DataFrame,
    strategy: Any,
    *,
    cash: float = 100_000,
    start: Any = None,
    end: Any = None,
    checks: Any = True,
    risk: Any = None,
    partial_fills: bool = False,
    seed: int = 0,
    progress: bool = True,
    journal_path: str | Path | None = None,
) -> ReplayResult:
    """Replay ``bars`` through a local paper exchange, calling ``strategy`` at each step.

    ``bars``: alpaca-py's layout, indexed by (symbol, timestamp) with open high low close
    volume (``MarketData.get_bars()``); several symbols are stepped together.
    ``strategy``: a function ``strategy(step, kit)`` or an object with
    ``on_bar(step, kit)``. ``step`` maps each symbol whose bar just closed to its
    :class:`~trading_kit.replay.tape.Bar` (``step["AAPL"].history.close`` is every close
    so far); ``kit.orders`` places orders as in live paper trading.
    ``start``/``end``: the steps are the bars starting in [start, end); earlier bars
    are history from the first step on. ``checks``/``risk``: as for ``connect()``;
    ``checks=False`` skips the client's pre-trade requests for speed (the exchange still
    enforces every rule). ``partial_fills``: the exchange's seeded partial fills (off:
    whole fills, as a bar backtest assumes). ``journal_path``: keep the order journal
    in that file (default: in memory, for as long as the result lives).
    """
    on_bar = _callable(strategy)
    tape = Tape(bars, start, end)
    exchange = _exchange(tape, cash=cash, partial_fills=partial_fills, seed=seed)
    kit = connect(exchange=exchange, checks=checks, risk=risk, journal_path=journal_path or MEMORY)
    books = Books(exchange, tape.symbols)
    kit.orders.quote_source = books.quote
    began = time.perf_counter()
    with _collector_spares_the_heap():
        done, interrupted = _run(tape, on_bar, kit, books, exchange.market.step_ns, progress)
    elapsed = time.perf_counter() - began
    return ReplayResult(
        equity=books.equity_series(tape, exchange.market.step_ns, done),
        positions=books.positions_frame(tape, exchange.market.step_ns, done),
        fills=books.fills(),
        bars=tape.frame,
        kit=kit,
        exchange=exchange,
        steps=done,
        total_steps=len(tape),
        elapsed=elapsed,
        interrupted=interrupted,
    )


def _run(
    tape: Tape, on_bar: Strategy, kit: Kit, books: Books, step_ns: int, progress: bool
) -> tuple[int, bool]:
    """Step through the tape; returns the steps completed and whether Ctrl-C stopped it."""
    from tqdm.auto import tqdm  # a widget in Jupyter: loaded when a replay runs

    symbols, histories = tape.symbols, tape.histories
    counts = tape.counts.tolist()
    everyone = list(range(len(symbols)))
    full = tape.closes.all(axis=1).tolist()  # every symbol has a bar: the usual step
    # each step's end as a Timestamp: boxed by the index in bulk, not one by one
    ends = pd.DatetimeIndex((tape.steps + step_ns).view("datetime64[ns]")).tz_localize("UTC")
    total = len(ends)
    every = max(1, total // PROGRESS_UPDATES)
    bar = tqdm(total=total, unit="step", desc="replay", disable=not progress, leave=False)
    transport = kit.orders._stack.transport[1]  # type: ignore[index]
    done = 0
    moved = False  # the clock is at step ``done``: its books must be recorded
    try:
        for k, now in enumerate(ends):
            positions = books.step_to(now)
            moved = True
            for history, count in zip(histories.values(), counts[k], strict=True):
                history._size = count
            closed = {}
            for j in everyone if full[k] else np.flatnonzero(tape.closes[k]).tolist():
                symbol = symbols[j]
                history = histories[symbol]
                closed[symbol] = Bar(history, history._size - 1, positions.get(symbol, 0.0))
            step = Step(now, closed, histories, positions, books.account)
            asked = transport.requests
            try:
                on_bar(step, kit)
            except Exception as failure:
                if hasattr(failure, "add_note"):  # Python 3.11+
                    failure.add_note(
                        f"raised by the strategy at the step of "
                        f"{now.tz_convert(NEW_YORK):%Y-%m-%d %H:%M} New York (step {k + 1:,} "
                        f"of {total:,}); the replay stopped there."
                    )
                raise
            books.record(changed=transport.requests != asked)
            done, moved = k + 1, False
            if done % every == 0:
                bar.update(every)
    except KeyboardInterrupt:
        if moved:  # the clock moved and orders may have filled: the step is in the books
            books.record(changed=True)
            done += 1
        log.warning(
            "trading_kit: replay interrupted after %s of %s steps; the result holds them.",
            f"{done:,}",
            f"{total:,}",
        )
        return done, True
    finally:
        bar.close()
    return done, False


@contextlib.contextmanager
def _collector_spares_the_heap() -> Iterator[None]:
    """Leave what the program held before the replay (pandas, the bars, the exchange's
    state) out of the garbage collector's passes while it runs (``gc.freeze``).

    A replay allocates and drops millions of small objects; every so often that sets
    off a full pass, which walks the whole heap and finds no garbage in the part that
    was there before: about a tenth of a year of minutes went to it. Objects made during
    the replay are collected as usual; the heap is unfrozen afterwards. A program that
    froze its heap itself (before forking, say) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _callable(strategy: Any) -> Strategy:
    if isinstance(strategy, type):
        raise ReplayError(
            f"strategy={strategy.__name__} is a class; pass an instance, "
            f"strategy={strategy.__name__}().",
            argument="strategy",
        )
    method = getattr(strategy, "on_bar", None)
    if callable(method):
        return method
    if callable(strategy):
        return strategy
    raise ReplayError(
        f"strategy={strategy!r} is neither a function strategy(step, kit) nor an object "
        "with an on_bar(step, kit) method.",
        argument="strategy",
    )


def _exchange(tape: Tape, *, cash: float, partial_fills: bool, seed: int) -> Exchange:
    """An in-memory exchange replaying the tape's bars, its clock at the first step."""
    from ..exchange import Exchange, ManualClock, ReplayMarket  # the server side, on demand

    if isinstance(cash, bool) or not isinstance(cash, (int, float)) or not cash > 0:
        raise ReplayError(f"cash={cash!r} must be a positive amount of dollars.", argument="cash")
    market = ReplayMarket(tape.frame)
    clock = ManualClock(pd.Timestamp(int(tape.steps[0]), tz="UTC"))
    return Exchange(market, clock, cash=cash, partial_fills=partial_fills, seed=seed)


class Books:
    """What the runner reads of the exchange's own books, in process, under its lock.

    The one place the replay reads the exchange's state directly: the clock step, the
    positions each step hands the strategy, and the equity and positions recorded
    after it. Everything the strategy does goes through ``kit`` instead.
    """

    def __init__(self, exchange: Exchange, symbols: list[str]) -> None:
        self.exchange = exchange
        self.engine = exchange.engine
        self.symbols = symbols
        self._column = {symbol: j for j, symbol in enumerate(symbols)}
        self._equity: list[float] = []
        self._held: list[dict[str, float]] = []
        self._now: tuple[float, dict[str, float]] = (0.0, {})
        self._fills_seen = (0, -1)  # the ledger and its fills when _held_now was read
        self._held_now: dict[str, float] = {}

    def step_to(self, now: pd.Timestamp) -> dict[str, float]:
        """Move the clock to ``now`` and read equity and positions, in one locked step.

        With open orders the exchange catches up first (they may trigger and fill).
        Without, moving the clock changes nothing in the books: the exchange catches up
        lazily, at its next request, as it always does, and the step only reads.
        """
        exchange = self.exchange
        with exchange.lock:
            now = exchange.clock.set(now)
            if self.engine.has_open_orders:
                self._now = exchange.run(self._read, now)
            else:
                self._now = self._read(now)
        return self._now[1]

    def _read(self, now: pd.Timestamp | None = None) -> tuple[float, dict[str, float]]:
        """Equity and positions at ``now`` (the clock's time when not given)."""
        engine = self.engine
        ledger = engine.ledger
        fills = (id(ledger), len(ledger.fills))  # positions change only with a fill
        if fills != self._fills_seen:
            self._fills_seen = fills
            self._held_now = {symbol: float(p.qty) for symbol, p in ledger.positions.items()}
        if not self._held_now:  # flat: the cash is the equity
            return float(ledger.cash), {}
        at = engine.now() if now is None else now
        last = engine.prices.last
        return float(ledger.equity(lambda symbol: last(symbol, at))), dict(self._held_now)

    def _read_caught_up(self) -> tuple[float, dict[str, float]]:
        """The books after the strategy's requests: each caught the engine up to the
        clock, so they are read as they stand (through the exchange when they are not)."""
        exchange, engine = self.exchange, self.engine
        with exchange.lock:
            now = exchange.clock.now()
            if engine.cursor == now:
                return self._read(now)
        return exchange.run(self._read)

    def account(self) -> tuple[float, float]:
        """Cash and equity now."""
        return self.exchange.run(lambda: (float(self.engine.cash), self._read()[0]))

    def quote(self, symbol: str) -> SubmissionQuote | None:
        """The replayed market's latest quote, as the data API would answer it (it reads
        the market at the clock's time, nothing of the books)."""
        if symbol not in self._column:  # the market replays the tape's symbols, no others
            return None
        with self.exchange.lock:
            quote = self.exchange.market.quote_at(symbol, self.exchange.clock.now())
        if quote is None:
            return None
        return SubmissionQuote(quote["bid_price"], quote["ask_price"], quote["t"])

    def record(self, *, changed: bool) -> None:
        """Equity and positions after a step: read again only if the strategy made a
        request (nothing else changes the books between two clock steps)."""
        equity, positions = self._read_caught_up() if changed else self._now
        self._equity.append(equity)
        self._held.append(positions)  # laid out as columns once, by positions_frame

    def equity_series(self, tape: Tape, step_ns: int, done: int) -> pd.Series:
        """Equity at each step's end (its bars' close), this step's fills included."""
        stamps = (tape.steps[:done] + step_ns).view("datetime64[ns]")
        index = pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
        return pd.Series(np.array(self._equity[:done]), index=index, name="equity", dtype="float64")

    def positions_frame(self, tape: Tape, step_ns: int, done: int) -> pd.DataFrame:
        stamps = (tape.steps[:done] + step_ns).view("datetime64[ns]")
        index = pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
        held = np.zeros((done, len(self.symbols)), dtype="float64")
        column = self._column
        for k, positions in enumerate(self._held[:done]):
            for symbol, qty in positions.items():
                held[k, column[symbol]] = qty
        return pd.DataFrame(held, index=index, columns=pd.Index(self.symbols, name="symbol"))

    def fills(self) -> pd.DataFrame:
        """Every fill of the run, oldest first: ``time symbol side qty price order_id``."""
        rows = self.exchange.run(lambda: list(self.engine.ledger.fills))
        times = pd.DatetimeIndex([f.time for f in rows], dtype="datetime64[ns, UTC]")
        return pd.DataFrame(
            {
                "time": times,
                "symbol": pd.array([f.symbol for f in rows], dtype="str"),
                "side": pd.array([f.side for f in rows], dtype="str"),
                "qty": np.array([float(f.qty) for f in rows], dtype="float64"),
                "price": np.array([float(f.price) for f in rows], dtype="float64"),
                "order_id": pd.array([f.order_id for f in rows], dtype="str"),
            }
        )


__all__ = ["Bar", "Books", "History", "Step", "replay"]
