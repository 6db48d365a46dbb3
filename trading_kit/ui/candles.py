"""The candles a chart draws for a view: the bars asked for, or a standard coarser timeframe.

A screen holds a few hundred readable candles; a range may hold 100,000 bars. When the
view spans too many bars they are aggregated to the next standard timeframe that fits
(``5Min`` bars shown as ``15Min``, then ``1Hour``…), never to "candles of 2 bars", and
the title says so. Zooming in re-aggregates finer from the same bars, down to the
requested timeframe; nothing is fetched again.

Buckets follow Alpaca's (and the local exchange's) rule: minute and hour bars floor UTC
time, day, week and month bars are New York calendar days. A candle is stamped with
its first bar's time, so it stands where trading happened (inside the hours the
chart's rangebreaks keep). ``numpy.ufunc.reduceat`` makes one aggregation of 100,000
bars a few milliseconds, so it runs on every zoom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.timeframes import TIMEFRAMES, duration, parse_timeframe
from ..rules import NEW_YORK

OHLCV = ("open", "high", "low", "close", "volume")
_DAY_NS = 86_400 * 10**9
#: The nominal length of each standard timeframe, for drawing: a month counted as 30
#: days (``duration`` counts 31, the longest, to tell when a bar is complete).
DURATION = {name: pd.Timedelta(duration(name)) for name in TIMEFRAMES} | {
    "1Month": pd.Timedelta(days=30)
}


def single_symbol(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """One symbol's bars indexed by timestamp, from MarketData's (symbol, timestamp) frame."""
    if isinstance(bars.index, pd.MultiIndex):
        if symbol in bars.index.get_level_values("symbol"):
            return bars.xs(symbol, level="symbol")
        return bars.iloc[0:0].droplevel("symbol")
    return bars


def coarser(timeframe: str) -> tuple[str, ...]:
    """``timeframe`` and every standard timeframe above it, finest first."""
    return TIMEFRAMES[TIMEFRAMES.index(parse_timeframe(timeframe)) :]


def buckets(stamps: pd.DatetimeIndex, timeframe: str) -> np.ndarray:
    """The bucket of each timestamp as an int64 key, non-decreasing for sorted stamps."""
    stamps = pd.DatetimeIndex(stamps).as_unit("ns")
    ns = stamps.asi8
    unit = timeframe.lstrip("0123456789")
    if unit in ("Min", "Hour"):
        width = DURATION[timeframe].value
        return ns - ns % width
    days = stamps.tz_convert(NEW_YORK).tz_localize(None).asi8 // _DAY_NS
    if unit == "Day":
        return days
    if unit == "Week":
        return days - (days + 3) % 7  # 1970-01-01 was a Thursday; weeks start on Monday
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


@dataclass(frozen=True)
class Candles:
    """Candles to draw: ``frame`` (OHLCV, indexed by each candle's first bar time, UTC)."""

    frame: pd.DataFrame
    timeframe: str  # what each candle spans
    base: str  # the timeframe of the bars they were made from

    @property
    def aggregated(self) -> bool:
        return self.timeframe != self.base


class BarSeries:
    """One symbol's bars of one timeframe, aggregated on demand to coarser timeframes.

    ``append`` merges newer bars (a bar already held is replaced: the one in progress
    grows until its minute, or hour, is over).
    """

    def __init__(self, bars: pd.DataFrame, timeframe: str) -> None:
        self.timeframe = parse_timeframe(timeframe)
        self._set(bars)

    def _set(self, bars: pd.DataFrame) -> None:
        index = pd.DatetimeIndex(bars.index)
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        index = index.as_unit("ns")  # searched with Timestamp.value, which is nanoseconds
        frame = bars.loc[:, list(OHLCV)].astype("float64").set_axis(index)
        self.frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        self._ns = self.frame.index.asi8
        self._keys: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def first(self) -> pd.Timestamp | None:
        return self.frame.index[0] if len(self.frame) else None

    @property
    def last(self) -> pd.Timestamp | None:
        return self.frame.index[-1] if len(self.frame) else None

    def append(self, bars: pd.DataFrame) -> bool:
        """Merge newer bars; returns whether anything changed."""
        if bars is None or bars.empty:
            return False
        new = BarSeries(bars, self.timeframe).frame
        merged = pd.concat([self.frame[~self.frame.index.isin(new.index)], new])
        if merged.shape == self.frame.shape and merged.sort_index().equals(self.frame):
            return False
        self._set(merged)
        return True

    def keys(self, timeframe: str) -> np.ndarray:
        if timeframe not in self._keys:
            self._keys[timeframe] = buckets(self.frame.index, timeframe)
        return self._keys[timeframe]

    def _span(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> tuple[int, int]:
        lo = 0 if start is None else int(np.searchsorted(self._ns, start.value, "left"))
        hi = len(self._ns) if end is None else int(np.searchsorted(self._ns, end.value, "right"))
        return lo, max(lo, hi)

    def count(
        self, timeframe: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> int:
        """How many ``timeframe`` candles have bars between ``start`` and ``end``."""
        lo, hi = self._span(start, end)
        if hi <= lo:
            return 0
        keys = self.keys(timeframe)[lo:hi]
        return 1 + int(np.count_nonzero(keys[1:] != keys[:-1]))

    def fitting(
        self, start: pd.Timestamp | None, end: pd.Timestamp | None, max_candles: int
    ) -> str:
        """The finest timeframe, from the bars' own up, with at most ``max_candles`` in view."""
        for timeframe in coarser(self.timeframe):
            if self.count(timeframe, start, end) <= max_candles:
                return timeframe
        return TIMEFRAMES[-1]

    def candles(
        self,
        timeframe: str | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> Candles:
        """Candles of ``timeframe`` (default: the bars' own) with bars in [start, end].

        Whole buckets only: a window that starts inside a bucket takes all of it.
        """
        timeframe = parse_timeframe(timeframe or self.timeframe)
        lo, hi = self._span(start, end)
        keys = self.keys(timeframe)
        if hi > lo and timeframe != self.timeframe:
            lo = int(np.searchsorted(keys, keys[lo], "left"))
            hi = int(np.searchsorted(keys, keys[hi - 1], "right"))
        window = self.frame.iloc[lo:hi]
        if timeframe == self.timeframe or window.empty:
            return Candles(window, timeframe, self.timeframe)
        keys = keys[lo:hi]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)] - 1
        columns = {name: window[name].to_numpy() for name in OHLCV}
        frame = pd.DataFrame(
            {
                "open": columns["open"][starts],
                "high": np.maximum.reduceat(columns["high"], starts),
                "low": np.minimum.reduceat(columns["low"], starts),
                "close": columns["close"][ends],
                "volume": np.add.reduceat(columns["volume"], starts),
            },
            index=window.index[starts],
        )
        return Candles(frame, timeframe, self.timeframe)
