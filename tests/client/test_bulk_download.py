"""MarketData.download: a resumable, rate-limited bulk download into a Parquet dataset.

Every test talks to the loopback stand-in (``tests/stub_alpaca.py``) with small pages
(``page_cap``), so a few days of minutes make dozens of pages; the budget is scaled
down on both sides where a test is about the pace. The reference for "the same data"
is always ``get_bars`` over the same range from the same server.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.dataframe as dd
import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
import time_machine
from filelock import FileLock

import trading_kit as tk
from tests.stub_alpaca import StubServer
from trading_kit import DatasetError, MarketData, MarketDataError, MissingDataWarning
from trading_kit.http import HttpStack

SYMBOLS = ["AAPL", "AMZN", "GOOG", "META", "MSFT", "NVDA"]
START, END = "2024-01-01", "2024-01-03T23:59:00Z"  # 3 days × 1,440 bars × 6 symbols
PAGE_CAP = 500  # bars a page: 52 pages for the whole range
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_pages(stub: StubServer) -> StubServer:
    stub.state.page_cap = PAGE_CAP
    return stub


@pytest.fixture
def md(make_stack: Callable[..., HttpStack], small_pages: StubServer) -> MarketData:
    return MarketData(stack=make_stack())


def reference(md: MarketData, symbols=SYMBOLS, start=START, end=END) -> pd.DataFrame:
    return md.get_bars(symbols, "1Min", start, end, use_cache=False, progress=False)


def bar_pages(stub: StubServer) -> list[tuple]:
    """Every bars request answered 200, as (symbols, start, end, page_token)."""
    return [
        (s.query["symbols"], s.query["start"], s.query["end"], s.query.get("page_token"))
        for s in stub.state.data_requests("/v2/stocks/bars")
        if s.status == 200
    ]


def manifest(path: Path) -> dict:
    return json.loads((path / "_trading_kit.json").read_text())


def leftovers(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.suffix == ".tmp" or p.parent.name == "_staging"]


# -- the dataset --------------------------------------------------------------------------
def test_download_writes_the_get_bars_frame_as_a_hive_dataset(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    path = tmp_path / "minute"
    report = md.download(SYMBOLS, "1Min", START, END, path, progress=False)
    assert report.pages == len(bar_pages(small_pages)) == 52  # 25,920 bars, 500 a page
    expected = reference(md)
    assert report.rows == len(expected) == 6 * 3 * 1440
    got = tk.open_dataset(path).to_pandas()
    pd.testing.assert_frame_equal(got, expected)
    assert str(got.index.get_level_values("timestamp").tz) == "UTC"
    files = sorted(path.glob("symbol=*/year=*/*.parquet"))
    assert {f.parent.parent.name for f in files} == {f"symbol={s}" for s in SYMBOLS}
    assert {f.parent.name for f in files} == {"year=2024"}
    meta = json.loads(pq.read_schema(files[0]).metadata[b"trading_kit"])
    assert meta == {"format": 1, "timeframe": "1Min", "adjustment": "raw", "feed": None}
    assert manifest(path)["params"] == {"timeframe": "1Min", "adjustment": "raw", "feed": None}
    assert manifest(path)["chains"] == {} and leftovers(path) == []


def test_bulk_pages_bypass_the_http_cache(md: MarketData, tmp_path: Path) -> None:
    md.download(SYMBOLS, "1Min", START, END, tmp_path / "minute", progress=False)
    info = md.cache.info()
    assert (info.entries, info.hits, info.misses) == (0, 0, 0)


def test_a_year_boundary_splits_files_by_utc_year(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    small_pages.now = pd.Timestamp("2025-01-02T12:00:00Z").to_pydatetime()
    path = tmp_path / "daily"
    md.download(
        ["AAPL", "MSFT"], "1Hour", "2024-12-30", "2025-01-01T23:00:00Z", path, progress=False
    )
    years = {p.parent.name for p in path.glob("symbol=AAPL/*/*.parquet")}
    assert years == {"year=2024", "year=2025"}
    expected = md.get_bars(
        ["AAPL", "MSFT"], "1Hour", "2024-12-30", "2025-01-01T23:00:00Z", use_cache=False
    )
    pd.testing.assert_frame_equal(tk.open_dataset(path).to_pandas(), expected)


def test_polars_duckdb_dask_and_pandas_read_the_dataset_directly(
    md: MarketData, tmp_path: Path
) -> None:
    path = tmp_path / "minute"
    md.download(SYMBOLS, "1Min", START, END, path, progress=False)
    expected = reference(md)
    by_polars = pl.scan_parquet(f"{path}/**/*.parquet", hive_partitioning=True).collect()
    by_duckdb = duckdb.sql(
        f"SELECT symbol, count(*) AS n, sum(close) AS s FROM "
        f"read_parquet('{path}/**/*.parquet', hive_partitioning=true) GROUP BY symbol ORDER BY symbol"
    ).fetchall()
    by_dask = dd.read_parquet(path).compute()
    by_pandas = pd.read_parquet(path)
    sums = expected.groupby(level="symbol")["close"].agg(["size", "sum"])
    assert [(s, n, pytest.approx(t)) for s, n, t in by_duckdb] == [
        (s, int(row["size"]), pytest.approx(row["sum"])) for s, row in sums.iterrows()
    ]
    for frame in (by_polars.to_pandas(), by_dask, by_pandas):
        assert len(frame) == len(expected)
        assert frame["close"].sum() == pytest.approx(expected["close"].sum())
        assert set(frame["symbol"].astype(str)) == set(SYMBOLS)


def test_open_dataset_pushes_symbol_and_time_filters_down(md: MarketData, tmp_path: Path) -> None:
    path = tmp_path / "minute"
    md.download(SYMBOLS, "1Min", START, END, path, progress=False)
    ds = tk.open_dataset(path)
    assert ds.symbols == SYMBOLS and ds.params.timeframe == "1Min"
    lazy = ds.scan(["MSFT", "aapl"], start="2024-01-02", end="2024-01-02T12:00:00Z")
    plan = lazy.explain()
    assert "SELECTION" in plan  # the filter is part of the scan, not applied after it
    sources = next(line for line in plan.splitlines() if "SCAN" in line)
    assert "symbol=MSFT" in sources or "symbol=AAPL" in sources
    assert "symbol=NVDA" not in plan  # whole directories pruned
    got = ds.to_pandas(["MSFT", "aapl"], start="2024-01-02", end="2024-01-02T12:00:00Z")
    expected = md.get_bars(
        ["AAPL", "MSFT"], "1Min", "2024-01-02", "2024-01-02T12:00:00Z", use_cache=False
    )
    pd.testing.assert_frame_equal(got, expected)


# -- the pace -----------------------------------------------------------------------------
def test_four_workers_keep_to_the_budget_without_one_429(
    make_stack: Callable[..., HttpStack], small_pages: StubServer, tmp_path: Path
) -> None:
    """The budget (scaled: 12 requests per 0.5 s on both sides) is far below what four
    workers could send, so the limiter sets the pace; the server never says 429."""
    state = small_pages.state
    state.enforce_rate, state.rate_limit, state.window = True, 12, 0.5
    md = MarketData(stack=make_stack(requests_per_minute=12, rate_window_seconds=0.5))
    report = md.download(SYMBOLS, "1Min", START, END, tmp_path / "m", workers=4, progress=False)
    assert state.throttled == 0
    assert all(s.status == 200 for s in state.seen)
    arrivals = sorted(s.at for s in state.seen)
    assert report.pages == len(arrivals) >= 52
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) // 12 - 1) * 0.5  # the budget did bind
    pd.testing.assert_frame_equal(tk.open_dataset(tmp_path / "m").to_pandas(), reference(md))


def test_random_faults_are_ridden_out_and_nothing_is_stored_twice(
    make_stack: Callable[..., HttpStack], small_pages: StubServer, tmp_path: Path
) -> None:
    small_pages.state.random_faults = 0.15  # 500, 503, dropped connections, cut-off bodies
    md = MarketData(stack=make_stack(max_attempts=8))
    md.download(SYMBOLS, "1Min", START, END, tmp_path / "m", progress=False)
    faults = [s for s in small_pages.state.seen if s.status != 200]
    assert len(faults) >= 3  # the faults did happen
    small_pages.state.random_faults = 0.0
    got = tk.open_dataset(tmp_path / "m").to_pandas()
    assert got.index.is_unique
    pd.testing.assert_frame_equal(got, reference(md))


def test_progress_bar_shows_pages_rows_rate_and_eta(
    md: MarketData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md.download(SYMBOLS, "1Min", START, END, tmp_path / "a", progress=True)
    shown = capsys.readouterr().err
    assert "pages" in shown and "25,920 bars" in shown and "rate " in shown and "eta " in shown
    md.download(SYMBOLS, "1Min", START, END, tmp_path / "b", progress=False)
    assert capsys.readouterr().err == ""


# -- resuming -----------------------------------------------------------------------------
def test_a_failed_download_keeps_its_pages_and_the_same_call_continues(
    make_stack: Callable[..., HttpStack], small_pages: StubServer, tmp_path: Path
) -> None:
    md = MarketData(stack=make_stack(max_attempts=2))
    path = tmp_path / "m"
    small_pages.state.outage_after = 20  # the server falls over for good after 20 pages
    with pytest.raises(MarketDataError, match="Run the same download again to continue") as failed:
        md.download(SYMBOLS, "1Min", START, END, path, workers=1, progress=False)
    assert failed.value.status == 503
    (chain,) = manifest(path)["chains"].values()
    assert chain["pages"] == 20 and chain["token"] and leftovers(path) == []
    assert len(tk.open_dataset(path).scan().collect()) == 20 * PAGE_CAP
    before = bar_pages(small_pages)
    small_pages.state.outage_after = None
    md.download(SYMBOLS, "1Min", START, END, path, workers=1, progress=False)
    after = bar_pages(small_pages)[len(before) :]
    assert not set(before) & set(after)  # no page fetched twice
    assert len(before) + len(after) == 52  # exactly the pages a clean download needs
    pd.testing.assert_frame_equal(tk.open_dataset(path).to_pandas(), reference(md))


def cli(path: Path, stub: StubServer, *extra: str, workers: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trading_kit",
        "download",
        str(path),
        *SYMBOLS,
        "--timeframe",
        "1Min",
        "--start",
        START,
        "--end",
        END,
        "--data-url",
        stub.url,
        "--workers",
        str(workers),
        "--no-progress",
        *extra,
    ]


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env["TRADING_KIT_CACHE"] = str(tmp_path / "cli-cache.sqlite")
    env["PYTHONPATH"] = str(REPO)
    yield env


def wait_for(condition: Callable[[], bool], deadline: float = 60.0) -> None:
    until = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > until:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.mark.slow
def test_killed_at_random_points_then_resumed_equals_a_clean_download(
    md: MarketData, small_pages: StubServer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """SIGKILL the download process five times at random moments (mid-request, mid-page,
    mid-file, mid-manifest), then let it finish: the dataset is exactly a clean one, and
    only pages in flight at a kill were fetched again."""
    path, kills, workers = tmp_path / "m", 5, 2
    chooser = random.Random(13)
    for _ in range(kills):
        seen = len(small_pages.state.seen)
        process = subprocess.Popen(cli(path, small_pages, workers=workers), env=cli_env)
        target = seen + chooser.randint(2, 9)
        try:
            wait_for(
                lambda t=target, p=process: len(small_pages.state.seen) >= t or p.poll() is not None
            )
            time.sleep(chooser.uniform(0, 0.02))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL  # killed mid-download, not finished
    finished = subprocess.run(cli(path, small_pages, workers=workers), env=cli_env, timeout=120)
    assert finished.returncode == 0
    answered = Counter(bar_pages(small_pages))
    refetched = sum(n - 1 for n in answered.values())
    assert refetched <= kills * workers
    assert manifest(path)["chains"] == {} and leftovers(path) == []
    pd.testing.assert_frame_equal(tk.open_dataset(path).to_pandas(), reference(md))


def test_update_fetches_only_the_bars_after_the_last_stored_one(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    """No end: up to now (the last complete bar). A day later the update asks only for
    what came after the last stored bar of each symbol (clocks travel together)."""
    path = tmp_path / "m"
    for day in ("2024-01-02", "2024-01-03"):
        now = pd.Timestamp(f"{day}T12:00:30Z").to_pydatetime()
        small_pages.now = now
        asked = len(small_pages.state.seen)
        with time_machine.travel(now, tick=True):
            if day == "2024-01-02":
                md.download(SYMBOLS, "1Min", START, None, path, progress=False)
            else:
                opened = tk.open_dataset(path)
                report = md.download(path=path, progress=False)  # same symbols and parameters
    update = small_pages.state.data_requests()[asked:]
    assert {s.query["start"] for s in update} == {"2024-01-02T11:59:00.000001Z"}
    assert report.rows == 6 * 1440
    stored = opened.to_pandas()  # a dataset opened before the update sees it
    assert stored.index.get_level_values("timestamp").max() == pd.Timestamp("2024-01-03T11:59Z")
    assert set(opened.coverage()["end"]) == {pd.Timestamp("2024-01-03T11:59Z")}
    pd.testing.assert_frame_equal(
        stored, md.get_bars(SYMBOLS, "1Min", START, "2024-01-03T11:59:00Z", use_cache=False)
    )


def test_a_wider_range_fetches_only_what_is_missing(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    path = tmp_path / "m"
    md.download(
        ["AAPL", "MSFT"], "1Min", "2024-01-02", "2024-01-02T23:59:00Z", path, progress=False
    )
    asked = len(small_pages.state.seen)
    md.download(["AAPL", "MSFT", "NVDA"], "1Min", START, END, path, progress=False)
    asked = [s.query for s in small_pages.state.seen[asked:]]
    starts = {(q["symbols"], q["start"]) for q in asked}
    assert ("AAPL,MSFT", "2024-01-01T00:00:00Z") in starts  # the day before
    assert ("AAPL,MSFT", "2024-01-02T23:59:00.000001Z") in starts  # after the last one stored
    stored = (pd.Timestamp("2024-01-02T00:00Z"), pd.Timestamp("2024-01-02T23:59Z"))
    for q in asked:
        if q["symbols"] == "AAPL,MSFT":  # never the day already stored
            assert pd.Timestamp(q["end"]) < stored[0] or pd.Timestamp(q["start"]) > stored[1]
    pd.testing.assert_frame_equal(
        tk.open_dataset(path).to_pandas(), reference(md, ["AAPL", "MSFT", "NVDA"])
    )


# -- bad input ----------------------------------------------------------------------------
def test_other_parameters_into_the_same_path_are_refused(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    path = tmp_path / "m"
    md.download(["AAPL"], "1Min", START, END, path, progress=False)
    before, asked = (path / "_trading_kit.json").read_bytes(), len(small_pages.state.seen)
    for change in ({"timeframe": "1Day"}, {"adjustment": "split"}, {"feed": "iex"}):
        args = {"timeframe": "1Min", **change}
        with pytest.raises(
            DatasetError, match=r"holds 1Min bars, adjustment=raw, feed=\(the account default\)"
        ) as refused:
            md.download(["AAPL"], start=START, end=END, path=path, progress=False, **args)
        assert "use another path" in str(refused.value)
    assert (path / "_trading_kit.json").read_bytes() == before
    assert len(small_pages.state.seen) == asked


def test_unknown_symbols_are_reported_and_skipped(md: MarketData, tmp_path: Path) -> None:
    with pytest.warns(MissingDataWarning, match=r"No bars for 1 of 3 symbols .*: NOPE\."):
        report = md.download(
            ["AAPL", "NOPE", "MSFT"], "1Min", START, END, tmp_path / "m", progress=False
        )
    assert report.no_data == ["NOPE"]
    assert "no bars for 1: NOPE" in str(report)
    assert tk.open_dataset(tmp_path / "m").symbols == ["AAPL", "MSFT"]


def test_malformed_symbols_are_all_named_and_nothing_is_sent(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    with pytest.raises(MarketDataError, match=r"2 invalid symbol\(s\): 'BAD SYM', '12'"):
        md.download(["AAPL", "BAD SYM", "12"], "1Min", START, END, tmp_path / "m")
    assert small_pages.state.seen == [] and not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": None}, "path is required"),
        ({"timeframe": None}, "timeframe is required for a new dataset"),
        ({"start": None}, "start is required for a new dataset"),
        ({"timeframe": "2Min"}, "Unknown timeframe"),
        ({"start": "2024-02-01"}, "is after end"),
        ({"workers": 0}, "workers must be a positive whole number, got 0"),
        ({"adjustment": "most"}, "Unknown adjustment 'most'"),
    ],
)
def test_bad_arguments_are_clear_errors(
    md: MarketData, small_pages: StubServer, tmp_path: Path, arguments: dict, message: str
) -> None:
    call = {"symbols": ["AAPL"], "timeframe": "1Min", "start": START, "end": "2024-01-02"}
    call |= {"path": tmp_path / "m", "progress": False} | arguments
    with pytest.raises(tk.TradingKitError, match=message):
        md.download(**call)
    assert small_pages.state.seen == []


def test_an_unwritable_path_is_a_clear_error_before_any_request(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatasetError, match=r"Cannot use .*a-file/m as a dataset: Not a directory"):
        md.download(["AAPL"], "1Min", START, END, blocker / "m", progress=False)
    with pytest.raises(DatasetError, match="is a file, not a dataset directory"):
        md.download(["AAPL"], "1Min", START, END, blocker, progress=False)
    assert small_pages.state.seen == []


def test_a_directory_of_other_files_is_refused(md: MarketData, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="already holds other files"):
        md.download(["AAPL"], "1Min", START, END, tmp_path / "m", progress=False)
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["notes.txt"]


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(
    md: MarketData, small_pages: StubServer, tmp_path: Path
) -> None:
    path = tmp_path / "m"
    md.download(["AAPL"], "1Min", START, "2024-01-01T12:00:00Z", path, progress=False)
    asked = len(small_pages.state.seen)
    with (
        FileLock(path / "_trading_kit.lock"),
        pytest.raises(DatasetError, match="Another process is writing"),
    ):
        md.download(["AAPL"], "1Min", START, END, path, progress=False)
    assert len(small_pages.state.seen) == asked


def _mount_namespace() -> list[str] | None:
    """How to get a private mount namespace to mount a small tmpfs in: as root, or as a
    user namespace (where the kernel allows them); ``None`` if neither works here."""
    if not shutil.which("unshare"):
        return None
    for command in (["unshare", "-m"], ["unshare", "-rm"]):
        if subprocess.run([*command, "true"], capture_output=True).returncode == 0:
            return command
    return None


def test_a_full_disk_is_a_clear_error_that_loses_nothing(
    md: MarketData, small_pages: StubServer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The download runs in a mount namespace on a 160 kB tmpfs: it fills, the process
    stops with a clear error, and what it wrote resumes elsewhere into a clean dataset."""
    namespace = _mount_namespace()
    assert namespace is not None, "needs unshare(1) and mount namespaces (root or user namespaces)"
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    command = " ".join(f"'{part}'" for part in cli(disk / "m", small_pages, workers=1))
    script = (
        f"mount -t tmpfs -o size=160k tmpfs '{disk}' && {command} 2> '{tmp_path}/err'; "
        f"echo $? > '{tmp_path}/rc'; cp -a '{disk}/m/.' '{kept}/'"
    )
    subprocess.run([*namespace, "sh", "-c", script], env=cli_env, timeout=120, check=True)
    assert (tmp_path / "rc").read_text().strip() == "1"
    error = (tmp_path / "err").read_text()
    assert "the disk is full" in error and "run the same download again to continue" in error
    stored = tk.open_dataset(kept).to_pandas() if any(kept.glob("symbol=*")) else None
    assert stored is not None and 0 < len(stored) < 6 * 3 * 1440  # some pages, not all
    assert stored.index.is_unique
    before = bar_pages(small_pages)
    md.download(SYMBOLS, "1Min", START, END, kept, workers=1, progress=False)
    after = bar_pages(small_pages)[len(before) :]
    assert len(set(before) & set(after)) <= 1  # only the page that did not fit
    pd.testing.assert_frame_equal(tk.open_dataset(kept).to_pandas(), reference(md))


def test_command_line_download_and_update(
    md: MarketData, small_pages: StubServer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "m"
    run = subprocess.run(
        cli(path, small_pages), env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "6 symbols of 1Min bars" in run.stdout and "25,920 bars" in run.stdout
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "trading_kit",
            "download",
            str(path),
            "--end",
            END,
            "--data-url",
            small_pages.url,
            "--no-progress",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "fetched 0 pages" in again.stdout
    bad = subprocess.run(
        [*cli(path, small_pages), "--timeframe", "1Day"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: ") and "holds 1Min bars" in bad.stderr
    )
    pd.testing.assert_frame_equal(tk.open_dataset(path).to_pandas(), reference(md))
