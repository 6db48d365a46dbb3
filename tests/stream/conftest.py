"""Fixtures for the client streams: a kit on the local exchange, and a condition waiter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import trading_kit as tk
from trading_kit.exchange.server import RunningExchange

KEY, SECRET = "test-key", "test-secret"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail after a generous ``timeout`` (never a sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def kit(running_exchange: RunningExchange, tmp_path: Path) -> Iterator[tk.Kit]:
    kit = tk.connect(
        KEY,
        SECRET,
        trading_url=running_exchange.url,
        data_url=running_exchange.url,
        cache_path=tmp_path / "cache.sqlite",
    )
    yield kit
    kit.stream.close()
