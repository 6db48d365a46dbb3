"""MarketData against the stub Alpaca server: shapes, pagination, limits, validation."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.stub_alpaca import StubServer
from trading_kit import TIMEFRAMES, MarketData, MarketDataError

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "trade_count", "vwap"]


def test_bars_follow_alpaca_py_df_layout(md: MarketData) -> None:
    df = md.get_bars("aapl", "1Day", start="2024-01-02", end="2024-03-01")
    assert list(df.columns) == BAR_COLUMNS
    assert df.index.names == ["symbol", "timestamp"]
    assert set(df.index.get_level_values("symbol")) == {"AAPL"}
    stamps = df.index.get_level_values("timestamp")
    assert str(stamps.tz) == "UTC"
    assert stamps[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert stamps[-1] == pd.Timestamp("2024-03-01", tz="UTC")  # end is inclusive
    assert len(df) == 60
    assert df.dtypes.to_dict() == {
        "open": "float64",
        "high": "float64",
        "low": "float64",
        "close": "float64",
        "volume": "int64",
        "trade_count": "int64",
        "vwap": "float64",
    }
    assert (df["high"] >= df["low"]).all()


def test_every_page_is_followed(md: MarketData, stub: StubServer) -> None:
    df = md.get_bars(["MSFT", "AAPL"], "1Min", start="2024-01-01", end="2024-01-08T23:59:00Z")
    per_symbol = 8 * 24 * 60
    assert len(df) == 2 * per_symbol
    assert df.index.is_unique
    assert list(df.index.get_level_values("symbol").unique()) == ["AAPL", "MSFT"]
    pages = stub.state.data_requests("/v2/stocks/bars")
    assert len(pages) == -(-2 * per_symbol // 10_000)  # 10,000 a page
    assert pages[0].query["symbols"] == "AAPL,MSFT"  # one request for both symbols
    assert "page_token" not in pages[0].query
    assert all("page_token" in p.query for p in pages[1:])


def test_limit_is_per_symbol_across_pages(md: MarketData, stub: StubServer) -> None:
    df = md.get_bars(["AAPL", "MSFT", "GOOGL"], "1Min", start="2024-01-01", limit=12_345)
    assert df.groupby(level="symbol").size().to_dict() == {
        "AAPL": 12_345,
        "GOOGL": 12_345,
        "MSFT": 12_345,
    }
    for symbol in ("AAPL", "MSFT", "GOOGL"):
        first = df.loc[symbol].index[0]
        assert first == pd.Timestamp("2024-01-01", tz="UTC")  # the first N from start
    asked = sorted(int(s.query["limit"]) for s in stub.state.data_requests("/v2/stocks/bars"))
    assert asked == [2_345] * 3 + [10_000] * 3  # never more than needed


def test_limit_without_start_gives_the_latest_bars(md: MarketData, stub: StubServer) -> None:
    df = md.get_bars(["MSFT", "AAPL"], "1Hour", end="2024-03-01T12:00:00Z", limit=300)
    for symbol in ("AAPL", "MSFT"):
        stamps = df.loc[symbol].index
        assert len(stamps) == 300
        assert stamps.is_monotonic_increasing
        assert stamps[-1] == pd.Timestamp("2024-03-01T12:00:00Z")  # ends at `end`
        assert stamps[0] == pd.Timestamp("2024-03-01T12:00:00Z") - pd.Timedelta(hours=299)
    assert {s.query["sort"] for s in stub.state.data_requests()} == {"desc"}


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_every_timeframe_string(md: MarketData, stub: StubServer, timeframe: str) -> None:
    df = md.get_bars("SPY", timeframe.lower(), start="2024-01-01", end="2024-01-02", limit=5)
    assert stub.state.seen[-1].query["timeframe"] == timeframe  # canonical spelling on the wire
    assert 1 <= len(df) <= 5


def test_alpaca_py_timeframe_objects(md: MarketData, stub: StubServer) -> None:
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    md.get_bars("SPY", TimeFrame(15, TimeFrameUnit.Minute), start="2024-01-01", limit=3)
    assert stub.state.seen[-1].query["timeframe"] == "15Min"


def test_empty_result_is_an_empty_frame_with_columns(md: MarketData) -> None:
    df = md.get_bars("AAPL", "1Day", start="2023-06-01", end="2023-06-30")  # before the stub's data
    assert df.empty
    assert list(df.columns) == BAR_COLUMNS
    assert df.index.names == ["symbol", "timestamp"]
    assert df["volume"].dtype == "int64"
    quotes = md.get_multi_quotes(["NOPE"])  # the stub knows no such symbol
    assert quotes.empty and "bid_price" in quotes.columns


def test_feed_and_adjustment_are_passed_through(md: MarketData, stub: StubServer) -> None:
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-05", feed="SIP", adjustment="All")
    query = stub.state.seen[-1].query
    assert (query["feed"], query["adjustment"]) == ("sip", "all")
    MarketData(stack=md._stack, feed="iex").get_latest_quote("AAPL")
    assert stub.state.seen[-1].query["feed"] == "iex"


def test_latest_quotes_and_trades(md: MarketData) -> None:
    quote = md.get_latest_quote("aapl")
    assert list(quote.index) == ["AAPL"]
    row = quote.loc["AAPL"]
    assert row["ask_price"] > row["bid_price"]
    assert quote["timestamp"].dt.tz is not None
    quotes = md.get_multi_quotes(["MSFT", "AAPL", "GOOGL"])
    assert list(quotes.index) == ["AAPL", "GOOGL", "MSFT"]
    trades = md.get_multi_trades(["MSFT", "AAPL"])
    assert list(trades.index) == ["AAPL", "MSFT"]
    assert trades["price"].dtype == "float64"
    assert md.get_latest_trade("MSFT").loc["MSFT", "size"] == 100


def test_snapshots_are_flattened(md: MarketData) -> None:
    snap = md.get_snapshots(["AAPL", "MSFT"])
    assert list(snap.index) == ["AAPL", "MSFT"]
    for column in (
        "latest_trade_price",
        "latest_quote_bid_price",
        "latest_quote_ask_price",
        "minute_bar_close",
        "daily_bar_volume",
        "prev_daily_bar_close",
        "change_today",
    ):
        assert column in snap.columns, column
    row = snap.loc["AAPL"]
    assert row["change_today"] == pytest.approx(
        row["daily_bar_close"] / row["prev_daily_bar_close"] - 1
    )
    assert md.get_snapshot("MSFT").index.tolist() == ["MSFT"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda md: md.get_bars("AAPL", "2Min"), "Unknown timeframe '2Min'; use one of 1Min, 5Min"),
        (lambda md: md.get_bars("AAPL", "1Day", limit=0), "limit must be a positive"),
        (lambda md: md.get_bars("AAPL", "1Day", limit=-5), "-5"),
        (lambda md: md.get_bars("", "1Day"), "Invalid symbol ''"),
        (lambda md: md.get_bars(["AAPL", "BAD SYMBOL"], "1Day"), "'BAD SYMBOL'"),
        (lambda md: md.get_bars([], "1Day"), "No symbols"),
        (lambda md: md.get_bars("AAPL", "1Day", start="2024-03-01", end="2024-01-01"), "swap"),
        (lambda md: md.get_bars("AAPL", "1Day", start="yesterday-ish"), "start='yesterday-ish'"),
        (lambda md: md.get_bars("AAPL", "1Day", adjustment="splits"), "raw, split, dividend, all"),
        (lambda md: md.get_bars("AAPL", "1Day", feed="nasdaq"), "iex"),
        (lambda md: md.get_latest_quote("AAPL,MSFT"), "get_multi"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    md: MarketData, stub: StubServer, call, message
) -> None:
    with pytest.raises(MarketDataError) as raised:
        call(md)
    assert message in str(raised.value)
    assert stub.state.seen == []


def test_server_errors_become_market_data_errors(md: MarketData, stub: StubServer) -> None:
    stub.state.fail_next(("status", 422, {}))
    with pytest.raises(MarketDataError) as raised:
        md.get_latest_quote("AAPL", use_cache=False)
    assert raised.value.status == 422
    assert "HTTP 422" in str(raised.value) and "stub says 422" in str(raised.value)


def test_multi_page_download_shows_progress(
    md: MarketData, capsys: pytest.CaptureFixture[str]
) -> None:
    md.get_bars("AAPL", "1Min", start="2024-01-01", end="2024-01-10")
    assert "bars" in capsys.readouterr().err
    md.get_bars(
        "AAPL", "1Min", start="2024-01-01", end="2024-01-10", progress=False, use_cache=False
    )
    assert capsys.readouterr().err == ""


def test_default_start_is_stable_within_a_day(md: MarketData, stub: StubServer) -> None:
    md.get_bars("AAPL", "1Hour", end="2024-03-01")
    md.get_bars("AAPL", "1Hour", end="2024-03-01")
    first, second = stub.state.data_requests()[0].query, md._stack.hits
    assert first["start"] == "2024-01-01T00:00:00Z"  # 60 days of hours back, at midnight
    assert second == 1
