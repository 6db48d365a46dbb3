"""Benchmark the tear sheet on a year of one-minute bars and a crossover's fills.

    python bench/bench_tearsheet.py [--repeat 5]

A year of NYSE regular-session minutes (exchange-calendars' sessions, early closes
included) of a random walk; the 10/30 moving-average crossover of issue 12 (long 100
shares while the fast average is above the slow one, flat at each close) filled at
the close, and its equity marked to the close every minute. Times ``tearsheet()``
(checks, metrics, drawdowns, FIFO round trips, buy-and-hold), each figure, and the
size of what a notebook would store (the figures' JSON). The anchor, in the same run:
the floor, empyrical's own ratio calls on the same returns (what the tear sheet adds
on top of the library is the rest of the time).
Targets: tear sheet < 1 s, every figure < 1 MB of JSON.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import empyrical
import exchange_calendars as xcals
import numpy as np
import pandas as pd

from trading_kit.analytics import tearsheet

SHARES = 100


def year_of_minutes(year: int = 2023) -> pd.DataFrame:
    """Bars labelled by their start, as MarketData gives them: (symbol, timestamp)."""
    calendar = xcals.get_calendar("XNYS")
    sessions = calendar.sessions_in_range(f"{year}-01-01", f"{year}-12-31")
    starts = calendar.sessions_minutes(sessions[0], sessions[-1])
    rng = np.random.default_rng(0)
    close = 150 * np.cumprod(1 + rng.normal(0, 4e-4, len(starts)))
    index = pd.MultiIndex.from_arrays(
        [["AAPL"] * len(starts), starts], names=["symbol", "timestamp"]
    )
    return pd.DataFrame(
        {"open": close, "high": close * 1.0005, "low": close * 0.9995, "close": close},
        index=index,
    )


def crossover(bars: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Equity at each bar's end and the fills of the crossover, filled at the close."""
    close = bars["close"].droplevel("symbol")
    ends = close.index + pd.Timedelta("1min")
    day = close.index.tz_convert("America/New_York").normalize()
    last_of_day = np.r_[day[1:] != day[:-1], True]
    target = (close.rolling(10).mean() > close.rolling(30).mean()).astype(float) * SHARES
    target[last_of_day] = 0.0
    change = target.diff().fillna(target)
    traded = change != 0
    fills = pd.DataFrame(
        {
            "symbol": "AAPL",
            "side": np.where(change[traded] > 0, "buy", "sell"),
            "qty": change[traded].abs().to_numpy(),
            "price": close[traded].to_numpy(),
            "time": ends[traded.to_numpy()],
        }
    )
    held = target.shift(fill_value=0.0).to_numpy()
    pnl = held * close.diff().fillna(0.0).to_numpy()
    equity = pd.Series(100_000 + np.cumsum(pnl), index=ends, name="equity")
    return equity, fills


def timed(repeat: int, build: Callable[[], Any]) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = build()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bars = year_of_minutes()
    equity, fills = crossover(bars)
    returns = equity.pct_change().dropna()
    periods = 252 * 390

    def floor() -> None:
        for ratio in (
            empyrical.annual_return,
            empyrical.annual_volatility,
            empyrical.sharpe_ratio,
            empyrical.sortino_ratio,
            empyrical.calmar_ratio,
        ):
            ratio(returns, annualization=periods)
        empyrical.max_drawdown(returns)

    floor_s, _ = timed(args.repeat, floor)
    sheet_s, sheet = timed(args.repeat, lambda: tearsheet(equity, fills=fills, prices=bars))
    print(
        f"{len(bars):,} one-minute bars, {len(fills):,} fills, {len(sheet.round_trips):,} round trips"
    )
    print(f"  {sheet.frequency}")
    print(f"  empyrical ratios alone (floor)   {floor_s * 1e3:8.1f} ms")
    print(
        f"  tearsheet()                      {sheet_s * 1e3:8.1f} ms   {sheet_s / floor_s:6.1f}x the floor"
    )
    for name in ("equity_figure", "monthly_returns_figure", "trades_figure"):
        seconds, figure = timed(args.repeat, getattr(sheet, name))
        size = len(figure.to_json())
        print(f"  {name:<32} {seconds * 1e3:8.1f} ms   {size / 1e6:6.2f} MB of JSON")
    print(repr(sheet))


if __name__ == "__main__":
    main()
