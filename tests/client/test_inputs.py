"""Python API inputs: every bad argument is a trading_kit error naming it, as given.

Nothing reaches the server, and no raw TypeError, OverflowError or sqlite3 error reaches
the user; settings that could only fail at the first request fail when they are made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import trading_kit as tk
from tests.stub_alpaca import StubServer
from trading_kit import ConfigError, MarketData, MarketDataError, Settings
from trading_kit.http import HttpStack

LOOPBACK = {"trading_url": "http://127.0.0.1:1", "data_url": "http://127.0.0.1:1"}


@pytest.mark.parametrize("symbols", [None, 123, 1.5, b"AAPL", {"AAPL": 1}])
def test_symbols_that_are_not_tickers(md: MarketData, stub: StubServer, symbols: object) -> None:
    with pytest.raises(MarketDataError, match=rf"symbols={symbols!r} is not a ticker") as raised:
        md.get_bars(symbols)  # type: ignore[arg-type]
    assert "['AAPL', 'MSFT']" in str(raised.value)
    assert stub.state.seen == []


@pytest.mark.parametrize("symbols", [[None], ["AAPL", 7]])
def test_a_list_holding_a_non_ticker(md: MarketData, symbols: list) -> None:
    with pytest.raises(MarketDataError, match="Invalid symbol"):
        md.get_bars(symbols)


def test_a_huge_limit_reaches_back_to_1970_not_an_overflow(
    md: MarketData, stub: StubServer
) -> None:
    bars = md.get_bars("AAPL", "1Month", end="2024-06-01", limit=10**9)
    assert not bars.empty
    assert stub.state.seen[0].query["start"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("start", [1704153600, 1704153600.0, True])
def test_a_number_as_a_time_is_refused_not_read_as_1970(
    md: MarketData, stub: StubServer, start: object
) -> None:
    with pytest.raises(MarketDataError, match=rf"start={start!r} is a number") as raised:
        md.get_bars("AAPL", "1Day", start=start)  # type: ignore[arg-type]
    assert "unit='s'" in str(raised.value)
    assert stub.state.seen == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("start", "0001-01-01"), ("end", "9999-12-31"), ("start", "1969-12-31T23:59:59Z")],
)
def test_a_time_outside_any_market_names_the_value_as_given(
    md: MarketData, stub: StubServer, name: str, value: str
) -> None:
    with pytest.raises(MarketDataError) as raised:
        md.get_bars("AAPL", "1Day", **{name: value})
    assert str(raised.value).startswith(f"{name}={value!r} is outside the years 1970 to 2099")
    assert stub.state.seen == []


def test_start_after_end_names_both_as_given(md: MarketData) -> None:
    with pytest.raises(MarketDataError, match=r"start='2024-02-01' is after end='2024-01-01'"):
        md.get_trades("AAPL", start="2024-02-01", end="2024-01-01")


def test_a_datetime_and_a_timestamp_still_work(md: MarketData) -> None:
    bars = md.get_bars(
        "AAPL", "1Day", start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-01-05", tz="UTC")
    )
    assert len(bars) == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("read_timeout", -1),
        ("read_timeout", 0),
        ("connect_timeout", math.nan),
        ("deadline", math.inf),
        ("deadline", "30"),
        ("backoff_initial", -0.5),
        ("rate_window_seconds", None),
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("requests_per_minute", True),
    ],
)
def test_unusable_settings_fail_when_made(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"{name}={value!r} is not usable"):
        Settings(**LOOPBACK, **{name: value})  # type: ignore[arg-type]


def test_connect_refuses_a_negative_timeout_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"read_timeout=-1 is not usable"):
        tk.connect(**LOOPBACK, cache_path=tmp_path / "c.sqlite", read_timeout=-1)


def test_market_data_refuses_a_negative_timeout_at_once(
    make_stack: Callable[..., HttpStack],
) -> None:
    with pytest.raises(ConfigError, match="read_timeout"):
        make_stack(read_timeout=-1)
