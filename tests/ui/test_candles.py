"""Candles for a view: standard timeframes only, exact OHLCV, the exchange's own buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SESSION_TIME
from trading_kit.ui.candles import BarSeries, buckets, coarser, single_symbol


def minute_bars(n: int, start: str = "2024-03-05 14:30") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    return pd.DataFrame(
        {
            "open": close - 0.05,
            "high": close + rng.uniform(0, 0.2, n),
            "low": close - rng.uniform(0.05, 0.2, n),
            "close": close,
            "volume": rng.integers(1, 1_000, n).astype(float),
            "trade_count": 1.0,
        },
        index=pd.Index(stamps, name="timestamp"),
    )


def test_the_bars_own_timeframe_is_drawn_as_it_is() -> None:
    frame = minute_bars(50)
    candles = BarSeries(frame, "1Min").candles()
    assert candles.timeframe == "1Min" and not candles.aggregated
    pd.testing.assert_frame_equal(
        candles.frame,
        frame[["open", "high", "low", "close", "volume"]],
        check_names=False,
        check_index_type=False,  # nanoseconds here, whatever unit the input had
    )


def test_a_coarser_timeframe_keeps_exact_ohlcv_per_bucket() -> None:
    frame = minute_bars(40)  # 14:30 .. 15:09: 15-minute buckets 14:30, 14:45, 15:00
    candles = BarSeries(frame, "1Min").candles("15Min")
    assert candles.aggregated and candles.timeframe == "15Min"
    assert list(candles.frame.index) == list(frame.index[[0, 15, 30]])
    first, last = candles.frame.iloc[0], candles.frame.iloc[-1]
    assert first["open"] == frame["open"].iloc[0]
    assert first["high"] == frame["high"].iloc[:15].max()
    assert first["low"] == frame["low"].iloc[:15].min()
    assert first["close"] == frame["close"].iloc[14]
    assert first["volume"] == frame["volume"].iloc[:15].sum()
    assert last["close"] == frame["close"].iloc[-1]
    assert last["volume"] == frame["volume"].iloc[30:].sum()


def test_a_window_takes_whole_buckets() -> None:
    series = BarSeries(minute_bars(60), "1Min")
    inside = pd.Timestamp("2024-03-05 14:50", tz="UTC")  # inside the 14:45 bucket
    candles = series.candles("15Min", start=inside)
    assert candles.frame.index[0] == pd.Timestamp("2024-03-05 14:45", tz="UTC")
    assert candles.frame["volume"].iloc[0] == series.frame["volume"].iloc[15:30].sum()


@pytest.mark.parametrize("timeframe", ["5Min", "15Min", "1Hour", "4Hour", "1Day"])
def test_buckets_match_the_exchange_s_own_bars(md, timeframe: str) -> None:
    """Aggregated 1Min bars equal the bars the exchange serves for that timeframe."""
    start = pd.Timestamp("2024-03-04T14:30:00Z")  # a regular session, Monday
    minutes = md.get_bars("AAPL", "1Min", start, SESSION_TIME)
    served = single_symbol(md.get_bars("AAPL", timeframe, start, SESSION_TIME), "AAPL")
    if timeframe == "1Day":  # day bars are built from regular-session minutes only
        local = minutes.index.get_level_values("timestamp").tz_convert("America/New_York")
        minutes = minutes[(local.hour * 60 + local.minute >= 570) & (local.hour < 16)]
    candles = BarSeries(single_symbol(minutes, "AAPL"), "1Min").candles(timeframe).frame
    # The exchange drops a first bucket that began before ``start`` (it would be partial).
    whole = np.isin(buckets(candles.index, timeframe), buckets(served.index, timeframe))
    candles = candles[whole]
    assert len(candles) == len(served) > 0
    for column in ("open", "high", "low", "close"):
        assert candles[column].to_numpy() == pytest.approx(served[column].to_numpy()), column
    assert candles["volume"].to_numpy() == pytest.approx(served["volume"].to_numpy())


def test_day_and_week_buckets_are_new_york_dates() -> None:
    stamps = pd.DatetimeIndex(
        ["2024-03-08 20:59", "2024-03-09 01:00", "2024-03-11 13:30"], tz="UTC"
    )  # Fri 15:59 ET, Fri 20:00 ET, Mon 09:30 ET
    day = buckets(stamps, "1Day")
    assert day[0] == day[1] != day[2]
    week = buckets(stamps, "1Week")
    assert week[0] == week[1] != week[2]
    assert buckets(stamps, "1Month")[0] == buckets(stamps, "1Month")[2]


def test_the_finest_timeframe_that_fits() -> None:
    series = BarSeries(minute_bars(3_000), "1Min")
    assert series.fitting(None, None, 3_000) == "1Min"
    assert series.fitting(None, None, 600) == "5Min"  # 3,000 minutes: 600 five-minute bars
    assert series.fitting(None, None, 250) == "15Min"
    assert series.fitting(None, None, 3) == "1Day"  # 50 hours: 3 days
    assert coarser("1Hour") == ("1Hour", "4Hour", "1Day", "1Week", "1Month")


def test_append_grows_the_bar_in_progress_and_adds_new_ones() -> None:
    frame = minute_bars(10)
    series = BarSeries(frame.iloc[:9], "1Min")
    forming = frame.iloc[8:9].assign(close=123.0, high=123.5)
    assert series.append(forming)  # the last bar, updated
    assert len(series) == 9 and series.frame["close"].iloc[-1] == 123.0
    assert series.append(frame.iloc[9:])
    assert len(series) == 10 and series.last == frame.index[-1]
    assert not series.append(frame.iloc[9:])  # nothing new
    assert series.candles("5Min").frame["close"].iloc[-1] == frame["close"].iloc[-1]


def test_single_symbol_from_a_multiindex_frame() -> None:
    frame = minute_bars(3)
    both = pd.concat({"AAPL": frame, "MSFT": frame * 2}, names=["symbol", "timestamp"])
    assert single_symbol(both, "MSFT")["close"].iloc[0] == frame["close"].iloc[0] * 2
    assert single_symbol(both, "TSLA").empty
