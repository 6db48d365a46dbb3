"""Fixtures for the client side: a stub Alpaca data server on loopback and clients bound to it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.stub_alpaca import StubServer
from trading_kit import MarketData
from trading_kit.config import Settings
from trading_kit.http import HttpStack

KEY_ID = "PKTESTKEYID0000001"
SECRET = "sEcReT-never-store-me-0123456789"


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def make_stack(tmp_path: Path, stub: StubServer) -> Iterator[Callable[..., HttpStack]]:
    """Build an HttpStack against the stub; fast backoff so retry tests stay quick."""
    stacks: list[HttpStack] = []

    def make(fake_time: FakeTime | None = None, **overrides: object) -> HttpStack:
        values: dict = {
            "api_key": KEY_ID,
            "secret_key": SECRET,
            "trading_url": stub.url,
            "data_url": stub.url,
            "cache_path": tmp_path / "cache.sqlite",
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "read_timeout": 2.0,
        }
        values.update(overrides)
        timing = {"clock": fake_time.monotonic, "sleep": fake_time.sleep} if fake_time else {}
        stack = HttpStack(Settings(**values), **timing)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def md(make_stack: Callable[..., HttpStack]) -> MarketData:
    return MarketData(stack=make_stack())


class FakeTime:
    """A clock that moves only when someone sleeps, so waits are counted, never timed.

    ``sleep`` records the wait and moves the clock on by it (threads sleeping at once
    each move it: time runs faster, never slower, than it would).
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def time(self) -> float:  # epoch seconds, for the server's X-RateLimit-Reset
        return 1_700_000_000.0 + self.monotonic()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
