"""Live frames: the last N quotes, trades, bars or trade updates, always current.

A :class:`LiveFrame` is what ``kit.stream.quotes("AAPL")`` returns. The stream's
thread appends each batch of messages to fixed-size numpy columns (one ring per
symbol), so keeping up with tens of thousands of quotes a second costs a list pass per
field and no per-message object. ``.df`` builds the DataFrame only when asked, in
alpaca-py's ``.df`` layout: indexed by (``symbol``, ``timestamp``), tz-aware UTC, the
same columns as ``MarketData.get_quotes``/``get_trades``/``get_bars``.

Callbacks (``on=``) and ``async for`` receive one record per message (a named tuple),
on the event loop that subscribed: the notebook kernel's own loop in Jupyter, so
handlers run between cells or while a cell awaits, never on a thread of ours.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..data.frames import FIELDS
from ..errors import StreamError
from .loops import StreamLoop
from .protocol import nanoseconds

log = logging.getLogger("trading_kit")

#: Records queued for one ``async for`` before the oldest are dropped (and counted).
ITERATOR_BACKLOG = 100_000


class Quote(NamedTuple):
    symbol: str
    timestamp: pd.Timestamp
    bid_exchange: str | None
    bid_price: float
    bid_size: float
    ask_exchange: str | None
    ask_price: float
    ask_size: float
    conditions: Any
    tape: str | None


class Trade(NamedTuple):
    symbol: str
    timestamp: pd.Timestamp
    exchange: str | None
    price: float
    size: float
    id: Any
    conditions: Any
    tape: str | None


class Bar(NamedTuple):
    symbol: str
    timestamp: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: float
    vwap: float


class TradeUpdate(NamedTuple):
    """One trade update: what happened to which order, and the order as the broker has it."""

    timestamp: pd.Timestamp
    event: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    type: str | None
    qty: float
    filled_qty: float
    price: float
    fill_qty: float
    position_qty: float
    status: str
    execution_id: str | None
    order: Mapping[str, Any]


RECORDS: dict[str, type] = {
    "quotes": Quote,
    "trades": Trade,
    "bars": Bar,
    "dailyBars": Bar,
    "updatedBars": Bar,
}


def _float(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def trade_update(data: Mapping[str, Any]) -> TradeUpdate:
    """A ``trade_updates`` message's ``data`` as a :class:`TradeUpdate`."""
    order = data.get("order") or {}
    stamp = data.get("timestamp") or order.get("updated_at") or order.get("created_at")
    return TradeUpdate(
        timestamp=pd.Timestamp(nanoseconds(stamp), tz="UTC"),
        event=str(data.get("event")),
        order_id=str(order.get("id")),
        client_order_id=order.get("client_order_id"),
        symbol=str(order.get("symbol")),
        side=str(order.get("side")),
        type=order.get("type") or order.get("order_type"),
        qty=_float(order.get("qty")),
        filled_qty=_float(order.get("filled_qty")),
        price=_float(data.get("price")),
        fill_qty=_float(data.get("qty")),
        position_qty=_float(data.get("position_qty")),
        status=str(order.get("status")),
        execution_id=data.get("execution_id"),
        order=order,
    )


class _Ring:
    """Fixed-capacity typed columns; the oldest rows are overwritten."""

    def __init__(self, capacity: int, dtypes: Mapping[str, str]) -> None:
        self.capacity = capacity
        self.columns = {name: np.empty(capacity, dtype=dtype) for name, dtype in dtypes.items()}
        self.size = 0
        self.next = 0

    def extend(self, columns: Mapping[str, np.ndarray], n: int) -> None:
        if n >= self.capacity:
            columns = {name: values[n - self.capacity :] for name, values in columns.items()}
            n = self.capacity
        first = min(n, self.capacity - self.next)
        for name, values in columns.items():
            target = self.columns[name]
            target[self.next : self.next + first] = values[:first]
            target[: n - first] = values[first:]
        self.next = (self.next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def read(self) -> dict[str, np.ndarray]:
        start = (self.next - self.size) % self.capacity
        order = (np.arange(self.size) + start) % self.capacity
        return {name: values[order] for name, values in self.columns.items()}


class _Delivery:
    """Callbacks and ``async for`` consumers, each fed on its own event loop."""

    def __init__(self) -> None:
        self._handlers: list[tuple[Callable[[Any], Any], asyncio.AbstractEventLoop]] = []
        self._queues: list[tuple[asyncio.Queue, asyncio.AbstractEventLoop]] = []
        self.dropped = 0

    @property
    def wanted(self) -> bool:
        return bool(self._handlers or self._queues)

    def add_handler(self, handler: Callable[[Any], Any]) -> None:
        """``handler`` runs on the loop that registered it (the kernel's, in a notebook), or
        on the callbacks thread when none was running: never on the socket thread."""
        self._handlers.append((handler, _running_loop() or StreamLoop.get("callbacks").loop))

    def add_queue(self, queue: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
        self._queues.append((queue, loop))

    def remove_queue(self, queue: asyncio.Queue) -> None:
        self._queues = [(q, loop) for q, loop in self._queues if q is not queue]

    def deliver(self, records: Sequence[Any]) -> None:
        for handler, loop in list(self._handlers):
            if not loop.is_closed():
                loop.call_soon_threadsafe(_call, handler, records)
        for queue, loop in list(self._queues):
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._enqueue, queue, records)

    def _enqueue(self, queue: asyncio.Queue, records: Sequence[Any]) -> None:
        for record in records:
            if queue.qsize() >= ITERATOR_BACKLOG:
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(record)

    def end(self, last: Any) -> None:
        for queue, loop in list(self._queues):
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, last)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_pending: set[asyncio.Future] = set()  # coroutine handlers still running


def _call(handler: Callable[[Any], Any], records: Sequence[Any]) -> None:
    for record in records:
        try:
            result = handler(record)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                _pending.add(task)
                task.add_done_callback(_pending.discard)
        except Exception:  # a user's handler must not end the stream
            log.exception("trading_kit: a stream callback raised")


class _End:
    """Put in an iterator's queue when the frame closes (carries the error, if any)."""

    def __init__(self, error: StreamError | None) -> None:
        self.error = error


class LiveFrame:
    """The last ``keep`` messages per symbol of one subscription, plus its consumers.

    ``.df`` is the current frame; ``on=`` callbacks and ``async for`` get each new
    record; ``wait_for`` awaits one; ``table()`` shows the tail as a live widget;
    ``close()`` unsubscribes (the connection closes when nothing listens any more).
    """

    def __init__(
        self,
        kind: str,
        symbols: Iterable[str],
        keep: int,
        *,
        release: Callable[[LiveFrame], None] | None = None,
        label: str | None = None,
    ) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise StreamError(f"keep={keep!r} must be a whole number of rows, at least 1.")
        self.kind = kind
        self.symbols = tuple(symbols)
        self.keep = keep
        self.label = label or kind
        self.error: StreamError | None = None
        self.received = 0
        self.closed = False
        self._release = release
        self._lock = threading.Lock()
        self._delivery = _Delivery()
        self._listeners: list[Callable[[LiveFrame], None]] = []

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("failed" if self.error else "live")
        return (
            f"<LiveFrame {self.label} {','.join(self.symbols)}: {state}, "
            f"{self.received} received, keeps {self.keep} per symbol>"
        )

    # -- consumers -------------------------------------------------------------------
    def on(self, handler: Callable[[Any], Any]) -> LiveFrame:
        """Call ``handler(record)`` (a function or a coroutine function) for each new message."""
        if not callable(handler):
            raise StreamError(f"on={handler!r} is not callable; pass a function.")
        self._delivery.add_handler(handler)
        return self

    def listen(self, listener: Callable[[LiveFrame], None]) -> None:
        """Call ``listener(self)`` on the stream's thread after each batch (widgets use it)."""
        self._listeners.append(listener)

    def __aiter__(self) -> _Iterator:
        return _Iterator(self)

    async def wait_for(
        self, predicate: Callable[[Any], bool] | None = None, timeout: float = 30.0
    ) -> Any:
        """The next record (matching ``predicate``), or ``StreamError`` after ``timeout`` s."""
        iterator = _Iterator(self)

        async def first() -> Any:
            async for record in iterator:
                if predicate is None or predicate(record):
                    return record
            return None

        try:
            found = await asyncio.wait_for(first(), timeout)
        except asyncio.TimeoutError:
            found = None
        finally:
            iterator.close()
        if found is not None:
            return found
        raise StreamError(
            f"no matching {self.label} message within {timeout:g} s "
            f"({self.received} received so far)."
        )

    # -- the data ---------------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.df)

    # -- fed by the stream's thread -------------------------------------------------------
    def receive(self, symbol: str, messages: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _delivered(self, records: Callable[[], Sequence[Any]], count: int) -> None:
        self.received += count
        if self._delivery.wanted:
            self._delivery.deliver(records())
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:
                log.exception("trading_kit: a live-frame listener raised")

    def fail(self, error: StreamError | None) -> None:
        """The stream cannot go on: consumers get ``error``; ``.df`` keeps what arrived.

        (``None``: it dropped and is reconnecting; nothing to tell the consumers.)"""
        if error is None:
            return
        self.error = error
        self._delivery.end(_End(error))

    def close(self) -> None:
        """Unsubscribe; ``async for`` loops end, ``.df`` keeps what arrived."""
        if self.closed:
            return
        self.detach()
        if self._release is not None:
            self._release(self)

    def detach(self) -> None:
        """Closed from the stream's side (``Streams.close()``): nothing more will arrive."""
        self.closed = True
        self._delivery.end(_End(None))

    def table(self, rows: int = 10, interval: float = 0.25) -> Any:
        """A small widget showing the last ``rows`` rows, redrawn at most every ``interval`` s."""
        from .widget import LiveTable

        return LiveTable(self, rows=rows, interval=interval)


class _Iterator:
    def __init__(self, frame: LiveFrame) -> None:
        self.frame = frame
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        if frame.closed or frame.error:
            self.queue.put_nowait(_End(frame.error))
        frame._delivery.add_queue(self.queue, self.loop)

    def __aiter__(self) -> _Iterator:
        return self

    async def __anext__(self) -> Any:
        item = await self.queue.get()
        if isinstance(item, _End):
            self.close()
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        self.frame._delivery.remove_queue(self.queue)


class MarketFrame(LiveFrame):
    """Quotes, trades or bars: a typed ring of ``keep`` rows per symbol."""

    def __init__(self, kind: str, symbols: Iterable[str], keep: int, **options: Any) -> None:
        super().__init__(kind, symbols, keep, **options)
        self._fields = FIELDS["bars" if kind in ("dailyBars", "updatedBars") else kind]
        self._dtypes = {"timestamp": "int64"}
        self._dtypes.update(
            {
                name: ("object" if dtype == "object" else "float64")
                for _, name, dtype in self._fields
            }
        )
        self._rings: dict[str, _Ring] = {}
        self._record = RECORDS[kind]

    def receive(self, symbol: str, messages: list[dict[str, Any]]) -> None:
        columns = self._store(symbol, messages)
        self._delivered(lambda: self._records(symbol, columns, len(messages)), len(messages))

    def seed(self, symbol: str, messages: list[dict[str, Any]]) -> None:
        """History the frame starts with (from REST): kept, but not delivered as news."""
        if messages:
            self._store(symbol, messages)

    def _store(self, symbol: str, messages: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        n = len(messages)
        columns: dict[str, np.ndarray] = {"timestamp": _stamps(messages)}
        for key, name, dtype in self._fields:
            values = [m.get(key) for m in messages]
            if dtype == "object":
                column = np.empty(n, dtype=object)
                column[:] = values
            else:
                column = np.array(values, dtype="float64")
            columns[name] = column
        with self._lock:
            ring = self._rings.get(symbol)
            if ring is None:
                ring = self._rings[symbol] = _Ring(self._capacity(), self._dtypes)
            ring.extend(columns, n)
        return columns

    def _capacity(self) -> int:
        return self.keep

    def _records(self, symbol: str, columns: Mapping[str, np.ndarray], n: int) -> list[Any]:
        stamps = pd.DatetimeIndex(columns["timestamp"].view("datetime64[ns]")).tz_localize("UTC")
        values = [columns[name].tolist() for _, name, _ in self._fields]  # the record's order
        return [
            self._record(symbol, stamp, *row)
            for stamp, row in zip(stamps, zip(*values, strict=True), strict=True)
        ]

    def _columns(self) -> tuple[list[str], dict[str, np.ndarray]]:
        with self._lock:
            parts = {symbol: ring.read() for symbol, ring in sorted(self._rings.items())}
        symbols = [s for s, part in parts.items() for _ in range(len(part["timestamp"]))]
        data = {
            name: np.concatenate([part[name] for part in parts.values()])
            if parts
            else np.empty(0, dtype=dtype)
            for name, dtype in self._dtypes.items()
        }
        return symbols, data

    def _frame(self, symbols: list[str], data: dict[str, np.ndarray]) -> pd.DataFrame:
        stamps = pd.DatetimeIndex(data.pop("timestamp").view("datetime64[ns]"), name="timestamp")
        index = pd.MultiIndex.from_arrays(
            [pd.Index(symbols, dtype="object", name="symbol"), stamps.tz_localize("UTC")],
            names=["symbol", "timestamp"],
        )
        frame = pd.DataFrame(
            {name: _typed(data[name], dtype) for _, name, dtype in self._fields}, index=index
        )
        if not frame.index.is_unique:  # a bar sent again (gap fill, a resent frame): keep the last
            frame = frame[~frame.index.duplicated(keep="last")]
        return frame.sort_index(kind="stable")

    @property
    def df(self) -> pd.DataFrame:
        return self._frame(*self._columns())

    @property
    def last(self) -> Any:
        """The latest record of any symbol (``None`` before the first)."""
        with self._lock:
            newest: tuple[int, str, dict[str, Any]] | None = None
            for symbol, ring in self._rings.items():
                if ring.size:
                    i = (ring.next - 1) % ring.capacity
                    t = int(ring.columns["timestamp"][i])
                    if newest is None or t >= newest[0]:
                        newest = (
                            t,
                            symbol,
                            {
                                n: c[i].item() if hasattr(c[i], "item") else c[i]
                                for n, c in ring.columns.items()
                            },
                        )
        if newest is None:
            return None
        t, symbol, row = newest
        row.pop("timestamp")
        return self._record(symbol, pd.Timestamp(t, tz="UTC"), **row)

    def latest(self, symbol: str) -> Any:
        """The newest record of ``symbol`` held (``None`` before its first)."""
        with self._lock:
            ring = self._rings.get(symbol)
            if ring is None or not ring.size:
                return None
            i = (ring.next - 1) % ring.capacity
            row = {name: _scalar(column[i]) for name, column in ring.columns.items()}
        stamp = pd.Timestamp(row.pop("timestamp"), tz="UTC")
        return self._record(symbol, stamp, *(row[name] for _, name, _ in self._fields))

    def latest_time(self, symbol: str) -> pd.Timestamp | None:
        """The newest timestamp held for ``symbol`` (gap fill starts after it)."""
        with self._lock:
            ring = self._rings.get(symbol)
            if ring is None or not ring.size:
                return None
            newest = int(ring.read()["timestamp"].max())
        return pd.Timestamp(newest, tz="UTC")


class BarFrame(MarketFrame):
    """Minute bars, rolled up to ``minutes`` per bar (the newest one still forming)."""

    def __init__(self, symbols: Iterable[str], keep: int, minutes: int, **options: Any) -> None:
        self.minutes = minutes
        super().__init__("bars", symbols, keep, **options)

    def _capacity(self) -> int:
        return self.keep * self.minutes

    @property
    def df(self) -> pd.DataFrame:
        frame = super().df
        if self.minutes == 1 or frame.empty:
            return frame
        width = self.minutes * 60_000_000_000
        stamps = frame.index.get_level_values("timestamp").as_unit("ns").asi8
        buckets = pd.DatetimeIndex((stamps - stamps % width).view("datetime64[ns]"), tz="UTC")
        keys = [frame.index.get_level_values("symbol"), buckets.rename("timestamp")]
        grouped = frame.assign(pv=frame["vwap"] * frame["volume"]).groupby(keys, sort=True)
        rolled = grouped.agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
            trade_count=("trade_count", "sum"),
            pv=("pv", "sum"),
        )
        rolled["vwap"] = rolled.pop("pv") / rolled["volume"].where(rolled["volume"] > 0)
        return rolled.groupby(level="symbol", group_keys=False).tail(self.keep)


class TradeUpdateFrame(LiveFrame):
    """The last ``keep`` trade updates of the account, oldest first, indexed by time."""

    COLUMNS = (
        "event",
        "order_id",
        "client_order_id",
        "symbol",
        "side",
        "type",
        "qty",
        "filled_qty",
        "price",
        "fill_qty",
        "position_qty",
        "status",
        "execution_id",
    )

    def __init__(self, keep: int, **options: Any) -> None:
        super().__init__("trade_updates", ("*",), keep, **options)
        self._rows: deque[TradeUpdate] = deque(maxlen=keep)

    def receive(self, symbol: str, messages: list[dict[str, Any]]) -> None:
        updates = [trade_update(m) for m in messages]
        self.receive_updates(updates)

    def receive_updates(self, updates: list[TradeUpdate]) -> None:
        with self._lock:
            self._rows.extend(updates)
        self._delivered(lambda: updates, len(updates))

    @property
    def df(self) -> pd.DataFrame:
        with self._lock:
            rows = list(self._rows)
        index = pd.DatetimeIndex(
            [r.timestamp for r in rows], name="timestamp", dtype="datetime64[ns, UTC]"
        )
        data = {name: [getattr(r, name) for r in rows] for name in self.COLUMNS}
        frame = pd.DataFrame(data, index=index, columns=list(self.COLUMNS))
        for name in ("qty", "filled_qty", "price", "fill_qty", "position_qty"):
            frame[name] = frame[name].astype("float64")
        return frame

    @property
    def last(self) -> TradeUpdate | None:
        with self._lock:
            return self._rows[-1] if self._rows else None


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _stamps(messages: list[dict[str, Any]]) -> np.ndarray:
    values = [m.get("t") for m in messages]
    try:
        return np.array(values, dtype=np.int64)  # MessagePack timestamps read as int ns
    except (TypeError, ValueError):
        return np.array([nanoseconds(v) for v in values], dtype=np.int64)


def _typed(column: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int64":
        return np.nan_to_num(column.astype("float64")).astype("int64")
    return column
