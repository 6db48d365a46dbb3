"""Which stretch of the bars a chart shows, and at which timeframe: pure, no plotly.

The default view is the latest few hundred candles of the requested timeframe, as
many as the chart's width draws at least 5 px apart (150 to 300). Zooming or panning
gives a new visible range; its candles are the finest standard timeframe with at most
that many candles in view. What is sent to the browser is the visible candles and up
to as many again on each side (so a pan shows candles at once while the next view is
computed): never more than three screens' worth, however many bars the range holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .candles import DURATION, BarSeries, Candles

#: Candles in view before the browser has said how wide the chart is.
DEFAULT_CANDLES = 200
MIN_CANDLES, MAX_CANDLES = 150, 300
#: Horizontal pixels per candle at most-zoomed-out: candles stay at least 3 px wide.
PX_PER_CANDLE = 5


def visible_candles(width_px: float | None) -> int:
    """How many candles fit the chart's plot width."""
    if not width_px or width_px <= 0:
        return DEFAULT_CANDLES
    return int(min(MAX_CANDLES, max(MIN_CANDLES, width_px // PX_PER_CANDLE)))


@dataclass(frozen=True)
class View:
    """A visible range (UTC) and the candles drawn for it."""

    start: pd.Timestamp
    end: pd.Timestamp
    candles: Candles
    following: bool  # the latest bar is in view: new bars scroll the view along


def right_margin(timeframe: str, candles: int) -> pd.Timedelta:
    """Room right of the last candle: it is not clipped, and the price tags have space."""
    return DURATION[timeframe] * max(3, candles // 25)


def default_range(series: BarSeries, candles: int) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The latest ``candles`` bars of the series' own timeframe (``None`` without bars)."""
    if not len(series):
        return None
    index = series.frame.index
    first = index[max(0, len(index) - candles)]
    half = DURATION[series.timeframe] / 2  # room for the first candle's left half
    return first - half, index[-1] + right_margin(series.timeframe, candles)


def view_of(series: BarSeries, start: pd.Timestamp, end: pd.Timestamp, candles: int) -> View:
    """The candles for the visible range [start, end] with at most ``candles`` in view."""
    timeframe = series.fitting(start, end, candles)
    span = end - start
    drawn = series.candles(timeframe, start - span, end + span)
    frame = drawn.frame
    first = int(frame.index.searchsorted(start, "left"))
    last = int(frame.index.searchsorted(end, "right"))
    frame = frame.iloc[max(0, first - candles) : last + candles]
    following = series.last is None or end >= series.last
    return View(start, end, Candles(frame, drawn.timeframe, drawn.base), following)
