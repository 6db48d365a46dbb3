"""The engine's cached price lookups answer exactly what the market answers.

``Prices.point`` reads a block of quotes and trades once and answers every instant in it;
it must agree with ``Market.quote_at`` / ``trade_at`` at any instant, in the session,
in extended hours, overnight, on a weekend, for the simulated and the replayed market.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_kit.exchange.calendar import MarketHours
from trading_kit.exchange.market import ReplayMarket, SimulatedMarket
from trading_kit.exchange.prices import Prices

NYSE = SimulatedMarket()
ALWAYS_OPEN = SimulatedMarket(MarketHours(always_open=True))
START = pd.Timestamp("2024-03-01T00:00:00Z")
WEEK_US = 7 * 24 * 3600 * 1_000_000


def _replay() -> ReplayMarket:
    index = pd.date_range("2024-03-04T14:30:00Z", periods=390, freq="1min")
    close = 100 + np.cumsum(np.sin(np.arange(390)) / 10)
    frame = pd.DataFrame(
        {"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 1e4},
        index=pd.MultiIndex.from_product([["SIM"], index], names=["symbol", "timestamp"]),
    )
    return ReplayMarket(frame)


REPLAY = _replay()


def agrees(market, symbol: str, t: pd.Timestamp) -> None:
    quote, trade = market.quote_at(symbol, t), market.trade_at(symbol, t)
    if quote is None or trade is None:
        return  # no data yet: the engine refuses such an order (tested elsewhere)
    point = Prices(market).point(symbol, t)
    assert float(point.bid[0]) == quote["bid_price"]
    assert float(point.ask[0]) == quote["ask_price"]
    assert float(point.price[0]) == trade["price"]
    assert bool(point.regular[0]) == market.hours.is_open(t)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(offset=st.integers(0, WEEK_US), market=st.sampled_from([NYSE, ALWAYS_OPEN]))
def test_point_agrees_with_the_simulated_market(offset: int, market: SimulatedMarket) -> None:
    agrees(market, "AAPL", START + pd.Timedelta(offset, "us"))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(offset=st.integers(0, 24 * 3600 * 1_000_000))
def test_point_agrees_with_the_replayed_market(offset: int) -> None:
    agrees(REPLAY, "SIM", pd.Timestamp("2024-03-04T12:00:00Z") + pd.Timedelta(offset, "us"))


def test_one_prices_object_answers_many_instants_of_a_block() -> None:
    """The cache is per block, not per instant: later instants still read their own row."""
    prices = Prices(NYSE)
    t = pd.Timestamp("2024-03-05T15:00:00Z")
    for seconds in range(0, 30 * 60, 7):
        instant = t + pd.Timedelta(seconds=seconds)
        point = prices.point("MSFT", instant)
        assert float(point.ask[0]) == NYSE.quote_at("MSFT", instant)["ask_price"]
        assert float(point.price[0]) == NYSE.trade_at("MSFT", instant)["price"]
