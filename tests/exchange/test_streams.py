"""The exchange's websockets, spoken by a plain websocket client exactly as Alpaca documents them.

``/v2/{feed}`` streams the market as the clock moves, and agrees with the REST routes
at every instant; ``/stream`` authenticates both ways and listens to trade updates.
Errors are Alpaca's frames. A client that stops reading is dropped (407), never
allowed to grow the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pandas as pd
import pytest
import requests
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.exchange.conftest import HEADERS
from trading_kit.exchange import (
    Exchange,
    ManualClock,
    RealtimeClock,
    SimulatedMarket,
    start_exchange,
)
from trading_kit.exchange import streams as exchange_streams
from trading_kit.exchange.server import RunningExchange

T0 = pd.Timestamp("2024-03-05T15:00:00Z")
KEY, SECRET = "test-key", "test-secret"


@pytest.fixture
def locked_exchange(sim_market: SimulatedMarket) -> Iterator[RunningExchange]:
    """An exchange that accepts one key pair only, on a manual clock."""
    exchange = Exchange(sim_market, ManualClock(T0), credentials=(KEY, SECRET))
    with start_exchange(exchange) as running:
        yield running
    exchange.close()


def ws_url(running: RunningExchange, path: str) -> str:
    return running.url.replace("http://", "ws://") + path


class Client:
    """A websocket client reading Alpaca's frames in JSON or MessagePack."""

    def __init__(self, url: str, *, use_msgpack: bool = False) -> None:
        headers = {"Content-Type": "application/msgpack"} if use_msgpack else {}
        self.msgpack = use_msgpack
        self._exit = contextlib.ExitStack()
        self.ws: ClientConnection = self._exit.enter_context(
            connect(url, additional_headers=headers, open_timeout=10)
        )

    def send(self, value: Any) -> None:
        self.ws.send(msgpack.packb(value) if self.msgpack else json.dumps(value))

    def recv(self, timeout: float = 10.0) -> Any:
        raw = self.ws.recv(timeout=timeout)
        if self.msgpack:
            assert isinstance(raw, bytes)
            return msgpack.unpackb(raw, timestamp=3)
        return json.loads(raw)

    def recv_until(self, count: int, kinds: set[str], timeout: float = 10.0) -> list[dict]:
        """Data messages of ``kinds`` until ``count`` have arrived."""
        got: list[dict] = []
        while len(got) < count:
            got.extend(m for m in self.recv(timeout) if m.get("T") in kinds)
        return got

    def close(self) -> None:
        self._exit.close()


def data_client(running: RunningExchange, feed: str = "iex", **options: Any) -> Client:
    """Connected and authenticated (the test key pair)."""
    client = Client(ws_url(running, f"/v2/{feed}"), **options)
    assert client.recv() == [{"T": "success", "msg": "connected"}]
    client.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert client.recv() == [{"T": "success", "msg": "authenticated"}]
    return client


def rest(running: RunningExchange, path: str, **params: Any) -> dict:
    response = requests.get(running.url + path, params=params, headers=HEADERS, timeout=10)
    response.raise_for_status()
    return response.json()


# -- market data ------------------------------------------------------------------------------


def test_subscription_answer_lists_every_channel(running_exchange: RunningExchange) -> None:
    client = data_client(running_exchange)
    client.send({"action": "subscribe", "trades": ["AAPL"], "quotes": ["aapl", "MSFT"]})
    (reply,) = client.recv()
    assert reply["T"] == "subscription"
    assert reply["trades"] == ["AAPL"] and reply["quotes"] == ["AAPL", "MSFT"]
    assert reply["bars"] == reply["dailyBars"] == reply["updatedBars"] == reply["statuses"] == []
    assert reply["corrections"] == reply["cancelErrors"] == ["AAPL"]
    client.send({"action": "unsubscribe", "quotes": ["MSFT"]})
    assert client.recv()[0]["quotes"] == ["AAPL"]
    client.close()


def test_prices_stream_as_the_clock_steps_and_match_rest(
    running_exchange: RunningExchange, exchange: Exchange
) -> None:
    client = data_client(running_exchange)
    client.send({"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"], "bars": ["AAPL"]})
    client.recv()
    exchange.advance("1min")
    got = client.recv_until(12 + 6 + 1, {"q", "t", "b"})
    quotes = [m for m in got if m["T"] == "q"]
    trades = [m for m in got if m["T"] == "t"]
    (bar,) = [m for m in got if m["T"] == "b"]
    # Every quote and trade stamped in (15:00:00, 15:01:00], in time order.
    stamps = [pd.Timestamp(m["t"]) for m in quotes]
    assert stamps == sorted(stamps) and stamps[0] == T0 + pd.Timedelta("5s")
    assert stamps[-1] == T0 + pd.Timedelta("1min")
    # The REST routes say the same for the same instants.
    start, end = (T0 + pd.Timedelta("1s")).isoformat(), (T0 + pd.Timedelta("1min")).isoformat()
    rest_quotes = rest(running_exchange, "/v2/stocks/quotes", symbols="AAPL", start=start, end=end)
    assert [(q["bp"], q["ap"], q["bs"]) for q in rest_quotes["quotes"]["AAPL"]] == [
        (q["bp"], q["ap"], q["bs"]) for q in quotes
    ]
    rest_trades = rest(running_exchange, "/v2/stocks/trades", symbols="AAPL", start=start, end=end)
    assert [(t["p"], t["s"], t["i"]) for t in rest_trades["trades"]["AAPL"]] == [
        (t["p"], t["s"], t["i"]) for t in trades
    ]
    rest_bars = rest(
        running_exchange, "/v2/stocks/bars", symbols="AAPL", timeframe="1Min", start=T0.isoformat()
    )
    (expected,) = rest_bars["bars"]["AAPL"]
    assert {k: bar[k] for k in "ohlcvn"} == {k: expected[k] for k in "ohlcvn"}
    assert pd.Timestamp(bar["t"]) == T0  # a bar is stamped with the start of its minute
    latest = rest(running_exchange, "/v2/stocks/quotes/latest", symbols="AAPL")["quotes"]["AAPL"]
    assert (latest["bp"], latest["ap"]) == (quotes[-1]["bp"], quotes[-1]["ap"])
    client.close()


def test_messagepack_frames_carry_timestamps(
    running_exchange: RunningExchange, exchange: Exchange
) -> None:
    client = data_client(running_exchange, use_msgpack=True)
    client.send({"action": "subscribe", "quotes": ["MSFT"], "dailyBars": ["MSFT"]})
    assert client.recv()[0]["quotes"] == ["MSFT"]
    exchange.advance("30s")
    quotes = client.recv_until(6, {"q"})
    assert quotes[0]["S"] == "MSFT" and quotes[0]["t"] == T0 + pd.Timedelta("5s")
    exchange.advance("30s")  # the minute closes: the day's bar so far follows it
    (daily,) = client.recv_until(1, {"d"})
    day = rest(
        running_exchange, "/v2/stocks/bars", symbols="MSFT", timeframe="1Day", start="2024-03-05"
    )["bars"]["MSFT"][-1]
    assert (daily["o"], daily["h"], daily["l"], daily["c"]) == (
        day["o"],
        day["h"],
        day["l"],
        day["c"],
    )
    client.close()


def test_unsubscribed_symbols_stop(running_exchange: RunningExchange, exchange: Exchange) -> None:
    client = data_client(running_exchange)
    client.send({"action": "subscribe", "quotes": ["AAPL", "MSFT"]})
    client.recv()
    client.send({"action": "unsubscribe", "quotes": ["AAPL"]})
    client.recv()
    exchange.advance("20s")
    got = client.recv_until(4, {"q"})
    assert {m["S"] for m in got} == {"MSFT"}
    client.close()


def test_test_feed_streams_fakepaca(running_exchange: RunningExchange, exchange: Exchange) -> None:
    client = data_client(running_exchange, "test")
    client.send({"action": "subscribe", "trades": ["FAKEPACA"], "quotes": ["*"]})
    client.recv()
    exchange.advance("10s")
    got = client.recv_until(3, {"q", "t"})
    assert {m["S"] for m in got} == {"FAKEPACA"}
    client.close()


def test_realtime_clock_streams_without_being_stepped(sim_market: SimulatedMarket) -> None:
    from trading_kit.exchange.calendar import MarketHours
    from trading_kit.exchange.market import SimulatedMarket as Sim

    exchange = Exchange(Sim(hours=MarketHours(always_open=True)), RealtimeClock())
    with start_exchange(exchange) as running:
        client = data_client(running)
        client.send({"action": "subscribe", "quotes": ["SPY"]})
        client.recv()
        (quote,) = client.recv_until(1, {"q"}, timeout=15)  # quotes every 5 s of wall time
        age = pd.Timestamp.now(tz="UTC") - pd.Timestamp(quote["t"])
        assert pd.Timedelta(0) <= age < pd.Timedelta("10s")
        client.close()
    exchange.close()


# -- market-data errors ----------------------------------------------------------------------


def test_bad_keys_are_refused_and_the_socket_closed(locked_exchange: RunningExchange) -> None:
    client = Client(ws_url(locked_exchange, "/v2/iex"))
    client.recv()
    client.send({"action": "auth", "key": KEY, "secret": "wrong"})
    assert client.recv() == [{"T": "error", "code": 402, "msg": "auth failed"}]
    with pytest.raises(ConnectionClosed):
        client.recv()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"action": "subscribe", "quotes": ["AAPL"]}, 401),  # before auth
        ({"action": "dance"}, 400),
        ("not an object", 400),
    ],
)
def test_requests_before_auth_get_alpacas_errors(
    running_exchange: RunningExchange, message: Any, code: int
) -> None:
    client = Client(ws_url(running_exchange, "/v2/sip"))
    client.recv()
    client.send(message)
    assert client.recv() == [
        {"T": "error", "code": code, "msg": exchange_streams.DATA_ERRORS[code]}
    ]
    client.close()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"action": "auth", "key": KEY, "secret": SECRET}, 403),
        ({"action": "subscribe", "quotes": "AAPL"}, 400),  # not a list
        ({"action": "subscribe", "quotes": ["AA PL"]}, 400),  # not a ticker
        ({"action": "subscribe", "candles": ["AAPL"]}, 400),  # not a channel
        ({"action": "subscribe", "orderbooks": ["AAPL"]}, 410),  # not on a stock feed
        ({"action": "subscribe", "quotes": [f"S{i}" for i in range(31)]}, 405),
        ({"action": "subscribe", "quotes": ["*"]}, 405),  # every symbol is more than 30
    ],
)
def test_bad_requests_after_auth(
    running_exchange: RunningExchange, message: Any, code: int
) -> None:
    client = data_client(running_exchange)
    client.send(message)
    assert client.recv() == [
        {"T": "error", "code": code, "msg": exchange_streams.DATA_ERRORS[code]}
    ]
    client.send({"action": "subscribe", "quotes": ["AAPL"]})  # the connection still works
    assert client.recv()[0]["quotes"] == ["AAPL"]
    client.close()


def test_garbage_frames_are_invalid_syntax(running_exchange: RunningExchange) -> None:
    client = data_client(running_exchange)
    client.ws.send(b"\xc1\xff not msgpack, not json")
    assert client.recv()[0]["code"] == 400
    client.close()


def test_sip_has_no_symbol_limit(running_exchange: RunningExchange) -> None:
    client = data_client(running_exchange, "sip")
    client.send({"action": "subscribe", "bars": ["*"], "quotes": [f"S{i}" for i in range(40)]})
    (reply,) = client.recv()
    assert reply["bars"] == ["*"] and len(reply["quotes"]) == 40
    client.close()


def test_a_second_connection_with_the_same_key_is_refused(
    running_exchange: RunningExchange,
) -> None:
    first = data_client(running_exchange)
    second = Client(ws_url(running_exchange, "/v2/sip"))  # iex and sip share the slot
    second.recv()
    second.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert second.recv() == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
    with pytest.raises(ConnectionClosed):
        second.recv()
    first.close()
    third = data_client(running_exchange)  # the slot is free again once the first left
    third.close()


def test_no_auth_in_time_is_an_auth_timeout(
    running_exchange: RunningExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange_streams, "AUTH_TIMEOUT", 0.3)
    client = Client(ws_url(running_exchange, "/v2/iex"))
    client.recv()
    assert client.recv() == [{"T": "error", "code": 404, "msg": "auth timeout"}]
    with pytest.raises(ConnectionClosed):
        client.recv()


def test_unknown_feed_is_refused_at_the_handshake(running_exchange: RunningExchange) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Client(ws_url(running_exchange, "/v2/crypto"))
    assert refused.value.response.status_code in (403, 404)


def test_a_client_that_stops_reading_is_dropped(
    running_exchange: RunningExchange, exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that stops reading gets Alpaca's 407 and is closed; the server keeps no backlog."""
    monkeypatch.setattr(exchange_streams, "OUTBOX_FRAMES", 8)  # more than one step's frames
    hub = running_exchange.streams
    symbols = ["AAPL", "MSFT", "SPY", "QQQ", "NVDA", "AMZN", "TSLA", "META"]

    async def scenario() -> list[Any]:
        # A small receive buffer (the kernel would otherwise take 32 MB for the client) and
        # max_queue=1: the client stops reading the socket, so TCP pushes back on the server
        # (no compression: deflate would shrink 20 MB of JSON to what the buffers hold).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", running_exchange.port))
        sock.setblocking(False)
        url = ws_url(running_exchange, "/v2/iex")
        async with ws_connect(url, sock=sock, max_queue=1, compression=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "quotes": symbols, "trades": symbols}))
            await ws.recv()
            publisher = hub.publisher("stocks")
            deadline = time.monotonic() + 60
            while not all(session.closing for session in publisher.sessions):
                assert time.monotonic() < deadline, "the server never gave up on the slow reader"
                exchange.advance("1h")  # thousands of messages nobody reads
                await asyncio.sleep(0.05)
            frames = []
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    frames.append(json.loads(raw))
            return frames

    frames = asyncio.run(scenario())
    assert frames[-1] == [{"T": "error", "code": 407, "msg": "slow client"}]
    assert all(m["T"] in ("q", "t") for frame in frames[:-1] for m in frame)


# -- trading stream ---------------------------------------------------------------------------


def trading_client(running: RunningExchange, auth: dict, **options: Any) -> Client:
    client = Client(ws_url(running, "/stream"), **options)
    client.send(auth)
    return client


@pytest.mark.parametrize(
    "auth",
    [
        {"action": "auth", "key": KEY, "secret": SECRET},
        {"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}},
    ],
)
@pytest.mark.parametrize("use_msgpack", [False, True])
def test_trading_stream_authorizes_both_ways_and_listens(
    locked_exchange: RunningExchange, auth: dict, use_msgpack: bool
) -> None:
    client = trading_client(locked_exchange, auth, use_msgpack=use_msgpack)
    raw = client.ws.recv(timeout=10)
    assert isinstance(raw, bytes)  # Alpaca's trading stream sends binary frames
    answer = msgpack.unpackb(raw) if use_msgpack else json.loads(raw)
    assert answer == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "authorized"},
    }
    client.send({"action": "listen", "data": {"streams": ["trade_updates", "nope"]}})
    assert client.recv() == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    client.close()


def test_trading_stream_refuses_bad_keys(locked_exchange: RunningExchange) -> None:
    client = trading_client(locked_exchange, {"action": "auth", "key": KEY, "secret": "nope"})
    assert client.recv()["data"]["status"] == "unauthorized"
    with pytest.raises(ConnectionClosed):
        client.recv()


def test_listening_before_auth_is_unauthorized(running_exchange: RunningExchange) -> None:
    client = trading_client(
        running_exchange, {"action": "listen", "data": {"streams": ["trade_updates"]}}
    )
    assert client.recv() == {
        "stream": "authorization",
        "data": {"action": "listen", "status": "unauthorized"},
    }
    client.close()


# -- trade updates -----------------------------------------------------------------------------


def listening_client(running: RunningExchange, **options: Any) -> Client:
    client = trading_client(running, {"action": "auth", "key": KEY, "secret": SECRET}, **options)
    client.recv()
    client.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
    client.recv()
    return client


def post(running: RunningExchange, method: str, path: str, **body: Any) -> dict:
    response = requests.request(
        method, running.url + path, json=body or None, headers=HEADERS, timeout=10
    )
    response.raise_for_status()
    return response.json() if response.content else {}


def updates_until(client: Client, event: str, order_id: str) -> list[dict]:
    got = []
    while not got or not (got[-1]["event"] == event and got[-1]["order"]["id"] == order_id):
        message = client.recv()
        assert message["stream"] == "trade_updates"
        got.append(message["data"])
    return got


@pytest.mark.parametrize("use_msgpack", [False, True])
def test_a_fill_is_streamed_with_the_order_as_rest_shows_it(
    running_exchange: RunningExchange, use_msgpack: bool
) -> None:
    client = listening_client(running_exchange, use_msgpack=use_msgpack)
    order = post(
        running_exchange, "POST", "/v2/orders",
        symbol="AAPL", qty="3", side="buy", type="market", time_in_force="day",
    )  # fmt: skip
    updates = updates_until(client, "fill", order["id"])
    assert [u["event"] for u in updates][-1] == "fill"
    assert updates[0]["event"] in ("accepted", "new")  # the engine's word for the arrival
    fill = updates[-1]
    assert fill["order"] == post(running_exchange, "GET", f"/v2/orders/{order['id']}")
    assert fill["qty"] == "3" and fill["position_qty"] == "3"
    assert fill["price"] == fill["order"]["filled_avg_price"]
    assert fill["execution_id"] and fill["timestamp"] == fill["order"]["filled_at"]
    client.close()


def test_replace_and_cancel_are_streamed(running_exchange: RunningExchange) -> None:
    client = listening_client(running_exchange)
    order = post(
        running_exchange, "POST", "/v2/orders",
        symbol="MSFT", qty="2", side="buy", type="limit", limit_price="10", time_in_force="gtc",
    )  # fmt: skip
    assert updates_until(client, "new", order["id"])[-1]["order"]["status"] == "new"
    new = post(running_exchange, "PATCH", f"/v2/orders/{order['id']}", limit_price="11")
    updates = updates_until(client, "new", new["id"])
    replaced = next(u for u in updates if u["event"] == "replaced")
    assert replaced["order"]["id"] == order["id"] and replaced["order"]["replaced_by"] == new["id"]
    post(running_exchange, "DELETE", f"/v2/orders/{new['id']}")
    (canceled,) = updates_until(client, "canceled", new["id"])[-1:]
    assert canceled["order"]["status"] == "canceled"
    assert canceled["order"] == post(running_exchange, "GET", f"/v2/orders/{new['id']}")
    client.close()


def test_a_websocket_outlives_the_idle_timeout(sim_market: SimulatedMarket) -> None:
    """The timer that closes connections with no request head must stop at the upgrade."""
    exchange = Exchange(sim_market, ManualClock(T0))
    with start_exchange(exchange, idle_timeout=0.2) as running:
        client = data_client(running)
        client.send({"action": "subscribe", "quotes": ["AAPL"]})
        client.recv()
        connected = time.monotonic()
        while time.monotonic() - connected < 1.0:  # five idle timeouts, the stream still flows
            exchange.advance("5s")
            assert client.recv_until(1, {"q"})[0]["S"] == "AAPL"
        client.close()
    exchange.close()
