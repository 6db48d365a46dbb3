"""The official alpaca-py TradingClient, unchanged, against the running local exchange."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from trading_kit.exchange.core import Exchange
from trading_kit.exchange.server import RunningExchange


@pytest.fixture
def client(running_exchange: RunningExchange) -> Iterator[TradingClient]:
    yield TradingClient("test-key", "test-secret", paper=True, url_override=running_exchange.url)


def price(exchange: Exchange, symbol: str) -> float:
    return float(exchange.market.trade_at(symbol, exchange.clock.now())["price"])


def test_account_clock_calendar_assets(client: TradingClient) -> None:
    account = client.get_account()
    assert (
        account.cash == "100000" and account.buying_power == "200000" and account.multiplier == "2"
    )
    clock = client.get_clock()
    assert clock.is_open and clock.timestamp.utcoffset() == dt.timedelta(hours=-5)
    assert clock.next_close == dt.datetime(2024, 3, 5, 16, tzinfo=clock.next_close.tzinfo)
    days = client.get_calendar(
        GetCalendarRequest(start=dt.date(2024, 3, 25), end=dt.date(2024, 4, 1))
    )
    assert [d.date for d in days][-2:] == [dt.date(2024, 3, 28), dt.date(2024, 4, 1)]  # Good Friday
    assert days[0].open == dt.datetime(2024, 3, 25, 9, 30)
    asset = client.get_asset("AAPL")
    assert asset.symbol == "AAPL" and asset.tradable and asset.fractionable
    assert client.get_asset(asset.id).symbol == "AAPL"
    assets = client.get_all_assets(GetAssetsRequest(status="active", asset_class="us_equity"))
    assert {"AAPL", "SPY", "QQQ"} <= {a.symbol for a in assets}


def test_every_order_type_round_trips(client: TradingClient, exchange: Exchange) -> None:
    p = price(exchange, "AAPL")
    requests = [
        MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
        MarketOrderRequest(
            symbol="AAPL", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        ),
        MarketOrderRequest(
            symbol="AAPL", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        ),
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=round(p * 0.8, 2),
            client_order_id="mine-42",
        ),
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=round(p * 0.8, 2),
            extended_hours=True,
        ),
        StopOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            stop_price=round(p * 0.7, 2),
        ),
        StopLimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            stop_price=round(p * 0.7, 2),
            limit_price=round(p * 0.69, 2),
        ),
        TrailingStopOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            trail_percent=5,
        ),
        TrailingStopOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, trail_price=3
        ),
        MarketOrderRequest(
            symbol="MSFT",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=round(price(exchange, "MSFT") * 1.2, 2)),
            stop_loss=StopLossRequest(
                stop_price=round(price(exchange, "MSFT") * 0.8, 2),
                limit_price=round(price(exchange, "MSFT") * 0.79, 2),
            ),
        ),
        LimitOrderRequest(
            symbol="SPY",
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.OTO,
            limit_price=round(price(exchange, "SPY") * 0.9, 2),
            stop_loss=StopLossRequest(stop_price=round(price(exchange, "SPY") * 0.8, 2)),
        ),
    ]
    for request in requests:
        order = client.submit_order(request)
        assert isinstance(order, Order) and order.status == OrderStatus.ACCEPTED
    bracket = client.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True, symbols=["MSFT"])
    )[0]
    assert bracket.order_class == OrderClass.BRACKET and bracket.status == OrderStatus.FILLED
    # as Alpaca shows a filled bracket: take profit new, stop loss held (but working)
    assert [leg.status for leg in bracket.legs] == [OrderStatus.NEW, OrderStatus.HELD]
    # OCO on the bracket-free SPY position requires a position: buy, then protect it
    client.submit_order(
        MarketOrderRequest(symbol="QQQ", qty=4, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    q = price(exchange, "QQQ")
    oco = client.submit_order(
        LimitOrderRequest(
            symbol="QQQ",
            qty=4,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.OCO,
            take_profit=TakeProfitRequest(limit_price=round(q * 1.1, 2)),
            stop_loss=StopLossRequest(stop_price=round(q * 0.9, 2)),
        )
    )
    assert oco.order_class == OrderClass.OCO and len(oco.legs) == 1
    mine = client.get_order_by_client_id("mine-42")
    assert mine.client_order_id == "mine-42" and mine.status == OrderStatus.NEW
    assert client.get_order_by_id(mine.id, GetOrderByIdRequest(nested=True)).id == mine.id
    open_orders = client.get_orders()
    assert mine.id in {o.id for o in open_orders}
    closed = client.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.CLOSED, side=OrderSide.BUY, limit=500)
    )
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.CANCELED) for o in closed)


def test_replace_and_cancel(client: TradingClient, exchange: Exchange) -> None:
    p = price(exchange, "AAPL")
    order = client.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=round(p * 0.9, 2),
        )
    )
    new = client.replace_order_by_id(
        order.id, ReplaceOrderRequest(qty=2, limit_price=round(p * 0.91, 2))
    )
    assert new.replaces == order.id and new.qty == "2"
    old = client.get_order_by_id(order.id)
    assert old.status == OrderStatus.REPLACED and old.replaced_by == new.id
    with pytest.raises(APIError) as info:
        client.replace_order_by_id(order.id, ReplaceOrderRequest(qty=3))
    assert info.value.status_code == 422 and info.value.code == 42210000
    assert client.cancel_order_by_id(new.id) is None
    assert client.get_order_by_id(new.id).status == OrderStatus.CANCELED
    client.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=round(p * 0.9, 2),
        )
    )
    responses = client.cancel_orders()
    assert len(responses) == 1 and responses[0].status == 200


def test_positions_and_closing(client: TradingClient, exchange: Exchange) -> None:
    client.submit_order(
        MarketOrderRequest(symbol="TSLA", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    client.submit_order(
        MarketOrderRequest(symbol="NVDA", qty=4, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    client.submit_order(
        MarketOrderRequest(symbol="KO", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)
    )
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert set(positions) == {"TSLA", "NVDA", "KO"}
    assert positions["KO"].side == "short" and positions["KO"].qty == "-5"
    tsla = client.get_open_position("TSLA")
    assert float(tsla.market_value) == pytest.approx(10 * float(tsla.current_price))
    assert float(tsla.cost_basis) == pytest.approx(10 * float(tsla.avg_entry_price))
    assert client.get_open_position(tsla.asset_id).symbol == "TSLA"
    closed = client.close_position("TSLA", ClosePositionRequest(qty="4"))
    assert closed.qty == "4" and closed.side == OrderSide.SELL
    closed = client.close_position("TSLA", ClosePositionRequest(percentage="50"))
    assert closed.qty == "3"
    assert client.get_open_position("TSLA").qty == "3"
    results = client.close_all_positions(cancel_orders=True)
    assert sorted(r.symbol for r in results) == ["KO", "NVDA", "TSLA"]
    assert all(r.status == 200 for r in results)
    assert client.get_all_positions() == []
    with pytest.raises(APIError) as info:
        client.get_open_position("TSLA")
    assert info.value.status_code == 404 and info.value.code == 40410000


def test_errors_surface_as_api_errors(client: TradingClient) -> None:
    with pytest.raises(APIError) as info:
        client.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=100_000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    assert info.value.status_code == 403 and info.value.message == "insufficient buying power"
    with pytest.raises(APIError) as info:
        client.submit_order(
            LimitOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                limit_price=290.123,
            )
        )
    assert info.value.status_code == 422 and "sub-penny" in info.value.message
    with pytest.raises(APIError) as info:
        client.get_order_by_id("00000000-0000-0000-0000-000000000001")
    assert info.value.status_code == 404
