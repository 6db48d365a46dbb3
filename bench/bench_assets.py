"""Benchmark ``GET /v2/assets`` over the whole universe (about 5,300 assets).

    python bench/bench_assets.py [--repeat 20]

Compares, in the same run, the raw floor (``requests`` + ``orjson``: the server's answer
and the transfer) with alpaca-py's ``TradingClient.get_all_assets`` (the same answer
parsed into pydantic models), and a filtered listing (exchange=NYSE). Reported as
medians and as the ratio to the floor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetExchange
from alpaca.trading.requests import GetAssetsRequest

from trading_kit.exchange import Exchange, ManualClock, start_exchange

HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}


def median_ms(repeat: int, call: Callable[[], object]) -> float:
    call()  # warm up: the universe is rendered on first use
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    exchange = Exchange(clock=ManualClock("2024-03-05T15:00:00Z"))
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        client = TradingClient("bench", "bench", paper=True, url_override=running.url)
        count = len(client.get_all_assets())
        floor = median_ms(
            args.repeat, lambda: orjson.loads(session.get(running.url + "/v2/assets").content)
        )
        nyse = median_ms(
            args.repeat,
            lambda: orjson.loads(
                session.get(running.url + "/v2/assets", params={"exchange": "NYSE"}).content
            ),
        )
        alpaca = median_ms(args.repeat, client.get_all_assets)
        alpaca_nyse = median_ms(
            args.repeat,
            lambda: client.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NYSE)),
        )
    print(f"GET /v2/assets, {count} assets, median of {args.repeat}")
    print(f"{'path':40s}{'ms':>10s}{'x floor':>10s}")
    for name, ms in (
        ("requests + orjson (floor)", floor),
        ("requests + orjson, exchange=NYSE", nyse),
        ("alpaca-py get_all_assets", alpaca),
        ("alpaca-py get_all_assets(NYSE)", alpaca_nyse),
    ):
        print(f"{name:40s}{ms:10.1f}{ms / floor:10.2f}")


if __name__ == "__main__":
    main()
