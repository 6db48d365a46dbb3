"""Decoded bar history: raw bars before today's session kept as Parquet, read back by a
new process without any request or JSON; only the live edge goes through the HTTP cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import time_machine

import trading_kit as tk
from tests.client.conftest import KEY_ID, SECRET
from tests.stub_alpaca import StubServer
from trading_kit import CacheWarning, MarketData
from trading_kit.data import frames
from trading_kit.data.bar_store import MANIFEST, BarStore, DatasetParams, Manifest, SymbolState
from trading_kit.http import HttpStack

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["AAPL", "MSFT", "NOPE"]  # NOPE: the stand-in has no such symbol


def test_history_is_served_decoded_without_json(md: MarketData, stub: StubServer) -> None:
    first = md.get_bars(SYMBOLS, "1Hour", "2024-01-02", "2024-02-15")
    again = md.get_bars(SYMBOLS, "1Hour", "2024-01-02", "2024-02-15")
    fresh = md.get_bars(SYMBOLS, "1Hour", "2024-01-02", "2024-02-15", use_cache=False)
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(again, fresh)
    assert (first.attrs["from_cache"], again.attrs["from_cache"]) == (False, True)
    assert again.attrs["fetched_at"] == first.attrs["fetched_at"]
    assert len(md._stack.session().cache.responses) == 0  # no JSON kept for history
    assert len(stub.state.data_requests()) == 2  # one page for all three, then the bypass


def test_a_new_process_reads_history_without_a_request(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    expected = md.get_bars(["AAPL", "MSFT"], "1Min", "2024-01-01", "2024-01-05T23:59:00Z")
    # one file for the fetch of both symbols (waits for the write behind, as exiting would)
    assert md.cache.info().entries == 1
    md._stack.close()
    asked = len(stub.state.seen)
    script = f"""
import json
from trading_kit import MarketData
md = MarketData({KEY_ID!r}, {SECRET!r}, data_url={stub.url!r}, trading_url={stub.url!r},
                cache_path={str(tmp_path / "cache.sqlite")!r})
df = md.get_bars(["AAPL", "MSFT"], "1Min", "2024-01-01", "2024-01-05T23:59:00Z")
df.to_pickle({str(tmp_path / "seen.pickle")!r})
print(json.dumps({{"from_cache": df.attrs["from_cache"], "fetched_at": str(df.attrs["fetched_at"]),
                  "hits": md.cache.info().hits}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout)
    assert len(stub.state.seen) == asked  # not one request
    assert said == {
        "from_cache": True,
        "fetched_at": str(expected.attrs["fetched_at"]),
        "hits": 1,
    }
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "seen.pickle"), expected)


def test_only_what_is_missing_is_fetched(md: MarketData, stub: StubServer) -> None:
    md.get_bars("AAPL", "1Hour", "2024-01-02", "2024-01-31T23:00:00Z")
    asked = len(stub.state.seen)
    both = md.get_bars(["AAPL", "MSFT"], "1Hour", "2024-01-15", "2024-02-15T23:00:00Z")
    queries = [(s.query["symbols"], s.query["start"]) for s in stub.state.seen[asked:]]
    assert sorted(queries) == [
        ("AAPL", "2024-01-31T23:00:00.000001Z"),  # after what AAPL has
        ("MSFT", "2024-01-15T00:00:00Z"),  # MSFT from the start
    ]
    assert both.attrs["from_cache"] is False
    fresh = md.get_bars(
        ["AAPL", "MSFT"], "1Hour", "2024-01-15", "2024-02-15T23:00:00Z", use_cache=False
    )
    pd.testing.assert_frame_equal(both, fresh)


def test_a_hole_between_stored_ranges_is_filled_in_order(md: MarketData, stub: StubServer) -> None:
    md.get_bars("AAPL", "1Hour", "2024-01-02", "2024-01-05")
    md.get_bars("AAPL", "1Hour", "2024-01-15", "2024-01-20")
    asked = len(stub.state.seen)
    frame = md.get_bars("AAPL", "1Hour", "2024-01-02", "2024-01-20")
    (hole,) = stub.state.seen[asked:]
    assert (hole.query["start"], hole.query["end"]) == (
        "2024-01-05T00:00:00.000001Z",
        "2024-01-14T23:59:59.999999Z",
    )
    fresh = md.get_bars("AAPL", "1Hour", "2024-01-02", "2024-01-20", use_cache=False)
    pd.testing.assert_frame_equal(frame, fresh)


def test_tomorrow_an_open_ended_request_fetches_one_more_day(
    md: MarketData, stub: StubServer
) -> None:
    """Clocks of client and stand-in travel together: a day later, the history grows by
    the one day that ended, and the live edge is asked from the new session start."""
    asked_before: list = []
    for day in ("2024-03-05", "2024-03-06"):
        now = pd.Timestamp(f"{day}T15:00:00Z").to_pydatetime()
        stub.now = now
        asked_before.append(len(stub.state.seen))
        with time_machine.travel(now, tick=False):
            frame = md.get_bars("AAPL", "1Hour", start="2024-02-01")
    second_day = [s.query for s in stub.state.seen[asked_before[1] :]]
    assert [(q["start"], q.get("end")) for q in second_day] == [
        ("2024-03-05T05:00:00Z", "2024-03-06T04:59:59.999999Z"),  # the day that ended
        ("2024-03-06T05:00:00Z", None),  # the live edge: today's session on
    ]
    assert frame.index.get_level_values("timestamp")[-1] == pd.Timestamp("2024-03-06T15:00Z")
    fresh = md.get_bars("AAPL", "1Hour", "2024-02-01", "2024-03-06T15:00:00Z", use_cache=False)
    pd.testing.assert_frame_equal(frame, fresh)


def test_clear_empties_the_decoded_history(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    md.get_bars("AAPL", "1Day", "2024-01-02", "2024-02-01")
    assert md.cache.info().entries == 1  # (info waits for the write behind)
    assert list((tmp_path / "cache.bars").rglob("*.parquet"))
    md.cache.clear()
    assert not list((tmp_path / "cache.bars").rglob("*.parquet"))
    assert md.cache.info().entries == 0
    asked = len(stub.state.seen)
    again = md.get_bars("AAPL", "1Day", "2024-01-02", "2024-02-01")
    assert again.attrs["from_cache"] is False and len(stub.state.seen) == asked + 1


def test_adjusted_and_limited_bars_stay_in_the_http_cache(md: MarketData, tmp_path: Path) -> None:
    md.get_bars("AAPL", "1Day", "2024-01-02", "2024-02-01", adjustment="split")
    md.get_bars(["AAPL", "MSFT"], "1Day", "2024-01-02", limit=5)
    assert not list((tmp_path / "cache.bars").rglob("*.parquet"))
    assert len(md._stack.session().cache.responses) == 3


def test_an_unusable_history_directory_warns_and_bars_still_come(
    make_stack: Callable[..., HttpStack], tmp_path: Path
) -> None:
    (tmp_path / "cache.bars").write_text("a file where the directory should be")
    md = MarketData(stack=make_stack())
    with pytest.warns(CacheWarning, match="Decoded bar history cannot be kept"):
        df = md.get_bars("AAPL", "1Day", "2024-01-02", "2024-02-01")
    assert len(df) == 31
    assert md.get_bars("AAPL", "1Day", "2024-01-02", "2024-02-01").attrs["from_cache"] is True


def test_the_history_is_an_ordinary_dataset(md: MarketData, tmp_path: Path) -> None:
    """The same layout as a download: any Parquet reader, or open_dataset, reads it."""
    expected = md.get_bars(["AAPL", "MSFT"], "1Hour", "2024-01-02", "2024-01-09")
    md.cache.info()  # waits for the write behind
    (store,) = [p.parent for p in (tmp_path / "cache.bars").rglob("_trading_kit.json")]
    assert store.name == "1Hour-raw-default"
    pd.testing.assert_frame_equal(tk.open_dataset(store).to_pandas(), expected)


def test_two_clients_filling_one_history_store_store_nothing_twice(
    make_stack: Callable[..., HttpStack], tmp_path: Path
) -> None:
    """Two clients on one cache file (as two kernels would be) ask overlapping ranges at
    the same moment, month after month: each writes only what the other has not, so no
    bar is stored twice and both get the frame a fresh request gives."""
    clients = [MarketData(stack=make_stack()), MarketData(stack=make_stack())]
    got: dict[tuple[str, str], pd.DataFrame] = {}

    def ask(md: MarketData, start: str, end: str) -> None:
        got[(start, end)] = md.get_bars(["AAPL", "MSFT"], "1Hour", start, end)

    rounds = [
        (("2024-01-02", "2024-01-20"), ("2024-01-10", "2024-01-27")),
        (("2024-01-25", "2024-02-06"), ("2024-02-01", "2024-02-12")),
        (("2024-02-10", "2024-02-20"), ("2024-02-15", "2024-02-25")),
        (("2024-01-05", "2024-02-28"), ("2024-02-20", "2024-03-04")),
    ]
    for asks in rounds:
        threads = [
            threading.Thread(target=ask, args=(md, *dates))
            for md, dates in zip(clients, asks, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    fresh = {
        dates: clients[0].get_bars(["AAPL", "MSFT"], "1Hour", *dates, use_cache=False)
        for dates in got
    }
    for dates, frame in got.items():
        pd.testing.assert_frame_equal(frame, fresh[dates])
    for md in clients:
        md.cache.info()  # waits for its writes behind
    (store,) = [p.parent for p in (tmp_path / "cache.bars").rglob("_trading_kit.json")]
    stored = tk.open_dataset(store).to_pandas()
    assert stored.index.is_unique
    assert len(stored) == len(pd.concat(fresh.values()).index.unique())


def test_a_store_of_the_earlier_layout_is_still_read_and_extended_in_it(
    md: MarketData, stub: StubServer, tmp_path: Path
) -> None:
    """History stores written before the by_fetch layout (the download's: one file per
    symbol and year; a manifest without a layout) are read without a request, and
    what is fetched into them later keeps their layout."""
    md.get_bars("AAPL", "1Day", "2024-01-02", "2024-01-05")  # where this server's stores go
    md.cache.info()
    (server,) = (tmp_path / "cache.bars").iterdir()
    root = server / "1Hour-raw-default"
    symbols, start, end = ["AAPL", "MSFT"], "2024-01-02", "2024-01-31T23:00:00Z"
    fresh = md.get_bars(symbols, "1Hour", start, end, use_cache=False)
    lo, hi = pd.Timestamp(start, tz="UTC").value, pd.Timestamp(end).value
    earlier = BarStore(root, DatasetParams("1Hour"))  # by_symbol, as every store was
    with earlier.writing():
        columns = frames.frame_page("bars", fresh).columns

        def record(manifest: Manifest) -> None:
            for symbol in symbols:
                rows = len(columns[symbol]["timestamp"])
                manifest.symbols[symbol] = SymbolState([(lo, hi)], rows, fetched_at=lo)

        earlier.commit(earlier.stage(columns), record)
    written = json.loads((root / MANIFEST).read_bytes())
    del written["layout"]  # exactly what earlier versions wrote
    (root / MANIFEST).write_text(json.dumps(written))
    asked = len(stub.state.seen)

    again = md.get_bars(symbols, "1Hour", start, end)
    assert len(stub.state.seen) == asked
    assert again.attrs["from_cache"] is True
    pd.testing.assert_frame_equal(again, fresh)

    longer = md.get_bars(symbols, "1Hour", start, "2024-02-15T23:00:00Z")
    assert [s.query["start"] for s in stub.state.seen[asked:]] == ["2024-01-31T23:00:00.000001Z"]
    pd.testing.assert_frame_equal(
        longer, md.get_bars(symbols, "1Hour", start, "2024-02-15T23:00:00Z", use_cache=False)
    )
    md.cache.info()  # waits for the write behind
    assert sorted(p.relative_to(root).parts[0] for p in root.rglob("*.parquet")) == [
        "symbol=AAPL",
        "symbol=AAPL",
        "symbol=MSFT",
        "symbol=MSFT",
    ]
