"""Fixtures every test package shares: the local exchange at a known minute of a session."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange

#: A Tuesday, 10:00 New York time: the regular session is open.
SESSION_TIME = pd.Timestamp("2024-03-05T15:00:00Z")


@pytest.fixture(scope="session")
def sim_market() -> SimulatedMarket:
    """One simulated market for the run (deterministic, so sharing it is safe)."""
    return SimulatedMarket()


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(SESSION_TIME)


@pytest.fixture
def exchange(sim_market: SimulatedMarket, manual_clock: ManualClock) -> Iterator[Exchange]:
    """An in-memory exchange at 10:00 ET on a session day, partial fills off."""
    ex = Exchange(sim_market, manual_clock, partial_fills=False)
    yield ex
    ex.close()


@pytest.fixture
def running_exchange(exchange: Exchange) -> Iterator[RunningExchange]:
    """``exchange`` served on 127.0.0.1 at a free port."""
    with start_exchange(exchange) as running:
        yield running
