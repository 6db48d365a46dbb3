"""Retries with backoff, Retry-After, timeouts, and the shared rate limiter."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.client.conftest import KEY_ID, SECRET, FakeTime
from tests.stub_alpaca import StubServer
from trading_kit import MarketData, MarketDataError, RateLimitError
from trading_kit.http import HttpStack
from trading_kit.rate_limit import RateLimiter


def test_429_waits_for_retry_after_then_succeeds(
    make_stack: Callable[..., HttpStack], stub: StubServer, fake_time: FakeTime
) -> None:
    md = MarketData(stack=make_stack(fake_time))
    stub.state.fail_next(("status", 429, {"Retry-After": "0.4"}))
    df = md.get_latest_quote("AAPL")
    assert len(stub.state.seen) == 2
    assert sum(fake_time.slept) == pytest.approx(0.4)  # exactly what the server asked
    assert df.loc["AAPL", "bid_price"] > 0


def test_a_burst_of_503_is_ridden_out(
    make_stack: Callable[..., HttpStack], stub: StubServer, fake_time: FakeTime
) -> None:
    md = MarketData(stack=make_stack(fake_time, backoff_initial=0.1, backoff_max=10.0))
    stub.state.fail_next(("status", 503), ("status", 502), ("status", 500), ("status", 504))
    df = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    assert len(stub.state.seen) == 5
    assert len(df) == 30
    pauses = fake_time.slept
    assert len(pauses) == 4
    assert pauses[-1] > pauses[0] >= 0.1  # the backoff grows


def test_a_dropped_connection_is_retried(md: MarketData, stub: StubServer) -> None:
    stub.state.fail_next(("drop",), ("drop",))
    assert not md.get_multi_trades(["AAPL"]).empty
    assert len(stub.state.seen) == 3


def test_a_stalled_server_times_out_and_is_retried(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(read_timeout=0.3))
    stub.state.fail_next(("hold",))  # answers only once released, i.e. after the test
    assert not md.get_latest_quote("AAPL").empty
    assert len(stub.state.seen) == 2  # the held answer was given up on, and asked again


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


def test_limiter_allows_the_limit_per_rolling_window(fake_time: FakeTime) -> None:
    """20 per 0.5 s: the 21st waits until the first leaves the window, and so on."""
    limiter = RateLimiter(20, 0.5, clock=fake_time.monotonic, sleep=fake_time.sleep)
    start = fake_time.monotonic()
    waits = [limiter.acquire() for _ in range(20)]
    assert waits == [0.0] * 20 and limiter.status().remaining == 0
    fake_time.sleep(0.1)
    assert limiter.acquire() == pytest.approx(0.4)  # until the first send is 0.5 s old
    assert fake_time.monotonic() - start == pytest.approx(0.5)
    assert [limiter.acquire() for _ in range(19)] == [0.0] * 19  # the rest left with it
    assert limiter.acquire() == pytest.approx(0.5)


def test_limiter_holds_the_rate_across_eight_threads(
    make_stack: Callable[..., HttpStack], stub: StubServer, fake_time: FakeTime
) -> None:
    """200 a minute, scaled down: 20 per 0.5 s window, 8 threads sending 80 requests."""
    stack = make_stack(fake_time, requests_per_minute=20, rate_window_seconds=0.5)
    md = MarketData(stack=stack)
    barrier = threading.Barrier(8)
    start = fake_time.monotonic()

    def work() -> None:
        barrier.wait()
        for _ in range(10):
            md.get_latest_quote("AAPL", use_cache=False)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stub.state.seen) == 80
    assert fake_time.monotonic() - start >= 1.5  # 80 requests need at least three more windows
    # Each request counts until a window after its answer (so in-flight requests that
    # outlive a window are counted again): the last answers still hold budget.
    assert stack.limiter.status().remaining < 20


def test_cache_hits_do_not_spend_the_budget(md: MarketData) -> None:
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    left = md.rate_limit.remaining
    for _ in range(5):
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
    assert md.rate_limit.remaining == left
    assert md.rate_limit.server_limit == 200  # the stub's X-RateLimit-Limit


def test_server_says_budget_spent_so_the_limiter_waits(fake_time: FakeTime) -> None:
    limiter = RateLimiter(
        limit=100,
        window=5.0,
        clock=fake_time.monotonic,
        sleep=fake_time.sleep,
        wall_clock=fake_time.time,
    )
    limiter.acquire()
    limiter.observe(
        {
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(fake_time.time() + 0.5),
        }
    )
    assert limiter.status().remaining == 0
    assert limiter.acquire() == pytest.approx(0.5)  # until the server's reset time
