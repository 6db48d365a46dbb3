"""The in-process transport: the exchange's routes without a socket, answering as HTTP does.

Each test reaches one exchange both ways, over loopback HTTP and in process, and asserts
the same statuses and bodies; none of them replaces a function of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.routing import Route

import trading_kit as tk
from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.connection import IN_PROCESS_URL
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.replay.transport import ASGITransport


@pytest.fixture
def served(exchange: Exchange) -> Iterator[RunningExchange]:
    with start_exchange(exchange) as running:
        yield running


@pytest.fixture
def in_process(served: RunningExchange) -> requests.Session:
    """A requests session whose calls to the served exchange's URL stay in this process."""
    session = requests.Session()
    session.headers.update(HEADERS)
    session.mount(served.url + "/", _Adapter(ASGITransport(served.app)))
    return session


class _Adapter(requests.adapters.BaseAdapter):
    def __init__(self, transport: ASGITransport) -> None:
        super().__init__()
        self.transport = transport

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        return self.transport(request)

    def close(self) -> None:
        self.transport.close()


#: Requests whose answers must be the same both ways: reads, refusals and malformed input.
SAME_ANSWERS = [
    ("GET", "/v2/account", None),
    ("GET", "/v2/clock", None),
    ("GET", "/v2/orders?status=all&limit=5", None),
    ("GET", "/v2/positions", None),
    ("GET", "/v2/positions/AAPL", None),
    ("GET", "/v2/assets/AAPL", None),
    ("GET", "/v2/stocks/AAPL/quotes/latest", None),
    ("GET", "/v2/stocks/AAPL/trades/latest", None),
    ("GET", "/v2/stocks/AAPL/bars?timeframe=1Min&start=2024-03-05T14:30:00Z&limit=3", None),
    ("GET", "/v2/stocks/bars?symbols=AAPL,MSFT&timeframe=1Hour&start=2024-03-04", None),
    ("GET", "/v2/stocks/AAPL/bars?timeframe=7Min", None),
    ("GET", "/v2/orders/not-an-order", None),
    ("GET", "/v2/nowhere", None),
    ("PUT", "/v2/account", None),
    ("POST", "/v2/orders", b"{not json"),
    ("POST", "/v2/orders", b'{"symbol": "AAPL", "qty": "-1", "side": "buy"}'),
    (
        "POST",
        "/v2/orders",
        b'{"symbol": "NOPE", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}',
    ),
    ("DELETE", "/v2/positions/AAPL", None),
]


@pytest.mark.parametrize(("method", "path", "body"), SAME_ANSWERS)
def test_the_same_request_gets_the_same_answer(
    served: RunningExchange, in_process: requests.Session, method: str, path: str, body: Any
) -> None:
    with requests.Session() as over_http:
        over_http.headers.update(HEADERS)
        wire = over_http.request(method, served.url + path, data=body)
    here = in_process.request(method, served.url + path, data=body)
    assert here.status_code == wire.status_code
    assert here.headers["content-type"] == wire.headers["content-type"]
    assert here.json() == wire.json()


def test_an_order_placed_in_process_is_the_exchanges_order(
    served: RunningExchange, in_process: requests.Session
) -> None:
    body = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}
    placed = in_process.post(served.url + "/v2/orders", json=body)
    assert placed.status_code == 200
    with requests.Session() as over_http:
        over_http.headers.update(HEADERS)
        seen = over_http.get(served.url + f"/v2/orders/{placed.json()['id']}").json()
    assert seen["client_order_id"] == placed.json()["client_order_id"]
    assert served.exchange.engine.positions["AAPL"].qty == 3


def test_without_keys_it_is_refused_as_over_http(served: RunningExchange) -> None:
    with requests.Session() as session:
        session.mount(served.url + "/", _Adapter(ASGITransport(served.app)))
        answer = session.get(served.url + "/v2/account")
    assert answer.status_code == 401
    assert answer.json() == {"code": 40110000, "message": "request is not authorized"}


def test_every_http_route_answers_in_process_without_an_internal_error(
    served: RunningExchange, in_process: requests.Session
) -> None:
    """Routes that hand work to a thread are finished on the transport's loop, not lost."""
    for route in served.app.routes:
        if not isinstance(route, Route):
            continue
        path = route.path.replace("{symbol}", "AAPL").replace("{symbol_or_asset_id}", "AAPL")
        path = path.replace("{order_id}", "x").replace("{activity_type}", "FILL")
        path = path.replace("{watchlist_id}", "x").replace("{name}", "x")
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            answer = in_process.request(method, served.url + path, params={"symbols": "AAPL"})
            assert answer.status_code < 500, (method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/json") or (
                answer.status_code == 204
            )


def test_it_works_inside_a_running_event_loop(served: RunningExchange, tmp_path: Path) -> None:
    """Jupyter runs cells while its kernel's loop runs on the same thread."""
    kit = tk.connect(exchange=served, cache_path=tmp_path / "c.sqlite")

    async def cell() -> tuple[float, int]:
        equity = kit.orders.get_account().equity
        bars = kit.data.get_bars("AAPL", "1Min", start="2024-03-05T14:00:00Z", end=SESSION_TIME)
        return equity, len(bars)

    equity, count = asyncio.run(cell())
    assert equity == 100_000 and count == 60


def test_a_broken_app_is_a_lost_answer() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    request = requests.Request("GET", "http://127.0.0.1:1/v2/account").prepare()
    with pytest.raises(requests.ConnectionError, match="no complete answer"):
        ASGITransport(broken)(request)


# -- connect(exchange=...) ---------------------------------------------------------------


def test_connect_to_an_exchange_that_is_served_nowhere(
    sim_market: SimulatedMarket, tmp_path: Path
) -> None:
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), partial_fills=False)
    kit = tk.connect(exchange=exchange, cache_path=tmp_path / "cache.sqlite")
    assert kit.orders._stack.settings.trading_url == IN_PROCESS_URL
    assert "in this process" in repr(kit)
    order = kit.orders.place_order("AAPL", qty=2, side="buy")
    assert exchange.engine.orders[order.id].symbol == "AAPL"
    quote = kit.data.get_latest_quote("AAPL")
    assert float(quote["ask_price"].iloc[0]) > float(quote["bid_price"].iloc[0])
    assert not kit.data.get_bars("AAPL", "1Hour", start="2024-03-04", end=SESSION_TIME).empty
    info = kit.data.cache.info()
    assert "nothing cached" in info.path and info.size_bytes == 0 and info.entries == 0
    assert not (tmp_path / "cache.sqlite").exists()  # the replay's answers stay in memory


def test_connect_to_an_exchange_with_credentials(
    sim_market: SimulatedMarket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKFROMENV")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "ENVSECRET")
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), credentials=("id", "s3cret"))
    anonymous = tk.connect(exchange=exchange, cache_path=tmp_path / "c.sqlite")
    with pytest.raises(tk.OrderExecutionError, match="401") as refused:
        anonymous.orders.get_account()
    assert "ENVSECRET" not in str(refused.value)  # the environment's keys were never sent
    kit = tk.connect("id", "s3cret", exchange=exchange, cache_path=tmp_path / "c.sqlite")
    assert kit.orders.get_account().equity == 100_000
    assert "s3cret" not in repr(kit) + repr(kit.orders._stack.settings)


def test_connect_refuses_an_exchange_and_a_url(sim_market: SimulatedMarket) -> None:
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME))
    with pytest.raises(tk.ConfigError, match="not both"):
        tk.connect(exchange=exchange, trading_url="http://127.0.0.1:8765")
    with pytest.raises(tk.ConfigError, match=r"exchange='nope' is not an exchange"):
        tk.connect(exchange="nope")


def test_work_handed_to_the_loops_executor_runs_on_the_calling_thread() -> None:
    """A route that runs its work in ``run_in_executor`` (as a server does, to keep its
    loop answering) runs it on the caller's thread in process: no worker thread to wake."""
    import threading

    threads: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        threads.append(name)
        body = b'{"ok": true}'
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    transport = ASGITransport(app)
    request = requests.Request("GET", "http://127.0.0.1:1/v2/clock").prepare()
    for _ in range(3):
        assert transport(request).json() == {"ok": True}
    assert threads == [threading.current_thread().name] * 3
