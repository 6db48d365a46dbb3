"""One shared refresher per account: where every widget gets its account, order and price news.

Charts, tickets and blotters of one account subscribe to the same :class:`AccountFeed`,
so one thread reads the account, its recent orders, the positions, the latest trade
and quote of the symbols on screen and the bars the charts draw, once per interval,
however many widgets are open, and hands each subscriber the same
:class:`AccountUpdate`. The thread starts with the first subscriber and stops when the
last one leaves (a widget's ``close()``) or the process exits.

The feed follows the account's streams (:class:`~.stream_source.StreamSource`): trade
updates, quotes, trades and bars from the websockets, each change published as it
arrives, with no timer at all. Only when no stream can be opened does it poll, once per
interval, and it says so once. Either way the widgets get the same ``AccountUpdate``.

Updates are numbered when their read starts, and one older than an update already
published is dropped: a poll that began before a replace cannot redraw the replaced
order after the fresh read that follows the replace.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from ..errors import TradingKitError
from ..orders.frames import TERMINAL_STATUSES
from .poller import Poller
from .stream_source import StreamSource

log = logging.getLogger("trading_kit")

#: Seconds between reads against the local exchange (no rate limit to spare).
LOCAL_INTERVAL = 1.0
#: Share of an account's rate budget the widgets may spend, on Alpaca.
BUDGET_SHARE = 0.25
_ORDER_HISTORY = 500

Series = tuple[str, str]  # (symbol, timeframe)


@dataclass(frozen=True)
class AccountUpdate:
    """One consistent read of an account and the prices its widgets show.

    ``orders`` holds the recent orders, open and closed (legs as rows), or ``None``
    when the feed has no ``Orders``; ``bars`` the bars of each watched series from the
    time asked (the one in progress included). ``error`` says why a read failed, and
    then the rest is ``None`` or empty.
    """

    seq: int
    orders: pd.DataFrame | None = None
    positions: pd.DataFrame | None = None
    account: Any = None
    snapshots: pd.DataFrame | None = None
    bars: Mapping[Series, pd.DataFrame] = field(default_factory=dict)
    error: TradingKitError | None = None

    @property
    def open_orders(self) -> pd.DataFrame | None:
        if self.orders is None:
            return None
        return self.orders[~self.orders["status"].isin(TERMINAL_STATUSES)]

    def _snapshot(self, symbol: str, column: str) -> float | None:
        frame = self.snapshots
        if frame is None or symbol not in frame.index or column not in frame:
            return None
        value = frame.at[symbol, column]
        return None if pd.isna(value) else float(value)

    def quote(self, symbol: str) -> tuple[float, float] | None:
        """``(bid, ask)`` of ``symbol``, if watched and quoted."""
        bid = self._snapshot(symbol, "latest_quote_bid_price")
        ask = self._snapshot(symbol, "latest_quote_ask_price")
        return None if bid is None or ask is None else (bid, ask)

    def last_price(self, symbol: str) -> float | None:
        return self._snapshot(symbol, "latest_trade_price")


class Subscription:
    """A subscriber's interest: its callback, the symbols it shows and the bars it draws.

    ``series`` maps ``(symbol, timeframe)`` to the time from which bars are wanted; the
    subscriber moves it forward as bars arrive. ``close()`` unsubscribes.
    """

    def __init__(
        self,
        feed: AccountFeed,
        callback: Callable[[AccountUpdate], None],
        symbols: Iterable[str],
        series: Mapping[Series, pd.Timestamp | None],
    ) -> None:
        self.feed = feed
        self.callback = callback
        self.symbols = tuple(symbols)
        self.series = dict(series)
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.feed._unsubscribe(self)


class AccountFeed:
    """The refresher of one account (one ``HttpStack``): ``AccountFeed.of(data, orders)``."""

    _feeds: ClassVar[dict[int, AccountFeed]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    _said_polling: ClassVar[bool] = False

    def __init__(self, data: Any, orders: Any = None, *, interval: float | None = None) -> None:
        self.data = data
        self.orders = orders
        self.interval = interval if interval is not None else _interval(data)
        self.latest: AccountUpdate | None = None
        self._subscribers: list[Subscription] = []
        self._lock = threading.RLock()  # subscribers
        self._publish_lock = threading.Lock()
        self._published = -1
        self._numbers = itertools.count()
        self._poller: Poller | None = None
        self._source: StreamSource | None = None

    @classmethod
    def of(cls, data: Any, orders: Any = None) -> AccountFeed:
        """The shared feed of the account ``data`` (a ``MarketData``) and ``orders`` talk to.

        (A widget that does not follow the account reads through a private
        ``AccountFeed(data, orders)`` instead.)
        """
        stack = (data or orders._data)._stack
        with cls._registry_lock:
            feed = cls._feeds.get(id(stack))
            if feed is None:
                feed = cls._feeds[id(stack)] = cls(data or orders._data, orders)
            elif feed.orders is None and orders is not None:
                feed.orders = orders
            return feed

    def __repr__(self) -> str:
        return (
            f"AccountFeed(subscribers={len(self._subscribers)}, interval={self.interval:g}s, "
            f"running={self.running})"
        )

    # -- subscribers ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.streaming or (self._poller is not None and self._poller.running)

    @property
    def streaming(self) -> bool:
        """True while the streams, not a timer, keep the widgets current."""
        return self._source is not None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(
        self,
        callback: Callable[[AccountUpdate], None],
        *,
        symbols: Iterable[str] = (),
        series: Mapping[Series, pd.Timestamp | None] | None = None,
    ) -> Subscription:
        """Call ``callback(update)`` after every read until the subscription is closed."""
        subscription = Subscription(self, callback, symbols, series or {})
        with self._lock:
            self._subscribers.append(subscription)
            if not self.running:
                self._start()
            else:
                self._follow_interests()
        return subscription

    def _start(self) -> None:
        """Follow the streams; poll only if they cannot be opened (and say so, once)."""
        source = StreamSource(self)
        try:
            source.open()
            self._source = source
            self._follow_interests()
        except TradingKitError as failure:
            source.close()
            self._source = None
            self._poll(failure)

    def _follow_interests(self) -> None:
        if self._source is None:
            return
        symbols, series = self._interests()
        try:
            self._source.interests(symbols, series)
        except TradingKitError as failure:  # e.g. more symbols than the feed allows
            source, self._source = self._source, None
            source.close()
            self._poll(failure)

    def _poll(self, why: TradingKitError) -> None:
        if not AccountFeed._said_polling:
            AccountFeed._said_polling = True
            log.warning(
                "trading_kit: the widgets poll every %gs: no stream could be opened (%s)",
                self.interval,
                why,
            )
        self._poller = Poller(self.interval, self._tick, self._failed, name="trading-kit-feed")

    def _unsubscribe(self, subscription: Subscription) -> None:
        with AccountFeed._registry_lock, self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)
            if self._subscribers:
                self._follow_interests()
                return
            poller, self._poller = self._poller, None
            source, self._source = self._source, None
            for key in [k for k, f in AccountFeed._feeds.items() if f is self]:
                del AccountFeed._feeds[key]  # the next widget starts afresh
        if source is not None:
            source.close()
        if poller is not None:  # joined outside the locks: a tick in progress needs them
            poller.stop()

    def stop(self) -> None:
        """Stop following the streams or polling (the next subscriber starts it again)."""
        with self._lock:
            poller, self._poller = self._poller, None
            source, self._source = self._source, None
        if source is not None:
            source.close()
        if poller is not None:
            poller.stop()

    def next_seq(self) -> int:
        """The number of the next update (updates older than one published are dropped)."""
        return next(self._numbers)

    # -- reading ----------------------------------------------------------------------
    def fetch(
        self,
        symbols: Iterable[str] = (),
        series: Mapping[Series, pd.Timestamp | None] | None = None,
    ) -> AccountUpdate:
        """Read the account, orders, positions, and the given symbols and bar series now."""
        seq = next(self._numbers)
        try:
            orders = positions = account = None
            if self.orders is not None:
                account = self.orders.get_account()
                orders = self.orders.get_orders("all", limit=_ORDER_HISTORY)
                positions = self.orders.get_positions()
            names = sorted(set(symbols))
            snapshots = self.data.get_snapshots(names, use_cache=False) if names else None
            bars = {
                (symbol, timeframe): self.data.get_bars(
                    symbol, timeframe, start=since, use_cache=False, progress=False
                )
                for (symbol, timeframe), since in (series or {}).items()
                if since is not None
            }
        except TradingKitError as failure:
            return AccountUpdate(seq, error=failure)
        return AccountUpdate(seq, orders, positions, account, snapshots, bars)

    def refresh(self) -> AccountUpdate:
        """Read now for every subscriber and publish (after an action, not to wait a tick)."""
        symbols, series = self._interests()
        update = self.fetch(symbols, series)
        self.publish(update)
        return update

    def publish(self, update: AccountUpdate) -> bool:
        """Hand ``update`` to every subscriber, unless a newer one was published already."""
        with self._publish_lock:
            if update.seq <= self._published:
                return False
            self._published = update.seq
            if update.error is None:
                self.latest = update
            with self._lock:
                subscribers = list(self._subscribers)
            for subscription in subscribers:
                if subscription.closed:
                    continue
                try:
                    subscription.callback(update)
                except Exception:  # one widget's bug must not silence the others
                    log.exception("trading_kit: a widget failed to take an account update")
        return True

    def _interests(self) -> tuple[set[str], dict[Series, pd.Timestamp | None]]:
        symbols: set[str] = set()
        series: dict[Series, pd.Timestamp | None] = {}
        with self._lock:
            for subscription in self._subscribers:
                symbols.update(subscription.symbols)
                for key, since in subscription.series.items():
                    known = series.get(key)
                    series[key] = since if known is None or (since and since < known) else known
        return symbols, series

    def _tick(self) -> bool:
        self.refresh()
        return True

    def _failed(self, failure: Exception) -> None:
        log.warning("trading_kit: the widgets' refresher failed: %s", failure)

    @classmethod
    def stop_all(cls) -> None:
        with cls._registry_lock:
            feeds = list(cls._feeds.values())
        for feed in feeds:
            feed.stop()


def _interval(data: Any) -> float:
    """1 s on the local exchange; on Alpaca, slow enough to leave the budget to research."""
    settings = data._stack.settings
    if settings.is_loopback:
        return LOCAL_INTERVAL
    per_read = 5  # account, orders, positions, snapshots, one bar series
    per_minute = max(settings.requests_per_minute * BUDGET_SHARE, 1)
    return max(LOCAL_INTERVAL, 60 * per_read / per_minute)


atexit.register(AccountFeed.stop_all)
