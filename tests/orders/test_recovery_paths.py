"""The recovery paths of a change whose fate is unclear, each pinned by a test.

Removing any of them must fail here: ``replace_order`` finding its replacement after a
lost answer, and a POST sent again when it surely never reached the server (its
connection was refused, or never accepted before the connect timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.orders.conftest import Proxy
from trading_kit.config import Settings
from trading_kit.exchange.server import RunningExchange
from trading_kit.http import HttpStack
from trading_kit.orders import Orders

POST = ("POST", "/v2/orders")
LOOKUP = ("GET", "/v2/orders:by_client_order_id")


@pytest.mark.parametrize("fault", ["drop", 504])
def test_replace_with_its_answer_lost_returns_the_replacement(
    running: RunningExchange, new_orders: Callable[..., Orders], fault: object
) -> None:
    direct = new_orders(running.url)
    resting = direct.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=100)
    patch = ("PATCH", f"/v2/orders/{resting.id}")
    with Proxy(running.url, {patch: [fault]}) as proxy:
        replacement = new_orders(proxy.url).replace_order(
            resting.id, limit_price=101, client_order_id="rep-1"
        )
        assert proxy.count(*patch) == 1 and proxy.count(*LOOKUP) == 1
    assert replacement.client_order_id == "rep-1" and replacement.limit_price == 101
    assert direct.get_order(resting.id).status == "replaced"
    engine = running.exchange.engine
    assert [o.client_order_id for o in engine.orders.values()].count("rep-1") == 1


@pytest.mark.parametrize("how", ["timeout", "refuse"])
def test_a_post_that_never_connected_is_sent_again_without_a_lookup(
    running: RunningExchange, tmp_path: Path, how: str
) -> None:
    """The connection was never made, so the order surely does not exist: the stack sends
    it again at once. (Without that retry the executor would look the order up first.)"""
    proxy = Proxy(running.url)
    proxy.shut(how)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # between attempts, so the first one has failed
        pauses.append(seconds)
        proxy.open()

    settings = Settings(
        trading_url=proxy.url,
        data_url=running.url,
        cache_path=tmp_path / "cache.sqlite",
        connect_timeout=0.3,
        backoff_initial=0.01,
        max_attempts=3,
        requests_per_minute=100_000,
    )
    stack = HttpStack(settings, sleep=sleep)
    try:
        with proxy:
            orders = Orders(stack=stack, journal_path=tmp_path / "journal.sqlite", checks=False)
            order = orders.place_order("AAPL", qty=1, side="buy", client_order_id="conn-1")
            assert len(pauses) == 1  # one failed connection, one retry
            assert proxy.count(*POST) == 1 and proxy.count(*LOOKUP) == 0
    finally:
        stack.close()
    assert order.client_order_id == "conn-1"
    assert len(running.exchange.engine.orders) == 1
