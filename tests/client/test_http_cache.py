"""The SQLite cache: TTLs, bypass, provenance, stale-if-error, secrets, corruption, threads."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import time_machine

from tests.client.conftest import KEY_ID, SECRET
from tests.stub_alpaca import StubServer
from trading_kit import CacheWarning, MarketData, MarketDataError, StaleDataWarning
from trading_kit.cache_policy import session_start
from trading_kit.http import HttpStack

LIVE_END = None  # open-ended bar requests reach into today's session


def test_latest_quote_is_cached_for_one_second(md: MarketData, stub: StubServer) -> None:
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as clock:
        first = md.get_latest_quote("AAPL")
        second = md.get_latest_quote("AAPL")
        assert len(stub.state.seen) == 1
        assert (first.attrs["from_cache"], second.attrs["from_cache"]) == (False, True)
        clock.shift(1.5)
        third = md.get_latest_quote("AAPL")
        assert len(stub.state.seen) == 2
        assert third.attrs["from_cache"] is False


def test_snapshot_ttl_is_two_seconds(md: MarketData, stub: StubServer) -> None:
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as clock:
        md.get_snapshots(["AAPL"])
        clock.shift(1.5)
        assert md.get_snapshots(["AAPL"]).attrs["from_cache"] is True
        clock.shift(1.0)
        assert md.get_snapshots(["AAPL"]).attrs["from_cache"] is False
    assert len(stub.state.seen) == 2


def test_live_bars_expire_after_five_minutes(md: MarketData, stub: StubServer) -> None:
    """An open-ended request is two: the history before today's session (kept decoded,
    for good) and the live edge from the session start (kept 5 minutes). The clocks are
    the stand-in's, mid-session: from real time, the shifts crossed into a new session in
    the minutes before midnight in New York, and a new day of history was asked."""
    with time_machine.travel(stub.now, tick=False) as clock:
        md.get_bars("AAPL", "1Hour", start="2024-03-01")
        assert len(stub.state.seen) == 2
        clock.shift(dt.timedelta(minutes=4))
        assert md.get_bars("AAPL", "1Hour", start="2024-03-01").attrs["from_cache"] is True
        assert len(stub.state.seen) == 2
        clock.shift(dt.timedelta(minutes=2))
        assert md.get_bars("AAPL", "1Hour", start="2024-03-01").attrs["from_cache"] is False
        today = session_start(dt.datetime.now(dt.timezone.utc))
    assert len(stub.state.seen) == 3  # only the live edge was asked again
    assert pd.Timestamp(stub.state.seen[-1].query["start"]) == today


def test_raw_history_is_kept_and_adjusted_history_for_a_day(
    md: MarketData, stub: StubServer
) -> None:
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=False) as clock:
        raw = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01", adjustment="split")
        clock.shift(dt.timedelta(days=30))
        again = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
        adjusted = md.get_bars(
            "AAPL", "1Day", start="2024-01-02", end="2024-02-01", adjustment="split"
        )
    assert again.attrs["from_cache"] is True
    assert again.attrs["fetched_at"] == raw.attrs["fetched_at"]
    assert adjusted.attrs["from_cache"] is False
    assert len(stub.state.seen) == 3


def test_use_cache_false_bypasses_for_one_call(md: MarketData, stub: StubServer) -> None:
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
    fresh = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01", use_cache=False)
    cached = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
    assert fresh.attrs["from_cache"] is False
    assert cached.attrs["from_cache"] is True
    assert len(stub.state.seen) == 2
    assert fresh.equals(cached)


def test_cache_info_and_clear(md: MarketData) -> None:
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
    info = md.cache.info()
    assert (info.entries, info.hits, info.misses) == (1, 1, 1)
    assert info.size_bytes > 0
    assert "1 hits / 1 misses" in str(info)
    md.cache.clear()
    info = md.cache.info()
    assert (info.entries, info.hits, info.misses) == (0, 0, 0)
    assert (
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01").attrs["from_cache"]
        is False
    )


def test_secrets_never_reach_the_cache_file(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    md.get_bars(["AAPL", "MSFT"], "1Day", start="2024-01-02", end="2024-02-01")
    md.get_latest_quote("AAPL")
    md.get_snapshots(["AAPL"])
    assert stub.state.seen[0].headers["APCA-API-SECRET-KEY"] == SECRET  # they did travel
    md._stack.close()  # flush the WAL into the file
    files = list(tmp_path.glob("cache.sqlite*"))
    assert files
    decoded = [p for p in (tmp_path / "cache.bars").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in decoded)  # the bars went to the decoded store
    blob = b"".join(path.read_bytes() for path in files + decoded)
    assert b"AAPL" in blob  # the scan reads real cached content
    assert SECRET.encode() not in blob
    assert KEY_ID.encode() not in blob


def test_cache_files_are_private(md: MarketData, tmp_path: Path) -> None:
    md.get_latest_quote("AAPL")
    files = list(tmp_path.glob("cache.sqlite*"))
    assert {p.name for p in files} >= {"cache.sqlite", "cache.sqlite-wal"}
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_cached_body_that_cannot_be_read_is_dropped_and_asked_again(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    """A cache written before bodies were checked may hold a bad answer for ever.

    Adjusted history still goes through the HTTP cache (raw history is kept decoded)."""
    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31", adjustment="split")
    cache = md._stack.session().cache
    (key,) = list(cache.responses.keys())
    response = cache.responses[key]
    response._content = b"<html>poisoned</html>"
    cache.responses[key] = response
    md._stack.memo.clear()
    with pytest.raises(
        MarketDataError, match="cached answer to GET /v2/stocks/bars cannot be read"
    ):
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31", adjustment="split")
    again = md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31", adjustment="split")
    assert len(again) == 30 and again.attrs["from_cache"] is False
    assert len(stub.state.seen) == 2


def test_stale_data_is_served_with_a_warning_when_the_server_fails(
    make_stack: Callable[..., HttpStack], stub: StubServer
) -> None:
    md = MarketData(stack=make_stack(max_attempts=2))
    # the stand-in's own clock, mid-session: ten minutes later is the same session (from
    # real time, the test failed in the ten minutes before midnight in New York, when the
    # shift crossed into a new session and a new day of history was asked of the failing server)
    with time_machine.travel(stub.now, tick=False) as clock:
        md.get_bars("AAPL", "1Hour", start="2024-03-01")
        clock.shift(dt.timedelta(minutes=10))
        stub.state.fail_next(("status", 503), ("status", 503))
        with pytest.warns(StaleDataWarning, match="10 min ago"):
            df = md.get_bars("AAPL", "1Hour", start="2024-03-01")
    assert df.attrs == {**df.attrs, "from_cache": True, "stale": True}
    assert not df.empty


def test_corrupt_cache_file_warns_once_and_requests_still_work(
    make_stack: Callable[..., HttpStack], tmp_path: Path
) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    md = MarketData(stack=make_stack(cache_path=path))
    with pytest.warns(CacheWarning, match="corrupt.sqlite") as caught:
        first = md.get_latest_quote("AAPL")
        md.get_multi_trades(["AAPL"])
    assert len([w for w in caught if issubclass(w.category, CacheWarning)]) == 1
    assert first.loc["AAPL", "ask_price"] > 0
    assert md.cache.info().enabled is False
    assert path.read_bytes().startswith(b"this is not")  # the user's file is left alone


def test_threads_share_the_cache_safely(md: MarketData, stub: StubServer) -> None:
    """Eight threads reading and writing one SQLite file at once (cpython#118172)."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(25):
                md.get_bars(
                    "AAPL", "1Day", start="2024-01-02", end=f"2024-02-{1 + (n + i) % 9:02d}"
                )
                md.get_latest_quote("MSFT")
        except BaseException as error:
            errors.append(error)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CacheWarning here would mean the cache broke
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    info = md.cache.info()
    assert info.enabled
    assert info.hits + info.misses == 8 * 25 * 2
    assert info.entries >= 2  # the quote, and the bars' files (overlapping ranges share them)


@pytest.mark.parametrize("attempt", range(5))
def test_a_fresh_cache_file_opened_by_many_threads_at_once(
    make_stack: Callable[..., HttpStack], tmp_path: Path, attempt: int
) -> None:
    """Per-symbol downloads open the new file from four threads at once: no 'database is locked'."""
    md = MarketData(stack=make_stack(cache_path=tmp_path / f"fresh{attempt}.sqlite"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = md.get_bars(["AAPL", "MSFT", "GOOGL", "AMZN"], "1Day", start="2024-01-02", limit=5)
    assert df.groupby(level="symbol").size().tolist() == [5, 5, 5, 5]
    assert md.cache.info().enabled and md.cache.info().entries == 4


def test_command_line_shows_and_clears_the_cache(md: MarketData, tmp_path: Path) -> None:
    import subprocess
    import sys

    md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-02-01")
    md._stack.close()
    path = str(tmp_path / "cache.sqlite")
    run = [sys.executable, "-m", "trading_kit", "cache"]
    shown = subprocess.run(
        [*run, "info", "--path", path], capture_output=True, text=True, check=True
    )
    assert "1 entries" in shown.stdout
    subprocess.run([*run, "clear", "--path", path], capture_output=True, text=True, check=True)
    shown = subprocess.run(
        [*run, "info", "--path", path], capture_output=True, text=True, check=True
    )
    assert "0 entries" in shown.stdout


def test_every_frame_saves_to_parquet_with_its_provenance(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    """Researchers save what they fetch: the attrs pandas stores with the file must be
    plain JSON, and ``fetched_at`` still reads back as the time of the fetch."""
    before = pd.Timestamp.now(tz="UTC")
    fetched = {
        "bars": md.get_bars(["AAPL", "MSFT"], "1Day", start="2024-01-02", end="2024-02-01"),
        "live_bars": md.get_bars("AAPL", "1Hour", start="2024-03-01"),
        "quotes": md.get_multi_quotes(["AAPL", "MSFT"]),
        "trade": md.get_latest_trade("AAPL"),
        "snapshots": md.get_snapshots(["AAPL"]),
    }
    for name, frame in fetched.items():
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path)
        back = pd.read_parquet(path)
        pd.testing.assert_frame_equal(
            back, frame, check_freq=False, check_dtype=False, check_index_type=False
        )
        assert back.attrs["from_cache"] is False
        assert before <= pd.Timestamp(back.attrs["fetched_at"]) <= pd.Timestamp.now(tz="UTC")
