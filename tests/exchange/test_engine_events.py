"""Trade updates: the events the engine publishes, once written, for streams to carry.

Each event is a ``TradeUpdate`` as Alpaca's ``trade_updates`` stream carries it (event,
order, timestamp; execution_id, price, qty, position_qty on fills). The test drives the
exchange over HTTP through a day of every kind of order and checks what a stream client
would rely on: the last update of each order shows exactly what ``GET /v2/orders/{id}``
shows, every fill activity has its ``fill``/``partial_fill`` update with the same
execution, price and quantity, positions add up, and nothing is published for a change
that was not written.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pandas as pd
import pytest
import requests
from alpaca.trading.models import TradeUpdate as AlpacaTradeUpdate

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.matching import PARTIAL_FILL_PROBABILITY
from trading_kit.exchange.orders import TradeUpdate
from trading_kit.exchange.wire import trade_update_json


def _partial_seed() -> int:
    """A seed whose first fill decision is a partial fill."""
    return next(
        s for s in range(1000) if random.Random(s * 1_000_003).random() < PARTIAL_FILL_PROBABILITY
    )


@pytest.fixture
def recorded(sim_market: SimulatedMarket) -> Iterator[tuple[Exchange, list[TradeUpdate], str]]:
    exchange = Exchange(
        sim_market, ManualClock(SESSION_TIME), partial_fills=True, seed=_partial_seed()
    )
    updates: list[TradeUpdate] = []
    exchange.add_listener(updates.append)
    with start_exchange(exchange) as running:
        yield exchange, updates, running.url
    exchange.close()


def test_updates_match_what_the_rest_api_shows(recorded, sim_market: SimulatedMarket) -> None:
    exchange, updates, url = recorded
    session = requests.Session()
    session.headers.update(HEADERS)

    def post(**body) -> dict:
        response = session.post(url + "/v2/orders", json={"time_in_force": "day", **body})
        assert response.status_code == 200, response.text
        return response.json()

    ask = float(sim_market.quote_at("AAPL", SESSION_TIME)["ask_price"])
    post(symbol="AAPL", qty=100, side="buy", type="market")  # a partial fill, then the rest
    resting = post(symbol="MSFT", qty=2, side="buy", type="limit", limit_price=10)
    replaced = session.patch(f"{url}/v2/orders/{resting['id']}", json={"limit_price": 11}).json()
    canceled = post(symbol="SPY", qty=1, side="buy", type="limit", limit_price=10)
    session.delete(f"{url}/v2/orders/{canceled['id']}")
    post(
        symbol="GOOGL",
        qty=3,
        side="buy",
        type="market",
        order_class="bracket",
        take_profit={"limit_price": round(ask * 3, 2)},
        stop_loss={"stop_price": 1},
    )
    post(symbol="KO", qty=4, side="sell", type="market")  # a short
    exchange.advance("8h")  # past the close: day orders expire, the AAPL rest fills first

    by_order: dict[str, list[TradeUpdate]] = defaultdict(list)
    for update in updates:
        by_order[update.order.id].append(update)
    orders = session.get(url + "/v2/orders", params={"status": "all", "limit": 500}).json()
    legs = [leg for o in orders for leg in (o.get("legs") or [])]
    assert {o["id"] for o in orders + legs} >= set(by_order)
    for order in orders + legs:
        shown = session.get(f"{url}/v2/orders/{order['id']}").json()
        history = by_order.get(order["id"], [])
        if shown["status"] == "held":
            continue  # a leg whose entry has not filled: nothing happened to it yet
        assert history, f"no update for {shown['status']} order {shown['symbol']}"
        last = trade_update_json(history[-1])["order"]
        # the last update shows what GET shows (a parent's legs change later, in their own
        # updates, so they are compared leg by leg)
        assert {**last, "legs": None} == {**shown, "legs": None}
        assert [u.timestamp for u in history] == sorted(u.timestamp for u in history)

    events = [(u.order.symbol, u.event) for u in updates]
    assert ("AAPL", "partial_fill") in events and ("AAPL", "fill") in events
    assert ("MSFT", "replaced") in events and ("SPY", "canceled") in events
    assert any(u.event == "expired" and u.order.id == replaced["id"] for u in updates)

    fills = session.get(url + "/v2/account/activities", params={"direction": "asc"}).json()
    fill_updates = [u for u in updates if u.event in ("fill", "partial_fill")]
    assert [(u.execution_id, u.price, u.qty, u.order.id) for u in fill_updates] == [
        (f["id"].split("::")[1], Decimal(f["price"]), Decimal(f["qty"]), f["order_id"])
        for f in fills
    ]
    position = defaultdict(Decimal)
    for update in fill_updates:
        position[update.order.symbol] += update.qty * (1 if update.order.side == "buy" else -1)
        assert update.position_qty == position[update.order.symbol]
    assert {p["symbol"]: Decimal(p["qty"]) for p in session.get(url + "/v2/positions").json()} == {
        s: q for s, q in position.items() if q
    }


def test_updates_parse_as_alpaca_py_trade_updates(recorded) -> None:
    """The rendered update is what alpaca-py's ``TradeUpdate`` model reads off the stream."""
    exchange, updates, url = recorded
    requests.post(
        url + "/v2/orders",
        headers=HEADERS,
        json={"symbol": "NVDA", "qty": 5, "side": "buy", "type": "market", "time_in_force": "day"},
    )
    exchange.advance("5min")
    parsed = [AlpacaTradeUpdate(**trade_update_json(u)) for u in updates]
    fill = next(p for p in parsed if p.event == "fill")
    assert fill.order.symbol == "NVDA" and fill.qty and fill.price and fill.execution_id
    assert parsed[0].event == "accepted" and parsed[0].execution_id is None


def test_nothing_is_published_for_a_change_that_is_not_written(
    sim_market: SimulatedMarket, tmp_path
) -> None:
    exchange = Exchange(
        sim_market, ManualClock(SESSION_TIME), db_path=tmp_path / "x.sqlite", partial_fills=False
    )
    updates: list[TradeUpdate] = []
    exchange.add_listener(updates.append)
    body = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}
    exchange.run(exchange.engine.submit, body)
    published = len(updates)
    assert published == 2  # accepted, fill
    exchange.store._db.execute("PRAGMA query_only = ON")  # the database refuses writes
    with pytest.raises(Exception, match="could not save"):
        exchange.run(exchange.engine.submit, body)
    assert len(updates) == published
    exchange.store._db.execute("PRAGMA query_only = OFF")
    exchange.run(exchange.engine.submit, body)
    assert len(updates) == published + 2
    exchange.close()


def test_a_failing_listener_does_not_undo_the_change(sim_market: SimulatedMarket) -> None:
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), partial_fills=False)

    def broken(update: TradeUpdate) -> None:
        raise RuntimeError("listener bug")

    seen: list[str] = []
    exchange.add_listener(broken)
    remove = exchange.add_listener(lambda u: seen.append(u.event))
    body = {"symbol": "SPY", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}
    order = exchange.run(exchange.engine.submit, body)
    assert exchange.engine.orders[order["id"]].status == "filled"
    assert seen == ["accepted", "fill"]
    remove()
    exchange.run(exchange.engine.submit, body)
    assert seen == ["accepted", "fill"]
    assert pd.Timestamp(exchange.clock.now()) == SESSION_TIME
