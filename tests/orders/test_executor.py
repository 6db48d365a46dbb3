"""``Orders`` end to end against the local exchange: every order type and class, replace,
cancel, close, and the frames' column contract."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.orders.conftest import CLOSED_TIME
from trading_kit.errors import OrderExecutionError, OrderValidationError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Account, Order, Orders, OrderSpec
from trading_kit.orders.frames import ACTIVITY_COLUMNS, ORDER_COLUMNS, POSITION_COLUMNS

ORDER_DTYPES = {
    **{c: "str" for c in ORDER_COLUMNS},
    **{
        c: "float64"
        for c in [
            "qty",
            "notional",
            "filled_qty",
            "filled_avg_price",
            "limit_price",
            "stop_price",
            "trail_price",
            "trail_percent",
            "hwm",
        ]
    },
    **{
        c: "datetime64[ns, UTC]"
        for c in ["created_at", "submitted_at", "filled_at", "canceled_at", "expired_at"]
    },
    "extended_hours": "bool",
    "legs": "object",
}


def price(orders: Orders, symbol: str = "AAPL") -> float:
    """The mid of the latest quote, rounded to cents."""
    quote = orders._data.get_latest_quote(symbol, use_cache=False).iloc[0]
    return round((quote["bid_price"] + quote["ask_price"]) / 2, 2)


def test_market_and_notional_orders_fill(orders: Orders) -> None:
    order = orders.place_order("aapl", qty=10, side="buy")
    assert isinstance(order, Order) and order.symbol == "AAPL" and order.qty == 10
    assert orders.get_order(order.id).status == "filled"
    fractional = orders.place_order("AAPL", notional=250, side="buy")
    filled = orders.get_order(fractional.id)
    assert filled.status == "filled" and filled.notional == 250
    assert filled.filled_qty * filled.filled_avg_price == pytest.approx(250, abs=0.01)
    assert orders.get_positions().loc["AAPL", "qty"] == pytest.approx(10 + filled.filled_qty)


def test_limit_stop_stop_limit_and_trailing_orders(
    orders: Orders, running: RunningExchange
) -> None:
    p = price(orders)
    resting = orders.place_order(
        "AAPL", qty=10, side="buy", type="limit", limit_price=round(p * 0.9, 2), time_in_force="gtc"
    )
    assert resting.status in ("new", "accepted") and resting.time_in_force == "gtc"
    crossing = orders.place_order(
        "AAPL", qty=5, side="buy", type="limit", limit_price=round(p * 1.01, 2)
    )
    assert orders.get_order(crossing.id).status == "filled"
    stop = orders.place_order("AAPL", qty=1, side="buy", type="stop", stop_price=round(p * 1.2, 2))
    stop_limit = orders.place_order(
        "AAPL",
        qty=1,
        side="buy",
        type="stop_limit",
        stop_price=round(p * 1.2, 2),
        limit_price=round(p * 1.21, 2),
    )
    trailing = orders.place_order(
        "AAPL", qty=5, side="sell", type="trailing_stop", trail_percent=2.5, time_in_force="gtc"
    )
    assert trailing.trail_percent == 2.5
    trail_price = orders.place_order("AAPL", qty=1, side="buy", type="trailing_stop", trail_price=3)
    running.exchange.advance("5min")
    frame = orders.get_orders("open")
    assert {resting.id, stop.id, stop_limit.id, trailing.id, trail_price.id} <= set(frame.index)
    assert frame.loc[trailing.id, "hwm"] > 0
    assert frame.loc[stop_limit.id, "type"] == "stop_limit"


@pytest.mark.parametrize("tif", ["day", "gtc", "opg", "cls", "ioc", "fok"])
def test_every_time_in_force_is_accepted(
    orders: Orders, running: RunningExchange, tif: str
) -> None:
    if tif == "opg":  # Alpaca takes opg orders before 9:28 or after 19:00 ET, not at 10:00
        running.exchange.set_time(CLOSED_TIME)
    order = orders.place_order(
        "MSFT", qty=1, side="buy", type="limit", limit_price=1, time_in_force=tif
    )
    assert order.time_in_force == tif


def test_extended_hours_limit_order(orders: Orders) -> None:
    order = orders.place_order(
        "AAPL", qty=1, side="buy", type="limit", limit_price=1, extended_hours=True
    )
    assert order.extended_hours is True


def test_bracket_orders_with_market_limit_and_stop_limit_entries(
    orders: Orders, running: RunningExchange
) -> None:
    p = price(orders)
    market = orders.place_bracket_order(
        "AAPL",
        qty=10,
        side="buy",
        take_profit_limit_price=round(p * 1.1, 2),
        stop_loss_stop_price=round(p * 0.9, 2),
        stop_loss_limit_price=round(p * 0.89, 2),
    )
    assert market.order_class == "bracket" and len(market.legs) == 2
    assert {leg.type for leg in market.legs} == {"limit", "stop_limit"}
    assert {leg.side for leg in market.legs} == {"sell"}
    limit = orders.place_bracket_order(
        "AAPL",
        qty=10,
        side="buy",
        entry_limit_price=round(p * 0.95, 2),
        take_profit_limit_price=round(p * 1.1, 2),
        stop_loss_stop_price=round(p * 0.9, 2),
    )
    assert limit.type == "limit" and all(leg.status == "held" for leg in limit.legs)
    m = price(orders, "MSFT")
    stop_limit = orders.place_bracket_order(
        "MSFT",
        qty=1,
        side="sell",
        entry_stop_price=round(m * 0.95, 2),
        entry_limit_price=round(m * 0.94, 2),
        take_profit_limit_price=round(m * 0.8, 2),
        stop_loss_stop_price=round(m * 1.05, 2),
        time_in_force="gtc",
    )
    assert stop_limit.type == "stop_limit" and stop_limit.side == "sell"
    running.exchange.advance("1min")
    legs = orders.get_orders("open").loc[[leg.id for leg in market.legs]]
    # the entry filled: its exits are live (Alpaca shows the stop loss "held" meanwhile)
    assert set(legs["status"]) <= {"new", "accepted", "held"}
    assert list(orders.get_orders("all").loc[market.id, "legs"]) == [leg.id for leg in market.legs]


def test_oco_and_oto_orders(orders: Orders) -> None:
    p = price(orders)
    orders.place_order("AAPL", qty=10, side="buy")
    oco = orders.place_oco_order(
        "AAPL",
        qty=10,
        side="sell",
        take_profit_limit_price=round(p * 1.1, 2),
        stop_loss_stop_price=round(p * 0.9, 2),
    )
    assert oco.order_class == "oco" and oco.limit_price == round(p * 1.1, 2)
    assert [leg.type for leg in oco.legs] == ["stop"]
    oto = orders.place_oto_order(
        "MSFT", qty=2, side="buy", entry_limit_price=1, stop_loss_stop_price="0.5"
    )
    assert oto.order_class == "oto" and [leg.type for leg in oto.legs] == ["stop"]


def test_replace_cancel_and_cancel_all(orders: Orders) -> None:
    o = orders.place_order(
        "AAPL", qty=10, side="buy", type="limit", limit_price=150, time_in_force="day"
    )
    new = orders.replace_order(o.id, qty=15, limit_price=152)
    assert (new.qty, new.limit_price, new.replaces) == (15, 152, o.id)
    assert orders.get_order(o.id).status == "replaced"
    canceled = orders.cancel_order(new.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    for limit in (100, 101, 102):
        orders.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=limit)
    result = orders.cancel_all_orders()
    assert list(result.columns) == ["http_status", "order_id", "status", "message"]
    assert len(result) == 3 and set(result["http_status"]) == {200}
    assert orders.get_orders("open").empty
    empty = orders.cancel_all_orders()
    assert empty.empty and list(empty.columns) == list(result.columns)


def test_replace_validates_locally(orders: Orders) -> None:
    with pytest.raises(OrderValidationError, match="nothing to replace"):
        orders.replace_order("some-id")
    with pytest.raises(OrderValidationError, match="tick") as caught:
        orders.replace_order("some-id", limit_price="1.005")
    assert caught.value.field == "limit_price"
    with pytest.raises(OrderValidationError, match="time_in_force='gtd'"):
        orders.replace_order("some-id", time_in_force="gtd")


def test_close_position_by_qty_percentage_and_all(orders: Orders) -> None:
    orders.place_order("AAPL", qty=10, side="buy")
    orders.place_order("MSFT", qty=4, side="buy")
    part = orders.close_position("AAPL", qty=2)
    assert part.side == "sell" and part.qty == 2
    half = orders.close_position("aapl", percentage=50)
    assert half.qty == 4
    assert orders.get_positions().loc["AAPL", "qty"] == 4
    with pytest.raises(OrderValidationError, match="not both"):
        orders.close_position("AAPL", qty=1, percentage=10)
    with pytest.raises(OrderValidationError, match="percentage=150"):
        orders.close_position("AAPL", percentage=150)
    orders.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=1)
    result = orders.close_all_positions(cancel_orders=True)
    assert list(result.index) == ["AAPL", "MSFT"] and set(result["http_status"]) == {200}
    assert orders.get_positions().empty and orders.get_orders("open").empty


def test_close_position_without_one_is_an_execution_error(orders: Orders) -> None:
    with pytest.raises(OrderExecutionError) as caught:
        orders.close_position("NVDA")
    assert caught.value.status == 404 and caught.value.code == 40410000
    assert "position does not exist" in str(caught.value)


def test_server_rejections_carry_alpacas_code_and_message(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    unchecked = new_orders(running.url, checks=False)
    with pytest.raises(OrderExecutionError) as caught:
        unchecked.place_order("COST", qty=1000, side="buy")
    assert caught.value.status == 403 and caught.value.code == 40310000
    assert "insufficient buying power" in str(caught.value)
    unchecked.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    with pytest.raises(OrderExecutionError, match="wash trade") as wash:
        unchecked.place_order("AAPL", qty=1, side="sell")
    assert wash.value.code == 40310000
    with pytest.raises(OrderExecutionError) as missing:
        unchecked.get_order("00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404
    with pytest.raises(OrderExecutionError) as malformed:  # not a uuid: Alpaca says 422
        unchecked.get_order("no-such-order")
    assert (malformed.value.status, malformed.value.code) == (422, 40010001)


def test_orders_frame_contract(orders: Orders) -> None:
    empty = orders.get_orders("all")
    assert empty.index.name == "id" and list(empty.columns) == list(ORDER_COLUMNS)
    assert {c: str(t) for c, t in empty.dtypes.items()} == ORDER_DTYPES
    p = price(orders)
    orders.place_order("AAPL", qty=1, side="buy")
    orders.place_bracket_order(
        "AAPL",
        qty=1,
        side="buy",
        entry_limit_price=1,
        take_profit_limit_price=round(p, 2),
        stop_loss_stop_price="0.5",
    )
    frame = orders.get_orders("all")
    assert list(frame.columns) == list(ORDER_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == ORDER_DTYPES
    assert len(frame) == 4  # the bracket's legs are rows too
    assert set(frame["order_class"]) == {"simple", "bracket"}
    assert str(frame["created_at"].dt.tz) == "UTC"
    one = orders.get_order(frame.index[0])
    assert list(one.series.index) == list(ORDER_COLUMNS) and one.series.name == one.id


def test_positions_account_and_activities(orders: Orders) -> None:
    empty = orders.get_positions()
    assert empty.index.name == "symbol" and list(empty.columns) == list(POSITION_COLUMNS)
    no_fills = orders.get_activities()
    assert list(no_fills.columns) == list(ACTIVITY_COLUMNS)
    orders.place_order("AAPL", qty=10, side="buy")
    positions = orders.get_positions()
    assert list(positions.columns) == list(POSITION_COLUMNS)
    row = positions.loc["AAPL"]
    assert row["side"] == "long" and row["qty"] == 10.0
    assert positions.drop(columns="side").dtypes.eq("float64").all()
    account = orders.get_account()
    assert isinstance(account, Account) and account.status == "ACTIVE"
    assert account.day_pl == pytest.approx(account.equity - account.last_equity)
    assert list(account.series.index) == [
        "equity", "cash", "buying_power", "long_market_value", "short_market_value",
        "portfolio_value", "last_equity", "day_pl", "status",
    ]  # fmt: skip
    assert account.long_market_value == pytest.approx(row["market_value"])
    fills = orders.get_activities()
    assert len(fills) == 1 and fills.iloc[0]["side"] == "buy" and fills.iloc[0]["qty"] == 10.0
    assert str(fills["transaction_time"].dt.tz) == "UTC"


def test_place_order_takes_a_spec_but_not_a_spec_and_fields(orders: Orders) -> None:
    spec = OrderSpec(symbol="AAPL", qty=1, side="buy", client_order_id="spec-1")
    assert orders.place_order(spec).client_order_id == "spec-1"
    with pytest.raises(OrderValidationError, match="not both"):
        orders.place_order(spec, qty=2)
    assert orders.get_order_by_client_id("spec-1").symbol == "AAPL"


def test_get_orders_validates_its_arguments(orders: Orders) -> None:
    with pytest.raises(OrderValidationError, match="open, closed, all"):
        orders.get_orders("pending")
    with pytest.raises(OrderValidationError, match="limit"):
        orders.get_orders(limit=0)
    orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    orders.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=1)
    only = orders.get_orders(symbols=["msft"], after=pd.Timestamp("2024-03-01"))
    assert list(only["symbol"]) == ["MSFT"]
