"""A change whose answer is lost happens once, or not at all, and never reads as a failure.

A proxy between the client and the local exchange forwards a request and then loses the
answer (drops the connection, or answers a gateway's 504), or loses the request itself.
Closing a position creates an order, so it must not be sent again blindly; cancelling an
order may be, and its repeat's "already canceled" must read as the success it is.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.orders.conftest import Proxy
from trading_kit.errors import OrderExecutionError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders

CLOSE_AAPL = ("DELETE", "/v2/positions/AAPL")


def position(orders: Orders, symbol: str = "AAPL") -> float:
    positions = orders.get_positions()
    return float(positions.loc[symbol, "qty"]) if symbol in positions.index else 0.0


def closing_orders(orders: Orders) -> int:
    frame = orders.get_orders("all")
    return int((frame["side"] == "sell").sum())


@pytest.mark.parametrize(("fault", "amount"), [("drop", {"qty": 2}), (504, {"percentage": 50})])
def test_close_position_with_its_answer_lost_closes_once(
    running: RunningExchange, new_orders: Callable[..., Orders], fault: object, amount: dict
) -> None:
    direct = new_orders(running.url)
    direct.place_order("AAPL", qty=10, side="buy")
    with Proxy(running.url, {CLOSE_AAPL: [fault]}) as proxy:
        order = new_orders(proxy.url).close_position("AAPL", **amount)
        assert proxy.count(*CLOSE_AAPL) == 1  # never sent twice
    expected = 8 if "qty" in amount else 5
    assert order.qty == 10 - expected
    assert position(direct) == expected
    assert closing_orders(direct) == 1
    assert direct.history().loc[order.id, "last_event"] in ("close_position", "fill")


def requests_before(proxy: Proxy, method: str, path: str, before: tuple[str, str]) -> int:
    """How many ``method path`` requests the proxy saw before the first ``before``."""
    seen = proxy.requests[: proxy.requests.index(before)]
    return sum(1 for request in seen if request == (method, path))


def test_close_right_after_an_order_stands_on_its_answer_and_a_lost_answer_closes_once(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    """The buy's answer showed the newest AAPL order: no read before the close, and the
    close whose answer is lost is still told apart from the buy and found."""
    with Proxy(running.url, {CLOSE_AAPL: ["drop"]}) as proxy:
        orders = new_orders(proxy.url)
        orders._newest.fresh_seconds = 3600  # "a moment ago", however slow the machine
        bought = orders.place_order("AAPL", qty=10, side="buy")
        closed = orders.close_position("AAPL", qty=2)
        assert requests_before(proxy, "GET", "/v2/orders", CLOSE_AAPL) == 0
        assert proxy.count(*CLOSE_AAPL) == 1  # never sent twice
    assert closed.id != bought.id and closed.side == "sell" and closed.qty == 2
    direct = new_orders(running.url)
    assert position(direct) == 8 and closing_orders(direct) == 1


def test_close_reads_the_newest_orders_when_no_answer_showed_them_a_moment_ago(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {CLOSE_AAPL: ["drop"]}) as proxy:
        orders = new_orders(proxy.url)
        orders._newest.fresh_seconds = -1.0  # every answer is already too old
        orders.place_order("AAPL", qty=10, side="buy")
        closed = orders.close_position("AAPL", qty=2)
        assert requests_before(proxy, "GET", "/v2/orders", CLOSE_AAPL) == 1
        assert proxy.count(*CLOSE_AAPL) == 1
    assert closed.qty == 2 and position(new_orders(running.url)) == 8


def test_close_position_lost_on_the_way_is_not_sent_blindly(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    """No order appeared, but a close still on its way would happen twice if re-sent."""
    direct = new_orders(running.url)
    direct.place_order("AAPL", qty=10, side="buy")
    with Proxy(running.url, {CLOSE_AAPL: ["lose"]}) as proxy:
        with pytest.raises(OrderExecutionError, match="nothing seems closed") as caught:
            new_orders(proxy.url).close_position("AAPL", qty=2)
        assert proxy.count(*CLOSE_AAPL) == 1
    assert "get_positions" in str(caught.value)
    assert position(direct) == 10 and closing_orders(direct) == 0


def test_close_all_positions_with_its_answer_lost_is_not_repeated(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    direct = new_orders(running.url)
    direct.place_order("AAPL", qty=4, side="buy")
    direct.place_order("MSFT", qty=3, side="buy")
    with Proxy(running.url, {("DELETE", "/v2/positions"): ["drop"]}) as proxy:
        with pytest.raises(OrderExecutionError, match="may have reached the server"):
            new_orders(proxy.url).close_all_positions()
        assert proxy.count("DELETE", "/v2/positions") == 1
    assert direct.get_positions().empty
    assert closing_orders(direct) == 2  # one close per position, not two


def test_cancel_with_its_answer_lost_is_a_success(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    """The cancel arrived; its repeat is refused as already canceled; that is success."""
    direct = new_orders(running.url)
    resting = direct.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    path = f"/v2/orders/{resting.id}"
    with Proxy(running.url, {("DELETE", path): ["drop"]}) as proxy:
        canceled = new_orders(proxy.url).cancel_order(resting.id)
        assert proxy.count("DELETE", path) == 2  # the repeat was sent, and refused
    assert canceled.status == "canceled"
    assert direct.get_order(resting.id).status == "canceled"


def test_cancelling_a_canceled_order_is_still_an_error(orders: Orders) -> None:
    """Without a lost answer, "already canceled" is news for the user, not a success."""
    resting = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    orders.cancel_order(resting.id)
    with pytest.raises(OrderExecutionError) as caught:
        orders.cancel_order(resting.id)
    assert caught.value.status == 422 and caught.value.attempts == 1


def test_cancel_of_a_filled_order_after_a_lost_answer_stays_an_error(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    direct = new_orders(running.url)
    filled = direct.place_order("AAPL", qty=1, side="buy")
    path = f"/v2/orders/{filled.id}"
    with Proxy(running.url, {("DELETE", path): [504]}) as proxy:
        with pytest.raises(OrderExecutionError) as caught:
            new_orders(proxy.url).cancel_order(filled.id)
        assert proxy.count("DELETE", path) == 2
    assert caught.value.status == 422
    assert direct.get_order(filled.id).status == "filled"


@pytest.mark.parametrize("body", [b"[]", b"null", b"<html>proxy error</html>", b'{"id": '])
def test_a_bad_account_body_is_an_execution_error_naming_the_path(
    running: RunningExchange, new_orders: Callable[..., Orders], body: bytes
) -> None:
    with Proxy(running.url, {("GET", "/v2/account"): [body] * 3}) as proxy:
        with pytest.raises(OrderExecutionError) as caught:
            new_orders(proxy.url).get_account()
        assert proxy.count("GET", "/v2/account") == 3  # retried like a 5xx
    assert "GET /v2/account failed after 3 attempt(s): the answer was not well formed" in str(
        caught.value
    )


def test_an_order_whose_answer_is_unreadable_is_found_not_placed_again(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(running.url, {("POST", "/v2/orders"): [b"<html>gateway</html>"]}) as proxy:
        order = new_orders(proxy.url).place_order(
            "AAPL", qty=2, side="buy", client_order_id="garbled-1"
        )
        assert proxy.count("POST", "/v2/orders") == 1
    assert order.client_order_id == "garbled-1" and len(running.exchange.engine.orders) == 1


@pytest.mark.parametrize(
    "theirs",
    [
        {"qty": 5, "side": "sell", "type": "limit", "limit_price": 1000},  # not a market order
        {"qty": 3, "side": "sell"},  # a market order, but not of the qty closed
    ],
)
def test_a_close_that_never_arrived_is_not_mistaken_for_another_clients_order(
    running: RunningExchange, new_orders: Callable[..., Orders], theirs: dict
) -> None:
    """Another client's order placed between this client's last look and a close that was
    lost on its way is not reported as the close: the position is still open, so say so."""
    with Proxy(running.url, {CLOSE_AAPL: ["lose"]}) as proxy:
        orders = new_orders(proxy.url)
        orders._newest.fresh_seconds = 3600  # the buy's answer stands in for a read
        orders.place_order("AAPL", qty=10, side="buy")
        new_orders(running.url).place_order("AAPL", **theirs)
        with pytest.raises(OrderExecutionError, match="nothing seems closed"):
            orders.close_position("AAPL", qty=2)
        assert proxy.count(*CLOSE_AAPL) == 1
    assert position(new_orders(running.url)) == 10 - (3 if theirs.get("type") is None else 0)
