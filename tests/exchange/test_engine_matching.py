"""The matching core alone: random paths and orders against plain-Python oracles.

No account, no HTTP: ``matching.next_event`` and ``MatchingCore.run`` are checked row by
row against a scan written the obvious way, and the fill model against its contract.
Hypothesis is derandomised with a bounded number of examples, so the run is reproducible.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_kit.exchange.matching import (
    Book,
    Event,
    FillModel,
    MatchingCore,
    Path,
    next_event,
)
from trading_kit.exchange.orders import Order

T0 = pd.Timestamp("2024-03-05T15:00:00Z")
MINUTE = 60_000_000_000
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


@st.composite
def paths(draw: st.DrawFn) -> Path:
    """A random minute path: a walk of trade prices, a spread around it, session flags."""
    n = draw(st.integers(1, 40))
    steps = draw(st.lists(st.integers(-30, 30), min_size=n, max_size=n))
    price = np.round(100 + np.cumsum(steps) / 100, 2)
    spread = np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))) / 100
    regular = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return Path(
        times=T0.value + MINUTE * np.arange(1, n + 1, dtype=np.int64),
        price=price,
        bid=np.round(price - spread, 2),
        ask=np.round(price + spread, 2),
        regular=regular,
        session=np.ones(n, dtype=bool),
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    kind = draw(st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]))
    side = draw(st.sampled_from(["buy", "sell"]))
    level = Decimal(draw(st.integers(9_800, 10_200))) / 100
    order = Order(
        id=f"o-{draw(st.integers(0, 10**6))}",
        client_order_id="c",
        symbol="SIM",
        side=side,
        type=kind,
        time_in_force="gtc",
        created_at=T0,
        qty=Decimal(draw(st.integers(1, 50))),
        status="new",
        since=T0,
    )
    if kind in ("limit", "stop_limit"):
        order.limit_price = level
    if kind in ("stop", "stop_limit"):
        order.stop_price = level + Decimal(draw(st.integers(-50, 50))) / 100
    if kind == "trailing_stop":
        order.trail_price = Decimal(draw(st.integers(5, 200))) / 100
    return order


def oracle(order: Order, path: Path) -> tuple[int, float] | None:
    """The first fill (row, price) by a plain scan of the rules, one row at a time."""
    buy = order.side == "buy"
    triggered = False
    hwm = None
    limit = float(order.limit_price) if order.limit_price is not None else None
    stop_price = float(order.stop_price) if order.stop_price is not None else None
    for i in range(len(path)):
        if not path.regular[i]:
            continue
        price, bid, ask = path.price[i], path.bid[i], path.ask[i]
        quote = ask if buy else bid
        if order.type == "market":
            return i, quote
        if order.type == "limit" and ((quote <= limit) if buy else (quote >= limit)):
            return i, quote
        if order.type == "stop" and ((price >= stop_price) if buy else (price <= stop_price)):
            return i, quote
        if order.type == "stop_limit":
            if not triggered:
                triggered = (price >= stop_price) if buy else (price <= stop_price)
            if triggered and ((quote <= limit) if buy else (quote >= limit)):
                return i, quote
        if order.type == "trailing_stop":
            hwm = price if hwm is None else (min(hwm, price) if buy else max(hwm, price))
            offset = float(order.trail_price)
            stop = hwm + offset if buy else hwm - offset
            if (price >= stop) if buy else (price <= stop):
                return i, quote
    return None


def first_fill_event(order: Order, path: Path) -> Event | None:
    """Run the core on one order, taking stop-limit triggers, until its first fill."""
    end = int(path.times[-1])
    for _ in range(3):
        event = next_event(order, path, end)
        if event is None or event.kind == "fill":
            return event
        assert event.kind == "trigger"
        order.triggered = True
        order.since = pd.Timestamp(event.time_ns, tz="UTC")
    raise AssertionError("a trigger did not lead to a fill or to nothing")


@PROPERTY
@given(path=paths(), order=orders())
def test_first_fill_matches_the_oracle(path: Path, order: Order) -> None:
    regular = np.flatnonzero(path.regular)  # the oracle starts a high-water mark there
    order.hwm = Decimal(str(path.price[regular[0] if len(regular) else 0]))
    expected = oracle(order, path)
    event = first_fill_event(order, path)
    if expected is None:
        assert event is None
        return
    assert event is not None
    row, price = expected
    assert (event.time_ns, event.price) == (int(path.times[row]), float(price))
    if order.limit_price is not None:  # a limit never fills worse than its price
        limit = float(order.limit_price)
        assert event.price <= limit if order.side == "buy" else event.price >= limit


@PROPERTY
@given(path=paths(), book=st.lists(orders(), min_size=1, max_size=12, unique_by=lambda o: o.id))
def test_the_book_never_skips_an_order_that_trades(path: Path, book: list[Order]) -> None:
    """``Book.candidates`` may over-approximate, never drop an order with an event."""
    shelf = Book()
    for order in book:
        order.hwm = Decimal(str(path.price[0]))
        shelf.update(order)
    end = int(path.times[-1])
    candidates = {o.id for o in shelf.candidates(path, end)}
    for order in book:
        if next_event(order, path, end) is not None:
            assert order.id in candidates


@PROPERTY
@given(
    leaves=st.integers(1, 10_000),
    fractional=st.booleans(),
    seed=st.integers(0, 100),
    sequence=st.integers(0, 1000),
)
def test_fill_model_takes_a_part_within_the_rest(
    leaves: int, fractional: bool, seed: int, sequence: int
) -> None:
    qty = Decimal(leaves) / (1000 if fractional else 1)
    order = Order("o", "c", "SIM", "buy", "market", "day", T0, qty=qty)
    model = FillModel(seed, partial_fill_probability=0.5, sequence=sequence)
    part = model.quantity(order, Decimal("10"))
    assert 0 < part <= qty
    if not fractional:
        assert part == part.to_integral_value()
    assert model.sequence == sequence + 1
    again = FillModel(seed, partial_fill_probability=0.5, sequence=sequence)
    assert again.quantity(order, Decimal("10")) == part  # a session replays identically


def test_fill_model_never_splits_fok_or_notional() -> None:
    model = FillModel(0, partial_fill_probability=1.0)
    fok = Order("o", "c", "SIM", "buy", "market", "fok", T0, qty=Decimal(100))
    assert model.quantity(fok, Decimal(10)) == 100
    notional = Order("n", "c", "SIM", "buy", "market", "day", T0, notional=Decimal("250"))
    assert model.quantity(notional, Decimal("3")) == Decimal("83.333333333")
    assert model.sequence == 0  # neither consumed a random draw


@PROPERTY
@given(path=paths(), book=st.lists(orders(), min_size=1, max_size=8, unique_by=lambda o: o.id))
def test_core_applies_each_orders_first_fill_in_time_order(path: Path, book: list[Order]) -> None:
    """With whole fills, each order fills once, where the oracle says, events in time order."""
    regular = np.flatnonzero(path.regular)
    for order in book:  # the oracle starts a high-water mark at the first regular trade
        order.hwm = Decimal(str(path.price[regular[0] if len(regular) else 0]))
    expected = {o.id: oracle(o, path) for o in book}
    seen: list[tuple[int, str]] = []

    def apply(order: Order, event: Event) -> list[Order]:
        if event.kind == "trigger":
            order.triggered = True
            order.since = pd.Timestamp(event.time_ns, tz="UTC")
            return [order]
        if event.kind == "fill":
            assert event.qty == order.qty  # the fill model decided: no partial fills here
            order.status = "filled"
            seen.append((event.time_ns, order.id))
            return [order]
        return []

    core = MatchingCore("SIM", FillModel(partial_fill_probability=0.0))
    core.run(list(book), path, int(path.times[-1]), apply)
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)
    filled = {oid: t for t, oid in seen}
    for oid, fill in expected.items():
        if fill is None:
            assert oid not in filled
        else:
            assert filled[oid] == int(path.times[fill[0]])
