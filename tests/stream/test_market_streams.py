"""``kit.stream`` against the local exchange: live frames, callbacks, one connection, bad input."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pandas as pd
import pytest

import trading_kit as tk
from tests.stream.conftest import KEY, SECRET, wait_until
from trading_kit.errors import StreamError
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.stream import Quote, Streams

T0 = pd.Timestamp("2024-03-05T15:00:00Z")


def hub(running: RunningExchange):
    return running.streams


def test_quotes_frame_is_the_rest_frame_as_it_happens(kit: tk.Kit, exchange: Exchange) -> None:
    quotes = kit.stream.quotes("AAPL", "MSFT")
    exchange.advance("1min")
    wait_until(lambda: quotes.received == 24)
    rest = kit.data.get_quotes(
        ["AAPL", "MSFT"], start=T0 + pd.Timedelta("1s"), end=T0 + pd.Timedelta("1min")
    )
    pd.testing.assert_frame_equal(quotes.df, rest, check_index_type=False)
    assert quotes.last == Quote("MSFT", T0 + pd.Timedelta("1min"), *rest.iloc[-1].tolist())


def test_bars_roll_up_to_the_timeframe(kit: tk.Kit, exchange: Exchange) -> None:
    exchange.advance("2min30s")  # subscribe mid-bucket: 15:00 and 15:01 have closed
    bars = kit.stream.bars("AAPL", timeframe="5Min")
    minute = kit.stream.bars("AAPL")
    exchange.advance("7min30s")  # to 15:10: eight more minutes close
    wait_until(lambda: bars.received == 8 and minute.received == 8)
    live = bars.df  # the first bar's first minutes came over REST: it is whole
    rest = kit.data.get_bars("AAPL", "5Min", start=T0, end=T0 + pd.Timedelta("10min"))
    assert list(live.columns) == list(rest.columns)
    pd.testing.assert_frame_equal(live.drop(columns="vwap"), rest.drop(columns="vwap"))
    assert (live["vwap"] - rest["vwap"]).abs().max() < 0.01
    minutes = kit.data.get_bars(
        "AAPL", "1Min", start=T0 + pd.Timedelta("2min"), end=T0 + pd.Timedelta("10min")
    )
    pd.testing.assert_frame_equal(minute.df, minutes, check_index_type=False)


def test_daily_bars_follow_the_session(kit: tk.Kit, exchange: Exchange) -> None:
    daily = kit.stream.daily_bars("SPY")
    exchange.advance("3min")
    wait_until(lambda: daily.received >= 1)
    rest = kit.data.get_bars("SPY", "1Day", start="2024-03-05", end=T0 + pd.Timedelta("3min"))
    assert daily.df["close"].iloc[-1] == rest["close"].iloc[-1]
    assert daily.df.index[-1] == rest.index[-1]


def test_callbacks_never_run_on_the_socket_thread(kit: tk.Kit, exchange: Exchange) -> None:
    seen: list[tuple[str, object]] = []
    trades = kit.stream.trades(
        "AAPL", on=lambda t: seen.append((threading.current_thread().name, t))
    )
    exchange.advance("30s")
    wait_until(lambda: len(seen) == 3)
    assert {name for name, _ in seen} == {"trading-kit-callbacks"}
    assert [t.price for _, t in seen] == trades.df["price"].tolist()


def test_async_for_and_callbacks_run_on_the_subscribing_loop(
    kit: tk.Kit, exchange: Exchange
) -> None:
    """As in a notebook: subscribe inside a running loop, and everything comes back on it."""

    async def cell() -> tuple[list, list, set]:
        loop_thread = threading.current_thread().name
        called: list[str] = []

        async def handler(quote: Quote) -> None:  # coroutine handlers are awaited on the loop
            called.append(threading.current_thread().name)

        quotes = kit.stream.quotes("SPY", on=handler)
        got = []
        await asyncio.get_running_loop().run_in_executor(None, exchange.advance, "20s")
        async for quote in quotes:
            got.append(quote)
            if len(got) == 4:
                break
        await asyncio.sleep(0.05)  # let the last handler calls finish
        with pytest.raises(StreamError, match=r"within 0\.2 s"):
            await quotes.wait_for(lambda q: q.bid_price < 0, timeout=0.2)
        return got, called, {loop_thread}

    got, called, loop_threads = asyncio.run(cell())
    assert [q.symbol for q in got] == ["SPY"] * 4
    assert set(called) == loop_threads and len(called) >= 4


def test_one_connection_per_account_and_stream(
    kit: tk.Kit, exchange: Exchange, running_exchange: RunningExchange
) -> None:
    a = kit.stream.quotes("AAPL")
    b = kit.stream.quotes("AAPL", "MSFT")
    c = kit.stream.trades("AAPL")
    publisher = hub(running_exchange).publisher("stocks")
    assert len(publisher.sessions) == 1 and kit.stream.status == {"iex": "open"}
    a.close()
    exchange.advance("10s")
    wait_until(lambda: b.received == 4 and c.received == 1)
    assert a.received == 0
    b.close()
    c.close()
    wait_until(lambda: not publisher.sessions)  # the last frame closed the connection
    assert kit.stream.status == {}


@pytest.mark.parametrize(
    ("subscribe", "named"),
    [
        (lambda s: s.quotes("AA PL"), "'AA PL'"),
        (lambda s: s.quotes(), "at least one symbol"),
        (lambda s: s.bars("AAPL", timeframe="2Min"), "'2Min'"),
        (lambda s: s.bars("AAPL", timeframe="1Week"), "'1Week' cannot be streamed"),
        (lambda s: s.quotes("AAPL", keep=0), "keep=0"),
        (lambda s: s.quotes("AAPL", feed="crypto"), "feed='crypto'"),
        (lambda s: s.quotes(*[f"S{i}" for i in range(31)]), "31 symbols"),
    ],
)
def test_bad_subscriptions_name_the_value(kit: tk.Kit, subscribe, named: str) -> None:
    with pytest.raises(StreamError, match=named.replace("(", r"\(")):
        subscribe(kit.stream)
    assert kit.stream.status == {}  # nothing half-subscribed, no connection left open


def test_the_symbol_limit_is_alpacas_405(kit: tk.Kit) -> None:
    with pytest.raises(StreamError) as refused:
        kit.stream.trades(*[f"S{i}" for i in range(40)])
    assert refused.value.code == 405 and "symbol limit exceeded" in str(refused.value)


def test_refused_keys_never_show(sim_market: SimulatedMarket, tmp_path: Path, caplog) -> None:
    exchange = Exchange(sim_market, ManualClock(T0), credentials=(KEY, SECRET))
    with start_exchange(exchange) as running:
        wrong = "wrong-secret-never-show-me"
        kit = tk.connect(
            KEY, wrong, trading_url=running.url, data_url=running.url, cache_path=tmp_path / "c"
        )
        caplog.set_level(logging.DEBUG)
        with pytest.raises(StreamError) as refused:
            kit.stream.quotes("AAPL")
        assert refused.value.code == 402 and "ALPACA_SECRET_KEY" in str(refused.value)
        shown = [str(refused.value), repr(kit.stream), caplog.text]
        assert not any(wrong in text or KEY in text for text in shown)
        kit.stream.close()
    exchange.close()


def test_a_server_restart_reconnects_resubscribes_and_fills_the_gap(
    exchange: Exchange, tmp_path: Path, caplog
) -> None:
    """The exchange goes away for three minutes of market time: the bars missed meanwhile
    come over REST, the stream resumes, and the frame has no hole."""
    running = start_exchange(exchange)
    port = running.port
    kit = tk.connect(
        KEY, SECRET, trading_url=running.url, data_url=running.url, cache_path=tmp_path / "c"
    )
    streams = Streams(kit.data, backoff=(0.05, 0.2))
    try:
        bars = streams.bars("AAPL")
        exchange.advance("2min")
        wait_until(lambda: bars.received == 2)
        running.stop()
        wait_until(lambda: streams.status["iex"] == "reconnecting")
        exchange.advance("3min")  # nobody is connected: these minutes are never streamed
        caplog.set_level(logging.WARNING, logger="trading_kit")
        running = start_exchange(exchange, port=port)
        wait_until(lambda: streams.status["iex"] == "open" and bars.received == 5)
        exchange.advance("1min")  # and the stream itself goes on
        wait_until(lambda: bars.received == 6)
        stamps = bars.df.index.get_level_values("timestamp")
        assert list(stamps) == list(pd.date_range(T0, periods=6, freq="1min"))
        assert "filled 3 missed 1Min bar(s) of AAPL over REST" in caplog.text
    finally:
        streams.close()
        running.stop()


def test_closing_the_streams_ends_every_loop(kit: tk.Kit, exchange: Exchange) -> None:
    async def cell() -> list:
        quotes = kit.stream.quotes("AAPL")
        arriving = aiter(quotes)
        await asyncio.get_running_loop().run_in_executor(None, exchange.advance, "5s")
        got = [await anext(arriving)]
        kit.stream.close()  # from elsewhere (another cell): the loop below just ends
        got.extend([q async for q in arriving])
        return got

    got = asyncio.run(cell())
    assert len(got) == 1 and kit.stream.status == {}


def test_one_streams_object_per_account(kit: tk.Kit, running_exchange, tmp_path: Path) -> None:
    """Another client of the same account (another cache, say) shares the connections."""
    other = tk.MarketData(KEY, SECRET, data_url=running_exchange.url,
                          trading_url=running_exchange.url, cache_path=tmp_path / "other")  # fmt: skip
    assert Streams.of(other) is kit.stream
