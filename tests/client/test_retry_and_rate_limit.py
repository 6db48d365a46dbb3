"""Retries with backoff, Retry-After, timeouts, and the shared rate limiter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.client.conftest import KEY_ID, SECRET
from tests.stub_alpaca import StubServer
from trading_kit import MarketData, MarketDataError, RateLimitError
from trading_kit.http import HttpStack
from trading_kit.rate_limit import RateLimiter


def test_429_waits_for_retry_after_then_succeeds(md: MarketData, stub: StubServer) -> None:
    stub.state.fail_next(("status", 429, {"Retry-After": "0.4"}))
    df = md.get_latest_quote("AAPL")
    first, second = stub.state.seen
    assert second.at - first.at >= 0.4
    assert df.loc["AAPL", "bid_price"] > 0


def test_a_burst_of_503_is_ridden_out(md: MarketData, stub: StubServer) -> None:
    stub.state.fail_next(("status", 503), ("status", 502), ("status", 500), ("status", 504))
    df = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    assert len(stub.state.seen) == 5
    assert len(df) == 30
    gaps = [b.at - a.at for a, b in zip(stub.state.seen, stub.state.seen[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # the backoff grows


def test_a_dropped_connection_is_retried(md: MarketData, stub: StubServer) -> None:
    stub.state.fail_next(("drop",), ("drop",))
    assert not md.get_multi_trades(["AAPL"]).empty
    assert len(stub.state.seen) == 3


def test_a_stalled_server_times_out_and_is_retried(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(read_timeout=0.3))
    stub.state.fail_next(("stall", 1.0))
    started = time.monotonic()
    assert not md.get_latest_quote("AAPL").empty
    assert time.monotonic() - started < 1.0  # did not wait for the stalled answer
    assert len(stub.state.seen) == 2


def test_attempts_are_bounded_then_the_error_says_what_happened(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(max_attempts=3))
    stub.state.fail_next(*[("status", 503)] * 5)
    with pytest.raises(MarketDataError) as raised:
        md.get_latest_quote("AAPL")
    message = str(raised.value)
    assert "HTTP 503 after 3 attempts" in message
    assert raised.value.status == 503
    assert len(stub.state.seen) == 3
    assert SECRET not in message and KEY_ID not in message


def test_persistent_429_is_a_rate_limit_error(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(max_attempts=2))
    stub.state.fail_next(*[("status", 429, {"Retry-After": "0"})] * 2)
    with pytest.raises(RateLimitError, match="rate limited"):
        md.get_latest_quote("AAPL")


def test_connection_refused_names_the_problem(make_stack: Callable[..., HttpStack]) -> None:
    stack = make_stack(data_url="http://127.0.0.1:9", max_attempts=2)  # nothing listens on 9
    with pytest.raises(
        MarketDataError, match=r"failed after 2 attempt\(s\): the connection failed"
    ):
        MarketData(stack=stack).get_latest_quote("AAPL")


def test_unauthorised_is_explained_without_the_secret(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    stub.state.fail_next(("status", 401))
    with pytest.raises(MarketDataError) as raised:
        MarketData(stack=make_stack()).get_latest_quote("AAPL")
    assert "ALPACA_API_KEY" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_limiter_holds_the_rate_across_eight_threads(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """200 a minute, scaled down: 20 per 0.5 s window, 8 threads sending 80 requests."""
    md = MarketData(stack=make_stack(requests_per_minute=20, rate_window_seconds=0.5))
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(10):
            md.get_latest_quote("AAPL", use_cache=False)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals = sorted(s.at for s in stub.state.seen)
    assert len(arrivals) == 80
    busiest = max(sum(1 for t in arrivals if a <= t < a + 0.35) for a in arrivals)  # 0.15 s jitter
    assert busiest <= 20
    assert arrivals[-1] - arrivals[0] >= 1.5  # 80 requests need at least three more windows


def test_cache_hits_do_not_spend_the_budget(md: MarketData) -> None:
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    left = md.rate_limit.remaining
    for _ in range(5):
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    assert md.rate_limit.remaining == left
    assert md.rate_limit.server_limit == 200  # the stub's X-RateLimit-Limit


def test_server_says_budget_spent_so_the_limiter_waits() -> None:
    limiter = RateLimiter(limit=100, window=5.0)
    limiter.acquire()
    limiter.observe(
        {
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(time.time() + 0.5),
        }
    )
    assert limiter.status().remaining == 0
    waited = limiter.acquire()
    assert 0.3 <= waited <= 1.5
