"""md.download at a scaled budget: share of the budget used, peak memory, rows/s, read-back speed.

The stand-in (``tests/stub_alpaca.py``) runs in its own process, enforcing a budget of
200 requests per ``--window`` seconds (Alpaca: per 60 s; scaled so the run is short but
the budget still binds: 200 per 20 s is 10 pages of 10,000 bars a second, below what
this 2-core machine can serve, fetch, decode and write together, about 15 a second). Each download runs as ``python -m trading_kit download`` in its own
process, with the client's budget scaled the same way, so its peak RSS is measured alone
(``wait4``). One month of one-minute bars is 43,200 bars per symbol on the stand-in
(it trades around the clock).

Reported per run: pages, rows, seconds, rows/s written, the share of the budget in use
(the mean count of requests in every full rolling window, over the limit), 429s
answered (must be 0), peak RSS. Then reading the largest dataset back: Polars
``scan_parquet`` (all, and one symbol-week pushed down) against ``pd.read_parquet``.

    python bench/bench_bulk_download.py [--window 20] [--symbols 25,100,500] [--days 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import polars as pl
import requests

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 200


def start_stand_in(window: float) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "tests.stub_alpaca", "--enforce-rate"]
    command += [
        "--rate-limit",
        str(LIMIT),
        "--window",
        str(window),
        "--now",
        "2024-12-31T00:00:00Z",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().strip()  # type: ignore[union-attr]
    return process, url


def symbols_for(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(count)]


def budget_share(arrivals: list[float], window: float) -> float:
    """Mean number of requests in a rolling window, over the limit, across the run's full
    windows after the first (the first is a burst of the whole budget)."""
    times = np.sort(np.array(arrivals))
    if times[-1] - times[0] < 2 * window:
        return float("nan")
    probes = np.linspace(times[0] + window, times[-1], 2000)
    counts = np.searchsorted(times, probes, "right") - np.searchsorted(
        times, probes - window, "right"
    )
    return float(counts.mean() / LIMIT)


def download(url: str, path: Path, symbols: list[str], days: int, window: float) -> dict:
    listing = path.parent / f"{path.name}.symbols"
    listing.write_text("\n".join(symbols))
    end = pd.Timestamp("2024-01-01") + pd.Timedelta(days=days) - pd.Timedelta(minutes=1)
    command = [sys.executable, "-m", "trading_kit", "download", str(path)]
    command += ["--symbols-file", str(listing), "--timeframe", "1Min", "--start", "2024-01-01"]
    command += ["--end", end.isoformat() + "Z", "--data-url", url, "--no-progress"]
    command += ["--rate-limit", str(LIMIT), "--rate-window", str(window), "--workers", "4"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env["TRADING_KIT_CACHE"] = str(path.parent / "cache.sqlite")
    before = orjson.loads(requests.get(f"{url}/stats").content)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    report = process.stdout.read().strip()  # type: ignore[union-attr]
    assert os.waitstatus_to_exitcode(status) == 0, report
    after = orjson.loads(requests.get(f"{url}/stats").content)
    arrivals = after["arrivals"][len(before["arrivals"]) :]
    rows = len(symbols) * days * 1440
    stored = pl.scan_parquet(f"{path}/**/*.parquet").select(pl.len()).collect().item()
    assert stored == rows, (stored, rows)
    return {
        "symbols": len(symbols),
        "pages": len(arrivals),
        "rows": rows,
        "seconds": seconds,
        "rows/s": rows / seconds,
        "budget share": budget_share(arrivals, window),
        "429s": after["throttled"] - before["throttled"],
        "peak RSS MB": usage.ru_maxrss / 1024,
    }


def read_back(path: Path, runs: int = 3) -> dict:
    def timed(call) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    glob = f"{path}/**/*.parquet"
    one = ("AAB", pd.Timestamp("2024-01-08", tz="UTC"), pd.Timestamp("2024-01-15", tz="UTC"))
    return {
        "all rows: pd.read_parquet": timed(lambda: pd.read_parquet(path)),
        "all rows: polars scan_parquet": timed(
            lambda: pl.scan_parquet(glob, hive_partitioning=True).collect()
        ),
        "one symbol-week: pd.read_parquet(filters)": timed(
            lambda: pd.read_parquet(
                path,
                filters=[
                    ("symbol", "=", one[0]),
                    ("timestamp", ">=", one[1]),
                    ("timestamp", "<", one[2]),
                ],
            )
        ),
        "one symbol-week: polars (pushed down)": timed(
            lambda: (
                pl.scan_parquet(glob, hive_partitioning=True)
                .filter(
                    pl.col("symbol") == one[0],
                    pl.col("timestamp").is_between(one[1], one[2], "left"),
                )
                .collect()
            )
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds per 200 requests")
    parser.add_argument("--symbols", default="25,100,500")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in map(int, args.symbols.split(",")):
            stand_in, url = start_stand_in(args.window)  # a fresh budget for each run
            try:
                path = Path(tmp) / f"universe{count}"
                results.append(download(url, path, symbols_for(count), args.days, args.window))
            finally:
                stand_in.terminate()
                stand_in.wait()
            print(pd.DataFrame(results).round(3).to_string(index=False), flush=True)
        reading = read_back(path)
    print(
        f"\nbudget: {LIMIT} requests per {args.window:g} s (Alpaca's 200/min scaled by "
        f"{60 / args.window:g}); 1 month of 1Min bars = {args.days * 1440:,} bars per symbol"
    )
    print(pd.DataFrame(results).round(3).to_string(index=False))
    print(f"\nreading the {results[-1]['rows']:,}-row dataset back (median of 3):")
    base = reading["all rows: pd.read_parquet"]
    for name, seconds in reading.items():
        print(f"  {name:45} {seconds:7.3f} s  ({seconds / base:.2f}x pd.read_parquet of all)")


if __name__ == "__main__":
    main()
