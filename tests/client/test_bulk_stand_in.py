"""The loopback stand-in enforces Alpaca's rules, and our client keeps within them.

The download tests lean on the stand-in's budget and pagination; these tests show that
both bite (a client that ignores the budget is answered 429; a page holds ``limit``
bars across all its symbols), so "no 429 seen" elsewhere means something.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson
import requests

from tests.stub_alpaca import StubServer
from trading_kit import MarketData
from trading_kit.http import HttpStack

AUTH = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}


def test_a_client_ignoring_the_budget_is_answered_429(stub: StubServer) -> None:
    stub.state.enforce_rate, stub.state.rate_limit, stub.state.window = True, 10, 30.0
    first_sent = time.time()
    with requests.Session() as session:
        answers = [
            session.get(f"{stub.url}/v2/stocks/quotes/latest?symbols=AAPL", headers=AUTH)
            for _ in range(25)
        ]
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 15
    assert stub.state.throttled == 15
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers[:10]] == list(range(9, -1, -1))
    last_answered = time.time()
    reset = float(answers[-1].headers["X-RateLimit-Reset"])
    # when the oldest request leaves the window: it arrived between the two readings
    assert first_sent + 30 - 0.01 <= reset <= last_answered + 30 + 0.01
    assert orjson.loads(answers[-1].content)["code"] == 42910000


def test_limit_counts_bars_across_the_symbols_of_a_page(stub: StubServer) -> None:
    query = {
        "symbols": "MSFT,AAPL",
        "timeframe": "1Min",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-01T16:39:00Z",  # 1,000 bars each
        "limit": 1500,
    }
    first = requests.get(f"{stub.url}/v2/stocks/bars", params=query, headers=AUTH).json()
    assert {s: len(b) for s, b in first["bars"].items()} == {"AAPL": 1000, "MSFT": 500}
    query["page_token"] = first["next_page_token"]
    second = requests.get(f"{stub.url}/v2/stocks/bars", params=query, headers=AUTH).json()
    assert {s: len(b) for s, b in second["bars"].items()} == {"MSFT": 500}
    assert second["bars"]["MSFT"][0]["t"] == "2024-01-01T08:20:00Z"  # where page one stopped
    assert second["next_page_token"] is None


def test_pages_capped_and_unknown_symbols_omitted(stub: StubServer) -> None:
    stub.state.page_cap = 300
    query = {"symbols": "NOPE,AAPL", "timeframe": "1Min", "start": "2024-01-01", "limit": 10_000}
    page = requests.get(f"{stub.url}/v2/stocks/bars", params=query, headers=AUTH).json()
    assert list(page["bars"]) == ["AAPL"]
    assert len(page["bars"]["AAPL"]) == 300
    assert page["next_page_token"]


def test_our_client_never_meets_the_servers_budget(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """Eight threads, 120 requests, a budget of 20 per 0.4 s on both sides: not one 429,
    because a request counts from its send until a window after its answer."""
    stub.state.enforce_rate, stub.state.rate_limit, stub.state.window = True, 20, 0.4
    md = MarketData(stack=make_stack(requests_per_minute=20, rate_window_seconds=0.4))
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(15):
            md.get_latest_quote("AAPL", use_cache=False)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stub.state.seen) == 120
    assert stub.state.throttled == 0
    arrivals = sorted(s.at for s in stub.state.seen)
    assert arrivals[-1] - arrivals[0] >= 5 * 0.4  # 120 requests need five more windows


def test_a_budget_spent_elsewhere_is_not_spent_twice(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """Another process (or this one before a restart) used 14 of 20 requests: the first
    answers say so, and four threads starting afresh never meet a 429."""
    stub.state.enforce_rate, stub.state.rate_limit, stub.state.window = True, 20, 1.0
    with requests.Session() as other:
        for _ in range(14):
            other.get(f"{stub.url}/v2/stocks/quotes/latest?symbols=AAPL", headers=AUTH)
    md = MarketData(stack=make_stack(requests_per_minute=20, rate_window_seconds=1.0))
    threads = [
        threading.Thread(
            target=lambda: [md.get_latest_quote("MSFT", use_cache=False) for _ in range(10)]
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stub.state.seen) == 14 + 40
    assert stub.state.throttled == 0
