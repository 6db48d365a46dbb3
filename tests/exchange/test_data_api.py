"""The market-data routes, served for real on 127.0.0.1 and driven by alpaca-py."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from starlette.applications import Starlette

from tests.exchange.conftest import serve_app
from trading_kit.exchange.clock import ManualClock
from trading_kit.exchange.data_api import data_routes
from trading_kit.exchange.market import BAR_COLUMNS, SimulatedMarket

NOW = pd.Timestamp("2024-03-05T15:00:00Z")  # a Tuesday, 10:00 New York


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket()


@pytest.fixture(scope="module")
def url(market: SimulatedMarket) -> Iterator[str]:
    """A bare Starlette app with only the data routes (auth is the full app's business)."""
    app = Starlette(routes=data_routes(market, ManualClock(NOW)))
    with serve_app(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(api_key="k", secret_key="s", url_override=url)


def get(url: str, path: str, **params: object) -> requests.Response:
    return requests.get(url + path, params=params, timeout=10)


# -- bars ----------------------------------------------------------------------------------


def test_single_symbol_bars_through_alpaca_py(
    client: StockHistoricalDataClient, market: SimulatedMarket
) -> None:
    request = StockBarsRequest(
        symbol_or_symbols="AAPL",
        timeframe=TimeFrame.Day,
        start=utc("2024-02-01"),
        end=utc("2024-03-01"),
    )
    df = client.get_stock_bars(request).df
    assert list(df.index.names) == ["symbol", "timestamp"]
    assert set(BAR_COLUMNS) <= set(df.columns)
    expected = market.bars("AAPL", "1Day", utc("2024-02-01"), utc("2024-03-02"))
    expected = expected[expected.index <= utc("2024-03-01")]
    got = df.loc["AAPL"]
    assert list(got.index) == list(expected.index)
    assert got["close"].tolist() == expected["close"].tolist()
    assert got["volume"].tolist() == expected["volume"].tolist()


def test_multi_symbol_bars_span_several_pages(
    client: StockHistoricalDataClient, market: SimulatedMarket
) -> None:
    request = StockBarsRequest(
        symbol_or_symbols=["AAPL", "MSFT"],
        timeframe=TimeFrame(5, TimeFrameUnit.Minute),
        start=utc("2024-01-01"),
        end=utc("2024-03-01"),
    )
    df = client.get_stock_bars(request).df
    assert len(df) > 10_000  # more than one page of Alpaca's maximum
    assert not df.index.duplicated().any()
    for symbol in ("AAPL", "MSFT"):
        expected = market.bars(symbol, "5Min", utc("2024-01-01"), utc("2024-03-01 00:05"))
        got = df.loc[symbol]
        assert list(got.index) == list(expected.index)
        assert got["open"].tolist() == expected["open"].tolist()
        assert got["vwap"].tolist() == expected["vwap"].tolist()


def test_limit_counts_items_across_symbols(client: StockHistoricalDataClient) -> None:
    request = StockBarsRequest(
        symbol_or_symbols=["AAPL", "MSFT"],
        timeframe=TimeFrame.Minute,
        start=utc("2024-03-04"),
        limit=50,
    )
    df = client.get_stock_bars(request).df
    assert len(df) == 50
    assert set(df.index.get_level_values("symbol")) == {"AAPL"}


def test_page_token_walk_covers_everything_once(url: str) -> None:
    params = {
        "symbols": "AAPL,SPY,NOPE",
        "timeframe": "15Min",
        "start": "2024-02-26",
        "end": "2024-03-01",
    }
    whole = get(url, "/v2/stocks/bars", **params, limit=10_000).json()
    assert whole["next_page_token"] is None
    assert set(whole["bars"]) == {"AAPL", "SPY"}  # unknown symbols get no data
    pages, token = [], None
    while True:
        extra = {"page_token": token} if token else {}
        body = get(url, "/v2/stocks/bars", **params, limit=100, **extra).json()
        assert sum(len(v) for v in body["bars"].values()) <= 100
        pages.append(body["bars"])
        token = body["next_page_token"]
        if token is None:
            break
        base64.urlsafe_b64decode(token)  # opaque, but base64
    assert len(pages) > 3
    for symbol in ("AAPL", "SPY"):
        walked = [bar for page in pages for bar in page.get(symbol, [])]
        assert walked == whole["bars"][symbol]


def test_descending_sort(url: str) -> None:
    params = {"symbols": "AAPL", "timeframe": "1Hour", "start": "2024-03-01", "end": "2024-03-04"}
    asc = get(url, "/v2/stocks/bars", **params).json()["bars"]["AAPL"]
    desc = get(url, "/v2/stocks/bars", **params, sort="desc", limit=5).json()
    assert [b["t"] for b in desc["bars"]["AAPL"]] == [b["t"] for b in asc[::-1][:5]]
    rest = get(url, "/v2/stocks/bars", **params, sort="desc", page_token=desc["next_page_token"])
    assert rest.json()["bars"]["AAPL"] == asc[::-1][5:]


@pytest.mark.parametrize("timeframe", ["1Week", "1Month"])
def test_long_bars_over_years_are_whole_in_both_directions(
    url: str, market: SimulatedMarket, timeframe: str
) -> None:
    """Weeks and months over eight years, built in chunks of the years they span: every
    bar is the market's whole bar (none cut at a chunk's edge), oldest or newest first."""
    params = {"symbols": "AAPL", "timeframe": timeframe, "start": "2016-01-01"}
    params["end"] = "2024-03-01"
    asc = get(url, "/v2/stocks/bars", **params).json()["bars"]["AAPL"]
    desc = get(url, "/v2/stocks/bars", **params, sort="desc", limit=60).json()["bars"]["AAPL"]
    expected = market.bars("AAPL", timeframe, utc("2016-01-01 05:00"), NOW)  # up to "now"
    expected = expected[expected.index <= utc("2024-03-01 05:00")]
    assert [pd.Timestamp(b["t"]) for b in asc] == list(expected.index)
    assert [b["c"] for b in asc] == expected["close"].tolist()
    assert [b["v"] for b in asc] == expected["volume"].tolist()
    assert desc == asc[::-1][:60]


def test_single_symbol_route_shape(url: str) -> None:
    body = get(url, "/v2/stocks/AAPL/bars", timeframe="1Day", start="2024-02-01", limit=3).json()
    assert body["symbol"] == "AAPL" and len(body["bars"]) == 3
    assert body["bars"][0]["t"] == "2024-02-01T05:00:00Z"
    assert set(body["bars"][0]) == {"t", "o", "h", "l", "c", "v", "n", "vw"}
    assert isinstance(body["bars"][0]["v"], int) and isinstance(body["next_page_token"], str)


def test_default_range_is_today_until_now(url: str) -> None:
    bars = get(url, "/v2/stocks/AAPL/bars", timeframe="1Min").json()["bars"]
    assert bars[0]["t"] == "2024-03-05T09:00:00Z"  # 04:00 New York, pre-market
    assert len(bars) == 360 and bars[-1]["t"] == "2024-03-05T14:59:00Z"


def test_a_start_after_the_exchange_clock_is_empty_not_an_error(url: str) -> None:
    """A caller whose wall clock runs ahead of a manual clock asks from "its" today."""
    answer = get(
        url, "/v2/stocks/bars", symbols="AAPL", timeframe="1Min", start="2026-11-29T00:00:00Z"
    )
    assert answer.status_code == 200
    assert answer.json()["bars"] == {}
    explicit = get(
        url,
        "/v2/stocks/bars",
        symbols="AAPL",
        timeframe="1Min",
        start="2024-03-05",
        end="2024-03-04",
    )
    assert explicit.status_code == 400  # an explicit end before start is still the caller's mistake


# -- latest, snapshots, quotes and trades -----------------------------------------------


def test_latest_quote_and_trade(client: StockHistoricalDataClient, market: SimulatedMarket) -> None:
    quotes = client.get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "SPY", "NOPE"])
    )
    assert set(quotes) == {"AAPL", "SPY"}
    expected = market.quote_at("AAPL", NOW)
    assert quotes["AAPL"].bid_price == expected["bid_price"]
    assert quotes["AAPL"].ask_price == expected["ask_price"]
    assert quotes["AAPL"].timestamp == NOW.to_pydatetime()
    trades = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))
    assert trades["SPY"].price == market.trade_at("SPY", NOW)["price"]
    assert quotes["SPY"].bid_price < trades["SPY"].price < quotes["SPY"].ask_price


def test_single_symbol_latest_routes(url: str) -> None:
    body = get(url, "/v2/stocks/MSFT/quotes/latest").json()
    assert body["symbol"] == "MSFT" and body["quote"]["bp"] < body["quote"]["ap"]
    assert get(url, "/v2/stocks/MSFT/trades/latest").json()["trade"]["t"] == "2024-03-05T15:00:00Z"
    assert get(url, "/v2/stocks/MSFT/bars/latest").json()["bar"]["t"] == "2024-03-05T14:59:00Z"
    missing = get(url, "/v2/stocks/NOPE/quotes/latest")
    assert missing.status_code == 404 and missing.json()["code"] == 40410000


def test_snapshot(client: StockHistoricalDataClient, market: SimulatedMarket) -> None:
    snaps = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "NOPE"]))
    assert set(snaps) == {"AAPL"}
    snap = snaps["AAPL"]
    assert snap.minute_bar.timestamp == utc("2024-03-05 14:59").to_pydatetime()
    today = market.bars("AAPL", "1Day", utc("2024-03-05"), NOW)
    assert snap.daily_bar.timestamp == utc("2024-03-05 05:00").to_pydatetime()
    assert snap.daily_bar.close == today["close"].iloc[0] == snap.minute_bar.close
    assert snap.previous_daily_bar.timestamp == utc("2024-03-04 05:00").to_pydatetime()
    assert snap.latest_trade.price == market.trade_at("AAPL", NOW)["price"]


def test_single_snapshot_route(url: str) -> None:
    body = get(url, "/v2/stocks/TSLA/snapshot").json()
    assert body["symbol"] == "TSLA"
    assert set(body) >= {"latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"}
    assert get(url, "/v2/stocks/NOPE/snapshot").status_code == 404


def test_historical_quotes_and_trades(client: StockHistoricalDataClient) -> None:
    start = utc("2024-03-05 14:00")
    quotes = client.get_stock_quotes(StockQuotesRequest(symbol_or_symbols="AAPL", start=start)).df
    # Every 5 s from 14:00:00 up to and including now (15:00:00).
    assert len(quotes) == 60 * 12 + 1
    assert quotes.index.get_level_values("timestamp").max() == NOW
    assert (quotes["bid_price"] < quotes["ask_price"]).all()
    trades = client.get_stock_trades(
        StockTradesRequest(symbol_or_symbols=["AAPL", "MSFT"], start=start, limit=15_000)
    ).df
    assert len(trades) == 2 * (60 * 6 + 1)
    assert trades.loc["AAPL"]["id"].is_unique


# -- the exchange clock bounds everything ------------------------------------------------------


def test_no_data_after_the_clock(market: SimulatedMarket) -> None:
    clock = ManualClock("2024-03-05T15:00:30Z")
    with serve_app(Starlette(routes=data_routes(market, clock))) as base:
        params = {
            "symbols": "AAPL",
            "timeframe": "1Min",
            "start": "2024-03-05",
            "end": "2024-03-07",
        }
        bars = get(base, "/v2/stocks/bars", **params).json()["bars"]["AAPL"]
        assert bars[-1]["t"] == "2024-03-05T14:59:00Z"
        quotes = get(base, "/v2/stocks/quotes", symbols="AAPL", start="2024-03-05T14:59:00Z")
        assert quotes.json()["quotes"]["AAPL"][-1]["t"] == "2024-03-05T15:00:30Z"
        clock.advance("1h")
        bars = get(base, "/v2/stocks/bars", **params).json()["bars"]["AAPL"]
        assert bars[-1]["t"] == "2024-03-05T15:59:00Z"
        latest = get(base, "/v2/stocks/AAPL/trades/latest").json()["trade"]
        assert latest["t"] == "2024-03-05T16:00:30Z"


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"symbols": "AAPL", "timeframe": "7Foo"}, "timeframe"),
        ({"symbols": "AAPL"}, "timeframe"),
        ({"timeframe": "1Day"}, "symbols"),
        (
            {"symbols": "AAPL", "timeframe": "1Day", "start": "2024-03-02", "end": "2024-03-01"},
            "end",
        ),
        ({"symbols": "AAPL", "timeframe": "1Day", "start": "yesterday"}, "start"),
        ({"symbols": "AAPL", "timeframe": "1Day", "start": "2024-13-45"}, "start"),
        ({"symbols": "AAPL", "timeframe": "1Day", "limit": "0"}, "limit"),
        ({"symbols": "AAPL", "timeframe": "1Day", "limit": "10001"}, "limit"),
        ({"symbols": "AAPL", "timeframe": "1Day", "limit": "ten"}, "limit"),
        ({"symbols": "AAPL", "timeframe": "1Day", "sort": "up"}, "sort"),
        ({"symbols": "AAPL", "timeframe": "1Day", "feed": "nasdaq"}, "feed"),
        ({"symbols": "AAPL", "timeframe": "1Day", "adjustment": "magic"}, "adjustment"),
        ({"symbols": "AAPL", "timeframe": "1Day", "page_token": "%%%"}, "page_token"),
        ({"symbols": "AAPL", "timeframe": "1Day", "page_token": "WyJNU0ZUIiwxXQ=="}, "page_token"),
    ],
)
def test_bad_requests_get_alpaca_errors(url: str, params: dict, words: str) -> None:
    response = get(url, "/v2/stocks/bars", **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 40010001 and words in body["message"]


def test_odd_inputs_never_500(url: str) -> None:
    odd = [
        "",
        " ",
        "0",
        "-1",
        "1e9",
        "2024-02-30",
        "2024-01-01T25:00:00Z",
        "Z",
        "\u00e9",
        "a" * 500,
    ]
    paths = ["/v2/stocks/bars", "/v2/stocks/quotes", "/v2/stocks/trades", "/v2/stocks/snapshots"]
    for path in paths:
        for value in odd:
            for key in ("symbols", "start", "end", "limit", "timeframe", "page_token"):
                params = {"symbols": "AAPL", "timeframe": "1Day", key: value}
                response = get(url, path, **params)
                assert response.status_code < 500, (path, key, value, response.text)


def test_alpaca_py_surfaces_the_error(client: StockHistoricalDataClient) -> None:
    request = StockBarsRequest(
        symbol_or_symbols="AAPL",
        timeframe=TimeFrame.Day,
        start=utc("2024-03-02"),
        end=utc("2024-03-01"),
    )
    with pytest.raises(APIError) as caught:
        client.get_stock_bars(request)
    assert caught.value.status_code == 400 and caught.value.code == 40010001


# -- paging a long range ----------------------------------------------------------------------


def test_hundred_thousand_minute_bars_in_ten_pages(url: str) -> None:
    """Ten full pages, each continuing where the last stopped (how fast: in
    bench/bench_exchange_data.py, not here: a wall clock fails on a loaded machine)."""
    params = {"symbols": "NVDA", "timeframe": "1Min", "start": "2023-06-01", "limit": 10_000}
    stamps: list[str] = []
    token = None
    for _ in range(10):
        extra = {"page_token": token} if token else {}
        body = get(url, "/v2/stocks/bars", **params, end="2024-01-01", **extra).json()
        page = [bar["t"] for bar in body["bars"]["NVDA"]]
        assert len(page) == 10_000
        stamps += page
        token = body["next_page_token"]
        assert token
    assert len(stamps) == len(set(stamps)) == 100_000  # no bar twice, none skipped
    assert stamps == sorted(stamps)
