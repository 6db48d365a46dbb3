"""Benchmark the local exchange's market data: the speed the tests no longer assert.

    python bench/bench_exchange_data.py [--repeat 5]

(a) 100,000 one-minute bars in ten 10,000-bar pages over HTTP, with a raw
    ``requests.Session`` and with alpaca-py's ``StockHistoricalDataClient`` (the anchor:
    what a researcher would otherwise run), same server, same run.
(b) The simulated market: one fresh day of prices in 2024 and in 2090 (the cost must
    not grow with the epoch: the ratio should be about 1), and five months of minutes.
Targets: (a) raw under 1.5 s, alpaca-py / raw reported; (b) a fresh day under 50 ms,
2090 / 2024 about 1, five months of minutes under 0.5 s. Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pandas as pd
import requests
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.calendar import schedule

NOW = pd.Timestamp("2024-03-05T15:00:00Z")
HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}


def median_seconds(repeat: int, run: Callable[[], object]) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def ten_pages(url: str) -> int:
    session, total, token = requests.Session(), 0, None
    params = {"symbols": "NVDA", "timeframe": "1Min", "start": "2023-06-01", "end": "2024-01-01"}
    for _ in range(10):
        extra = {"page_token": token} if token else {}
        body = session.get(
            f"{url}/v2/stocks/bars", params={**params, "limit": 10_000, **extra}, headers=HEADERS
        ).json()
        total += len(body["bars"]["NVDA"])
        token = body["next_page_token"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    schedule()  # the NYSE calendar loads once per process; not part of any timing

    exchange = Exchange(SimulatedMarket(), ManualClock(NOW))
    with start_exchange(exchange) as running:
        assert ten_pages(running.url) == 100_000  # and warm the market's cache
        raw = median_seconds(args.repeat, lambda: ten_pages(running.url))
        client = StockHistoricalDataClient("bench", "bench", url_override=running.url)
        request = StockBarsRequest(
            symbol_or_symbols="NVDA",
            timeframe=TimeFrame.Minute,
            start=pd.Timestamp("2023-06-01", tz="UTC"),
            end=pd.Timestamp("2024-01-01", tz="UTC"),
            limit=100_000,
        )
        anchor = median_seconds(args.repeat, lambda: client.get_stock_bars(request))
    exchange.close()
    print(f"100,000 minute bars in ten pages over HTTP (median of {args.repeat})")
    print(f"  raw requests.Session        {raw:6.2f} s   (target < 1.5 s)")
    print(f"  alpaca-py (anchor)          {anchor:6.2f} s   alpaca-py / raw = {anchor / raw:.2f}")

    def fresh_day(day: str) -> float:
        start = pd.Timestamp(day, tz="UTC")
        return median_seconds(
            args.repeat,
            lambda: SimulatedMarket().ticks("AAPL", start, start + pd.Timedelta(days=1)),
        )

    now, far = fresh_day("2024-03-05"), fresh_day("2090-03-01")
    months = median_seconds(
        args.repeat,
        lambda: SimulatedMarket().bars(
            "AAPL",
            "1Min",
            pd.Timestamp("2023-01-01", tz="UTC"),
            pd.Timestamp("2023-06-01", tz="UTC"),
        ),
    )
    print("Simulated market, a fresh SimulatedMarket each run")
    print(f"  one day in 2024             {now * 1000:6.1f} ms  (target < 50 ms)")
    print(f"  one day in 2090             {far * 1000:6.1f} ms  2090 / 2024 = {far / now:.2f}")
    print(f"  five months of minute bars  {months * 1000:6.1f} ms  (target < 500 ms)")


if __name__ == "__main__":
    main()
