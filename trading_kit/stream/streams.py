"""``kit.stream``: live quotes, trades, bars and trade updates of one account.

>>> quotes = kit.stream.quotes("AAPL", "MSFT")           # returns at once; data keep flowing
>>> quotes.df                                             # the last 1,000 quotes per symbol
>>> bars = kit.stream.bars("AAPL", timeframe="5Min", on=print)
>>> fills = kit.stream.trade_updates()
>>> update = await fills.wait_for(lambda u: u.event == "fill")   # in a notebook cell
>>> async for quote in quotes: ...                                 # on the kernel's loop

One connection per account and stream, as Alpaca allows: every frame of a feed shares
it, and it closes when the last frame does. A subscription is confirmed by the server
before the call returns (a few milliseconds), so a refused one (too many symbols, bad
keys) raises a ``StreamError`` in the cell that asked. After a drop the connection is
reopened with backoff, subscriptions are sent again, and bars missed while it was down
are fetched over REST (a log line says so).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import StreamError, TradingKitError
from . import protocol
from .connection import DEFAULT_TIMEOUT, Connection, DataProtocol, TradingProtocol
from .live import BarFrame, LiveFrame, MarketFrame, TradeUpdate, TradeUpdateFrame
from .loops import StreamLoop

log = logging.getLogger("trading_kit")

TradeUpdateConsumer = Callable[[list[TradeUpdate]], None]
GapHandler = Callable[[pd.Timestamp, pd.Timestamp], None]


class Streams:
    """The live streams of one account (one ``HttpStack``): ``Streams.of(data, orders)``."""

    _registry: ClassVar[dict[tuple[str, str, str | None], Streams]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        data: Any,
        *,
        feed: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        backoff: tuple[float, float] | None = None,
    ) -> None:
        self.data = data
        self.settings = data._stack.settings
        self.feed = protocol.feed(feed or data.feed or "iex")
        self.timeout = timeout
        self._backoff = backoff
        self._loop = StreamLoop.get()
        self._data: dict[str, Connection] = {}
        self._trading: Connection | None = None
        self._gap_handlers: list[GapHandler] = []
        self._followers: list[Any] = []
        self._frames: weakref.WeakSet[LiveFrame] = weakref.WeakSet()

    @classmethod
    def of(cls, data: Any) -> Streams:
        """The streams of the account ``data`` (a ``MarketData``) talks to: one per account
        (its key at its servers), however many clients or caches a notebook makes."""
        settings = data._stack.settings
        key = (settings.trading_url, settings.data_url, settings.api_key)  # one per account
        with cls._registry_lock:
            streams = cls._registry.get(key)
            if streams is None:
                streams = cls._registry[key] = cls(data)
            return streams

    def __repr__(self) -> str:
        connections = [*self._data.values(), *([self._trading] if self._trading else [])]
        states = ", ".join(f"{c.name}: {c.state}" for c in connections) or "nothing open"
        return f"<Streams {states}>"

    @property
    def status(self) -> dict[str, str]:
        """Each open stream's state: ``open``, ``reconnecting``, ``failed`` or ``closed``."""
        out = {name: conn.state for name, conn in self._data.items()}
        if self._trading is not None:
            out["trade_updates"] = self._trading.state
        return out

    # -- market data --------------------------------------------------------------------
    def quotes(
        self, *symbols: str, on: Callable | None = None, keep: int = 1000, feed: str | None = None
    ) -> MarketFrame:
        """Live quotes of ``symbols`` (``"*"`` for all): a frame of the last ``keep`` per symbol."""
        return self._market("quotes", symbols, on, keep, feed)

    def trades(
        self, *symbols: str, on: Callable | None = None, keep: int = 1000, feed: str | None = None
    ) -> MarketFrame:
        """Live trades of ``symbols``: a frame of the last ``keep`` per symbol."""
        return self._market("trades", symbols, on, keep, feed)

    def bars(
        self,
        *symbols: str,
        timeframe: Any = "1Min",
        on: Callable | None = None,
        keep: int = 500,
        feed: str | None = None,
    ) -> BarFrame:
        """Live bars: 1-minute bars as each minute closes, rolled up to ``timeframe``
        (up to ``4Hour``; the newest bar is the one forming). ``on`` gets each minute bar.

        The minutes of the forming bar that closed before the subscription are read over
        REST, so even the first rolled-up bar is whole."""
        name, minutes = protocol.bar_minutes(timeframe)
        names = protocol.symbols(symbols, f"bars({name})")
        frame = BarFrame(names, keep, minutes, label=f"{name} bars")
        self._subscribe("bars", frame, on, feed)
        if minutes > 1:
            for symbol in names:
                if symbol != "*":
                    frame.seed(symbol, self._forming_bar(symbol, minutes))
        return frame

    def _forming_bar(self, symbol: str, minutes: int) -> list[dict[str, Any]]:
        """The minute bars of ``symbol``'s bucket of ``minutes`` forming now, from REST (the
        broker's clock says when "now" is: a local exchange may run on a manual clock)."""
        try:
            clock = self.data._stack.request(
                "GET", self.settings.trading_url + "/v2/clock", use_cache=False
            ).json()
            now = pd.Timestamp(clock["timestamp"]).tz_convert("UTC")
            width = pd.Timedelta(minutes=minutes)
            start = _floor(now, width)
            recent = self.data.get_bars(
                symbol, "1Min", start=start, end=now, use_cache=False, progress=False
            )
        except (TradingKitError, KeyError, ValueError) as failure:
            log.warning("trading_kit: the forming %s bar starts empty (%s)", symbol, failure)
            return []
        return _bar_messages(recent)

    def daily_bars(
        self, *symbols: str, on: Callable | None = None, keep: int = 10, feed: str | None = None
    ) -> MarketFrame:
        """The day's bar of each symbol as it forms (sent after every minute of the session)."""
        return self._market("dailyBars", symbols, on, keep, feed)

    def _market(
        self, channel: str, symbols: tuple, on: Callable | None, keep: int, feed: str | None
    ) -> MarketFrame:
        names = protocol.symbols(symbols, channel)
        return self._subscribe(channel, MarketFrame(channel, names, keep), on, feed)

    def _subscribe(self, channel: str, frame: Any, on: Callable | None, feed: str | None) -> Any:
        self._frames.add(frame)
        if on is not None:
            frame.on(on)
        name = protocol.feed(feed) if feed else self.feed
        conn = self._data_connection(name)
        frame._release = lambda f: self._loop.spawn(self._remove(name, conn, channel, f))
        self._run(self._add(name, conn, channel, frame))
        return frame

    async def _add(self, feed: str, conn: Connection, channel: str, frame: LiveFrame) -> None:
        new = conn.protocol.add(channel, frame.symbols, frame)
        try:
            await conn.start()
            if new and conn.state == "open":  # while reconnecting, the resend will carry it
                doing = f"subscribing to {channel} of {_named(new)} on the {feed} feed"
                answer = await conn.request(
                    protocol.subscription("subscribe", {channel: new}), doing
                )
                if answer.get("T") == "error":
                    raise protocol.stream_error(answer.get("code"), str(answer.get("msg")), doing)
        except BaseException:
            conn.protocol.remove(channel, frame.symbols, frame)
            await self._close_if_idle(feed, conn)
            raise

    async def _remove(self, feed: str, conn: Connection, channel: str, frame: LiveFrame) -> None:
        gone = conn.protocol.remove(channel, frame.symbols, frame)
        if await self._close_if_idle(feed, conn) or not gone or conn.state != "open":
            return
        try:
            await conn.request(
                protocol.subscription("unsubscribe", {channel: gone}), "unsubscribing"
            )
        except StreamError as failure:
            if conn.state == "open":  # (a connection closing meanwhile unsubscribes everything)
                log.warning("trading_kit: %s", failure)

    async def _close_if_idle(self, feed: str, conn: Connection) -> bool:
        if conn.protocol.routes:
            return False
        if self._data.get(feed) is conn:
            del self._data[feed]
        await conn.close()
        return True

    def _data_connection(self, feed: str) -> Connection:
        conn = self._data.get(feed)
        if conn is None or conn.state in ("failed", "closed"):
            conn = self._data[feed] = Connection(
                f"{feed} market-data",
                self.settings.data_stream_url(feed),
                self._credentials(),
                DataProtocol(feed),
                timeout=self.timeout,
                on_reconnect=lambda down, back: self._fill_gap(feed, down, back),
                **({"backoff": self._backoff} if self._backoff else {}),
            )
        return conn

    async def _fill_gap(self, feed: str, down: pd.Timestamp, back: pd.Timestamp) -> None:
        """Bars that closed while the stream was down, fetched over REST into the frames."""
        conn = self._data.get(feed)
        if conn is None:
            return
        frames = {
            id(frame): frame
            for (channel, _), frames in list(conn.protocol.routes.items())
            if channel == "bars"
            for frame in frames
        }
        loop = asyncio.get_running_loop()
        for frame in frames.values():
            for symbol in frame.symbols:
                since = frame.latest_time(symbol) if symbol != "*" else None
                if since is None:  # nothing received yet: no gap to fill
                    continue
                start = since + pd.Timedelta(minutes=1)
                try:
                    bars = await loop.run_in_executor(None, self._rest_bars, symbol, start)
                except TradingKitError as failure:
                    log.warning("trading_kit: could not fill the %s bars gap: %s", symbol, failure)
                    continue
                if bars:
                    frame.receive(symbol, bars)
                log.warning(
                    "trading_kit: the %s stream was down %s to %s; filled %d missed 1Min "
                    "bar(s) of %s over REST.",
                    feed,
                    down.strftime("%H:%M:%S"),
                    back.strftime("%H:%M:%S UTC"),
                    len(bars),
                    symbol,
                )

    def _rest_bars(self, symbol: str, start: pd.Timestamp) -> list[dict[str, Any]]:
        frame = self.data.get_bars(symbol, "1Min", start=start, use_cache=False, progress=False)
        return _bar_messages(frame)

    def latest_quote(self, symbol: str) -> Any:
        """The newest streamed quote of ``symbol`` (a ``Quote``), if a quote stream for it is
        open and connected; ``None`` otherwise."""
        best = None
        for conn in list(self._data.values()):
            if conn.state != "open":
                continue
            for frame in conn.protocol.routes.get(("quotes", symbol), []):
                quote = frame.latest(symbol)
                if quote is not None and (best is None or quote.timestamp > best.timestamp):
                    best = quote
        return best

    # -- trade updates --------------------------------------------------------------------
    def trade_updates(self, *, on: Callable | None = None, keep: int = 1000) -> TradeUpdateFrame:
        """Every order event of the account (``new``, ``fill``, ``partial_fill``, ``canceled``…)."""
        frame = TradeUpdateFrame(keep)
        self._frames.add(frame)
        if on is not None:
            frame.on(on)
        stop = self.follow(frame.receive_updates, failed=frame.fail)
        frame._release = lambda _: stop()
        return frame

    def follow(
        self,
        consumer: TradeUpdateConsumer,
        *,
        failed: Callable[[StreamError], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``consumer(updates)`` on the stream thread for every trade update; opens the
        trading stream if needed (``StreamError`` if it cannot). Returns the unfollow."""
        conn = self._trading_connection()
        proto: TradingProtocol = conn.protocol
        proto.consumers.append(consumer)
        if failed is not None:
            proto.failures.append(failed)
        opening = conn.state != "open"
        try:
            self._run(conn.start())
        except BaseException:
            self._unfollow(conn, consumer, failed)
            raise
        if opening and not self._loop.here:
            for follower in self._followers:  # seeded once the stream listens
                follower.started()
        return lambda: self._unfollow(conn, consumer, failed)

    def add_follower(self, follower: Any) -> None:
        """Keep ``follower`` (``Orders.live``) current whenever the trade-update stream is open:
        ``started()`` once it listens, ``updates(list)`` on the stream thread for each update,
        ``gap(down, back)`` after a reconnect, ``stopped(error)`` when it ends."""
        if follower in self._followers:
            return
        self._followers.append(follower)
        self.on_gap(follower.gap)
        if self._trading is not None:
            self._attach(self._trading, follower)
            if self.trading_live:
                follower.started()

    def _attach(self, conn: Connection, follower: Any) -> None:
        proto: TradingProtocol = conn.protocol
        proto.consumers.append(follower.updates)
        proto.failures.append(follower.stopped)

    def on_gap(self, handler: GapHandler) -> None:
        """Call ``handler(down, back)`` (on a worker thread) after the trading stream was down."""
        self._gap_handlers.append(handler)

    def _unfollow(self, conn: Connection, consumer: Any, failed: Any) -> None:
        proto: TradingProtocol = conn.protocol
        if consumer in proto.consumers:
            proto.consumers.remove(consumer)
        if failed in proto.failures:
            proto.failures.remove(failed)
        followers = [f.updates for f in self._followers]
        if self._trading is conn and all(c in followers for c in proto.consumers):
            self._trading = None  # only the followers listen: nobody asked for the stream
            for follower in self._followers:
                follower.stopped(None)
            self._loop.spawn(conn.close())

    @property
    def trading_live(self) -> bool:
        """True while the trade-update stream is open (local state can be trusted)."""
        return self._trading is not None and self._trading.state == "open"

    def _trading_connection(self) -> Connection:
        if self._trading is None or self._trading.state in ("failed", "closed"):
            self._trading = Connection(
                "trade-updates",
                self.settings.trading_stream_url,
                self._credentials(),
                TradingProtocol(),
                timeout=self.timeout,
                on_reconnect=self._trading_gap,
                **({"backoff": self._backoff} if self._backoff else {}),
            )
            for follower in self._followers:
                self._attach(self._trading, follower)
        return self._trading

    async def _trading_gap(self, down: pd.Timestamp, back: pd.Timestamp) -> None:
        loop = asyncio.get_running_loop()
        for handler in list(self._gap_handlers):
            try:
                await loop.run_in_executor(None, handler, down, back)
            except Exception:
                log.exception("trading_kit: catching up after the trade-update gap failed")

    # -- plumbing ---------------------------------------------------------------------
    def _credentials(self) -> tuple[str, str]:
        headers = self.settings.auth_headers
        return headers["APCA-API-KEY-ID"], headers["APCA-API-SECRET-KEY"]

    def _run(self, work: Any) -> Any:
        if self._loop.here:  # called from a callback on the stream thread: do not wait
            return self._loop.spawn(work)
        return self._loop.run(work, timeout=3 * self.timeout + 1)

    def close(self) -> None:
        """Close every stream of this account (frames keep what they received)."""
        connections = [*self._data.values(), *([self._trading] if self._trading else [])]
        self._data.clear()
        self._trading = None
        for frame in list(self._frames):
            frame.detach()
        for follower in self._followers:
            follower.stopped(None)
        for conn in connections:
            if self._loop.here:
                self._loop.spawn(conn.close())
            else:
                self._loop.run(conn.close(), timeout=self.timeout)
        with Streams._registry_lock:
            for key in [k for k, s in Streams._registry.items() if s is self]:
                del Streams._registry[key]


def _floor(moment: pd.Timestamp, width: pd.Timedelta) -> pd.Timestamp:
    """``moment`` down to a multiple of ``width`` since the epoch (UTC), as the roll-up does."""
    return pd.Timestamp(moment.value - moment.value % width.value, tz="UTC")


def _bar_messages(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A ``get_bars`` frame as stream bar messages (``t`` in UTC nanoseconds)."""
    if frame.empty:
        return []
    stamps = frame.index.get_level_values("timestamp").as_unit("ns").asi8.tolist()
    columns = {
        key: frame[name].to_numpy(dtype=np.float64).tolist()
        for key, name in (
            ("o", "open"),
            ("h", "high"),
            ("l", "low"),
            ("c", "close"),
            ("v", "volume"),
            ("n", "trade_count"),
            ("vw", "vwap"),
        )
    }
    return [
        {"t": int(t), **{key: values[i] for key, values in columns.items()}}
        for i, t in enumerate(stamps)
    ]


def _named(symbols: list[str]) -> str:
    """The symbols of a request, shortened when there are many (the error names the count)."""
    if len(symbols) <= 6:
        return ", ".join(symbols)
    return f"{len(symbols)} symbols ({', '.join(symbols[:3])}, …, {symbols[-1]})"
