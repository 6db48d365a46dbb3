"""Server-side validation: each rule answers with Alpaca's status, code and message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SESSION_TIME
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.market import SimulatedMarket
from trading_kit.exchange.wire import AlpacaError

BASE = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}


def order(**changes: Any) -> dict[str, Any]:
    body = {**BASE, **changes}
    return {k: v for k, v in body.items() if v is not None}


def rejected(ex: Exchange, operation: Any, *args: Any) -> AlpacaError:
    with pytest.raises(AlpacaError) as info:
        ex.run(operation, *args)
    return info.value


SHAPE_RULES = [
    (
        order(type="limit", limit_price=290.123),
        422,
        42210000,
        "invalid limit_price 290.123. sub-penny increment does not fulfill minimum pricing criteria",
    ),
    (
        order(type="limit", limit_price=0.12345),
        422,
        42210000,
        "invalid limit_price 0.12345. sub-penny increment does not fulfill minimum pricing criteria",
    ),
    (order(symbol="ZZZZZ"), 422, 40010001, 'asset "ZZZZZ" not found'),
    (order(qty=-5), 422, 40010001, "qty must be > 0"),
    (order(qty="ten"), 422, 40010001, "invalid qty"),
    (order(qty=None), 422, 40010001, "qty or notional is required"),
    (order(qty=1.5, time_in_force="gtc"), 422, 42210000, "fractional orders must be DAY orders"),
    # Alpaca: "Only limit day orders will be accepted as extended hours eligible", with the
    # message Alpaca answers (422, 40010001)
    (
        order(extended_hours=True),
        422,
        40010001,
        'only type="limit" is allowed for extended hours orders',
    ),
    (
        order(type="limit", limit_price=100, extended_hours=True, time_in_force="ioc"),
        422,
        40010001,
        'only time_in_force="day" is allowed for extended hours orders',
    ),
    (
        order(type="limit", limit_price=100, extended_hours=True, time_in_force="gtc"),
        422,
        40010001,
        'only time_in_force="day" is allowed for extended hours orders',
    ),
    # Alpaca's bracket orders: "Extended hours are not supported"
    (
        order(
            type="limit",
            limit_price=100,
            extended_hours=True,
            order_class="bracket",
            take_profit={"limit_price": 110},
            stop_loss={"stop_price": 90},
        ),
        422,
        42210000,
        "extended hours are not supported for bracket orders",
    ),
    # Alpaca: opg and cls are used "with a market/limit order type"
    (
        order(type="stop", stop_price=100, time_in_force="opg"),
        422,
        42210000,
        "opg orders must be market or limit orders",
    ),
    (
        order(type="stop_limit", stop_price=100, limit_price=100, time_in_force="cls"),
        422,
        42210000,
        "cls orders must be market or limit orders",
    ),
    (
        order(order_class="bracket", stop_loss={"stop_price": 1}),
        422,
        40010001,
        "bracket orders require take_profit.limit_price",
    ),
    (
        order(
            type="limit",
            limit_price=100,
            order_class="bracket",
            take_profit={"limit_price": 100},
            stop_loss={"stop_price": 90},
        ),
        422,
        42210000,
        "take_profit.limit_price must be >= base_price + 0.01",
    ),
    (
        order(
            type="limit",
            limit_price=100,
            order_class="bracket",
            take_profit={"limit_price": 110},
            stop_loss={"stop_price": 100},
        ),
        422,
        42210000,
        "stop_loss.stop_price must be <= base_price - 0.01",
    ),
    (
        order(
            side="sell",
            type="limit",
            limit_price=100,
            order_class="bracket",
            take_profit={"limit_price": 110},
            stop_loss={"stop_price": 120},
        ),
        422,
        42210000,
        "take_profit.limit_price must be <= base_price - 0.01",
    ),
    (
        order(type="trailing_stop", trail_percent=150),
        422,
        42210000,
        "trail_percent must be > 0 and < 100",
    ),
    (
        order(type="trailing_stop", trail_percent=5, time_in_force="ioc"),
        422,
        42210000,
        "trailing stop orders must be DAY or GTC orders",
    ),
    (order(type="limit"), 422, 40010001, "limit_price is required for limit orders"),
    (order(side="hold"), 422, 40010001, "invalid side"),
    (order(colour="blue"), 422, 40010001, 'unknown field "colour"'),
    (
        order(notional=100, qty=None, type="limit", limit_price=5),
        422,
        42210000,
        "notional orders must be market orders",
    ),
    ([1, 2, 3], 422, 40010001, "request body must be a JSON object"),
]


@pytest.mark.parametrize(("body", "status", "code", "message"), SHAPE_RULES)
def test_order_shape_rules(
    exchange: Exchange, body: Any, status: int, code: int, message: str
) -> None:
    error = rejected(exchange, exchange.engine.submit, body)
    assert (error.status, error.code, error.message) == (status, code, message)
    assert not exchange.engine.orders, "a rejected order leaves no trace"


def test_insufficient_buying_power_reports_the_numbers(exchange: Exchange) -> None:
    error = rejected(exchange, exchange.engine.submit, order(qty=5000))
    assert (error.status, error.code, error.message) == (403, 40310000, "insufficient buying power")
    assert error.body()["buying_power"] == "200000"
    assert float(error.body()["cost_basis"]) > 200_000


def test_selling_more_than_held_without_shorting(sim_market: SimulatedMarket, manual_clock) -> None:
    ex = Exchange(sim_market, manual_clock, partial_fills=False, shorting_enabled=False)
    error = rejected(ex, ex.engine.submit, order(side="sell", qty=5))
    assert (error.status, error.code) == (403, 40310000)
    assert error.message == "insufficient qty available for order (requested: 5, available: 0)"
    ex.run(ex.engine.submit, order(qty=3))
    error = rejected(ex, ex.engine.submit, order(side="sell", qty=5))
    assert error.message == "insufficient qty available for order (requested: 5, available: 3)"


def test_a_long_position_cannot_flip_short_in_one_order(exchange: Exchange) -> None:
    exchange.run(exchange.engine.submit, order(qty=2))
    error = rejected(exchange, exchange.engine.submit, order(side="sell", qty=3))
    assert error.message == "insufficient qty available for order (requested: 3, available: 2)"


def test_wash_trade_is_rejected(exchange: Exchange) -> None:
    exchange.run(exchange.engine.submit, order(qty=10))
    exchange.run(
        exchange.engine.submit,
        order(side="sell", qty=5, type="limit", limit_price=999, time_in_force="gtc"),
    )
    error = rejected(exchange, exchange.engine.submit, order(qty=1))
    assert (error.status, error.code, error.message) == (
        403,
        40310000,
        "potential wash trade detected. use complex orders",
    )


def test_client_order_id_must_be_unique(exchange: Exchange) -> None:
    exchange.run(exchange.engine.submit, order(client_order_id="mine-1"))
    error = rejected(exchange, exchange.engine.submit, order(client_order_id="mine-1"))
    assert (error.status, error.code, error.message) == (
        422,
        40010001,
        "client_order_id must be unique",
    )


def test_fractional_qty_on_a_non_fractionable_asset(manual_clock) -> None:
    class WholeSharesMarket(SimulatedMarket):
        def asset(self, symbol: str) -> dict | None:
            asset = super().asset(symbol)
            return None if asset is None else {**asset, "fractionable": False}

    ex = Exchange(WholeSharesMarket(), manual_clock, partial_fills=False)
    error = rejected(ex, ex.engine.submit, order(qty=0.5))
    assert (error.status, error.code, error.message) == (422, 40010001, "qty must be integer")


def test_unknown_order_is_404(exchange: Exchange) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    error = rejected(exchange, exchange.engine.cancel, missing)
    assert (error.status, error.code, error.message) == (
        404,
        40410000,
        f"order not found for {missing}",
    )


def test_malformed_order_id_is_422(exchange: Exchange) -> None:
    """Alpaca answers an order id that is not a UUID with 422 40010001, not 404."""
    for operation in (exchange.engine.cancel, exchange.engine.get_order):
        error = rejected(exchange, operation, "no-such-id")
        assert (error.status, error.code, error.message) == (422, 40010001, "order_id is missing")


def test_position_that_does_not_exist_is_404(exchange: Exchange) -> None:
    error = rejected(exchange, exchange.engine.close_position, "AAPL")
    assert (error.status, error.code, error.message) == (404, 40410000, "position does not exist")


def test_replace_or_cancel_of_a_finished_order(exchange: Exchange) -> None:
    filled = exchange.run(exchange.engine.submit, order())
    error = rejected(exchange, exchange.engine.replace, filled["id"], {"qty": 2})
    assert (error.status, error.code, error.message) == (
        422,
        42210000,
        'order is already in "filled" state',
    )
    resting = exchange.run(exchange.engine.submit, order(type="limit", limit_price=1))
    exchange.run(exchange.engine.cancel, resting["id"])
    error = rejected(exchange, exchange.engine.replace, resting["id"], {"limit_price": 2})
    assert error.message == 'order is already in "canceled" state'
    error = rejected(exchange, exchange.engine.cancel, resting["id"])
    assert error.message == 'order is already in "canceled" state'


def test_order_not_yet_live_cannot_be_replaced(sim_market: SimulatedMarket) -> None:
    from trading_kit.exchange.clock import ManualClock

    ex = Exchange(sim_market, ManualClock("2024-03-06T02:00:00Z"), partial_fills=False)
    accepted = ex.run(ex.engine.submit, order(type="limit", limit_price=1))
    error = rejected(ex, ex.engine.replace, accepted["id"], {"limit_price": 2})
    assert (error.status, error.code) == (422, 42210000)
    assert error.message == "unable to replace order, order isn't sent to exchange yet"
    assert ex.clock.now() > SESSION_TIME
