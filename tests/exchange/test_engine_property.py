"""Property: at zero fees, cash moves exactly by the fills, and cost basis tracks the fills."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SESSION_TIME
from trading_kit.exchange.clock import ManualClock
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.market import SimulatedMarket
from trading_kit.exchange.wire import AlpacaError

MARKET = SimulatedMarket()
SYMBOLS = ("AAPL", "MSFT", "SPY")


def average_cost(fills: list[dict]) -> tuple[Fraction, Fraction]:
    """Oracle: net qty and average-cost basis of a fill sequence, in exact fractions."""
    qty = cost = Fraction(0)
    for fill in fills:
        signed = Fraction(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
        price = Fraction(fill["price"])
        if qty == 0 or (qty > 0) == (signed > 0):
            qty, cost = qty + signed, cost + signed * price
        elif abs(signed) <= abs(qty):
            qty, cost = qty + signed, cost * (qty + signed) / qty
        else:
            qty = qty + signed
            cost = qty * price
    return qty, cost


step = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from(("buy", "sell")),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(("market", "limit")),
    st.floats(min_value=-0.01, max_value=0.01),  # limit offset as a fraction of the price
    st.sampled_from((0, 1, 7, 30)),  # minutes to advance afterwards
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=12), seed=st.integers(0, 50))
def test_cash_and_cost_basis_are_conserved(steps: list[tuple], seed: int) -> None:
    ex = Exchange(MARKET, ManualClock(SESSION_TIME), partial_fills=True, seed=seed)
    engine = ex.engine
    cash_before = engine.cash
    for symbol, side, qty, kind, offset, minutes in steps:
        body = {"symbol": symbol, "qty": qty, "side": side, "type": kind, "time_in_force": "day"}
        if kind == "limit":
            price = MARKET.trade_at(symbol, ex.clock.now())["price"]
            body["limit_price"] = round(price * (1 + offset), 2)
        try:
            ex.run(engine.submit, body)
        except AlpacaError as error:
            assert error.status in (403, 422)
        if minutes:
            ex.advance(pd.Timedelta(minutes=minutes))
    ex.advance("7h")  # past the close: every day order is filled or expired

    fills = engine.activities_json("FILL", direction="asc", page_size=10_000)
    bought = sum(Decimal(f["qty"]) * Decimal(f["price"]) for f in fills if f["side"] == "buy")
    sold = sum(Decimal(f["qty"]) * Decimal(f["price"]) for f in fills if f["side"] == "sell")
    assert engine.cash == cash_before - bought + sold

    for symbol in SYMBOLS:
        qty, cost = average_cost([f for f in fills if f["symbol"] == symbol])
        position = engine.positions.get(symbol)
        assert (position.qty if position else 0) == qty
        if position:
            assert abs(Fraction(position.cost_basis) - cost) < Fraction(1, 10**9)
    for order in engine.orders.values():
        assert not order.is_open
        filled = sum(Decimal(f["qty"]) for f in fills if f["order_id"] == order.id)
        assert order.filled_qty == filled
