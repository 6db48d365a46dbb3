"""A replace is judged like a new order: OrderSpec rules, pre-trade checks, risk rules.

Every test goes through a counting proxy in front of the local exchange, so "refused"
means no PATCH ever reached the broker, and "passed" means exactly one did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.orders.conftest import Proxy
from trading_kit.errors import OrderExecutionError, OrderValidationError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders


@pytest.fixture
def proxy(running: RunningExchange) -> Iterator[Proxy]:
    with Proxy(running.url) as p:
        yield p


def patches(proxy: Proxy) -> int:
    return sum(1 for method, _ in proxy.requests if method == "PATCH")


def ask_of(orders: Orders, symbol: str = "AAPL") -> float:
    return float(orders._data.get_latest_quote(symbol, use_cache=False)["ask_price"].iloc[0])


def test_a_replace_breaching_max_order_notional_is_refused_like_a_new_order(
    proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url, risk={"max_order_notional": 5_000})
    with pytest.raises(OrderValidationError, match="max_order_notional") as as_new:
        orders.place_order("AAPL", qty=100, side="buy", type="limit", limit_price=100)
    small = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=100)

    with pytest.raises(OrderValidationError, match="max_order_notional") as as_replace:
        orders.replace_order(small.id, qty=100)

    assert str(as_replace.value) == str(as_new.value)  # the same rule, the same words
    assert patches(proxy) == 0
    assert orders.get_order(small.id).status in ("new", "accepted")
    within = orders.replace_order(small.id, qty=40)  # $4,000: inside the limit
    assert within.qty == 40 and patches(proxy) == 1


def test_a_replace_is_checked_against_buying_power_without_the_old_hold(
    proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url)
    power = orders.get_account().buying_power
    price = round(ask_of(orders) - 1, 2)
    qty = int(power * 0.8 // price)
    big = orders.place_order("AAPL", qty=qty, side="buy", type="limit", limit_price=price)
    # 80% of buying power is now held; a penny more per share still fits once it is released.
    moved = orders.replace_order(big.id, limit_price=round(price + 0.01, 2))
    assert moved.limit_price == pytest.approx(price + 0.01)
    with pytest.raises(OrderValidationError, match="buying power is"):
        orders.replace_order(moved.id, qty=qty * 2)
    assert patches(proxy) == 1
    assert orders.get_order(moved.id).status in ("new", "accepted")


def test_a_replaced_sell_may_keep_the_shares_it_already_holds(
    running: RunningExchange, proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url)
    orders.place_order("AAPL", qty=10, side="buy")
    running.exchange.advance("1min")
    sell = orders.place_order("AAPL", qty=10, side="sell", type="limit", limit_price=999)
    moved = orders.replace_order(sell.id, limit_price=998)  # its own 10 shares are released
    assert moved.limit_price == 998
    with pytest.raises(OrderValidationError, match="selling 11 AAPL but only 10 of 10"):
        orders.replace_order(moved.id, qty=11)
    assert patches(proxy) == 1


def test_a_replace_does_not_count_as_one_more_open_order(
    proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url, risk={"max_open_orders": 2})
    first = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=2)
    assert orders.replace_order(first.id, limit_price="1.5").limit_price == 1.5
    assert patches(proxy) == 1


def test_the_replaced_order_must_still_be_a_valid_order(
    proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url)
    stop = orders.place_order("AAPL", qty=2, side="sell", type="stop", stop_price=1)
    with pytest.raises(OrderValidationError, match="limit_price=2 is not used by stop orders"):
        orders.replace_order(stop.id, limit_price=2)
    with pytest.raises(OrderValidationError, match="fractional"):
        orders.replace_order(stop.id, qty="1.5", time_in_force="gtc")
    assert patches(proxy) == 0


def test_a_final_order_is_left_to_the_broker(
    running: RunningExchange, proxy: Proxy, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(proxy.url)
    filled = orders.place_order("AAPL", qty=1, side="buy")
    running.exchange.advance("1min")
    with pytest.raises(OrderExecutionError, match="filled") as caught:
        orders.replace_order(filled.id, limit_price=100)
    assert caught.value.status == 422 and patches(proxy) == 1
