"""GET /v2/orders walks orders in submission order: the same pages as filtering and
sorting every order, for any status, time window, direction, side, symbols and limit."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pandas as pd
import pytest

from tests.conftest import SESSION_TIME
from trading_kit.exchange.clock import ManualClock
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.market import SimulatedMarket
from trading_kit.exchange.orders import Order

SYMBOLS = ("AAPL", "MSFT", "NVDA")


@pytest.fixture(scope="module")
def busy(sim_market: SimulatedMarket) -> Exchange:
    """300 orders over 30 minutes (several at each instant): NVDA limit buys resting far
    below the market, AAPL and MSFT market orders filled at once; some canceled."""
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), partial_fills=False, cash=10**7)
    engine, rng = exchange.engine, random.Random(7)
    for minute in range(30):
        exchange.set_time(SESSION_TIME + pd.Timedelta(minutes=minute))
        for _ in range(10):
            symbol = rng.choice(SYMBOLS)
            body: dict[str, Any] = {"symbol": symbol, "qty": "1", "time_in_force": "gtc"}
            if symbol == "NVDA":
                body |= {"side": "buy", "type": "limit", "limit_price": "1"}
            else:
                body |= {"side": rng.choice(("buy", "sell")), "type": "market"}
            placed = exchange.run(engine.submit, body)
            if rng.random() < 0.2 and engine.get_order(placed["id"]).is_open:
                exchange.run(engine.cancel, placed["id"])
    return exchange


def brute_force(orders: list[Order], **query: Any) -> list[str]:
    """The listing as every order filtered and sorted (what the engine did before)."""
    status, after, until = query["status"], query["after"], query["until"]
    picked = [
        o
        for o in orders
        if (status != "open" or o.is_open)
        and (status != "closed" or not o.is_open)
        and not (query["nested"] and o.parent_id)
        and (not query["side"] or o.side == query["side"])
        and (not query["symbols"] or o.symbol in query["symbols"])
        and (after is None or (o.submitted_at or o.created_at) > after)
        and (until is None or (o.submitted_at or o.created_at) < until)
    ]
    picked.sort(key=lambda o: (o.submitted_at or o.created_at, o.id))
    if query["direction"] == "desc":
        picked.reverse()
    return [o.id for o in picked[: query["limit"]]]


TIMES = (None, SESSION_TIME + pd.Timedelta(minutes=7), SESSION_TIME + pd.Timedelta(minutes=22))


@pytest.mark.parametrize(
    ("status", "direction", "symbols", "side"),
    list(
        itertools.product(
            ("open", "closed", "all"),
            ("asc", "desc"),
            (None, {"MSFT"}, {"AAPL", "NVDA"}),
            (None, "sell"),
        )
    ),
)
def test_every_page_is_the_brute_force_page(
    busy: Exchange, status: str, direction: str, symbols: set[str] | None, side: str | None
) -> None:
    engine = busy.engine
    orders = list(engine.orders.values())
    assert len(orders) > 250 and any(o.is_open for o in orders)
    for after, until, limit in itertools.product(TIMES, reversed(TIMES), (1, 7, 50, 500)):
        query = {
            "status": status,
            "limit": limit,
            "after": after,
            "until": until,
            "direction": direction,
            "nested": False,
            "side": side,
            "symbols": symbols,
        }
        listed = [o["id"] for o in engine.list_orders(**query)]
        assert listed == brute_force(orders, **query), query
