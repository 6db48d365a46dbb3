"""The asset universe: every US-listed equity of ``data/us_equities.csv`` (issue 10).

Alpaca's "Assets" reference: ``GET /v2/assets`` lists every asset with its flags and
filters by ``status``, ``asset_class``, ``exchange`` and ``attributes``; ``GET
/v2/assets/{symbol_or_asset_id}`` answers one, and an unknown one is 404. Any listed
symbol has market data and can be traded; an unlisted one has neither.
"""

from __future__ import annotations

import csv

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetExchange, AssetStatus
from alpaca.trading.requests import GetAssetsRequest, MarketOrderRequest

from tests.exchange.conftest import HEADERS
from trading_kit.exchange.market import UNIVERSE_FILE
from trading_kit.exchange.server import RunningExchange


@pytest.fixture
def client(running_exchange: RunningExchange) -> TradingClient:
    return TradingClient("test-key", "test-secret", paper=True, url_override=running_exchange.url)


def _file_rows() -> list[dict[str, str]]:
    with UNIVERSE_FILE.open(encoding="utf-8") as lines:
        header = next(lines)
        assert "generated" in header and "stocktickers" in header  # provenance travels along
        return list(csv.DictReader(lines))


def test_get_all_assets_parses_the_whole_universe(client: TradingClient) -> None:
    rows = _file_rows()
    assets = client.get_all_assets()
    assert len(assets) == len(rows) > 5_000
    by_symbol = {a.symbol: a for a in assets}
    for row in rows[::50]:  # the flags as the file states them
        asset = by_symbol[row["symbol"]]
        assert asset.exchange == row["exchange"]
        assert asset.tradable == (row["tradable"] == "true")
        assert asset.fractionable == (row["fractionable"] == "true")
        assert asset.shortable == (row["shortable"] == "true")
        assert asset.easy_to_borrow == (row["easy_to_borrow"] == "true")
    assert by_symbol["AAPL"].name == "Apple Inc. Common Stock"
    assert len({a.id for a in assets}) == len(assets)


def test_asset_filters(client: TradingClient, running_exchange: RunningExchange) -> None:
    nyse = client.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NYSE))
    assert nyse and {a.exchange for a in nyse} == {AssetExchange.NYSE}
    assert "IBM" in {a.symbol for a in nyse} and "AAPL" not in {a.symbol for a in nyse}
    assert client.get_all_assets(GetAssetsRequest(status=AssetStatus.INACTIVE)) == []
    fractional = requests.get(
        running_exchange.url + "/v2/assets",
        params={"attributes": "fractional_eh_enabled"},
        headers=HEADERS,
    ).json()
    assert fractional and all(a["fractionable"] for a in fractional)
    assert len(fractional) < len(client.get_all_assets())


def test_one_asset_by_symbol_or_id_and_unknown_is_404(client: TradingClient) -> None:
    ibm = client.get_asset("IBM")
    assert ibm.symbol == "IBM" and ibm.exchange == AssetExchange.NYSE
    assert client.get_asset(ibm.id).symbol == "IBM"
    assert client.get_asset("BRK.B").symbol == "BRK.B"
    with pytest.raises(APIError) as unknown:
        client.get_asset("NOPE1")
    assert unknown.value.status_code == 404


def test_any_listed_symbol_has_prices_and_trades(
    client: TradingClient, running_exchange: RunningExchange, exchange
) -> None:
    data = StockHistoricalDataClient("k", "s", url_override=running_exchange.url)
    bars = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["IBM", "ZYME"],
            timeframe=TimeFrame.Day,
            start="2024-02-01",
            end="2024-03-04",
        )
    )
    for symbol in ("IBM", "ZYME"):
        closes = [bar.close for bar in bars[symbol]]
        assert len(closes) == 21 and len(set(closes)) > 1  # February's sessions and March 1
    # The same request again gives the same prices: deterministic per symbol.
    again = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="IBM", timeframe=TimeFrame.Day, start="2024-02-01", end="2024-03-04"
        )
    )
    assert [b.close for b in again["IBM"]] == [b.close for b in bars["IBM"]]
    order = client.submit_order(
        MarketOrderRequest(symbol="ZYME", qty=3, side="buy", time_in_force="day")
    )
    assert client.get_order_by_id(order.id).status == "filled"
    assert client.get_open_position("ZYME").qty == "3"


def test_flags_are_enforced_for_listed_symbols(client: TradingClient) -> None:
    """ZYME is listed but not easy to borrow or fractionable: no short, no fraction."""
    with pytest.raises(APIError) as short:
        client.submit_order(
            MarketOrderRequest(symbol="ZYME", qty=1, side="sell", time_in_force="day")
        )
    assert short.value.status_code == 403
    with pytest.raises(APIError) as fraction:
        client.submit_order(
            MarketOrderRequest(symbol="ZYME", qty=0.5, side="buy", time_in_force="day")
        )
    assert fraction.value.status_code == 422


def test_unlisted_symbols_have_no_data_and_cannot_trade(
    client: TradingClient, running_exchange: RunningExchange
) -> None:
    response = requests.get(
        running_exchange.url + "/v2/stocks/bars",
        params={"symbols": "NOPE1", "timeframe": "1Day", "start": "2024-02-01"},
        headers=HEADERS,
    )
    assert response.status_code == 200 and response.json()["bars"] == {}
    with pytest.raises(APIError) as refused:
        client.submit_order(
            MarketOrderRequest(symbol="NOPE1", qty=1, side="buy", time_in_force="day")
        )
    assert refused.value.status_code == 422
