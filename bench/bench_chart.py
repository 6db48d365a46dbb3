"""Benchmark PriceChart in Python on a long range: 100,000 one-minute bars to a drawable chart.

    python bench/bench_chart.py [--bars 100000] [--repeat 5]

Builds the chart from a bars frame shaped like ``MarketData.get_bars`` (so the HTTP
fetch is not timed; see bench_market_data.py for that), static and with its widget,
and reports the median build time, the candles drawn for the default view and for
every bar (a double-click), and the widget state a notebook sends to the browser.
Anchor, same run: the same bars drawn as-is with ``go.Candlestick`` (what a researcher
would otherwise write), and plotly's ``go.FigureWidget`` of them.
Targets: build < 1 s, at most 1,000 candles drawn at any zoom, widget state < 1 MB.
(The browser side, time to visible, is bench_chart_browser.py.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from trading_kit.ui import PriceChart


def synthetic_bars(n: int, symbol: str = "AAPL") -> pd.DataFrame:
    """``n`` regular-session minute bars (a random walk), indexed like get_bars."""
    sessions = pd.bdate_range("2023-01-02", periods=n // 390 + 2, tz="America/New_York")
    minutes = pd.timedelta_range("9:30:00", periods=390, freq="1min")
    stamps = (sessions.repeat(390) + np.tile(minutes, len(sessions)))[:n].tz_convert("UTC")
    rng = np.random.default_rng(0)
    close = 150 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.04, n))
    index = pd.MultiIndex.from_arrays([[symbol] * n, stamps], names=["symbol", "timestamp"])
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype("float64"),
        },
        index=index,
    )


def timed(repeat: int, build) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = build()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def state_bytes(widget) -> int:
    return len(json.dumps(widget.get_state(), default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bars = synthetic_bars(args.bars)
    print(f"{args.bars:,} one-minute bars, median of {args.repeat} builds")
    for label, interactive in (("static figure", False), ("with its widget", True)):
        seconds, chart = timed(
            args.repeat,
            lambda i=interactive: PriceChart(None, "AAPL", "1Min", bars=bars, interactive=i),
        )
        view = chart.view
        print(
            f"  PriceChart, {label:16s} {seconds * 1000:7.1f} ms   default view: "
            f"{len(view.candles.frame):,} {view.candles.timeframe} candles drawn"
        )
    chart.show_all()
    print(
        f"  every bar (double-click)           {len(chart.candles):,} "
        f"{chart.view.candles.timeframe} candles drawn"
    )
    print(f"  widget state                       {state_bytes(chart.widget) / 1e6:.3f} MB")
    flat = bars.xs("AAPL", level="symbol")
    candles = go.Candlestick(
        x=flat.index, open=flat["open"], high=flat["high"], low=flat["low"], close=flat["close"]
    )
    seconds, raw = timed(1, lambda: go.Figure(candles))
    print(
        f"  anchor: go.Candlestick of every bar {seconds * 1000:7.1f} ms   "
        f"{len(flat):,} candles   figure JSON {len(raw.to_json()) / 1e6:.1f} MB"
    )
    seconds, widget = timed(1, lambda: go.FigureWidget(candles))
    print(
        f"  anchor: go.FigureWidget of them     {seconds * 1000:7.1f} ms   "
        f"widget state {state_bytes(widget) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
