"""A stream server that refuses, stays silent, talks garbage or drops the line: a clear
``StreamError`` or a reconnect, never a hung cell. Against a stub websocket on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.stream.conftest import wait_until
from tests.stub_stream import Faults, StubStream
from trading_kit import MarketData
from trading_kit.errors import StreamError
from trading_kit.stream import Streams

SECRET = "stub-secret-never-shown"


def quote(n: int, symbol: str = "AAPL") -> dict:
    t = pd.Timestamp("2024-03-05T15:00:00Z") + pd.Timedelta(seconds=n)
    return {
        "T": "q",
        "S": symbol,
        "bx": "Q",
        "bp": 100.0 + n,
        "bs": 1,
        "ax": "Q",
        "ap": 100.1 + n,
        "as": 2,
        "c": ["R"],
        "z": "C",
        "t": t.isoformat().replace("+00:00", "Z"),
    }


@pytest.fixture
def make_streams(tmp_path: Path) -> Iterator:
    made: list[Streams] = []

    def make(stub: StubStream, timeout: float = 2.0) -> Streams:
        data = MarketData(
            "stub-key",
            SECRET,
            data_url=stub.url,
            trading_url=stub.url,
            cache_path=tmp_path / "cache.sqlite",
        )
        streams = Streams(data, timeout=timeout, backoff=(0.02, 0.1))
        made.append(streams)
        return streams

    yield make
    for streams in made:
        streams.close()


def test_refused_auth_is_a_clear_error(make_streams) -> None:
    with StubStream(Faults(refuse_auth=True)) as stub:
        with pytest.raises(StreamError, match="402") as refused:
            make_streams(stub).quotes("AAPL")
        assert refused.value.code == 402 and SECRET not in str(refused.value)


def test_a_silent_server_times_out_instead_of_hanging(make_streams) -> None:
    with StubStream(Faults(silent=True)) as stub:
        with pytest.raises(StreamError, match=r"no answer from .* within 0\.3 s"):
            make_streams(stub, timeout=0.3).quotes("AAPL")
        # bounded by the one timeout, not by patience: no second try after it
        assert len(stub.connections) == 1


def test_garbage_at_connect_is_a_clear_error(make_streams) -> None:
    with (
        StubStream(Faults(garbage_at_connect=True)) as stub,
        pytest.raises(StreamError, match="not Alpaca's stream protocol"),
    ):
        make_streams(stub).quotes("AAPL")


def test_a_dropped_connection_reconnects_and_resubscribes(make_streams) -> None:
    with StubStream(Faults(drop_after=2)) as stub:
        streams = make_streams(stub)
        quotes = streams.quotes("AAPL", "MSFT")
        stub.publish([quote(1)])
        stub.publish([quote(2)])  # the stub hangs up after this one
        wait_until(lambda: len(stub.connections) == 2 and stub.connected == 1)
        assert stub.connections[1].subscribed == [
            {"action": "subscribe", "quotes": ["AAPL", "MSFT"]}
        ]
        stub.publish([quote(3, "MSFT")])
        wait_until(lambda: quotes.received == 3)
        assert streams.status == {"iex": "open"}
        assert quotes.df["bid_price"].tolist() == [101.0, 102.0, 103.0]


def test_garbage_midstream_reconnects(make_streams) -> None:
    with StubStream(Faults(garbage_after=1)) as stub:
        streams = make_streams(stub)
        quotes = streams.quotes("AAPL")
        stub.publish([quote(1)])  # then garbage: the client hangs up and comes back
        wait_until(lambda: len(stub.connections) == 2 and stub.connected == 1)
        assert quotes.received == 1 and streams.status == {"iex": "open"}


def test_a_slow_consumer_never_holds_up_the_frame(make_streams) -> None:
    """A handler that takes 20 ms a quote lags; the live frame does not."""
    done = threading.Event()
    handled: list[float] = []

    def slow(q) -> None:
        time.sleep(0.02)
        handled.append(q.bid_price)
        if len(handled) == 50:
            done.set()

    with StubStream() as stub:
        quotes = make_streams(stub).quotes("AAPL", on=slow)
        stub.publish([quote(n) for n in range(50)])
        wait_until(lambda: quotes.received == 50)
        assert len(handled) < 50  # the frame is complete while the handler is still busy
        assert done.wait(10) and handled == quotes.df["bid_price"].tolist()


def test_keys_are_never_in_what_a_user_sees(make_streams, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    with StubStream() as stub:
        streams = make_streams(stub)
        quotes = streams.quotes("AAPL")
        stub.publish([quote(1)])
        wait_until(lambda: quotes.received == 1)
        assert SECRET.encode() in b"".join(
            f if isinstance(f, bytes) else f.encode() for f in stub.auth_frames
        )  # it did go to the server, in the auth frame only
        shown = [repr(streams), repr(quotes), str(streams.status), caplog.text]
        assert not any(SECRET in text or "stub-key" in text for text in shown)
