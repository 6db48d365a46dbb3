"""The shared refresher's stream source: the account and its prices, from the websockets.

When an :class:`~.feed.AccountFeed` gets its first subscriber it asks for a
:class:`StreamSource`. The source opens (through ``kit.stream``'s connections, one per
account and stream):

* the trade-update stream, which the account's ``Orders.live`` follows: open orders,
  positions and the account are kept by the updates (re-read in the background only
  after a fill or an order leaving the book), and every update is also applied to the
  feed's recent orders, so an order placed anywhere reaches the chart and the blotter as
  soon as its update arrives;
* the quotes and trades of the symbols the widgets show, and of the positions held, so
  the quote, the last-price line and the positions' marks move with the market;
* the minute bars of each series a chart draws (rolled up to its timeframe), so a new bar
  appears as it closes; series of days or longer, which the stream does not carry, are
  read over REST when their bar can have changed.

Each change publishes one :class:`~.feed.AccountUpdate`, coalesced so a burst of quotes
costs a few redraws a second. If no stream can be opened, the feed polls as before and
says so once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..errors import StreamError, TradingKitError
from ..orders import frames
from ..stream import Streams
from ..stream.protocol import bar_minutes

log = logging.getLogger("trading_kit")

#: Seconds between two updates caused by prices (trade updates and bars go at once).
PRICE_INTERVAL = 0.25
#: Weekly and monthly bars are not streamed: their last bar is re-read this often.
LONG_BARS_EVERY = 60.0
_ORDER_HISTORY = 500
Series = tuple[str, str]


class StreamSource:
    """Keeps an ``AccountFeed`` current from the streams; ``close()`` lets them go."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self.streams = Streams.of(feed.data)
        self.live = feed.orders.live if feed.orders is not None else None
        self._lock = threading.RLock()
        self._orders: dict[str, dict[str, Any]] = {}
        self._quotes: Any = None
        self._trades: Any = None
        self._bars: dict[Series, Any] = {}
        self._symbols: frozenset[str] = frozenset()
        self._stop_following: Any = None
        self._stop_watching: Any = None
        self._last_publish = 0.0
        self._changed = threading.Condition()
        self._pending = self._urgent = False
        self._publisher = threading.Thread(
            target=self._run, name="trading-kit-widgets", daemon=True
        )
        self._read_at: dict[Series, float] = {}
        self._since: dict[Series, Any] = {}
        self._closed = False

    # -- opening and following the widgets' interests ---------------------------------------
    def open(self) -> None:
        """Open the trade-update stream (``StreamError`` if it cannot be)."""
        self._publisher.start()
        if self.feed.orders is not None:
            self.streams.add_follower(self.live)
            self._seed_orders()
            self._stop_following = self.streams.follow(self._trade_updates)
            self._stop_watching = self.live.on_change(lambda: self._publish_soon(now=True))

    def interests(self, symbols: Iterable[str], series: Mapping[Series, Any]) -> None:
        """Subscribe to what the widgets show now (and let go of what they no longer do)."""
        held = {p["symbol"] for p in self.live.positions()} if self.live is not None else set()
        wanted = frozenset(symbols) | frozenset(held)
        with self._lock:
            if wanted != self._symbols:
                self._resubscribe_prices(wanted)
            for key in [k for k in self._bars if k not in series]:
                self._bars.pop(key).close()
            for key, since in series.items():
                self._since[key] = since
                if key not in self._bars:
                    self._bars[key] = self._bar_frame(*key)

    def _resubscribe_prices(self, symbols: frozenset[str]) -> None:
        for frame in (self._quotes, self._trades):
            if frame is not None:
                frame.close()
        self._quotes = self._trades = None
        self._symbols = symbols
        if not symbols:
            return
        names = sorted(symbols)
        self._quotes = self.streams.quotes(*names, keep=1)
        self._trades = self.streams.trades(*names, keep=1)
        for frame in (self._quotes, self._trades):
            frame.listen(lambda _frame: self._publish_soon(prices=True))

    def _bar_frame(self, symbol: str, timeframe: str) -> Any:
        """Minute bars rolled up to ``timeframe``; the day's bar for ``1Day``; ``None`` for
        weeks and months (read over REST, at most once a minute, when published)."""
        if timeframe == "1Day":
            frame = self.streams.daily_bars(symbol, keep=1)
        else:
            try:
                bar_minutes(timeframe)
            except StreamError:
                return None
            frame = self.streams.bars(symbol, timeframe=timeframe, keep=2)
        frame.listen(lambda _frame: self._publish_soon())
        return frame

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        with self._lock:
            if self._stop_following is not None:
                self._stop_following()
            if self._stop_watching is not None:
                self._stop_watching()
            for frame in (self._quotes, self._trades, *self._bars.values()):
                if frame is not None:
                    frame.close()
            self._bars.clear()

    # -- trade updates -------------------------------------------------------------------------
    def _seed_orders(self) -> None:
        records = self.feed.orders._call(
            "GET",
            "/v2/orders",
            params={"status": "all", "limit": _ORDER_HISTORY, "nested": "true"},
        )
        with self._lock:
            self._orders = {r["id"]: r for r in records}

    def _trade_updates(self, updates: list[Any]) -> None:
        with self._lock:
            for update in updates:
                order = dict(update.order)
                parent = order.get("parent_order_id") or None
                if parent and parent in self._orders:  # a leg: update it inside its parent
                    legs = self._orders[parent].get("legs") or []
                    self._orders[parent]["legs"] = [
                        order if leg.get("id") == order["id"] else leg for leg in legs
                    ]
                else:
                    self._orders[order["id"]] = order
        self._publish_soon(now=True)

    # -- publishing ----------------------------------------------------------------------------
    def _publish_soon(self, *, prices: bool = False, now: bool = False) -> None:
        """Ask the publisher thread for an update: at once, or for price ticks at most every
        ``PRICE_INTERVAL`` (building one and redrawing never runs on the socket thread)."""
        with self._changed:
            self._pending = True
            self._urgent = self._urgent or not prices or now
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not (self._pending or self._closed):
                    self._changed.wait()
                if self._closed:
                    return
                deadline = self._last_publish + PRICE_INTERVAL
                while not (self._urgent or self._closed) and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())  # cut short by news
                if self._closed:
                    return
                self._pending = self._urgent = False
                self._last_publish = time.monotonic()
            try:
                self.publish()
            except Exception:  # one bad update must not stop the widgets for good
                log.exception("trading_kit: the widgets' update failed")

    def publish(self) -> None:
        from .feed import AccountUpdate

        try:
            update = self.build()
        except TradingKitError as failure:
            update = AccountUpdate(self.feed.next_seq(), error=failure)
        self.feed.publish(update)

    def build(self) -> Any:
        """One ``AccountUpdate`` from what the streams keep (and REST for long bars)."""
        from .feed import AccountUpdate

        seq = self.feed.next_seq()
        with self._lock:
            records = sorted(
                self._orders.values(), key=lambda r: r.get("created_at") or "", reverse=True
            )[:_ORDER_HISTORY]
            orders = frames.orders_frame(records) if self.feed.orders is not None else None
        positions = account = None
        if self.live is not None:
            positions = frames.positions_frame(self._marked(self.live.positions()))
            account = frames.Account.from_json(self.live.account())
        return AccountUpdate(
            seq,
            orders=orders,
            positions=positions,
            account=account,
            snapshots=self._snapshots(),
            bars=self._series_bars(),
        )

    def _marked(self, positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Positions marked at the last streamed trade of their symbol."""
        if self._trades is None:
            return positions
        marked = []
        for position in positions:
            last = self._trades.latest(position["symbol"])
            qty = float(position.get("qty") or 0)
            if last is None or not qty:
                marked.append(position)
                continue
            entry = float(position.get("avg_entry_price") or 0)
            price = float(last.price)
            value = qty * price
            cost = qty * entry
            marked.append(
                {
                    **position,
                    "current_price": str(price),
                    "market_value": str(value),
                    "unrealized_pl": str(value - cost),
                    "unrealized_plpc": str((value - cost) / abs(cost)) if cost else "0",
                }
            )
        return marked

    def _snapshots(self) -> pd.DataFrame | None:
        if not self._symbols:
            return None
        rows = {}
        for symbol in sorted(self._symbols):
            quote = self._quotes.latest(symbol) if self._quotes is not None else None
            trade = self._trades.latest(symbol) if self._trades is not None else None
            rows[symbol] = {
                "latest_trade_price": trade.price if trade else float("nan"),
                "latest_quote_bid_price": quote.bid_price if quote else float("nan"),
                "latest_quote_ask_price": quote.ask_price if quote else float("nan"),
            }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "symbol"
        return frame

    def _series_bars(self) -> dict[Series, pd.DataFrame]:
        out: dict[Series, pd.DataFrame] = {}
        for (symbol, timeframe), frame in list(self._bars.items()):
            if frame is not None:
                out[(symbol, timeframe)] = frame.df
            elif time.monotonic() - self._read_at.get((symbol, timeframe), 0.0) > LONG_BARS_EVERY:
                self._read_at[(symbol, timeframe)] = time.monotonic()
                out[(symbol, timeframe)] = self.feed.data.get_bars(
                    symbol, timeframe, start=self._since.get((symbol, timeframe)),
                    use_cache=False, progress=False,
                )  # fmt: skip
        return out
