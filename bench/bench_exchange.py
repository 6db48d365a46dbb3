"""Benchmark the local exchange: order round trips over HTTP, and engine throughput in process.

    python bench/bench_exchange.py [--orders 1000]

(a) 1,000 resting limit orders through alpaca-py's TradingClient against the local server
    (p50/p99 per round trip), and the same through a raw ``requests.Session``;
(b) 1,000 resting orders across 10 symbols while a manual clock advances a full session
    minute by minute (390 steps): total seconds and orders matched per second.
(c) ``Orders.place_order`` with every pre-trade check on, over REST (no stream) and with
    the trade-update and quote streams open (checks read the live account), against
    alpaca-py's ``submit_order``: 200 resting limit orders per block, blocks interleaved.
Targets: p50 round trip < 5 ms; full session < 1 s; live place_order p50 <= 2x alpaca-py
with one request per order.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pandas as pd
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest

from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange

OPEN = pd.Timestamp("2024-03-05T14:30:00Z")  # 09:30 ET
SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "SPY", "QQQ", "JPM"]
HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


def timed(n: int, call: Callable[[int], object]) -> list[float]:
    call(-1)  # warm up the connection
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def round_trips(n: int) -> dict[str, list[float]]:
    market = SimulatedMarket()
    exchange = Exchange(market, ManualClock(OPEN + pd.Timedelta(minutes=30)), partial_fills=False)
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


def session_throughput(n_orders: int) -> tuple[float, int, int]:
    """Seconds to advance 390 minutes with ``n_orders`` resting orders; fills; steps."""
    market = SimulatedMarket()
    exchange = Exchange(market, ManualClock(OPEN), partial_fills=True, seed=1)
    engine = exchange.engine
    for i in range(n_orders):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = market.trade_at(symbol, OPEN)["price"]
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
    opened = len(engine._open)
    fills_before = len(engine.activities)
    start = time.perf_counter()
    for _ in range(390):
        exchange.advance("1min")
    seconds = time.perf_counter() - start
    return seconds, len(engine.activities) - fills_before, opened


def validated_orders(n: int, rounds: int) -> dict[str, tuple[list[float], float]]:
    """``place_order`` with every check on, with and without the trade-update stream, against
    alpaca-py's ``submit_order``: ms per resting limit order, and requests per order."""
    import tempfile

    import trading_kit as tk
    from trading_kit.orders import Orders

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
        rest = Orders(stack=kit.orders._stack)  # no stream: every check reads over REST
        kit.stream.trade_updates()  # the kit's orders now follow the trade-update stream
        quotes = kit.stream.quotes("AAPL")  # and price their checks from the quote stream
        exchange.advance("5s")  # (the manual clock streams a quote once it moves)
        while quotes.latest("AAPL") is None:
            time.sleep(0.001)
        limiter = kit.orders._stack.limiter
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
            "alpaca-py submit_order": (alpaca_py, None),
            "place_order, REST checks": (lambda i: rest.place_order("AAPL", **order), rest),
            "place_order, live checks": (lambda i: kit.orders.place_order("AAPL", **order), kit.orders),
        }  # fmt: skip
        samples: dict[str, list[float]] = {name: [] for name in paths}
        sent: dict[str, list[int]] = {name: [] for name in paths}
        for _ in range(rounds):  # blocks interleaved, so load on the machine hits all alike
            for name, (call, orders) in paths.items():
                before = limiter.status().remaining
                samples[name] += timed(n, call)
                if orders is not None:
                    sent[name].append(before - limiter.status().remaining)
        assert kit.orders.live.trusted, "the live account should be in use"
        for name in paths:
            requests_per_order = sum(sent[name]) / (n * rounds) if sent[name] else 1.0
            results[name] = (samples[name], requests_per_order)
        kit.stream.close()
        kit.orders.journal.flush()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()

    print(f"(a) order round trip over loopback, {args.orders} orders")
    print(f"{'path':<28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, samples in round_trips(args.orders).items():
        p50, p99, mean = percentiles(samples)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}{mean:>10.2f}")

    seconds, fills, resting = session_throughput(args.orders)
    print()
    print(f"(b) engine, {resting} resting orders on {len(SYMBOLS)} symbols, 390 one-minute steps")
    print(f"{'session seconds':<28}{seconds:>10.3f}")
    print(f"{'fills':<28}{fills:>10d}")
    print(f"{'orders matched / s':<28}{fills / seconds:>10.0f}")
    print(f"{'resting orders x steps / s':<28}{resting * 390 / seconds:>10.0f}")

    print()
    print("(c) validated orders, every check on: 200 resting limit orders a block, 3 rounds")
    print(f"{'path':<28}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'x alpaca-py':>13}")
    validated = validated_orders(200, 3)
    anchor = percentiles(validated["alpaca-py submit_order"][0])[0]
    for name, (samples, per_order) in validated.items():
        p50, p99, _ = percentiles(samples)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}{per_order:>10.2f}{p50 / anchor:>13.2f}")
    live = percentiles(validated["place_order, live checks"][0])[0] / anchor
    print(f"target: live place_order p50 <= 2x alpaca-py: {'met' if live <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
