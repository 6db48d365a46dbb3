"""Benchmark the local exchange: round trips, resting-order scaling, concurrency, engine steps.

    python bench/bench_exchange.py [--orders 1000] [--resting 4000] [--seconds 5]

(a) order round trips over loopback: alpaca-py's ``TradingClient.submit_order`` (the anchor),
    a raw ``requests`` POST, and ``GET /v2/account`` (p50/p99/mean, ms);
(b) the cost of resting orders: POST and ``GET /v2/account`` p50, one manual-clock minute,
    and an order followed by a minute (in process), with 1 resting order and with
    ``--resting`` (default 4,000) of them. The ratio (many / one)
    should stay near 1: per-order and per-step cost must not grow with the book;
(c) concurrency: 1, 8, 32 and 64 clients against a server in its own process, set up as
    ``tk.connect()`` sets up the embedded one (SQLite file, realtime clock, always open), each looping over POST order / GET order / GET account / GET latest quote
    for ``--seconds``; requests per second, p50 latency, and the /v2/clock p50 seen by one
    more client meanwhile (a stalled event loop shows there first);
(d) the engine alone: 1,000 resting orders on 10 symbols while a manual clock advances a full
    session minute by minute (390 steps): seconds, and resting orders x steps per second;
(e) validated orders: ``Orders.place_order`` with every pre-trade check on, over REST (no
    stream) and with the trade-update and quote streams open (the checks read the live
    account), against alpaca-py's ``submit_order``: 200 resting limit orders per block,
    blocks interleaved. Target: live p50 <= 2x alpaca-py, one request per order.

Numbers are for comparison within one run (the machine is shared); report ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest

from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange

OPEN = pd.Timestamp("2024-03-05T14:30:00Z")  # 09:30 ET
SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "SPY", "QQQ", "JPM"]
HELD = ["KO", "XOM", "CVX", "V", "MA", "UNH", "JNJ", "PG", "HD", "ORCL"]
CHEAP = ["INTC", "BAC", "CSCO"]  # the concurrency run's orders: thousands fit the buying power
HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}
MARKET = SimulatedMarket()


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


def timed(
    n: int, call: Callable[[int], object], clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Milliseconds per call; in-process measures pass ``time.process_time`` (CPU time,
    steadier than wall time on a shared machine)."""
    call(-1)  # warm up the connection
    samples = []
    for i in range(n):
        start = clock()
        call(i)
        samples.append((clock() - start) * 1000)
    return samples


def resting_body(i: int, symbols: list[str] = SYMBOLS) -> dict:
    """A limit order far enough from the market never to fill in the benchmark's minutes.

    Buys rest 20-30% below the price and sells 20-30% above it (sells open shorts), so
    no two of them cross (no wash-trade refusals) and the book looks like a real one.
    """
    symbol = symbols[i % len(symbols)]
    price = MARKET.trade_at(symbol, OPEN)["price"]
    side = "buy" if i % 2 else "sell"
    offset = 0.2 + (i % 100) / 1000
    limit = round(price * (1 - offset) if side == "buy" else price * (1 + offset), 2)
    return {
        "symbol": symbol,
        "qty": 1,
        "side": side,
        "type": "limit",
        "limit_price": limit,
        "time_in_force": "gtc",
    }


# ------------------------------------------------------------------------ (a) round trips
def round_trips(n: int) -> dict[str, list[float]]:
    exchange = Exchange(MARKET, ManualClock(OPEN + pd.Timedelta(minutes=30)), partial_fills=False)
    results: dict[str, list[float]] = {}
    with start_exchange(exchange) as running:
        client = TradingClient("bench", "bench", paper=True, url_override=running.url)

        def via_alpaca_py(i: int) -> object:
            return client.submit_order(
                LimitOrderRequest(
                    symbol="AAPL",
                    qty=1,
                    side=OrderSide.BUY,
                    time_in_force=TimeInForce.GTC,
                    limit_price=10,
                )
            )

        results["alpaca-py submit_order"] = timed(n, via_alpaca_py)
        session = requests.Session()
        session.headers.update(HEADERS)
        body = {
            "symbol": "MSFT",
            "qty": 1,
            "side": "buy",
            "type": "limit",
            "limit_price": 10,
            "time_in_force": "gtc",
        }

        def via_requests(i: int) -> object:
            response = session.post(running.url + "/v2/orders", json=body)
            response.raise_for_status()
            return response.json()

        results["requests POST /v2/orders"] = timed(n, via_requests)
        results["requests GET /v2/account"] = timed(
            200, lambda i: session.get(running.url + "/v2/account").json()
        )
    return results


# ------------------------------------------------------------------------ (b) resting orders
def with_resting(resting: int, samples: int) -> dict[str, float]:
    """p50 of POST, GET /v2/account, a clock minute, an order and a minute, ``resting`` orders
    in the book."""
    clock = ManualClock(OPEN + pd.Timedelta(minutes=30))
    exchange = Exchange(MARKET, clock, partial_fills=False, cash=50_000_000)
    for i in range(resting):
        exchange.run(exchange.engine.submit, resting_body(i))
    # ten positions (in other symbols), so the account has something to price
    for symbol in HELD:
        exchange.run(
            exchange.engine.submit,
            {"symbol": symbol, "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"},
        )
    out: dict[str, float] = {}
    with start_exchange(exchange) as running:
        session = requests.Session()
        session.headers.update(HEADERS)

        def post(i: int) -> object:
            response = session.post(running.url + "/v2/orders", json=resting_body(resting + i + 1))
            response.raise_for_status()
            return response

        out["POST /v2/orders p50 ms"] = percentiles(timed(samples, post))[0]
        out["GET /v2/account p50 ms"] = percentiles(
            timed(samples, lambda i: session.get(running.url + "/v2/account").json())
        )[0]
        minute = timed(60, lambda i: exchange.advance("1min"), time.process_time)
        out["one clock minute CPU ms"] = statistics.fmean(minute)

        def order_then_minute(i: int) -> None:  # the book of the symbol changes every step
            exchange.run(exchange.engine.submit, resting_body(resting + samples + 10 + i))
            exchange.advance("1min")

        both = timed(100, order_then_minute, time.process_time)
        out["order + minute CPU ms"] = statistics.fmean(both)
    exchange.close()
    return out


# ------------------------------------------------------------------------ (c) concurrency
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "trading_kit",
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--clock",
        "realtime",
        "--always-open",
        "--no-partial-fills",
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/v2/clock", headers=HEADERS, timeout=5)
            return process, url
        except requests.ConnectionError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()) from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the exchange did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrency(url: str, clients: int, seconds: float, pid: int) -> dict[str, float]:
    """``clients`` threads looping over a mixed workload; one more thread polls /v2/clock.

    Besides requests per second (which a shared machine bends), the server's own CPU
    time per request: the steadier figure of what a request costs the exchange.
    """
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    clock_latencies: list[float] = []
    errors = [0] * clients

    def worker(k: int) -> None:
        session = requests.Session()
        session.headers.update(HEADERS)
        i = 0
        order_id = None
        while time.monotonic() < stop:
            step = i % 4
            start = time.perf_counter()
            if step == 0:
                response = session.post(
                    url + "/v2/orders", json=resting_body(k * 100_003 + i, CHEAP)
                )
                if response.ok:
                    order_id = response.json()["id"]
            elif step == 1 and order_id:
                response = session.get(f"{url}/v2/orders/{order_id}")
            elif step == 2:
                response = session.get(url + "/v2/account")
            else:
                response = session.get(url + "/v2/stocks/quotes/latest?symbols=AAPL,MSFT")
            latencies[k].append((time.perf_counter() - start) * 1000)
            if response.status_code >= 500:
                errors[k] += 1
            i += 1

    def clock_poller() -> None:
        session = requests.Session()
        session.headers.update(HEADERS)
        while time.monotonic() < stop:
            start = time.perf_counter()
            session.get(url + "/v2/clock")
            clock_latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=clock_poller))
    began, cpu = time.perf_counter(), cpu_seconds(pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
    flat = [x for samples in latencies for x in samples]
    return {
        "requests/s": len(flat) / elapsed,
        "server CPU ms/request": 1000 * cpu / (len(flat) + len(clock_latencies)),
        "p50 ms": statistics.median(flat),
        "5xx": sum(errors),
        "clock p50 ms": statistics.median(clock_latencies) if clock_latencies else float("nan"),
    }


# ------------------------------------------------------------------------ (d) engine steps
def session_throughput(n_orders: int) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to advance 390 minutes with ``n_orders`` resting orders; fills;
    open orders. CPU seconds are the steadier figure on a shared machine."""
    exchange = Exchange(MARKET, ManualClock(OPEN), partial_fills=True, seed=1, cash=10_000_000)
    engine = exchange.engine
    for i in range(n_orders):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = MARKET.trade_at(symbol, OPEN)["price"]
        offset = ((i // len(SYMBOLS)) % 50 - 25) / 1000  # limits within +-2.5% of the open
        side = "buy" if i % 2 else "sell"
        limit = round(price * (1 - abs(offset)) if side == "buy" else price * (1 + abs(offset)), 2)
        body = {
            "symbol": symbol,
            "qty": 1,
            "side": side,
            "type": "limit",
            "limit_price": limit,
            "time_in_force": "day",
        }
        if side == "sell":
            body["time_in_force"] = "gtc"
        exchange.run(engine.submit, body)
    opened = len(exchange.run(engine.list_orders, status="open", limit=10**9))
    fills_before = len(exchange.run(engine.activities_json, "FILL", page_size=10**9))
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(390):
        exchange.advance("1min")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    fills = len(exchange.run(engine.activities_json, "FILL", page_size=10**9)) - fills_before
    return seconds, cpu, fills, opened


@contextlib.contextmanager
def requests_sent_by_this_thread() -> Iterator[Callable[[], int]]:
    """Count the HTTP requests this thread puts on the wire (cache hits are not sent).

    Only the caller's thread: the live account's background re-reads (after orders placed
    by the other paths change it) are not the cost of an order on this path.
    """
    me, sent = threading.get_ident(), [0]
    original = requests.adapters.HTTPAdapter.send

    def send(adapter: Any, request: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            sent[0] += 1
        return original(adapter, request, **kwargs)

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield lambda: sent[0]
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]


def validated_orders(n: int, rounds: int) -> dict[str, tuple[list[float], float]]:
    """``place_order`` with every check on, with and without the trade-update stream, against
    alpaca-py's ``submit_order``: ms per resting limit order, and requests per order."""
    import tempfile

    import trading_kit as tk

    exchange = Exchange(
        SimulatedMarket(), ManualClock(OPEN + pd.Timedelta(minutes=30)), partial_fills=False
    )
    results: dict[str, tuple[list[float], float]] = {}
    with (
        start_exchange(exchange) as running,
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
    ):
        client = TradingClient("bench", "bench", paper=True, url_override=running.url)
        kit = tk.connect(
            "bench", "bench", trading_url=running.url, data_url=running.url,
            cache_path=f"{tmp}/cache.sqlite",
        )  # fmt: skip
        # No stream: every check reads over REST (a kit of its own, without streams).
        rest = tk.connect(
            "bench", "bench", trading_url=running.url, data_url=running.url,
            cache_path=f"{tmp}/rest-cache.sqlite",
        ).orders  # fmt: skip
        kit.stream.trade_updates()  # the kit's orders now follow the trade-update stream
        quotes = kit.stream.quotes("AAPL")  # and price their checks from the quote stream
        exchange.advance("5s")  # (the manual clock streams a quote once it moves)
        while quotes.latest("AAPL") is None:
            time.sleep(0.001)
        order = {
            "qty": 1,
            "side": "buy",
            "type": "limit",
            "limit_price": 10,
            "time_in_force": "gtc",
        }

        def alpaca_py(i: int) -> object:
            return client.submit_order(
                LimitOrderRequest(
                    symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
                    limit_price=10,
                )
            )  # fmt: skip

        paths = {
            "alpaca-py submit_order": alpaca_py,
            "place_order, REST checks": lambda i: rest.place_order("AAPL", **order),
            "place_order, live checks": lambda i: kit.orders.place_order("AAPL", **order),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        sent = dict.fromkeys(paths, 0)
        for _ in range(rounds):  # blocks interleaved, so load on the machine hits all alike
            for name, call in paths.items():
                with requests_sent_by_this_thread() as count:
                    samples[name] += timed(n, call)
                sent[name] += count()
        assert kit.orders.live.trusted, "the live account should be in use"
        for name in paths:
            requests_per_order = sent[name] / (n * rounds)
            results[name] = (samples[name], requests_per_order)
        kit.stream.close()
        kit.orders.journal.flush()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--resting", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    print(f"(a) order round trip over loopback, {args.orders} orders")
    print(f"{'path':<28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, samples in round_trips(args.orders).items():
        p50, p99, mean = percentiles(samples)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}{mean:>10.2f}")

    print()
    print(f"(b) cost of resting orders: 1 vs {args.resting} in the book")
    one = with_resting(1, 200)
    many = with_resting(args.resting, 200)
    print(f"{'measure':<28}{'1':>10}{args.resting:>10}{'ratio':>10}")
    for name in one:
        print(f"{name:<28}{one[name]:>10.2f}{many[name]:>10.2f}{many[name] / one[name]:>10.2f}")

    print()
    print(
        f"(c) concurrent clients, server in its own process (realtime), {args.seconds:.0f} s each"
    )
    print(
        f"{'clients':<10}{'req/s':>10}{'p50 ms':>10}{'5xx':>6}{'clock p50 ms':>14}"
        f"{'server CPU ms/req':>19}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        process, url = _spawn_server(Path(tmp) / "bench.sqlite")
        try:
            for clients in (1, 8, 32, 64):
                r = concurrency(url, clients, args.seconds, process.pid)
                print(
                    f"{clients:<10}{r['requests/s']:>10.0f}{r['p50 ms']:>10.2f}"
                    f"{r['5xx']:>6.0f}{r['clock p50 ms']:>14.2f}"
                    f"{r['server CPU ms/request']:>19.2f}"
                )
        finally:
            process.terminate()
            process.wait(10)

    seconds, cpu, fills, resting = session_throughput(args.orders)
    print()
    print(f"(d) engine, {resting} resting orders on {len(SYMBOLS)} symbols, 390 one-minute steps")
    print(f"{'session seconds':<28}{seconds:>10.3f}")
    print(f"{'session CPU seconds':<28}{cpu:>10.3f}")
    print(f"{'fills':<28}{fills:>10d}")
    print(f"{'orders matched / s':<28}{fills / seconds:>10.0f}")
    print(f"{'resting orders x steps / s':<28}{resting * 390 / seconds:>10.0f}")

    print()
    print("(e) validated orders, every check on: 200 resting limit orders a block, 3 rounds")
    print(f"{'path':<28}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'x alpaca-py':>13}")
    validated = validated_orders(200, 3)
    anchor = percentiles(validated["alpaca-py submit_order"][0])[0]
    for name, (samples, per_order) in validated.items():
        p50, p99, _ = percentiles(samples)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}{per_order:>10.2f}{p50 / anchor:>13.2f}")
    live = percentiles(validated["place_order, live checks"][0])[0] / anchor
    print(f"target: live place_order p50 <= 2x alpaca-py: {'met' if live <= 2 else 'MISSED'}")
    print(f"\n(pid {os.getpid()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
