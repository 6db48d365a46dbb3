"""Fixtures for the analytics tests: ``Orders`` on the local exchange at a known minute."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SESSION_TIME
from tests.orders.conftest import make_stack
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.http import HttpStack
from trading_kit.orders import Orders


@pytest.fixture
def connect_orders(tmp_path: Path) -> Iterator[Callable[[str], Orders]]:
    """``connect_orders(url)``: an ``Orders`` on ``url`` with its journal in tmp_path."""
    stacks: list[HttpStack] = []

    def make(url: str) -> Orders:
        stack = make_stack(url, tmp_path)
        stacks.append(stack)
        return Orders(stack=stack, journal_path=tmp_path / "order_journal.sqlite")

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def orders(running_exchange: RunningExchange, connect_orders: Callable[[str], Orders]) -> Orders:
    """Orders on the shared exchange fixture (10:00 New York, partial fills off)."""
    return connect_orders(running_exchange.url)


@pytest.fixture
def partial_exchange(sim_market: SimulatedMarket) -> Iterator[RunningExchange]:
    """An exchange with partial fills on; seed 3 partly fills the first order's first fill."""
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), partial_fills=True, seed=3)
    with start_exchange(exchange) as running:
        yield running
    exchange.close()
