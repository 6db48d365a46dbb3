"""Benchmark the streams: quotes into a live frame, fill → trade update, widgets on events.

    python bench/bench_streams.py [--hours 2] [--repeat 3] [--fills 200] [--widgets 50]

(a) Quotes. The local exchange runs in its own process on a manual clock (always open);
    30 symbols' quotes are subscribed on the iex feed (Alpaca's free-plan limit) and the
    clock is stepped by ``--hours`` (30 x 720 quotes an hour). Three consumers read the
    same feed in turn, each timed from the step to its last quote:
      * the raw floor: a websocket client that only decodes the MessagePack frames;
      * trading_kit: ``Streams.quotes`` into its live frame, then one ``.df`` of it all;
      * alpaca-py's ``StockDataStream`` (its ``run()`` on a thread), a handler per quote.
    Each consumer's first step is a warm-up (untimed); all steps fall in one simulated
    day, so the exchange's price paths are generated once, before any timing.
    Target: trading_kit >= 20,000 quotes/s and not behind the floor.
(b) Fill → trade update. Marketable orders are posted to an in-process exchange; the
    time from the exchange emitting the fill (once written) to the ``fill`` update
    reaching a ``trade_updates`` callback. Target: p50 <= 5 ms on loopback.
(c) Widgets driven by events: a live chart and a blotter follow the account while
    alpaca-py places orders elsewhere; the time until the order's line is on the chart
    and its row in the blotter, and from a minute closing to its bar on the chart.
    Target: within 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import requests
from websockets.asyncio.client import connect

from trading_kit import MarketData
from trading_kit.stream import Streams

SYMBOLS = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC",
    "CSCO", "COST", "PEP", "QQQ", "SPY", "IWM", "DIA", "JPM", "BAC", "WMT",
    "DIS", "KO", "XOM", "CVX", "V", "MA", "UNH", "JNJ", "PG", "HD",
]  # fmt: skip
HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}
QUOTES_PER_HOUR = 720

SERVER = """
import sys
from trading_kit.exchange import Exchange, ManualClock, MarketHours, SimulatedMarket, start_exchange
exchange = Exchange(SimulatedMarket(hours=MarketHours(always_open=True)),
                    ManualClock("2024-03-05T07:00:00Z"))  # a simulated day starts
running = start_exchange(exchange)
print(running.url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
running.stop()
"""


class ExchangeProcess:
    """The local exchange in a child process (its own GIL), stepped over /admin/clock."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self.process.stdout.readline().strip()
        self.ws = self.url.replace("http://", "ws://") + "/v2/iex"

    def step(self, hours: float) -> None:
        response = requests.post(
            self.url + "/admin/clock", json={"advance": f"{hours}h"}, headers=HEADERS, timeout=30
        )
        response.raise_for_status()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer did not receive every quote")
        time.sleep(0.001)


# -- the three consumers -------------------------------------------------------------------


def raw_floor(server: ExchangeProcess, hours: float, repeat: int) -> list[float]:
    """Seconds per step for a client that only decodes frames."""

    async def run() -> list[float]:
        times = []
        async with connect(
            server.ws, additional_headers={"Content-Type": "application/msgpack"},
            compression=None, max_size=None,
        ) as ws:  # fmt: skip
            await ws.recv()
            await ws.send(msgpack.packb({"action": "auth", "key": "bench", "secret": "bench"}))
            await ws.recv()
            await ws.send(msgpack.packb({"action": "subscribe", "quotes": SYMBOLS}))
            await ws.recv()
            expected = int(len(SYMBOLS) * QUOTES_PER_HOUR * hours)
            for _ in range(repeat + 1):  # the first step warms up, untimed
                loop = asyncio.get_running_loop()
                start = time.perf_counter()
                await loop.run_in_executor(None, server.step, hours)
                count = 0
                while count < expected:
                    count += len(msgpack.unpackb(await ws.recv(), timestamp=2))
                times.append(time.perf_counter() - start)
        return times[1:]

    return asyncio.run(run())


def trading_kit(server: ExchangeProcess, hours: float, repeat: int, cache: Path) -> tuple:
    data = MarketData("bench", "bench", data_url=server.url, trading_url=server.url,
                      cache_path=cache)  # fmt: skip
    streams = Streams(data)
    expected = int(len(SYMBOLS) * QUOTES_PER_HOUR * hours)
    quotes = streams.quotes(*SYMBOLS, keep=int(QUOTES_PER_HOUR * hours))
    times, frame_ms, rows = [], [], 0
    for k in range(repeat + 1):  # the first step warms up, untimed
        start = time.perf_counter()
        server.step(hours)
        wait_for(lambda k=k: quotes.received >= expected * (k + 1))
        times.append(time.perf_counter() - start)
        before = time.perf_counter()
        rows = len(quotes.df)
        frame_ms.append((time.perf_counter() - before) * 1000)
    streams.close()
    return times[1:], frame_ms[1:], rows


def alpaca_py(server: ExchangeProcess, hours: float, repeat: int) -> list[float]:
    from alpaca.data.live import StockDataStream

    stream = StockDataStream("bench", "bench", url_override=server.ws)
    count = [0]

    async def on_quote(quote) -> None:
        count[0] += 1

    stream.subscribe_quotes(on_quote, *SYMBOLS)
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    wait_for(lambda: stream._running)
    time.sleep(0.5)  # alpaca-py gives no signal that its subscription was acknowledged
    expected = int(len(SYMBOLS) * QUOTES_PER_HOUR * hours)
    times = []
    for k in range(repeat + 1):  # the first step warms up, untimed
        start = time.perf_counter()
        server.step(hours)
        wait_for(lambda k=k: count[0] >= expected * (k + 1), timeout=600)
        times.append(time.perf_counter() - start)
    stream.stop()
    thread.join(10)
    return times[1:]


def quotes_bench(hours: float, repeat: int) -> None:
    n = int(len(SYMBOLS) * QUOTES_PER_HOUR * hours)
    print(f"(a) {n:,} quotes per step ({len(SYMBOLS)} symbols, {hours:g} h), {repeat} steps each")
    server = ExchangeProcess()
    try:
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
            rows: dict[str, float] = {}
            cpu: dict[str, float] = {}
            started = time.process_time()
            rows["raw floor (decode only)"] = statistics.median(raw_floor(server, hours, repeat))
            cpu["raw floor (decode only)"] = time.process_time() - started
            started = time.process_time()
            kit_times, frame_ms, held = trading_kit(server, hours, repeat, Path(tmp) / "c.sqlite")
            rows["trading_kit live frame"] = statistics.median(kit_times)
            cpu["trading_kit live frame"] = time.process_time() - started
            started = time.process_time()
            rows["alpaca-py StockDataStream"] = statistics.median(alpaca_py(server, hours, repeat))
            cpu["alpaca-py StockDataStream"] = time.process_time() - started
    finally:
        server.close()
    floor = rows["raw floor (decode only)"]
    print("    (wall time is bounded by the exchange publishing; client CPU is the consumer's own)")
    for name, seconds in rows.items():
        per_quote = cpu[name] / (n * (repeat + 1)) * 1e6
        print(f"    {name:28s} {n / seconds:>10,.0f} quotes/s   {seconds * 1000:6.0f} ms/step"
              f"   {seconds / floor:5.2f}x floor   client CPU {per_quote:5.1f} us/quote")  # fmt: skip
    print(f"    trading_kit .df of {held:,} rows: {statistics.median(frame_ms):.0f} ms")
    verdict = n / rows["trading_kit live frame"] >= 20_000
    print(f"    target >= 20,000 quotes/s: {'met' if verdict else 'MISSED'}")


def fill_latency(n: int) -> None:
    """Milliseconds from the exchange emitting a fill (written) to the ``on=`` callback."""
    from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange

    print(f"(b) fill -> trade update callback, {n} market orders on loopback")
    exchange = Exchange(SimulatedMarket(), ManualClock("2024-03-05T15:00:00Z"), partial_fills=False)
    emitted: dict[str, float] = {}
    arrived: dict[str, float] = {}
    done = threading.Event()

    def on_engine(update) -> None:  # the exchange's own listener: the instant of the fill
        if update.event == "fill":
            emitted[update.order.id] = time.perf_counter()

    def on_update(update) -> None:
        if update.event == "fill":
            arrived[update.order_id] = time.perf_counter()
            if len(arrived) >= n:
                done.set()

    with (
        start_exchange(exchange) as running,
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
    ):
        data = MarketData("bench", "bench", data_url=running.url, trading_url=running.url,
                          cache_path=Path(tmp) / "c.sqlite")  # fmt: skip
        streams = Streams(data)
        fills = streams.trade_updates(on=on_update)
        exchange.add_listener(on_engine)
        session = requests.Session()
        session.headers.update(HEADERS)
        body = {"symbol": "AAPL", "qty": 1, "type": "market", "time_in_force": "day"}
        for i in range(n):
            side = "buy" if i % 2 == 0 else "sell"
            session.post(running.url + "/v2/orders", json={**body, "side": side}).raise_for_status()
            while len(arrived) < i + 1 and not done.is_set():  # one at a time: no queueing
                time.sleep(0.0002)
        done.wait(30)
        fills.close()
        streams.close()
    latencies = sorted((arrived[k] - emitted[k]) * 1000 for k in arrived if k in emitted)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"    p50 {p50:.2f} ms   p99 {p99:.2f} ms   ({len(latencies)} fills)")
    print(f"    target p50 <= 5 ms: {'met' if p50 <= 5 else 'MISSED'}")


def widget_latency(n: int) -> None:
    """Milliseconds from an order placed elsewhere (alpaca-py) to the live chart's line and
    the blotter's row; from a minute closing to the chart's new bar."""
    import pandas as pd
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import LimitOrderRequest

    from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
    from trading_kit.orders import Orders
    from trading_kit.ui import Blotter, PriceChart

    print(f"(c) widgets driven by events: {n} orders placed elsewhere, {n} minutes closing")
    start = pd.Timestamp("2024-03-05T15:00:00Z")
    exchange = Exchange(SimulatedMarket(), ManualClock(start), partial_fills=False)
    with (
        start_exchange(exchange) as running,
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
    ):
        data = MarketData("bench", "bench", data_url=running.url, trading_url=running.url,
                          cache_path=Path(tmp) / "c.sqlite")  # fmt: skip
        orders = Orders(stack=data._stack, journal_path=Path(tmp) / "j.sqlite")
        chart = PriceChart(data, "AAPL", "1Min", orders=orders, start=start - pd.Timedelta("2h"))
        blotter = Blotter(orders)
        outside = TradingClient("bench", "bench", paper=True, url_override=running.url)
        to_chart, to_blotter, to_bar = [], [], []
        for i in range(n):
            placed = time.perf_counter()
            order = outside.submit_order(
                LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                  time_in_force=TimeInForce.GTC, limit_price=100 + i / 100)
            )  # fmt: skip
            seen: dict[str, float] = {}
            while len(seen) < 2:
                if "chart" not in seen and str(order.id) in [lv.order_id for lv in chart.levels]:
                    seen["chart"] = time.perf_counter()
                if "blotter" not in seen and str(order.id) in blotter.open_orders.index:
                    seen["blotter"] = time.perf_counter()
                time.sleep(0.0005)
            to_chart.append((seen["chart"] - placed) * 1000)
            to_blotter.append((seen["blotter"] - placed) * 1000)
        for _ in range(n):
            last = chart.series.last
            stepped = time.perf_counter()
            exchange.advance("1min")
            while chart.series.last <= last:
                time.sleep(0.0005)
            to_bar.append((time.perf_counter() - stepped) * 1000)
        chart.close()
        blotter.close()
    for name, samples in (
        ("order -> chart line", to_chart),
        ("order -> blotter row", to_blotter),
        ("minute closes -> chart bar", to_bar),
    ):
        samples.sort()
        p50, p99 = (
            statistics.median(samples),
            samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        )
        print(f"    {name:28s} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    worst = max(statistics.median(to_chart), statistics.median(to_blotter))
    print(f"    target within 0.5 s: {'met' if worst <= 500 else 'MISSED'} (polling: 1 s + a read)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fills", type=int, default=200)
    parser.add_argument("--widgets", type=int, default=50)
    args = parser.parse_args()
    quotes_bench(args.hours, args.repeat)
    print()
    fill_latency(args.fills)
    print()
    widget_latency(args.widgets)


if __name__ == "__main__":
    main()
