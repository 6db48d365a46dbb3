"""Decoded bar history on disk, so a new kernel reads yesterday's bars without any JSON.

The HTTP cache keeps raw JSON: a new process decodes every cached page again (10 s for a
million bars, as long as fetching them). Bars that ended before today's session never
change (the cache policy keeps raw ones forever), so ``get_bars`` keeps them here instead,
decoded, in the same Parquet layout as a downloaded dataset (``bar_store.BarStore``): one
store per (server, timeframe, feed) under ``<cache file>.bars/``, e.g.
``http_cache.bars/data.alpaca.markets/1Min-raw-default/symbol=AAPL/year=2024/…``.

A request is cut at the start of today's session: the history before it is read from
here, fetching (without the HTTP cache) only the ranges each symbol lacks; the live edge
after it goes through the HTTP cache as before. Stored ranges are per symbol, so a call
with other dates or more symbols fetches only what is new, and re-running tomorrow
fetches one more day. ``md.cache.info()`` counts these files, ``md.cache.clear()``
empties them, and a frame served from here says ``from_cache`` with the time it was
first fetched, as an HTTP cache hit does.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from filelock import FileLock

from . import frames
from .bar_store import LOCK, BarStore, DatasetParams, Manifest, SymbolState, merged, missing

#: Fetch the pages of bars for (symbols, first, last) (UTC ns, inclusive), HTTP cache bypassed.
Fetch = Callable[[list[str], int, int], list[frames.Page]]


def history_root(cache_path: str | Path) -> Path:
    """Where the decoded history of an HTTP cache file lives: ``http_cache.sqlite`` →
    ``http_cache.bars/``."""
    return Path(cache_path).with_suffix(".bars")


@dataclass(frozen=True)
class HistoryRead:
    """Bars read from the store, and whether any of them had to be fetched first."""

    frame: pd.DataFrame
    fetched_pages: int
    fetched_at: pd.Timestamp | None  # when the oldest of the bars was first fetched


class HistoryCache:
    """The decoded-history stores of one HTTP cache, and what ``cache.info()`` says of them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._stores: dict[Path, BarStore] = {}
        self._lock = threading.Lock()

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
        """Bars of ``symbols`` in [first, last], fetching only the ranges not yet stored."""
        store = self._store(data_url, params)
        pages = 0
        with store.writing(wait=True):  # one writer; readers see no half-recorded fetch
            groups: dict[tuple[tuple[int, int], ...], list[str]] = {}
            for symbol in symbols:
                known = store.manifest.symbols.get(symbol, SymbolState()).ranges
                gaps = tuple(missing(known, first, last))
                if gaps:
                    groups.setdefault(gaps, []).append(symbol)
            for gaps, members in groups.items():
                for lo, hi in gaps:
                    fetched = fetch(members, lo, hi)
                    pages += len(fetched)
                    self._keep(store, members, lo, hi, fetched)
            states = [store.manifest.symbols[s] for s in symbols if s in store.manifest.symbols]
            stamps = [s.fetched_at for s in states if s.fetched_at is not None]
            frame = store.read_frame(symbols, first, last)
        return HistoryRead(frame, pages, pd.Timestamp(min(stamps), tz="UTC") if stamps else None)

    def _keep(
        self, store: BarStore, symbols: list[str], lo: int, hi: int, pages: list[frames.Page]
    ) -> None:
        """Store one fetched range: a file per symbol and year, then record the range."""
        by_symbol: dict[str, list] = {}
        for page in pages:
            for symbol, columns in page.columns.items():
                by_symbol.setdefault(symbol, []).append(columns)
        columns = {
            symbol: {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
            for symbol, parts in by_symbol.items()
        }
        staged = store.stage(columns)
        now = pd.Timestamp.now(tz="UTC").value

        def record(manifest: Manifest) -> None:
            for symbol in symbols:
                state = manifest.symbols.setdefault(symbol, SymbolState())
                state.ranges = merged(state.ranges, lo, hi)
                state.rows += len(columns[symbol]["timestamp"]) if symbol in columns else 0
                state.fetched_at = now if state.fetched_at is None else state.fetched_at

        store.commit(staged, record)

    def _store(self, data_url: str, params: DatasetParams) -> BarStore:
        server = re.sub(
            r"[^A-Za-z0-9.\-]+", "_", urlsplit(data_url).netloc + urlsplit(data_url).path
        )
        kind = f"{params.timeframe}-{params.adjustment}-{params.feed or 'default'}"
        path = self.root / server / kind
        with self._lock:
            store = self._stores.get(path)
            if store is None:
                store = self._stores[path] = BarStore(path, params)
            return store

    # -- what cache.info() and cache.clear() see -------------------------------------------
    def entries(self) -> int:
        """Parquet files held (one per symbol, year and fetched range)."""
        return sum(1 for _ in self.root.glob("*/*/symbol=*/year=*/part-*.parquet"))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def clear(self) -> None:
        """Delete every stored bar; each store is emptied under its own lock."""
        with self._lock:
            self._stores.clear()
        for lock in self.root.glob(f"*/*/{LOCK}"):
            with FileLock(lock):
                for entry in lock.parent.iterdir():
                    if entry.is_dir():
                        shutil.rmtree(entry)
                    elif entry.name != LOCK:
                        entry.unlink()
