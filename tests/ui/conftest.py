"""Fixtures for the widget tests: a local exchange on loopback and clients pointed at it.

The exchange runs on a manual clock at 10:00 New York time on a session day, partial
fills off, so every order's fate is decided by the test advancing the clock.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from trading_kit import MarketData
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders

#: A window of bars ending at the exchange's clock (explicit: the clock is not today).
BARS_START = pd.Timestamp("2024-03-04T14:30:00Z")


@pytest.fixture
def running(running_exchange: RunningExchange) -> RunningExchange:
    return running_exchange


@pytest.fixture
def md(running: RunningExchange, tmp_path: Path) -> MarketData:
    return MarketData(
        "test-key",
        "test-secret",
        data_url=running.url,
        trading_url=running.url,
        cache_path=str(tmp_path / "cache.sqlite"),
    )


@pytest.fixture
def orders(running: RunningExchange, tmp_path: Path) -> Orders:
    return Orders(
        "test-key",
        "test-secret",
        data_url=running.url,
        trading_url=running.url,
        cache_path=tmp_path / "cache.sqlite",
        journal_path=tmp_path / "journal.sqlite",
    )


@pytest.fixture
def ask(md: MarketData) -> float:
    """AAPL's ask at the exchange's clock: tests place orders relative to it."""
    return float(md.get_latest_quote("AAPL")["ask_price"].iloc[0])


def text(markup: str) -> str:
    """The words of a widget's HTML value (tags dropped, entities kept simple)."""
    return unescape(re.sub(r"<[^>]+>", "", markup))


def server_order(running: RunningExchange, order_id: str):
    """The exchange's own record of an order (not the client's view of it)."""
    return running.exchange.engine.orders[order_id]


def cents(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))
