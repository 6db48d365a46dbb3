"""What the engine reads from the market, cached: the quote and last trade at an instant,
minute ticks for matching, and the previous session's close.

Under a realtime clock every request asks at a new instant, and asking the market for one
quote costs about as much as asking for half an hour of them. So ``point`` fetches the
quotes and trades of a 30-minute block once (``Market.quotes`` / ``Market.trades``) and
answers every instant of the block from them: the latest row at or before the instant, or,
before the block's first row, the market's own ``quote_at`` / ``trade_at`` (constant until
then). The answer is the same as ``quote_at(t)`` / ``trade_at(t)``; a test asserts it.
Rows after the instant asked are never read, so nothing from the future leaks; this
relies on a market answering any window the same way whenever it is asked, as the
simulated and the replayed market do.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from ..rules import rfc3339
from .market import Market
from .matching import Path, ns
from .orders import to_decimal
from .wire import AlpacaError, bad_request

BLOCK_NS = 30 * 60_000_000_000
TICK_PREFETCH = pd.Timedelta(days=1)
#: How far into a market's data its first trade is looked for.
FIRST_TRADE_LOOKBACK = pd.Timedelta(days=5)
_CACHE_LIMIT = 4096
_NO_TIMES = np.empty(0, np.int64)


class _Block:
    """The quotes and trades of one symbol in one block of time.

    A market that holds its prices as arrays (``ReplayMarket.price_arrays``) hands out
    views of them; any other is asked for its quote and trade frames.
    """

    def __init__(self, market: Market, symbol: str, start_ns: int, length_ns: int) -> None:
        start = pd.Timestamp(start_ns, tz="UTC")
        end = pd.Timestamp(start_ns + length_ns, tz="UTC")
        arrays = getattr(market, "price_arrays", None)
        if arrays is not None:
            self.quote_times, self.bid, self.ask, self.trade_times, self.price = arrays(
                symbol, start, end
            )
        else:
            quotes = market.quotes(symbol, start, end)
            trades = market.trades(symbol, start, end)
            self.quote_times = quotes.index.as_unit("ns").asi8 if len(quotes) else _NO_TIMES
            self.bid = quotes["bid_price"].to_numpy(np.float64)
            self.ask = quotes["ask_price"].to_numpy(np.float64)
            self.trade_times = trades.index.as_unit("ns").asi8 if len(trades) else _NO_TIMES
            self.price = trades["price"].to_numpy(np.float64)
        self.before: tuple[float, float] | None = None  # the quote before the first row
        self.trade_before: float | None = None


class Prices:
    """Cached market lookups for one engine (not thread-safe: the exchange lock guards it)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        # A simulated market computes its path, so a block costs what it spans: 30 minutes.
        # A replayed one slices arrays it holds, so a block costs per call: a whole day.
        self.block_ns = getattr(market, "price_block_ns", BLOCK_NS)
        self._blocks: dict[tuple[str, int], _Block] = {}
        self._ticks: dict[str, tuple[int, int, Path]] = {}
        self._previous_close: dict[tuple[str, pd.Timestamp], Decimal] = {}
        self._last: dict[str, tuple[int, Decimal]] = {}  # symbol -> (t_ns, last trade)

    # ------------------------------------------------------------------ one instant
    def quote(self, symbol: str, t: pd.Timestamp) -> tuple[float, float, float]:
        """(bid, ask, last trade) at ``t``."""
        t_ns = ns(t)
        block = self._block(symbol, t_ns)
        # the arrays' own method: numpy's function wrapper costs more than the search
        i = int(block.quote_times.searchsorted(t_ns, side="right")) - 1
        if i >= 0:
            bid, ask = float(block.bid[i]), float(block.ask[i])
        else:
            if block.before is None:
                quote = self.market.quote_at(symbol, t)
                if quote is None:
                    raise bad_request(f"no market data for {symbol} at {rfc3339(t)}")
                block.before = (float(quote["bid_price"]), float(quote["ask_price"]))
            bid, ask = block.before
        return bid, ask, self._trade(block, symbol, t, t_ns)

    def _block(self, symbol: str, t_ns: int) -> _Block:
        start_ns = t_ns - t_ns % self.block_ns
        key = (symbol, start_ns)
        block = self._blocks.get(key)
        if block is None:
            if len(self._blocks) >= _CACHE_LIMIT:
                self._blocks.clear()
            block = self._blocks[key] = _Block(self.market, symbol, start_ns, self.block_ns)
        return block

    def _trade(self, block: _Block, symbol: str, t: pd.Timestamp, t_ns: int) -> float:
        j = int(block.trade_times.searchsorted(t_ns, side="right")) - 1
        if j >= 0:
            return float(block.price[j])
        if block.trade_before is None:
            trade = self.market.trade_at(symbol, t)
            if trade is None:
                raise bad_request(f"no market data for {symbol} at {rfc3339(t)}")
            block.trade_before = float(trade["price"])
        return block.trade_before

    def point(self, symbol: str, t: pd.Timestamp) -> Path:
        """The quote and last trade at ``t`` as a one-row path (orders match against it)."""
        bid, ask, price = self.quote(symbol, t)
        regular = bool(self.market.hours.is_open(t))
        return Path(
            times=np.array([ns(t)], dtype=np.int64),
            price=np.array([price]),
            bid=np.array([bid]),
            ask=np.array([ask]),
            regular=np.array([regular]),
            session=np.array([regular or bool(self.market.hours.is_extended(t))]),
        )

    def last(self, symbol: str, t: pd.Timestamp) -> Decimal:
        """The last trade price at ``t`` (the latest answer per symbol is remembered: the
        books value a position at one instant several times, once per reader)."""
        t_ns = ns(t)
        known = self._last.get(symbol)
        if known is not None and known[0] == t_ns:
            return known[1]
        price = to_decimal(self._trade(self._block(symbol, t_ns), symbol, t, t_ns))
        self._last[symbol] = (t_ns, price)
        return price

    def close_price(self, symbol: str, close: pd.Timestamp) -> Decimal:
        """The last trade of the session that closed at ``close`` (``lastday_price``).

        A market whose prices start after that close (a replay of bars that begin on a
        later day) has none: its first trade stands in, the earliest price known.
        """
        key = (symbol, close)
        price = self._previous_close.get(key)
        if price is None:
            if len(self._previous_close) >= _CACHE_LIMIT:
                self._previous_close.clear()
            try:
                price = self.last(symbol, close - pd.Timedelta(1, "us"))
            except AlpacaError:
                price = self._first_trade(symbol, close)
            self._previous_close[key] = price
        return price

    def _first_trade(self, symbol: str, close: pd.Timestamp) -> Decimal:
        span = self.market.data_range(symbol)
        if span is not None:
            end = min(span[1], span[0] + FIRST_TRADE_LOOKBACK)
            first = self.market.trades(symbol, span[0], end)
            if len(first):
                return to_decimal(float(first["price"].iloc[0]))
        raise bad_request(f"no market data for {symbol} at {rfc3339(close)}")

    # ------------------------------------------------------------------ a window
    def ticks(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> Path:
        """Minute ticks in (start, end], sliced from a per-symbol cache filled a day ahead.

        A clock stepped minute by minute would otherwise ask the market for one row at a
        time; the prefetched rows are only ever read up to the current time.
        """
        lo_ns, hi_ns = ns(start), ns(end)
        cached = self._ticks.get(symbol)
        if cached is None or not (cached[0] <= lo_ns and hi_ns < cached[1]):
            fetch_end = max(end, start + TICK_PREFETCH) + pd.Timedelta(1, "us")
            cached = (lo_ns, ns(fetch_end), self._load_ticks(symbol, start, fetch_end))
            self._ticks[symbol] = cached
        full = cached[2]
        a = int(np.searchsorted(full.times, lo_ns, side="right"))
        b = int(np.searchsorted(full.times, hi_ns, side="right"))
        return full.slice(a, b)

    def _load_ticks(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> Path:
        frame = self.market.ticks(symbol, start, end)
        times = frame.index.as_unit("ns").asi8 if len(frame) else np.empty(0, np.int64)
        return Path(
            times=np.asarray(times, dtype=np.int64),
            price=frame["price"].to_numpy(np.float64),
            bid=frame["bid_price"].to_numpy(np.float64),
            ask=frame["ask_price"].to_numpy(np.float64),
            regular=np.asarray(self.market.hours.regular_mask(times), dtype=bool),
            session=np.ones(len(times), dtype=bool),
        )
