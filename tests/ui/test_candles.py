"""Folding bars into candles: exact OHLCV per group, and a bounded count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_kit.ui.candles import aggregate, single_symbol


def bars(n: int) -> pd.DataFrame:
    stamps = pd.date_range("2024-03-05 14:30", periods=n, freq="1min", tz="UTC")
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


def test_few_bars_are_drawn_as_they_are() -> None:
    frame = bars(50)
    candles = aggregate(frame, 1_000)
    assert candles.group == 1 and not candles.aggregated
    pd.testing.assert_frame_equal(candles.frame, frame[["open", "high", "low", "close", "volume"]])


def test_groups_keep_exact_ohlcv() -> None:
    frame = bars(10)
    candles = aggregate(frame, 4)  # 10 bars, at most 4 candles: groups of 3 (3, 3, 3, 1)
    assert candles.group == 3 and len(candles.frame) == 4
    first, last = candles.frame.iloc[0], candles.frame.iloc[-1]
    assert first["open"] == frame["open"].iloc[0]
    assert first["high"] == frame["high"].iloc[:3].max()
    assert first["low"] == frame["low"].iloc[:3].min()
    assert first["close"] == frame["close"].iloc[2]
    assert first["volume"] == frame["volume"].iloc[:3].sum()
    assert last["close"] == frame["close"].iloc[-1]
    assert list(candles.frame.index) == list(frame.index[[0, 3, 6, 9]])


@pytest.mark.parametrize("n", [999, 1_000, 1_001, 100_000])
def test_count_never_exceeds_the_cap(n: int) -> None:
    candles = aggregate(bars(n), 1_000)
    assert len(candles.frame) <= 1_000
    assert candles.bars == n
    assert candles.frame["volume"].sum() == pytest.approx(bars(n)["volume"].sum())


def test_single_symbol_from_a_multiindex_frame() -> None:
    frame = bars(3)
    both = pd.concat({"AAPL": frame, "MSFT": frame * 2}, names=["symbol", "timestamp"])
    assert single_symbol(both, "MSFT")["close"].iloc[0] == frame["close"].iloc[0] * 2
    assert single_symbol(both, "TSLA").empty
