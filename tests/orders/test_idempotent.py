"""Idempotent submission: a lost answer never turns into a second order.

A proxy between the client and the local exchange forwards ``POST /v2/orders`` and
then drops the connection (or answers 504, or loses the request): the executor must
look the order up by its client order id before it sends anything again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.orders.conftest import Proxy
from trading_kit.errors import OrderExecutionError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders

POST = ("POST", "/v2/orders")
LOOKUP = ("GET", "/v2/orders:by_client_order_id")


def exchange_orders(running: RunningExchange, client_order_id: str) -> list:
    engine = running.exchange.engine
    return [o for o in engine.orders.values() if o.client_order_id == client_order_id]


def test_dropped_answer_after_the_order_arrived(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {POST: ["drop"]}) as proxy:
        orders = new_orders(proxy.url)
        order = orders.place_order("AAPL", qty=3, side="buy", client_order_id="drop-1")
        assert order.client_order_id == "drop-1" and order.qty == 3
        assert len(exchange_orders(running, "drop-1")) == 1
        assert len(running.exchange.engine.orders) == 1
        assert proxy.count(*POST) == 1  # found by client order id: never sent again
        assert proxy.count(*LOOKUP) == 1
    assert orders.history().loc[order.id, "client_order_id"] == "drop-1"


def test_generated_client_order_id_also_protects(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {POST: ["drop"]}) as proxy:
        order = new_orders(proxy.url).place_order("AAPL", notional=100, side="buy")
        assert len(exchange_orders(running, order.client_order_id)) == 1
        assert len(running.exchange.engine.orders) == 1


def test_gateway_504_after_the_order_arrived(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    """alpaca-py's TradingClient would re-send this POST; we look it up instead."""
    with Proxy(running.url, {POST: [504]}) as proxy:
        order = new_orders(proxy.url).place_order("MSFT", qty=1, side="buy", client_order_id="gw-1")
        assert order.client_order_id == "gw-1"
        assert proxy.count(*POST) == 1 and len(running.exchange.engine.orders) == 1


def test_lost_request_is_sent_again_once(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {POST: ["lose"]}) as proxy:
        order = new_orders(proxy.url).place_order(
            "AAPL", qty=2, side="buy", client_order_id="lost-1"
        )
        assert order.client_order_id == "lost-1"
        assert proxy.count(*POST) == 2 and proxy.count(*LOOKUP) == 1
        assert len(exchange_orders(running, "lost-1")) == 1


def test_lookup_too_early_then_resend_refused_as_duplicate(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    """The order arrived but was not visible yet: the resend carries the same id, the
    broker refuses a second use of it, and the executor returns the first order."""
    with Proxy(running.url, {POST: ["drop"], LOOKUP: ["hide"]}) as proxy:
        order = new_orders(proxy.url).place_order(
            "AAPL", qty=1, side="buy", client_order_id="late-1"
        )
        assert order.client_order_id == "late-1"
        assert proxy.count(*POST) == 2 and proxy.count(*LOOKUP) == 2
        assert len(exchange_orders(running, "late-1")) == 1


def test_gives_up_with_a_clear_message_when_nothing_gets_through(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {POST: ["lose"] * 3}) as proxy:
        with pytest.raises(OrderExecutionError) as caught:
            new_orders(proxy.url).place_order("AAPL", qty=1, side="buy", client_order_id="gone-1")
        assert "client_order_id gone-1" in str(caught.value)
        assert "nothing was placed" in str(caught.value) and caught.value.status is None
        assert proxy.count(*POST) == 3 and not running.exchange.engine.orders


def test_a_clear_rejection_is_not_retried(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url) as proxy:
        orders = new_orders(proxy.url, checks=False)
        with pytest.raises(OrderExecutionError) as caught:
            orders.place_order("COST", qty=10_000, side="buy")
        assert caught.value.status == 403
        assert proxy.count(*POST) == 1 and proxy.count(*LOOKUP) == 0
