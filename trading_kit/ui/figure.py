"""The chart's plotly figure as plain dicts: one builder for the live widget and the static copy.

Pure functions of a :class:`~.view.View`, the order levels, fills and the last price, so
what the chart draws is tested without a browser. The live widget sends this figure
to plotly.js as it is; ``PriceChart.to_figure()`` wraps the same dict in a
``go.Figure`` for static output.

Layout choices, each for readability: one shared time axis in New York time with the
market's closed hours and days hidden; the price axis on the right fitted to the
visible candles (an order far from the market becomes a tag at the top or bottom edge
with its price, instead of squashing the candles); volume in its own strip below; no
legend (hover says what a marker is) and the title at the left, so neither collides
with plotly's toolbar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..rules import NEW_YORK
from . import style
from .candles import DURATION
from .overlays import Fill, Level, price_text
from .view import View

PRICE_DOMAIN = (0.24, 1.0)
VOLUME_DOMAIN = (0.0, 0.19)
PENDING_COLOR = "#9e9e9e"
LAST_COLOR = "#5c6bc0"  # indigo: neither a buy nor a sell


@dataclass(frozen=True)
class Mark:
    """A line the chart shows somewhere other than its order says: being replaced, or
    proposed and awaiting confirmation."""

    state: str  # "pending" (a replace is in flight) or "proposed" (asks to confirm)
    price: float


def local_times(index: pd.Index | Sequence[Any]) -> np.ndarray:
    """Timestamps as naive New York wall-clock times (what plotly's date axis shows)."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is None:
        stamps = stamps.tz_localize("UTC")
    return stamps.tz_convert(NEW_YORK).tz_localize(None).to_numpy().astype("datetime64[s]")


def iso(index: pd.Index | Sequence[Any]) -> list[str]:
    """New York wall-clock times as ISO strings (plotly.js reads them as dates)."""
    return [str(t) for t in np.datetime_as_string(local_times(index), unit="s")]


def from_axis(value: Any) -> pd.Timestamp:
    """A date from plotly's x axis (New York wall time) as a UTC timestamp."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(NEW_YORK, ambiguous=False, nonexistent="shift_forward")
    return stamp.tz_convert("UTC")


def rangebreaks(index: pd.Index, timeframe: str) -> list[dict[str, Any]]:
    """Hide weekends, holidays and (for intraday candles) the hours with no bars at all."""
    if len(index) < 2:
        return []
    local = pd.DatetimeIndex(local_times(index))
    days = local.normalize().unique()
    missing = pd.date_range(days[0], days[-1], freq="D").difference(days)
    breaks: list[dict[str, Any]] = []
    if not (days.day_of_week >= 5).any():  # no weekend trading (an always-open market has it)
        breaks.append({"bounds": ["sat", "mon"]})
        missing = missing[missing.day_of_week < 5]
    if len(missing):
        breaks.append({"values": [d.strftime("%Y-%m-%d") for d in missing]})
    step = DURATION[timeframe]
    if step < pd.Timedelta(hours=4) or (step == pd.Timedelta(hours=4) and len(days) > 1):
        minutes = local.hour * 60 + local.minute
        first = int(minutes.min())
        last = int(minutes.max()) + step.total_seconds() / 60
        if last - first < 24 * 60 - 30:
            breaks.append({"pattern": "hour", "bounds": [last / 60, first / 60]})
    return breaks


def price_range(
    view: View, levels: Sequence[Level], last: float | None
) -> tuple[float, float] | None:
    """The price axis: the candles in view, the last price, and the lines close to them."""
    frame = view.candles.frame
    shown = frame[(frame.index >= view.start) & (frame.index <= view.end)]
    if shown.empty:
        shown = frame
    prices = [float(shown["low"].min()), float(shown["high"].max())] if len(shown) else []
    if last is not None and view.following:  # the latest price only beside the latest bar
        prices.append(last)
    if not prices:
        return None
    low, high = min(prices), max(prices)
    pad = (high - low) * 0.06 or max(abs(high) * 0.005, 0.01)
    low, high = low - pad, high + pad
    near = [lv.price for lv in levels if low - 2 * pad <= lv.price <= high + 2 * pad]
    if near:
        low, high = min(low, min(near) - pad / 2), max(high, max(near) + pad / 2)
    return low, high


def _color(level: Level, mark: Mark | None) -> str:
    if mark is not None and mark.state == "pending":
        return PENDING_COLOR
    return style.ENTRY if level.kind == "entry" else style.side_color(level.side)


def _text(level: Level, mark: Mark | None, *, grab: bool = True) -> str:
    if mark is None:
        return level.label + (" ⇕" if level.editable and grab else "")
    moved = level.moved(mark.price).label
    if mark.state == "pending":
        return f"{moved} · replacing…"
    return f"{moved} ? confirm below"


def _line(level: Level, mark: Mark | None) -> dict[str, Any]:
    price = mark.price if mark is not None else level.price
    dash = {"limit": "solid", "stop": "dash", "entry": "dot"}[level.kind]
    if mark is not None:
        dash = "dot" if mark.state == "pending" else "dashdot"
    color = _color(level, mark)
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": price,
        "y1": price,
        "name": level.key,
        "line": {"color": color, "width": 2 if level.editable else 1, "dash": dash},
        "label": {
            "text": _text(level, mark),
            "textposition": "start",
            "yanchor": "bottom",
            "font": {"size": 11, "color": color},
        },
    }


def _edge_tag(level: Level, mark: Mark | None, above: bool, slot: int) -> dict[str, Any]:
    """An order beyond the price axis: a tag at the top or bottom edge with its price."""
    return {
        "xref": "paper",
        "x": 0,
        "xanchor": "left",
        "yref": "paper",
        "y": PRICE_DOMAIN[1] if above else PRICE_DOMAIN[0],
        "yanchor": "top" if above else "bottom",
        "yshift": -16 * slot if above else 16 * slot,
        "text": ("▲ " if above else "▼ ") + _text(level, mark, grab=False),
        "showarrow": False,
        "font": {"size": 11, "color": _color(level, mark)},
        "bgcolor": "rgba(128,128,128,0.12)",
        "name": level.key,
    }


def _last_tag(price: float) -> dict[str, Any]:
    return {
        "xref": "paper",
        "x": 1,
        "xanchor": "left",
        "yref": "y",
        "y": price,
        "text": price_text(price),
        "showarrow": False,
        "font": {"size": 11, "color": "white"},
        "bgcolor": LAST_COLOR,
        "name": "last",
    }


def overlay(
    levels: Sequence[Level],
    marks: Mapping[str, Mark],
    y_range: tuple[float, float] | None,
    last: float | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shapes (lines in range) and annotations (edge tags, the last-price tag)."""
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    slots = {True: 0, False: 0}
    for level in levels:
        mark = marks.get(level.key)
        price = mark.price if mark is not None else level.price
        if y_range is None or y_range[0] <= price <= y_range[1]:
            shapes.append(_line(level, mark))
            continue
        above = price > y_range[1]
        notes.append(_edge_tag(level, mark, above, slots[above]))
        slots[above] += 1
    if last is not None and (y_range is None or y_range[0] <= last <= y_range[1]):
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": last,
                "y1": last,
                "name": "last",
                "line": {"color": LAST_COLOR, "width": 1, "dash": "dot"},
            }
        )
        notes.append(_last_tag(last))
    return shapes, notes


def handles(
    levels: Sequence[Level], marks: Mapping[str, Mark], y_range: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """What the browser needs to let the mouse grab the lines: one entry per line in view."""
    out = []
    for level in levels:
        mark = marks.get(level.key)
        price = mark.price if mark is not None else level.price
        if y_range is not None and not y_range[0] <= price <= y_range[1]:
            continue
        out.append(
            {
                "key": level.key,
                "price": price,
                "editable": level.editable,
                "state": mark.state if mark is not None else "",
                "label": level.label,
                "color": _color(level, mark),
            }
        )
    return out


def _fill_trace(items: Sequence[Fill], side: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{side} fills",
        "x": iso([f.time for f in items]) if items else [],
        "y": [f.price for f in items],
        "hovertext": [f"{f.side.upper()} {f.qty:g} @ {price_text(f.price)}" for f in items],
        "hoverinfo": "text",
        "marker": {
            "symbol": "triangle-up" if side == "buy" else "triangle-down",
            "size": 11,
            "color": style.side_color(side),
            "line": {"width": 1, "color": "white"},
        },
        "xaxis": "x",
        "yaxis": "y",
    }


def _values(column: pd.Series) -> list[float]:
    return np.round(column.to_numpy(dtype="float64"), 4).tolist()


def title(symbol: str, view: View | None, base: str) -> str:
    if view is None or view.candles.frame.empty:
        return f"{symbol} · {base} · no bars in this range"
    candles = view.candles
    shown = f"{base} bars shown as {candles.timeframe}" if candles.aggregated else base
    return f"<b>{symbol}</b> · {shown} · New York time"


def figure(
    *,
    symbol: str,
    base: str,
    view: View | None,
    levels: Sequence[Level],
    marks: Mapping[str, Mark],
    fills: Sequence[Fill],
    last: float | None,
    height: int,
    revision: int = 0,
) -> dict[str, Any]:
    """The whole figure: candles, volume, order lines and tags, fills, the last price."""
    frame = view.candles.frame if view is not None else pd.DataFrame(columns=list("ohlcv"))
    x = iso(frame.index) if len(frame) else []
    data: list[dict[str, Any]] = []
    if len(frame):
        up = frame["close"].to_numpy() >= frame["open"].to_numpy()
        data = [
            {
                "type": "candlestick",
                "name": symbol,
                "x": x,
                "open": _values(frame["open"]),
                "high": _values(frame["high"]),
                "low": _values(frame["low"]),
                "close": _values(frame["close"]),
                "increasing": {"line": {"color": style.BUY}, "fillcolor": style.BUY},
                "decreasing": {"line": {"color": style.SELL}, "fillcolor": style.SELL},
                "xaxis": "x",
                "yaxis": "y",
            },
            {
                "type": "bar",
                "name": "volume",
                "x": x,
                "y": _values(frame["volume"]),
                "marker": {"color": np.where(up, style.BUY, style.SELL).tolist()},
                "opacity": 0.5,
                "hoverinfo": "y",
                "xaxis": "x",
                "yaxis": "y2",
            },
        ]
    buys = [f for f in fills if f.side == "buy"]
    sells = [f for f in fills if f.side == "sell"]
    data += [_fill_trace(buys, "buy"), _fill_trace(sells, "sell")]
    y_range = price_range(view, levels, last) if view is not None and len(frame) else None
    shapes, notes = overlay(levels, marks, y_range, last)
    xaxis: dict[str, Any] = {
        "type": "date",
        "anchor": "y2",
        "gridcolor": style.GRID,
        "rangeslider": {"visible": False},
        "showspikes": True,
        "spikemode": "across",
        "spikethickness": 1,
        "uirevision": revision,
    }
    if view is not None and len(frame):
        xaxis["range"] = iso([view.start, view.end])
        xaxis["rangebreaks"] = rangebreaks(frame.index, view.candles.timeframe)
    yaxis: dict[str, Any] = {
        "domain": list(PRICE_DOMAIN),
        "side": "right",
        "fixedrange": True,  # the chart fits prices to the candles in view
        "gridcolor": style.GRID,
        "zeroline": False,
        "tickformat": ",.2f",
    }
    if y_range is not None:
        yaxis["range"] = list(y_range)
    volume: dict[str, Any] = {
        "domain": list(VOLUME_DOMAIN),
        "side": "right",
        "fixedrange": True,
        "showgrid": False,
        "zeroline": False,
        "tickformat": "~s",
    }
    if view is not None and len(frame):
        shown = frame[(frame.index >= view.start) & (frame.index <= view.end)]
        top = float(shown["volume"].max()) if len(shown) else float(frame["volume"].max())
        volume["range"] = [0, (top or 1) * 1.1]
    layout = {
        "title": {
            "text": title(symbol, view, base),
            "x": 0.01,
            "xanchor": "left",
            "y": 0.985,
            "yanchor": "top",
            "font": {"size": 14},
        },
        "height": height,
        "autosize": True,
        "margin": {"l": 10, "r": 70, "t": 36, "b": 44},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": style.TEXT},
        "showlegend": False,
        "hovermode": "x",
        "dragmode": "zoom",
        "bargap": 0,
        "xaxis": xaxis,
        "yaxis": yaxis,
        "yaxis2": volume,
        "shapes": shapes,
        "annotations": notes,
        "uirevision": "trading-kit-chart",
    }
    return {"data": data, "layout": layout}


#: plotly.js options: the toolbar without the tools that make no sense here.
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "doubleClick": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
}
