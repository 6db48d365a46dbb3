"""Decoded bar history on disk, so a new kernel reads yesterday's bars without any JSON.

The HTTP cache keeps raw JSON: a new process decodes every cached page again (10 s for a
million bars, as long as fetching them). Bars that ended before today's session never
change (the cache policy keeps raw ones forever), so ``get_bars`` keeps them here instead,
decoded, in the same Parquet layout as a downloaded dataset (``bar_store.BarStore``): one
store per (server, timeframe, feed) under ``<cache file>.bars/``, e.g.
``http_cache.bars/data.alpaca.markets/1Min-raw-default/symbol=AAPL/year=2024/…``.

A request is cut at the start of today's session: the history before it is read from
here, fetching (without the HTTP cache) only the ranges each symbol lacks, and storing
them behind the caller's back; the live edge after it goes through the HTTP cache as
before. Stored ranges are per symbol, so a call
with other dates or more symbols fetches only what is new, and re-running tomorrow
fetches one more day. ``md.cache.info()`` counts these files, ``md.cache.clear()``
empties them, and a frame served from here says ``from_cache`` with the time it was
first fetched, as an HTTP cache hit does.
"""

from __future__ import annotations

import itertools
import re
import shutil
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from filelock import FileLock

from ..errors import CacheWarning, DatasetError
from . import frames
from .bar_store import (
    BY_FETCH,
    LOCK,
    BarStore,
    DatasetParams,
    Manifest,
    SymbolState,
    merged,
    missing,
)

#: Fetch the pages of bars for (symbols, first, last) (UTC ns, inclusive), HTTP cache bypassed.
Fetch = Callable[[list[str], int, int], list[frames.Page]]


def _by_symbol(pages: list[frames.Page]) -> dict[str, dict[str, np.ndarray]]:
    """The columns of several pages joined per symbol (pages come in time order)."""
    parts: dict[str, list] = {}
    for page in pages:
        for symbol, columns in page.columns.items():
            parts.setdefault(symbol, []).append(columns)
    return {
        symbol: {name: np.concatenate([p[name] for p in chunks]) for name in chunks[0]}
        for symbol, chunks in parts.items()
    }


def _in_time_order(pieces: dict[str, list[dict[str, np.ndarray]]]) -> list[frames.Page]:
    """Pages that ``series_frame`` joins into each symbol's bars in time order.

    A symbol's parts (the pages fetched, the stored read) never overlap; in the order of
    their first bar they are usually in time order already, and are left as they are
    (``series_frame`` copies them once). When a fetch filled a hole inside the stored
    range they interleave, and are merged and sorted."""
    pages: list[dict[str, dict[str, np.ndarray]]] = []
    for symbol, held in pieces.items():
        parts = sorted((p for p in held if len(p["timestamp"])), key=lambda p: p["timestamp"][0])
        if any(a["timestamp"][-1] >= b["timestamp"][0] for a, b in itertools.pairwise(parts)):
            joined = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
            order = np.argsort(joined["timestamp"], kind="stable")
            parts = [{name: column[order] for name, column in joined.items()}]
        for k, part in enumerate(parts):
            if len(pages) <= k:
                pages.append({})
            pages[k][symbol] = part
    return [frames.Page(p, None, sum(len(c["timestamp"]) for c in p.values())) for p in pages]


def _pieces(
    columns: dict[str, dict[str, np.ndarray]],
    todo: dict[str, list[tuple[int, int]]],
    lo: int,
    hi: int,
) -> list[dict[str, dict[str, np.ndarray]]]:
    """The parts of fetched columns still to store, as batches for ``BarStore.stage``
    (a symbol appears once per batch); usually one batch of whole columns."""
    batches: list[dict[str, dict[str, np.ndarray]]] = []
    for symbol, intervals in todo.items():
        if symbol not in columns:
            continue
        for k, (a, b) in enumerate(intervals):
            if len(batches) <= k:
                batches.append({})
            whole = columns[symbol]
            if (a, b) == (lo, hi):
                batches[k][symbol] = whole
                continue
            stamps = whole["timestamp"]
            i = np.searchsorted(stamps, np.datetime64(a, "ns"), "left")
            j = np.searchsorted(stamps, np.datetime64(b, "ns"), "right")
            batches[k][symbol] = {name: column[i:j] for name, column in whole.items()}
    return batches


def _record(
    manifest: Manifest,
    *,
    todo: dict[str, list[tuple[int, int]]],
    columns: dict[str, dict[str, np.ndarray]],
    at: int,
) -> None:
    for symbol, intervals in todo.items():
        state = manifest.symbols.setdefault(symbol, SymbolState())
        for a, b in intervals:
            state.ranges = merged(state.ranges, a, b)
            if symbol in columns:
                stamps = columns[symbol]["timestamp"]
                state.rows += int(
                    np.searchsorted(stamps, np.datetime64(b, "ns"), "right")
                    - np.searchsorted(stamps, np.datetime64(a, "ns"), "left")
                )
        state.fetched_at = at if state.fetched_at is None else state.fetched_at


def history_root(cache_path: str | Path) -> Path:
    """Where the decoded history of an HTTP cache file lives: ``http_cache.sqlite`` →
    ``http_cache.bars/``."""
    return Path(cache_path).with_suffix(".bars")


#: What a read fetched, to store: (symbols, first, last, the pages fetched)
Fetched = list[tuple[list[str], int, int, list[frames.Page]]]


@dataclass(frozen=True)
class HistoryRead:
    """Bars read from the store, whether any of them had to be fetched first, and what
    was fetched (for ``keep``)."""

    pages: list[frames.Page]  # joined by series_frame: each symbol's bars in time order
    fetched_pages: int
    fetched_at: pd.Timestamp | None  # when the oldest of the bars was first fetched
    fetched: Fetched
    store: BarStore
    now: int


class HistoryCache:
    """The decoded-history stores of one HTTP cache, and what ``cache.info()`` says of them.

    Fetched history is written behind the caller's back (``keep``, once the caller has
    its frame), by one background thread, so a cold ``get_bars`` costs what the fetch
    costs; the next read of the same history in this process waits for that write
    (``flush``), and the interpreter waits for it at exit. A write that finds the range
    stored meanwhile (another process, or a read of this one before the write began)
    keeps only what is still missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._stores: dict[Path, BarStore] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trading_kit-history")
        self._writes: list[Future] = []

    def __repr__(self) -> str:
        return f"HistoryCache({str(self.root)!r})"

    def read(
        self,
        data_url: str,
        params: DatasetParams,
        symbols: Sequence[str],
        first: int,
        last: int,
        fetch: Fetch,
    ) -> HistoryRead:
        """Bars of ``symbols`` in [first, last], fetching only the ranges not yet stored;
        pass the result to ``keep`` to store what was fetched."""
        store = self._store(data_url, params)
        self.flush()  # what this process is still writing may be what is asked
        fetched: Fetched = []
        pieces: dict[str, list[dict[str, np.ndarray]]] = {}  # per symbol, in any order
        now = pd.Timestamp.now(tz="UTC").value
        with store.writing(wait=True):  # one fetcher per store; no half-recorded reads
            groups: dict[tuple[tuple[int, int], ...], list[str]] = {}
            for symbol in symbols:
                known = store.manifest.symbols.get(symbol, SymbolState()).ranges
                gaps = tuple(missing(known, first, last))
                if gaps:
                    groups.setdefault(gaps, []).append(symbol)
            pages = 0
            for gaps, members in groups.items():
                for lo, hi in gaps:
                    got = fetch(members, lo, hi)
                    pages += len(got)
                    fetched.append((members, lo, hi, got))
                    for page in got:
                        for symbol, part in page.columns.items():
                            pieces.setdefault(symbol, []).append(part)
            whole = set(groups.get(((first, last),), []))  # nothing of theirs stored before
            stored = [s for s in symbols if s not in whole]
            if stored:
                for page in store.read_pages(stored, first, last):
                    for symbol, part in page.columns.items():
                        pieces.setdefault(symbol, []).append(part)
            states = [store.manifest.symbols.get(s) for s in symbols]
            stamps = [s.fetched_at for s in states if s is not None and s.fetched_at is not None]
        if fetched:
            stamps.append(now)
        return HistoryRead(
            _in_time_order(pieces),
            pages,
            pd.Timestamp(min(stamps), tz="UTC") if stamps else None,
            fetched,
            store,
            now,
        )

    def keep(self, read: HistoryRead) -> None:
        """Store what ``read`` fetched, behind the caller's back."""
        if read.fetched:
            with self._lock:
                self._writes.append(
                    self._writer.submit(self._keep, read.store, read.fetched, read.now)
                )

    def flush(self) -> None:
        """Wait until every fetched range this process holds is written."""
        with self._lock:
            pending, self._writes = self._writes, []
        for write in pending:
            write.result()

    def _keep(self, store: BarStore, fetched: Fetched, now: int) -> None:
        """Store fetched ranges (what is still missing of them): files, then the record."""
        try:
            with store.writing(wait=True):
                for symbols, lo, hi, got in fetched:
                    columns = _by_symbol(got)
                    todo = {
                        s: missing(store.manifest.symbols.get(s, SymbolState()).ranges, lo, hi)
                        for s in symbols
                    }
                    staged = [
                        item
                        for batch in _pieces(columns, todo, lo, hi)
                        for item in store.stage(batch)
                    ]
                    store.commit(staged, partial(_record, todo=todo, columns=columns, at=now))
        except (DatasetError, OSError) as problem:
            warnings.warn(
                f"Decoded bar history could not be written ({problem}); it will be fetched "
                "again next time.",
                CacheWarning,
                stacklevel=1,
            )

    def _store(self, data_url: str, params: DatasetParams) -> BarStore:
        server = re.sub(
            r"[^A-Za-z0-9.\-]+", "_", urlsplit(data_url).netloc + urlsplit(data_url).path
        )
        kind = f"{params.timeframe}-{params.adjustment}-{params.feed or 'default'}"
        path = self.root / server / kind
        with self._lock:
            store = self._stores.get(path)
            if store is None:
                store = self._stores[path] = BarStore(path, params, layout=BY_FETCH)
            return store

    # -- what cache.info() and cache.clear() see -------------------------------------------
    def entries(self) -> int:
        """Parquet files held (one per fetched range and year; per symbol too in stores
        written before the by_fetch layout)."""
        self.flush()
        return sum(1 for _ in self.root.glob("*/*/**/year=*/part-*.parquet"))

    def size_bytes(self) -> int:
        self.flush()
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def clear(self) -> None:
        """Delete every stored bar; each store is emptied under its own lock."""
        self.flush()
        with self._lock:
            self._stores.clear()
        for lock in self.root.glob(f"*/*/{LOCK}"):
            with FileLock(lock):
                for entry in lock.parent.iterdir():
                    if entry.is_dir():
                        shutil.rmtree(entry)
                    elif entry.name != LOCK:
                        entry.unlink()
