"""The tear sheet's plotly figures: equity over drawdown, monthly returns, trades on the
price, and the slippage distribution.

Static ``go.Figure`` objects built from plain frames (no widget, no request), so they
render in a notebook, export to HTML or PNG, and cost nothing to rebuild. Times are
New York wall-clock time, as everywhere a researcher reads them. Long series are
folded to at most ``MAX_POINTS`` points (a screen's width): the equity keeps the last
value of each group and the drawdown its deepest, so the worst point always shows,
and a notebook's stored output stays small.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..rules import NEW_YORK
from .performance import drawdown
from .periods import spacing

#: Points drawn per series at most; candles at most.
MAX_POINTS = 2_000
MAX_CANDLES = 600
# The widgets' palette (trading_kit.ui.style): mid tones that read on light and dark.
GAIN = "#26a69a"
LOSS = "#ef5350"
NEUTRAL = "#8c8c8c"
GRID = "rgba(128, 128, 128, 0.25)"
BENCHMARK = "#7e57c2"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def equity_figure(
    equity: pd.Series, benchmark: pd.Series | None = None, *, height: int = 460
) -> go.Figure:
    """Equity (and the benchmark rescaled to the same start) above the drawdown."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.04
    )
    group = _group_size(len(equity), MAX_POINTS)
    shown = _fold(equity, group, "last")
    fig.add_trace(
        go.Scatter(x=_local(shown.index), y=shown.to_numpy(), name="strategy", line_color=GAIN),
        row=1,
        col=1,
    )
    if benchmark is not None:
        scaled = _fold(benchmark / benchmark.iloc[0] * equity.iloc[0], group, "last")
        fig.add_trace(
            go.Scatter(
                x=_local(scaled.index),
                y=scaled.to_numpy(),
                name=str(benchmark.name).replace("_", " "),
                line={"color": BENCHMARK, "dash": "dot"},
            ),
            row=1,
            col=1,
        )
    under = _fold(drawdown(equity), group, "min")
    fig.add_trace(
        go.Scatter(
            x=_local(under.index),
            y=under.to_numpy() * 100,
            name="drawdown",
            fill="tozeroy",
            line={"color": LOSS, "width": 1},
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    folded = f" (one point per {group} bars)" if group > 1 else ""
    _layout(fig, f"Equity and drawdown{folded}", height, equity.index)
    fig.update_yaxes(title_text="equity ($)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown (%)", row=2, col=1)
    return fig


def monthly_returns_figure(returns: pd.Series, *, height: int | None = None) -> go.Figure:
    """Compounded return of each New York calendar month, years down, months across."""
    local = returns.index.tz_convert(NEW_YORK)
    growth = 1.0 + returns
    monthly = growth.groupby([local.year, local.month]).prod() - 1.0
    yearly = growth.groupby(local.year).prod() - 1.0
    grid = monthly.unstack().reindex(columns=range(1, 13)) * 100
    labels = [f"{year} ({yearly.loc[year]:+.1%})" for year in grid.index]
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v:+.2f}%")
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(MONTHS),
            y=labels,
            text=text.to_numpy(),
            texttemplate="%{text}",
            colorscale=[[0.0, LOSS], [0.5, "rgba(128,128,128,0.15)"], [1.0, GAIN]],
            zmid=0,
            hovertemplate="%{y} %{x}: %{z:+.2f}%<extra></extra>",
            colorbar={"title": {"text": "%"}},
        )
    )
    fig.update_layout(
        title={"text": "Monthly returns (New York months)", "font": {"size": 14}},
        height=height or 140 + 40 * len(grid),
        margin={"l": 110, "r": 20, "t": 50, "b": 30},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": NEUTRAL},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    return fig


def trades_figure(
    symbol: str,
    bars: pd.DataFrame,
    fills: pd.DataFrame,
    trips: pd.DataFrame,
    *,
    height: int = 460,
) -> go.Figure:
    """``symbol``'s price (candles, or a close line), its fills as triangles, and each
    round trip as a line from entry to exit: green when it made money, red when not."""
    fig = go.Figure()
    group = _group_size(len(bars), MAX_CANDLES)
    if {"open", "high", "low"} <= set(bars.columns):
        candles = _candles(bars, group)
        fig.add_trace(
            go.Candlestick(
                x=_local(candles.index),
                open=candles["open"],
                high=candles["high"],
                low=candles["low"],
                close=candles["close"],
                name=symbol,
                increasing={"line": {"color": GAIN}, "fillcolor": GAIN},
                decreasing={"line": {"color": LOSS}, "fillcolor": LOSS},
                opacity=0.55,
                showlegend=False,
            )
        )
    else:
        close = _fold(bars["close"], _group_size(len(bars), MAX_POINTS), "last")
        fig.add_trace(
            go.Scatter(x=_local(close.index), y=close.to_numpy(), name=symbol, line_color=NEUTRAL)
        )
    shown_from = bars.index[0]
    shown_to = bars.index[-1] + (spacing(bars.index) if len(bars) > 1 else pd.Timedelta(0))
    mine = trips[(trips["symbol"] == symbol) & (trips["exit_time"] >= shown_from)]
    for name, won, color in (("winning", True, GAIN), ("losing", False, LOSS)):
        part = mine[(mine["pnl"] > 0) == won]
        x, y, text = _segments(part)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"{name} round trips ({len(part)})",
                line={"color": color, "width": 2},
                hovertext=text,
                hoverinfo="text",
            )
        )
    own = fills[(fills["symbol"] == symbol) & fills["time"].between(shown_from, shown_to)]
    for side, marker, color in (("buy", "triangle-up", GAIN), ("sell", "triangle-down", LOSS)):
        part = own[own["side"].str.startswith(side)]
        fig.add_trace(
            go.Scatter(
                x=_local(pd.DatetimeIndex(part["time"])),
                y=part["price"].to_numpy(),
                mode="markers",
                name=f"{side}s ({len(part)})",
                marker={"symbol": marker, "size": 9, "color": color},
                hovertext=[
                    f"{side} {q:g} @ {p:,.2f}"
                    for q, p in zip(part["qty"], part["price"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    folded = f" (candles of {group} bars)" if group > 1 else ""
    _layout(fig, f"{symbol}: trades on the price{folded}", height, bars.index)
    fig.update_layout(xaxis_rangeslider_visible=False)
    fig.update_yaxes(title_text="price ($)")
    return fig


def slippage_figure(orders: pd.DataFrame, *, height: int = 360) -> go.Figure:
    """Histogram of each filled order's slippage (bps of the arrival mid), by side."""
    fig = go.Figure()
    for side, color in (("buy", GAIN), ("sell", LOSS)):
        part = orders[orders["side"] == side]["slippage_bps"]
        fig.add_trace(
            go.Histogram(
                x=part.to_numpy(), name=f"{side} ({len(part)})", marker_color=color, opacity=0.6
            )
        )
    fig.add_vline(x=0, line={"color": NEUTRAL, "dash": "dot"})
    if len(orders):
        weighted = float(np.average(orders["slippage_bps"], weights=orders["traded_value"]))
        title = (
            f"Slippage vs arrival mid: {weighted:+.2f} bps value-weighted over {len(orders)} orders"
        )
    else:
        title = "Slippage vs arrival mid: no filled order had a quote at submission"
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        barmode="overlay",
        height=height,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": NEUTRAL},
        xaxis={"title": {"text": "bps (positive: worse than the mid)"}, "gridcolor": GRID},
        yaxis={"title": {"text": "orders"}, "gridcolor": GRID},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


# -- pieces -----------------------------------------------------------------------------
def _local(index: pd.Index) -> np.ndarray:
    """New York wall-clock times (microseconds: plotly's widgets misread nanoseconds)."""
    stamps = pd.DatetimeIndex(index)
    return stamps.tz_convert(NEW_YORK).tz_localize(None).to_numpy().astype("datetime64[us]")


def _group_size(count: int, cap: int) -> int:
    return max(1, math.ceil(count / cap))


def _fold(series: pd.Series, group: int, how: str) -> pd.Series:
    """Every ``group`` consecutive values as one, at the group's last time."""
    if group == 1:
        return series
    keys = np.arange(len(series)) // group
    values = series.groupby(keys).agg(how)
    return values.set_axis(series.index[series.groupby(keys).cumcount(ascending=False) == 0])


def _candles(bars: pd.DataFrame, group: int) -> pd.DataFrame:
    """Exact OHLC of every ``group`` consecutive bars, at the group's first time."""
    if group == 1:
        return bars
    keys = np.arange(len(bars)) // group
    folded = bars.groupby(keys).agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    return folded.set_axis(bars.index[::group])


def _segments(trips: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry-to-exit lines for one scatter trace: (entry, exit, gap) per round trip."""
    count = len(trips)
    x = np.full(3 * count, np.datetime64("NaT"), dtype="datetime64[us]")
    y = np.full(3 * count, np.nan)
    x[0::3], x[1::3] = _local(trips["entry_time"]), _local(trips["exit_time"])
    y[0::3], y[1::3] = trips["entry_price"].to_numpy(), trips["exit_price"].to_numpy()
    labels = [
        f"{d} {q:g}: {a:,.2f} → {b:,.2f}, P&L {p:+,.2f} ({r:+.2%})"
        for d, q, a, b, p, r in zip(
            trips["direction"],
            trips["qty"],
            trips["entry_price"],
            trips["exit_price"],
            trips["pnl"],
            trips["return"],
            strict=True,
        )
    ]
    text = np.full(3 * count, "", dtype=object)
    text[0::3] = text[1::3] = labels
    return x, y, text


def _layout(fig: go.Figure, title: str, height: int, index: pd.Index) -> None:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 30},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": NEUTRAL},
        hovermode="closest",
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    fig.update_xaxes(gridcolor=GRID, rangebreaks=_rangebreaks(pd.DatetimeIndex(index)))
    fig.update_yaxes(gridcolor=GRID, zeroline=False)


def _rangebreaks(index: pd.DatetimeIndex) -> list[dict]:
    """Hide weekends (when no bar falls on one) and, for intraday bars, the night."""
    if len(index) < 2:
        return []
    local = index.tz_convert(NEW_YORK)
    breaks: list[dict] = []
    if not (local.day_of_week >= 5).any():
        breaks.append({"bounds": ["sat", "mon"]})
    hours = local.hour + local.minute / 60
    if local.normalize().nunique() > 1 and (local[1:] - local[:-1]).min() < pd.Timedelta(hours=4):
        first, last = float(hours.min()), float(hours.max())
        if last - first < 23:
            breaks.append({"pattern": "hour", "bounds": [last + 1 / 60, first]})
    return breaks
