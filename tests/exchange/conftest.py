"""Shared fixtures for the exchange tests (append new fixtures; do not clobber others')."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest
import uvicorn
from starlette.applications import Starlette

from trading_kit.exchange.clock import ManualClock
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.market import SimulatedMarket
from trading_kit.exchange.server import RunningExchange, start_exchange

#: A Tuesday, 10:00 New York time: the regular session is open.
SESSION_TIME = pd.Timestamp("2024-03-05T15:00:00Z")
HEADERS = {"APCA-API-KEY-ID": "test-key", "APCA-API-SECRET-KEY": "test-secret"}


@pytest.fixture(scope="session")
def sim_market() -> SimulatedMarket:
    """One simulated market for the session (deterministic, so sharing it is safe)."""
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


@contextlib.contextmanager
def serve_app(app: Starlette) -> Iterator[str]:
    """Serve any Starlette app on 127.0.0.1 (a free port) in a thread; yields its base URL.

    Used for tests of route groups mounted in a bare app, without the full exchange.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5.0)
        sock.close()
