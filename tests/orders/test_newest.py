"""``NewestOrders``: what answers showed of each symbol's newest orders, and for how long."""

from __future__ import annotations

from typing import Any

from trading_kit.orders.newest import NewestOrders


def order(order_id: str, symbol: str, submitted_at: str | None, **more: Any) -> dict[str, Any]:
    return {"id": order_id, "symbol": symbol, "submitted_at": submitted_at, **more}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_newest_time_wins_and_orders_at_it_accumulate() -> None:
    clock = Clock()
    newest = NewestOrders(fresh_seconds=1.0, clock=clock)
    assert newest.recent("AAPL") is None  # nothing shown yet: read
    newest.saw([order("a", "AAPL", "2024-01-02T15:00:00Z")])
    newest.saw(
        [order("b", "AAPL", "2024-01-02T15:00:00Z"), order("m", "MSFT", "2024-01-02T16:00:00Z")]
    )
    newest.saw([order("old", "AAPL", "2024-01-02T14:00:00Z")])  # older: changes nothing
    assert newest.recent("AAPL") == ({"a", "b"}, "2024-01-02T14:59:59.999999Z")
    newest.saw([order("c", "AAPL", "2024-01-02T15:00:00.000001Z")])
    assert newest.recent("AAPL") == ({"c"}, "2024-01-02T15:00:00Z")
    assert newest.recent("MSFT") == ({"m"}, "2024-01-02T15:59:59.999999Z")


def test_legs_count_and_a_time_less_order_or_a_stale_view_means_read() -> None:
    clock = Clock()
    newest = NewestOrders(fresh_seconds=1.0, clock=clock)
    leg = order("leg", "AAPL", "2024-01-02T15:00:00Z")
    newest.saw([order("entry", "AAPL", "2024-01-02T15:00:00Z", legs=[leg])])
    assert newest.recent("AAPL") == ({"entry", "leg"}, "2024-01-02T14:59:59.999999Z")
    clock.now += 1.5
    assert newest.recent("AAPL") is None  # shown too long ago
    newest.saw([order("x", "AAPL", "2024-01-02T15:01:00Z")])
    assert newest.recent("AAPL") is not None
    newest.saw([order("y", "AAPL", None)])
    assert newest.recent("AAPL") is None


def test_a_read_replaces_what_answers_showed_and_forget_drops_everything() -> None:
    newest = NewestOrders(clock=Clock())
    newest.saw([order("mine", "AAPL", "2024-01-02T15:00:00Z")])
    newest.read("AAPL", [order("theirs", "AAPL", "2024-01-02T14:00:00Z")])
    assert newest.recent("AAPL") == ({"theirs"}, "2024-01-02T13:59:59.999999Z")
    newest.forget()
    assert newest.recent("AAPL") is None
