"""get_bars against alpaca-py and against the raw floor, everything from a loopback stand-in.

Part 1, 100,000 one-minute bars (10 pages): alpaca-py's ``get_stock_bars(...).df`` against
our cold fetch (empty cache), warm fetch (same process) and warm fetch in a new process.

Part 2, 1,000,000 bars (100 pages of 10,000), at 1 symbol and at 500 symbols per request:
the floor is what anyone would write with no library at all, ``requests`` + ``orjson`` +
a DataFrame (in this process, imports done). Against it: our cold fetch (network and
decode; the decoded history is then stored by a background thread, timed separately),
our warm fetch in a *new process* (a fresh interpreter
that has only the files on disk; timed from the call, imports done), and the same in a
new process through the JSON (HTTP) cache, the path history took before the decoded store
(adjusted bars still take it). Targets: warm in a new process ≤ 0.2× the floor, cold
≤ 1.1× the floor. Floor and cold runs alternate, so a busy moment of a shared machine
falls on both; ratios are given in wall time and in CPU time of the measured process
(which a busy machine disturbs less).

Part 3: what the SQLite HTTP cache adds per 10,000-bar page when it keeps a response.

The stand-in serves pre-encoded bodies (``memoise``), so the server's cost is the same
small constant for every path. Medians of ``--runs``.

    python bench/bench_market_data.py [--runs 3] [--only-two]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402
from alpaca.data.historical import StockHistoricalDataClient  # noqa: E402
from alpaca.data.requests import StockBarsRequest  # noqa: E402
from alpaca.data.timeframe import TimeFrame  # noqa: E402

from tests.stub_alpaca import EPOCH, StubServer  # noqa: E402
from trading_kit import MarketData  # noqa: E402
from trading_kit.config import Settings  # noqa: E402
from trading_kit.http import HttpStack  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"
COLUMNS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
COLUMNS |= {"n": "trade_count", "vw": "vwap"}


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU: this process, every thread, the stand-in's too)."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_time(call: Callable[[], object], runs: int, before: Callable[[], object] = lambda: None):
    times = []
    for _ in range(runs):
        before()
        times.append(timed(call)[0])
    return statistics.median(times)


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and median CPU seconds of (wall, cpu) samples."""
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def floor(url: str, symbols: list[str], start: str, end: str) -> pd.DataFrame:
    """requests + orjson + DataFrame: every page, then one frame in get_bars's layout."""
    records: list[dict] = []
    names: list[str] = []
    token = None
    with requests.Session() as session:
        session.headers.update({"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
        while True:
            query = {"symbols": ",".join(symbols), "timeframe": "1Min", "start": start}
            query |= {"end": end, "limit": 10_000, "adjustment": "raw"}
            if token:
                query["page_token"] = token
            body = orjson.loads(session.get(f"{url}/v2/stocks/bars", params=query).content)
            for symbol, bars in body["bars"].items():
                records.extend(bars)
                names.extend([symbol] * len(bars))
            token = body.get("next_page_token")
            if not token:
                break
    frame = pd.DataFrame.from_records(records).rename(columns=COLUMNS)
    frame.insert(0, "timestamp", pd.to_datetime(frame.pop("t"), utc=True))
    frame.insert(0, "symbol", names)
    return frame.set_index(["symbol", "timestamp"])


NEW_PROCESS = """
import json, sys, time
from trading_kit import MarketData
md = MarketData({key!r}, {secret!r}, data_url={url!r}, trading_url={url!r}, cache_path={cache!r})
symbols, start, end, adjustment = {symbols!r}, {start!r}, {end!r}, {adjustment!r}
wall, cpu = time.perf_counter(), time.process_time()
df = md.get_bars(symbols, "1Min", start, end, adjustment=adjustment, progress=False)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({{"wall": wall, "cpu": cpu, "rows": len(df), "from_cache": df.attrs["from_cache"]}}))
"""


def in_new_process(
    url: str, cache: Path, symbols, start: str, end: str, adjustment: str, rows: int
) -> tuple[float, float]:
    """Wall and CPU seconds of one get_bars call in a fresh interpreter that has only the
    cache files."""
    script = NEW_PROCESS.format(
        key=KEY, secret=SECRET, url=url, cache=str(cache), symbols=symbols, start=start, end=end,
        adjustment=adjustment,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout)
    assert said["from_cache"] is True and said["rows"] == rows, said
    return said["wall"], said["cpu"]


def symbols_for(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(count)]


def part_one(stub: StubServer, tmp: Path, runs: int) -> None:
    start, end = EPOCH, EPOCH + dt.timedelta(minutes=100_000 - 1)
    alpaca = StockHistoricalDataClient(KEY, SECRET, url_override=stub.url)
    request = StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=start, end=end
    )
    settings = Settings(
        KEY, SECRET, data_url=stub.url, trading_url=stub.url, cache_path=tmp / "one.sqlite"
    )
    md = MarketData(stack=HttpStack(settings))

    def ours():
        return md.get_bars("AAPL", "1Min", start, end, progress=False)

    reference = alpaca.get_stock_bars(request).df
    md.cache.clear()
    frame = ours()
    assert len(frame) == len(reference) == 100_000
    assert (frame["close"].to_numpy() == reference["close"].to_numpy()).all()
    alpaca_s = median_time(lambda: alpaca.get_stock_bars(request).df, runs)
    cold_s = median_time(ours, runs, before=md.cache.clear)
    md.cache.info()  # the decoded copy is written behind the call: wait for it
    warm_s = median_time(ours, runs)
    text = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    md._stack.close()
    new_s = statistics.median(
        in_new_process(
            stub.url, tmp / "one.sqlite", "AAPL", text(start), text(end), "raw", 100_000
        )[0]
        for _ in range(runs)
    )
    print(f"Part 1: 100,000 1Min bars over 10 pages from 127.0.0.1, median of {runs} runs")
    print(f"  {'alpaca-py get_stock_bars(...).df':48} {alpaca_s:7.3f} s")
    print(f"  {'trading_kit get_bars, cold (empty cache)':48} {cold_s:7.3f} s")
    print(f"  {'trading_kit get_bars, warm (same process)':48} {warm_s:7.3f} s")
    print(f"  {'trading_kit get_bars, warm in a new process':48} {new_s:7.3f} s")
    print(f"  cold speed-up over alpaca-py: {alpaca_s / cold_s:.1f}x (target >= 4x)")
    print(f"  warm speed-up over cold:      {cold_s / warm_s:.1f}x (target >= 2x)\n")


def part_two(stub: StubServer, tmp: Path, runs: int, with_json: bool = True) -> list[dict]:
    rows = []
    for count in (1, 500):
        symbols = symbols_for(count)
        minutes = 1_000_000 // count
        start = EPOCH.isoformat().replace("+00:00", "Z")
        end = (EPOCH + dt.timedelta(minutes=minutes - 1)).isoformat().replace("+00:00", "Z")
        cache = tmp / f"two-{count}.sqlite"
        md = MarketData(
            stack=HttpStack(
                Settings(KEY, SECRET, data_url=stub.url, trading_url=stub.url, cache_path=cache)
            )
        )

        def ours(
            adjustment: str = "raw", md: MarketData = md, symbols=symbols, start=start, end=end
        ):
            return md.get_bars(symbols, "1Min", start, end, adjustment=adjustment, progress=False)

        expected = floor(stub.url, symbols, start, end)  # also warms the stand-in's bodies
        md.cache.clear()
        got = ours()
        assert len(got) == len(expected) == 1_000_000
        assert (got["close"].to_numpy() == expected["close"].to_numpy()).all()
        ours("split")  # the JSON path's cache, for the comparison
        floor_runs, cold_runs, stored = [], [], []
        for _ in range(runs):  # interleaved, so a busy moment of the machine hits both
            floor_runs.append(timed(lambda s=symbols, a=start, b=end: floor(stub.url, s, a, b)))
            md.cache.clear()
            started = time.perf_counter()
            cold_runs.append(timed(ours))
            md._history.flush()  # the decoded copy, written behind the call
            stored.append(time.perf_counter() - started)
        (floor_s, floor_cpu), (cold_s, cold_cpu) = medians(floor_runs), medians(cold_runs)
        ours("split")
        md.cache.info()
        md._stack.close()
        warm_s, warm_cpu = medians(
            [
                in_new_process(stub.url, cache, symbols, start, end, "raw", 1_000_000)
                for _ in range(runs)
            ]
        )
        json_s, _ = medians(
            [
                in_new_process(stub.url, cache, symbols, start, end, "split", 1_000_000)
                for _ in range(runs)
            ]
            if with_json
            else [(float("nan"), float("nan"))]
        )
        rows.append(
            {
                "symbols per request": count,
                "floor s": floor_s,
                "cold s": cold_s,
                "cold / floor": cold_s / floor_s,
                "cold / floor (CPU)": cold_cpu / floor_cpu,
                "cold + write behind s": statistics.median(stored),
                "warm, new process s": warm_s,
                "warm new / floor": warm_s / floor_s,
                "warm new / floor (CPU)": warm_cpu / floor_cpu,
                "JSON cache, new process s": json_s,
                "JSON new / floor": json_s / floor_s,
            }
        )
    return rows


def part_three(stub: StubServer, tmp: Path) -> tuple[float, float]:
    stack = HttpStack(
        Settings(
            KEY, SECRET, data_url=stub.url, trading_url=stub.url, cache_path=tmp / "three.sqlite"
        )
    )
    url = f"{stub.url}/v2/stocks/bars"

    def pages(use_cache: bool) -> float:
        stack.cache.clear()
        started = time.perf_counter()
        for i in range(50):
            token = base64.b64encode(str(i * 10_000).encode()).decode()
            query = {"symbols": "AAPL", "timeframe": "1Min", "start": "2024-01-01T00:00:00Z"}
            stack.request(
                "GET",
                url,
                params=query | {"limit": 10_000, "page_token": token},
                use_cache=use_cache,
            )
        return (time.perf_counter() - started) / 50 * 1000

    pages(False)  # the stand-in encodes each body once
    plain, kept = (
        statistics.median(pages(False) for _ in range(3)),
        statistics.median(pages(True) for _ in range(3)),
    )
    stack.close()
    return plain, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only-two",
        action="store_true",
        help="part 2 only, without the JSON-cache comparison (the targets, quickly)",
    )
    args = parser.parse_args()
    runs = args.runs
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)  # a million minutes are history
    with StubServer(memoise=True, now=later) as stub, tempfile.TemporaryDirectory() as tmp:
        if not args.only_two:
            part_one(stub, Path(tmp), runs)
        rows = part_two(stub, Path(tmp), runs, with_json=not args.only_two)
        if not args.only_two:
            plain, kept = part_three(stub, Path(tmp))
    print(f"Part 2: 1,000,000 1Min bars over 100 pages, median of {runs} runs")
    with pd.option_context("display.width", 200):
        print(pd.DataFrame(rows).round(3).T.to_string(header=False))
    print("  targets: warm new / floor <= 0.2, cold / floor <= 1.1")
    print("  (wall time; '(CPU)' compares the CPU time of the measured process, which a busy")
    print("   machine disturbs less: the floor's and the cold call's include the stand-in's")
    print("   thread serving them, the same bodies for both)")
    print("  (cold: until get_bars returns; the decoded copy is then written by a background")
    print("   thread, finished at 'cold + write behind')\n")
    if args.only_two:
        return
    print("Part 3: one 10,000-bar page through the HTTP stack, median of 3 x 50")
    print(f"  not kept (DO_NOT_CACHE)          {plain:6.2f} ms")
    print(
        f"  kept in SQLite (WAL, synchronous=NORMAL) {kept:6.2f} ms  (+{kept - plain:.2f} ms a page)"
    )
    print("  history pages skip this: they are stored decoded, as Parquet, instead")


if __name__ == "__main__":
    main()
