"""Answers that are not answers: bad 200 bodies, bodies cut short, trickles, silence.

Each is retried like a 5xx, never cached, and if it persists ends in a ``MarketDataError``
(or ``OrderExecutionError``) naming the URL path and what was wrong. Every call ends by
its deadline, however slowly the server sends.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.client.conftest import KEY_ID, SECRET
from tests.stub_alpaca import StubServer
from trading_kit import MarketData, MarketDataError
from trading_kit.http import HttpStack

HISTORY = {"start": "2024-01-02", "end": "2024-01-31"}  # cached for ever once answered
BAD_BODIES = {
    "html": (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
    "truncated": (b'{"bars": {"AAPL": [{"t": "2024-01-02T00:00:00Z", "o": 1', "not JSON"),
    "invalid": (b"{'bars': nope}", "not JSON"),
    "null": (b"null", "JSON null where an object was expected"),
    "empty list": (b"[]", "JSON empty list [] where an object was expected"),
    "empty": (b"", "an empty body"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_bad_body_is_retried_like_a_5xx(md: MarketData, stub: StubServer, name: str) -> None:
    stub.state.fail_next(("body", BAD_BODIES[name][0]))
    bars = md.get_bars("AAPL", "1Day", **HISTORY)
    assert len(bars) == 30 and len(stub.state.seen) == 2


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_bad_body_is_an_error_naming_the_path_and_is_never_cached(
    make_stack: Callable[..., HttpStack], stub: StubServer, name: str
) -> None:
    body, problem = BAD_BODIES[name]
    md = MarketData(stack=make_stack(max_attempts=2))
    stub.state.fail_next(("body", body), ("body", body))
    with pytest.raises(MarketDataError) as raised:
        md.get_bars("AAPL", "1Day", **HISTORY)
    message = str(raised.value)
    assert "GET /v2/stocks/bars" in message and problem in message
    assert "after 2 attempt(s)" in message
    again = md.get_bars("AAPL", "1Day", **HISTORY)  # the healthy server is asked again
    assert len(again) == 30 and again.attrs["from_cache"] is False
    assert len(stub.state.seen) == 3
    assert md.get_bars("AAPL", "1Day", **HISTORY).attrs["from_cache"] is True


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda md: md.get_latest_quote("AAPL"), "/v2/stocks/quotes/latest"),
        (lambda md: md.get_snapshot("AAPL"), "/v2/stocks/snapshots"),
        (lambda md: md.get_multi_trades(["AAPL"]), "/v2/stocks/trades/latest"),
    ],
)
@pytest.mark.parametrize("body", [b"null", b"[]", b"<html>oops</html>"])
def test_latest_values_with_a_bad_body_are_market_data_errors(
    make_stack: Callable[..., HttpStack],
    stub: StubServer,
    call: Callable[[MarketData], object],
    path: str,
    body: bytes,
) -> None:
    md = MarketData(stack=make_stack(max_attempts=2))
    stub.state.fail_next(("body", body), ("body", body))
    with pytest.raises(MarketDataError, match=f"GET {path} failed after 2 attempt"):
        call(md)


def test_a_body_shorter_than_its_content_length_is_retried(
    md: MarketData, stub: StubServer
) -> None:
    stub.state.fail_next(("short",))
    quote = md.get_latest_quote("AAPL")
    assert quote.loc["AAPL", "bid_price"] > 0
    assert len(stub.state.seen) == 2


def test_a_body_always_cut_short_says_so(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(max_attempts=2))
    stub.state.fail_next(("short",), ("short",))
    with pytest.raises(MarketDataError, match=r"after 2 attempt\(s\): the answer was cut short"):
        md.get_latest_quote("AAPL")


def test_a_trickling_server_ends_at_the_deadline(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """One byte every 0.2 s never trips a read timeout; the call's deadline ends it."""
    md = MarketData(stack=make_stack(deadline=1.0, read_timeout=30.0))
    stub.state.fail_next(*[("trickle", 0.2)] * 5)
    with pytest.raises(MarketDataError) as raised:
        md.get_latest_quote("AAPL", use_cache=False)
    message = str(raised.value)
    assert "no complete answer within the 1 s deadline" in message
    assert "Settings.deadline=1" in message
    assert "GET /v2/stocks/quotes/latest" in message


def test_a_silent_server_ends_at_the_deadline_not_after_every_timeout(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """Five attempts of a 30 s read timeout would take minutes; the deadline is 1 s."""
    md = MarketData(stack=make_stack(deadline=1.0, read_timeout=30.0, max_attempts=5))
    stub.state.fail_next(*[("silent",)] * 5)
    with pytest.raises(MarketDataError, match="deadline"):
        md.get_latest_quote("AAPL", use_cache=False)
    assert len(stub.state.seen) == 1  # one attempt used the whole deadline


def test_after_a_deadline_the_next_call_works(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(deadline=1.0, read_timeout=30.0))
    stub.state.fail_next(("silent",))
    with pytest.raises(MarketDataError, match="deadline"):
        md.get_latest_quote("AAPL", use_cache=False)
    assert md.get_latest_quote("AAPL", use_cache=False).loc["AAPL", "bid_price"] > 0


def test_an_error_body_echoing_the_keys_is_redacted(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    """A proxy that echoes request headers into its error message must not leak the keys."""
    echo = f'{{"code": 40010000, "message": "bad request; headers: {KEY_ID} {SECRET}"}}'
    md = MarketData(stack=make_stack(max_attempts=1))
    stub.state.fail_next(("body", echo.encode(), 400))
    with pytest.raises(MarketDataError) as raised:
        md.get_latest_quote("AAPL")
    assert "bad request; headers: *** ***" in str(raised.value)
    assert SECRET not in str(raised.value) and KEY_ID not in str(raised.value)


def test_no_error_keeps_the_request_and_its_headers_in_its_chain(
    make_stack: Callable[..., HttpStack],
) -> None:
    md = MarketData(stack=make_stack(data_url="http://127.0.0.1:9", max_attempts=1))
    with pytest.raises(MarketDataError) as raised:
        md.get_latest_quote("AAPL")
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert [type(e).__name__ for e in chain] == ["MarketDataError"]
