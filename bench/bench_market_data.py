"""get_bars against alpaca-py's get_stock_bars(...).df: 100,000 one-minute bars, 10 pages.

Both clients fetch the same pages from the same loopback stub server (bodies
pre-encoded, so the server's cost is the same small constant for both). Reported:
median wall time over several runs for alpaca-py's ``.df`` path, our cold fetch (empty
cache: network + cache write + frame), our warm fetch (every page from the cache, its
decoded columns remembered in-process), and a warm fetch as a new process sees it
(the SQLite file only: every page read and decoded again).

    python bench/bench_market_data.py [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from tests.stub_alpaca import EPOCH, StubServer
from trading_kit import MarketData
from trading_kit.config import Settings
from trading_kit.http import HttpStack

BARS = 100_000
START = EPOCH
END = EPOCH + dt.timedelta(minutes=BARS - 1)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs

    with StubServer(memoise=True) as stub, tempfile.TemporaryDirectory() as tmp:
        alpaca = StockHistoricalDataClient("bench-key", "bench-secret", url_override=stub.url)
        request = StockBarsRequest(
            symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=START, end=END
        )
        settings = Settings(
            "bench-key",
            "bench-secret",
            data_url=stub.url,
            trading_url=stub.url,
            cache_path=Path(tmp) / "bench.sqlite",
        )
        stack = HttpStack(settings)
        md = MarketData(stack=stack)

        def ours():
            return md.get_bars("AAPL", "1Min", START, END, progress=False)

        def theirs():
            return alpaca.get_stock_bars(request).df

        # Warm-up: the stub encodes each page once; imports and pools settle.
        reference = theirs()
        stack.cache.clear()
        frame = ours()
        assert len(frame) == len(reference) == BARS, (len(frame), len(reference))
        assert (frame["close"].to_numpy() == reference["close"].to_numpy()).all()
        assert len(stub.state.data_requests()) == 20  # 10 pages each

        alpaca_times, cold_times, warm_times, file_times = [], [], [], []
        for _ in range(runs):
            alpaca_times.append(timed(theirs)[0])
            stack.cache.clear()
            seconds, df = timed(ours)
            assert df.attrs["from_cache"] is False
            cold_times.append(seconds)
            seconds, df = timed(ours)
            assert df.attrs["from_cache"] is True
            warm_times.append(seconds)
            stack.memo.clear()  # as after a kernel restart: only the SQLite file is warm
            seconds, df = timed(ours)
            assert df.attrs["from_cache"] is True
            file_times.append(seconds)
        stack.close()

    alpaca_s, cold_s, warm_s, file_s = (
        statistics.median(t) for t in (alpaca_times, cold_times, warm_times, file_times)
    )
    print(f"100,000 1Min bars over 10 pages from 127.0.0.1, median of {runs} runs")
    print(f"{'path':44} {'seconds':>8}")
    print(f"{'alpaca-py get_stock_bars(...).df':44} {alpaca_s:8.3f}")
    print(f"{'trading_kit get_bars, cold (empty cache)':44} {cold_s:8.3f}")
    print(f"{'trading_kit get_bars, warm (all pages cached)':44} {warm_s:8.3f}")
    print(f"{'  warm, new process (SQLite file only)':44} {file_s:8.3f}")
    print(f"cold speed-up over alpaca-py: {alpaca_s / cold_s:.1f}x (target >= 4x)")
    print(f"warm speed-up over cold:      {cold_s / warm_s:.1f}x (target >= 2x)")


if __name__ == "__main__":
    main()
