"""What a strategy sees at each step of a replay: the bars that just closed, never the future.

The bars are split once into per-symbol numpy columns. At every step a symbol's
:class:`History` is a cursor into those columns, so ``history.close`` is a view of the
closes up to and including the bar that just closed: no copy, no DataFrame per bar
(``history.frame()`` builds one when asked). The views end where the exchange's clock
is, so a strategy cannot read a price it could not have known.

    Tape      the bars as columns, and the step schedule (which symbols close when)
    Step      one step: a mapping symbol -> Bar of the bars that closed at ``time``
    Bar       one closed bar, its symbol's History, and the position held
    History   views of one symbol's bars up to now
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ReplayError
from ..rules import NEW_YORK, to_utc

#: The bar columns a replay keeps (alpaca-py's ``.df`` layout); the first five are required.
COLUMNS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")
REQUIRED = COLUMNS[:5]


class History:
    """One symbol's bars up to the latest that closed: read-only numpy views.

    ``time`` holds each bar's start (UTC nanoseconds as ``datetime64[ns]``), as the
    bars' index does; the bar closed one bar length later. ``len(history)`` counts the
    bars known so far.
    """

    __slots__ = ("_columns", "_size", "symbol")

    def __init__(self, symbol: str, columns: dict[str, np.ndarray]) -> None:
        self.symbol = symbol
        self._columns = columns
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"History({self.symbol}, {self._size} bars)"

    def column(self, name: str) -> np.ndarray:
        """The column ``name`` up to now (a view: do not write to it)."""
        try:
            return self._columns[name][: self._size]
        except KeyError:
            raise ReplayError(
                f"history has no column {name!r}; it has {', '.join(self._columns)}.",
                argument="name",
            ) from None

    @property
    def time(self) -> np.ndarray:
        return self._columns["time"][: self._size]

    @property
    def open(self) -> np.ndarray:
        return self._columns["open"][: self._size]

    @property
    def high(self) -> np.ndarray:
        return self._columns["high"][: self._size]

    @property
    def low(self) -> np.ndarray:
        return self._columns["low"][: self._size]

    @property
    def close(self) -> np.ndarray:
        return self._columns["close"][: self._size]

    @property
    def volume(self) -> np.ndarray:
        return self._columns["volume"][: self._size]

    def frame(self) -> pd.DataFrame:
        """The bars so far as a DataFrame indexed by ``timestamp`` (a copy: costs a frame)."""
        index = pd.DatetimeIndex(self.time, name="timestamp").tz_localize("UTC")
        return pd.DataFrame(
            {
                name: values[: self._size].copy()
                for name, values in self._columns.items()
                if name != "time"
            },
            index=index,
        )


class Bar:
    """A bar that has just closed: its prices, its symbol's history, the position held.

    ``time`` is the bar's start (its label in the bars' index); it closed at
    ``time + resolution``, the step's time. ``position`` is the signed quantity the
    exchange's books held as the step began (resting orders that filled meanwhile
    included), before this step's orders.
    """

    __slots__ = ("_index", "history", "position", "symbol")

    def __init__(self, history: History, index: int, position: float) -> None:
        self.symbol = history.symbol
        self.history = history
        self._index = index
        self.position = position

    def __repr__(self) -> str:
        return (
            f"Bar({self.symbol} {self.time.tz_convert(NEW_YORK):%Y-%m-%d %H:%M} "
            f"o={self.open:g} h={self.high:g} l={self.low:g} c={self.close:g} "
            f"v={self.volume:g}; position {self.position:g})"
        )

    def _value(self, name: str) -> float:
        return float(self.history._columns[name][self._index])

    @property
    def time(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.history._columns["time"][self._index].view("int64")), tz="UTC")

    @property
    def open(self) -> float:
        return self._value("open")

    @property
    def high(self) -> float:
        return self._value("high")

    @property
    def low(self) -> float:
        return self._value("low")

    @property
    def close(self) -> float:
        return self._value("close")

    @property
    def volume(self) -> float:
        return self._value("volume")


class Step(Mapping[str, Bar]):
    """The bars that closed at ``time`` (the exchange's clock now), by symbol.

    A multi-symbol replay steps every symbol together: a step holds the bars of each
    symbol that closed at that instant. ``histories`` has every symbol's history (up
    to now), including symbols without a bar in this step; ``positions`` the signed
    quantity of every symbol held. ``cash`` and ``equity`` are read from the
    exchange's books when asked (as of now: this step's fills so far included).
    """

    __slots__ = ("_account", "_bars", "histories", "positions", "time")

    def __init__(
        self,
        time: pd.Timestamp,
        bars: dict[str, Bar],
        histories: dict[str, History],
        positions: dict[str, float],
        account: Callable[[], tuple[float, float]],
    ) -> None:
        self.time = time
        self._bars = bars
        self.histories = histories
        self.positions = positions
        self._account = account

    def __getitem__(self, symbol: str) -> Bar:
        try:
            return self._bars[symbol]
        except KeyError:
            known = ", ".join(self._bars) or "none"
            raise KeyError(
                f"no {symbol!r} bar closed at {self.time} (bars in this step: {known}); "
                "step.histories has every symbol's history."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._bars)

    def __len__(self) -> int:
        return len(self._bars)

    # The dict's own views and membership: Mapping's generic ones look each bar up
    # again, at every step of a strategy that loops over ``step.items()``.
    def __contains__(self, symbol: object) -> bool:
        return symbol in self._bars

    def keys(self) -> KeysView[str]:
        return self._bars.keys()

    def items(self) -> ItemsView[str, Bar]:
        return self._bars.items()

    def values(self) -> ValuesView[Bar]:
        return self._bars.values()

    def __repr__(self) -> str:
        return f"Step({self.time.tz_convert(NEW_YORK):%Y-%m-%d %H:%M} New York, {list(self._bars)})"

    @property
    def cash(self) -> float:
        return self._account()[0]

    @property
    def equity(self) -> float:
        return self._account()[1]


class Tape:
    """The bars as per-symbol columns, and the schedule of steps over them.

    ``steps`` are the distinct bar start times in [start, end), ascending; at step ``k``
    symbol ``j`` has ``counts[k, j]`` bars known, and a bar of its own when
    ``closes[k, j]``. Bars before ``start`` are history from the first step on.
    """

    def __init__(self, bars: Any, start: Any = None, end: Any = None) -> None:
        self.frame = _checked_bars(bars)
        self.symbols: list[str] = sorted(str(s) for s in self.frame.index.unique(level=0))
        self.histories: dict[str, History] = {}
        starts = []
        for symbol in self.symbols:
            rows = self.frame.xs(symbol, level=0)
            stamps = pd.DatetimeIndex(rows.index).tz_convert("UTC").as_unit("ns")
            order = np.argsort(stamps.asi8, kind="stable")
            columns = {"time": stamps.asi8[order].view("datetime64[ns]")}
            for name in COLUMNS:
                if name in rows.columns:
                    columns[name] = rows[name].to_numpy(dtype="float64")[order]
            self.histories[symbol] = History(symbol, columns)
            starts.append(columns["time"].view("int64"))
        every = np.unique(np.concatenate(starts))
        lo = 0 if start is None else int(np.searchsorted(every, _ns(start, "start"), "left"))
        hi = len(every) if end is None else int(np.searchsorted(every, _ns(end, "end"), "left"))
        self.steps = every[lo:hi]
        if not len(self.steps):
            first, last = (pd.Timestamp(int(every[i]), tz="UTC") for i in (0, -1))
            raise ReplayError(
                f"no bar starts in [start={start!r}, end={end!r}); the bars run from "
                f"{first} to {last}. Choose start and end inside that range.",
                argument="start",
            )
        self.counts = np.column_stack(
            [np.searchsorted(s, self.steps, side="right") for s in starts]
        )
        self.closes = np.column_stack(
            [
                (c > 0) & (s[np.maximum(c - 1, 0)] == self.steps)
                for s, c in zip(starts, self.counts.T, strict=True)
            ]
        )

    def __len__(self) -> int:
        return len(self.steps)


def _checked_bars(bars: Any) -> pd.DataFrame:
    """Bars in alpaca-py's ``.df`` layout, or a ``ReplayError`` saying what to pass."""
    hint = (
        "pass bars indexed by (symbol, timestamp) with columns open high low close volume, "
        "as MarketData.get_bars() returns them"
    )
    if not isinstance(bars, pd.DataFrame):
        raise ReplayError(
            f"bars must be a DataFrame, got {type(bars).__name__}; {hint}.", argument="bars"
        )
    index = bars.index
    if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
        raise ReplayError(f"bars are indexed by {list(index.names)}; {hint}.", argument="bars")
    if not isinstance(index.levels[1], pd.DatetimeIndex):
        raise ReplayError(
            f"the second index level of bars must be timestamps, got "
            f"{index.levels[1].dtype}; {hint}.",
            argument="bars",
        )
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise ReplayError(f"bars have no {', '.join(missing)} column(s); {hint}.", argument="bars")
    if bars.empty:
        raise ReplayError(f"bars are empty; {hint}.", argument="bars")
    numbers = bars[list(REQUIRED)].to_numpy(dtype="float64", na_value=np.nan)
    if not np.isfinite(numbers).all():
        row = bars.index[~np.isfinite(numbers).all(axis=1)][0]
        raise ReplayError(
            f"bars have a missing or infinite price or volume at {row}; drop or fill those "
            "rows (e.g. bars.dropna()).",
            argument="bars",
        )
    if index.has_duplicates:
        raise ReplayError(
            f"bars have more than one row for {index[index.duplicated()][0]}; keep one per "
            "symbol and time.",
            argument="bars",
        )
    return bars


def _ns(value: Any, name: str) -> int:
    try:
        return int(to_utc(value).as_unit("ns").value)
    except (TypeError, ValueError) as why:
        raise ReplayError(
            f"{name}={value!r} is not a time ({why}); pass a date or timestamp such as "
            "'2024-03-05' or '2024-03-05T14:30:00Z'.",
            argument=name,
        ) from None
