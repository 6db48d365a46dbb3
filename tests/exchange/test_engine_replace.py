"""Issue 9 (5): a replace passes the same rules as a new order, through alpaca-py.

Replacing a 2-share sell with qty=100000 used to answer 200, leave ``qty_available`` at
-99,998 and, once marketable, short 99,998 shares on $99k of equity. A PATCH is now
admitted like a POST (buying power, available qty, shortability, the $1 minimum, the
auction windows), counting what the replaced order holds as free; a refused replace
changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from trading_kit.exchange.core import Exchange
from trading_kit.exchange.server import RunningExchange


@pytest.fixture
def client(running_exchange: RunningExchange) -> TradingClient:
    return TradingClient("test-key", "test-secret", paper=True, url_override=running_exchange.url)


def price(exchange: Exchange, symbol: str) -> float:
    return float(exchange.market.trade_at(symbol, exchange.clock.now())["price"])


def open_orders(client: TradingClient) -> list:
    return client.get_orders(GetOrdersRequest(status="open", limit=500))


def refused(client: TradingClient, order_id, **changes) -> APIError:
    before = {o.id: (o.status, o.qty, o.limit_price) for o in open_orders(client)}
    with pytest.raises(APIError) as info:
        client.replace_order_by_id(order_id, ReplaceOrderRequest(**changes))
    after = {o.id: (o.status, o.qty, o.limit_price) for o in open_orders(client)}
    assert after == before, "a refused replace changes nothing"
    return info.value


def test_replacing_a_sell_beyond_the_position_is_refused(
    client: TradingClient, exchange: Exchange
) -> None:
    client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    sell = client.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=2,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            limit_price=round(price(exchange, "AAPL") * 1.5, 2),
        )
    )
    error = refused(client, sell.id, qty=100_000)
    assert error.status_code == 403
    assert error.message == "insufficient qty available for order (requested: 100000, available: 2)"
    position = client.get_open_position("AAPL")
    assert (position.qty, position.qty_available) == ("2", "0")
    # what the replaced order holds counts as free: the same 2 shares at a new price is fine
    new = client.replace_order_by_id(sell.id, ReplaceOrderRequest(limit_price=400))
    assert new.qty == "2" and client.get_open_position("AAPL").qty_available == "0"


def test_replacing_a_buy_beyond_buying_power_is_refused(
    client: TradingClient, exchange: Exchange
) -> None:
    limit = round(price(exchange, "MSFT") * 0.9, 2)
    account = client.get_account()
    qty = int(Decimal(account.buying_power) / Decimal(str(limit)))  # all the buying power
    buy = client.submit_order(
        LimitOrderRequest(
            symbol="MSFT",
            qty=qty,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=limit,
        )
    )
    error = refused(client, buy.id, qty=qty + 10)
    assert (error.status_code, error.message) == (403, "insufficient buying power")
    # the old order's hold is free for its replacement: one share fewer fits
    lower = client.replace_order_by_id(buy.id, ReplaceOrderRequest(qty=qty - 1))
    assert lower.qty == str(qty - 1)


def test_replacing_below_a_dollar_is_refused(client: TradingClient) -> None:
    order = client.submit_order(
        LimitOrderRequest(
            symbol="INTC", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=2
        )
    )
    error = refused(client, order.id, limit_price=0.5)
    assert (error.status_code, error.message) == (
        403,
        "cost basis must be >= minimal amount of order 1",
    )


def test_replacing_a_bracket_stop_loss_keeps_it_held_and_working(
    client: TradingClient, exchange: Exchange
) -> None:
    p = price(exchange, "GOOGL")
    client.submit_order(
        MarketOrderRequest(
            symbol="GOOGL",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=round(p * 1.5, 2)),
            stop_loss=StopLossRequest(stop_price=round(p * 0.5, 2)),
        )
    )
    stop_loss = next(o for o in open_orders(client) if o.order_type == "stop")
    assert stop_loss.status == OrderStatus.HELD
    error = refused(client, stop_loss.id, qty=4)  # more than the position it protects
    assert error.status_code == 403
    moved = client.replace_order_by_id(
        stop_loss.id, ReplaceOrderRequest(stop_price=round(p * 0.6, 2))
    )
    assert moved.status == OrderStatus.HELD and moved.replaces == stop_loss.id
    assert client.get_open_position("GOOGL").qty_available == "0"  # held once, not twice
