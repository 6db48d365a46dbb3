"""Bars to replay: the simulated market's regular-session minutes, as MarketData gives them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_kit.exchange import MarketHours, SimulatedMarket
from trading_kit.rules import NEW_YORK

FAST, SLOW, SHARES = 10, 30, 100


def regular_minutes(symbols: list[str], start: str, end: str) -> pd.DataFrame:
    market, hours = SimulatedMarket(), MarketHours()
    frames = {}
    for symbol in symbols:
        bars = market.bars(
            symbol, "1Min", pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
        )
        frames[symbol] = bars[hours.regular_mask(bars.index.asi8)]
    return pd.concat(frames, names=["symbol", "timestamp"])


@pytest.fixture(scope="session")
def two_days() -> pd.DataFrame:
    """AAPL, Monday 4 and Tuesday 5 March 2024, 09:30 to 16:00 New York: 780 bars."""
    return regular_minutes(["AAPL"], "2024-03-04", "2024-03-06")


@pytest.fixture(scope="session")
def basket() -> pd.DataFrame:
    """Three symbols on Tuesday 5 March 2024; MSFT has no bars from 11:00 to 11:30."""
    bars = regular_minutes(["AAPL", "MSFT", "NVDA"], "2024-03-05", "2024-03-06")
    local = bars.index.get_level_values("timestamp").tz_convert(NEW_YORK)
    gap = (
        (bars.index.get_level_values("symbol") == "MSFT") & (local.hour == 11) & (local.minute < 30)
    )
    return bars[~gap]


def flat_minutes(stamps: pd.DatetimeIndex) -> np.ndarray:
    """The last two bars of each session."""
    day = stamps.tz_convert(NEW_YORK).normalize().asi8
    last = np.r_[day[1:] != day[:-1], True]
    return last | np.r_[last[1:], False]


class Crossover:
    """Long ``SHARES`` while the 10-bar mean close is above the 30-bar one; flat in the
    last two minutes of each session (notebook 04's rule)."""

    def __init__(self, bars: pd.DataFrame) -> None:
        self.flat = {
            s: flat_minutes(bars.xs(s, level="symbol").index) for s in bars.index.unique(0)
        }

    def on_bar(self, step, kit) -> None:
        for symbol, bar in step.items():
            close = bar.history.close
            n = len(close)
            want = 0
            if n >= SLOW and not self.flat[symbol][n - 1]:
                want = SHARES if close[-FAST:].mean() > close[-SLOW:].mean() else 0
            if want > bar.position:
                kit.orders.place_order(symbol, qty=want - bar.position, side="buy")
            elif want < bar.position:
                kit.orders.close_position(symbol)


def targets(bars: pd.DataFrame, symbol: str) -> pd.Series:
    """The crossover's shares wanted after each bar of ``symbol`` closes, over the whole
    column, with the strategy's own arithmetic (each window's numpy mean)."""
    close = bars.xs(symbol, level="symbol")["close"]
    values = close.to_numpy()
    means = {}
    for window in (FAST, SLOW):
        means[window] = np.full(len(values), np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(values, window)
        means[window][window - 1 :] = windows.mean(axis=1)
    long = (means[FAST] > means[SLOW]) & ~flat_minutes(close.index)
    return pd.Series(np.where(long, SHARES, 0), index=close.index)


def expected_fills(bars: pd.DataFrame) -> pd.DataFrame:
    """Each change of target, at the close plus or minus a tick (the replayed quote),
    one minute after the bar's start."""
    rows = []
    for symbol in bars.index.unique(level="symbol"):
        wanted = targets(bars, symbol)
        close = bars.xs(symbol, level="symbol")["close"]
        change = np.diff(wanted.to_numpy(), prepend=0)
        for i in np.flatnonzero(change):
            buy = change[i] > 0
            rows.append(
                (
                    close.index[i] + pd.Timedelta("1min"),
                    symbol,
                    "buy" if buy else "sell",
                    float(abs(change[i])),
                    round(close.iloc[i] + (0.01 if buy else -0.01), 2),
                )
            )
    frame = pd.DataFrame(rows, columns=["time", "symbol", "side", "qty", "price"])
    return frame.sort_values(["time", "symbol"], kind="stable", ignore_index=True)
