"""Universe-scale history: a resumable download of bars into a Parquet dataset, at the rate limit.

A study of 500 symbols × 5 years of minutes is about 245 million bars, 24,500 pages of
10,000, two hours at Alpaca's 200 requests a minute: too big for a DataFrame, too long
to lose to a crash. So the work is cut into *chains* (some symbols over one time range,
followed page by page with ``next_page_token``); each page is written to the dataset
(``bar_store.BarStore``) as it arrives and recorded in the manifest with the token of
the next one, so memory stays flat and a killed download continues where it stopped,
fetching no recorded page again. A few chains run at once, because at real latencies
one request at a time cannot use the budget; the shared rate limiter keeps the pace.

What is fetched is what the dataset lacks: per symbol, the parts of [start, end] its
stored ranges do not cover. Run again later with a later ``end`` (the default: now), a
download fetches only the bars after the last one stored (an update, as vectorbt's
``Data.update()``). Only complete bars are stored (``end`` is capped at now minus one
bar), and the live edge is asked again next time.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..cache_policy import session_start
from ..errors import DatasetError, MissingDataWarning, TradingKitError
from ..http import HttpStack
from ..rules import rfc3339
from . import frames
from .bar_store import (
    MICROSECOND,
    BarStore,
    Chain,
    DatasetParams,
    Manifest,
    SymbolState,
    merged,
    missing,
)
from .timeframes import duration

PAGE_LIMIT = 10_000  # Alpaca's largest page
PAGES_PER_CHAIN = 20  # a chain ends with one part-filled page: keep that waste small
MAX_SYMBOLS_PER_REQUEST = 500  # keeps the URL well within any server's limit


@dataclass
class DownloadReport:
    """What a download did (``str()`` says it in one line)."""

    path: Path
    params: DatasetParams
    symbols: list[str]
    pages: int = 0
    rows: int = 0
    seconds: float = 0.0
    resumed_chains: int = 0
    no_data: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        text = (
            f"{self.path}: {len(self.symbols)} symbols of {self.params}; this run fetched "
            f"{self.pages} pages, {self.rows:,} bars in {self.seconds:.1f} s ({rate:,.0f} bars/s)"
        )
        if self.resumed_chains:
            text += f", finishing {self.resumed_chains} interrupted walk(s)"
        if self.no_data:
            text += f"; no bars for {len(self.no_data)}: {', '.join(self.no_data[:20])}"
            text += " …" if len(self.no_data) > 20 else ""
        return text


# -- planning (pure) ----------------------------------------------------------------------
def plan(
    manifest: Manifest,
    symbols: Sequence[str],
    lo: int,
    hi: int,
    *,
    cut: int,
    workers: int,
    timeframe: str,
) -> list[Chain]:
    """New chains for what ``symbols`` lack in [lo, hi], beside the unfinished ones.

    Symbols lacking the same ranges share requests (a page holds many symbols); a big
    range is cut into enough chains to keep ``workers`` busy, each long enough that the
    part-filled last page of each wastes little of the budget. ``cut`` is the start of
    today's session: a chain ending before it covers its whole range once done.
    """
    busy: dict[str, list[tuple[int, int]]] = {}
    for chain in manifest.chains.values():
        for symbol in chain.symbols:
            busy[symbol] = merged(busy.get(symbol, []), chain.start, chain.end)
    groups: dict[tuple[tuple[int, int], ...], list[str]] = {}
    for symbol in symbols:
        known = manifest.symbols.get(symbol, SymbolState()).ranges
        taken = known
        for a, b in busy.get(symbol, []):
            taken = merged(taken, a, b)
        gaps = tuple(missing(taken, lo, hi))
        if gaps:
            groups.setdefault(gaps, []).append(symbol)
    chains = []
    for gaps, members in groups.items():
        for a, b in gaps:
            chains.extend(_split(sorted(members), a, b, cut, workers, timeframe))
    return chains


def _split(
    symbols: list[str], lo: int, hi: int, cut: int, workers: int, timeframe: str
) -> list[Chain]:
    pages = len(symbols) * estimated_bars(timeframe, lo, hi) / PAGE_LIMIT
    wanted = max(1, min(4 * workers, int(pages // PAGES_PER_CHAIN)))
    batches = max(min(wanted, len(symbols)), math.ceil(len(symbols) / MAX_SYMBOLS_PER_REQUEST))
    windows = max(1, wanted // batches)
    step = (hi - lo + 1) / windows
    starts = [lo + int(i * step) // MICROSECOND * MICROSECOND for i in range(windows)]
    ends = [s - MICROSECOND for s in starts[1:]] + [hi]
    bounds = list(zip(starts, ends, strict=True))
    chains = []
    for batch in np.array_split(np.array(symbols, dtype=object), batches):
        for a, b in bounds:
            if a > b:
                continue
            key = f"{','.join(batch)}|{a}|{b}".encode()
            chains.append(
                Chain(
                    id=hashlib.blake2b(key, digest_size=6).hexdigest(),
                    symbols=list(batch),
                    start=a,
                    end=b,
                    history=b < cut,
                )
            )
    return chains


def estimated_bars(timeframe: str, lo: int, hi: int) -> float:
    """Roughly how many bars one symbol has in [lo, hi]: weekdays, 16 trading hours a day
    (extended hours included), one bar per weekday for days and longer."""
    days = max((hi - lo) / 86_400e9, 0.0) * 5 / 7
    step = duration(timeframe).total_seconds()
    if step >= 86_400:
        return max(days * 86_400 / step, 1.0)
    return max(days * 16 * 3600 / step, 1.0)


# -- running ------------------------------------------------------------------------------
class Downloader:
    """Runs the chains of one download with a few threads under the shared rate limiter."""

    def __init__(
        self,
        stack: HttpStack,
        store: BarStore,
        *,
        workers: int = 4,
        progress: bool = True,
    ) -> None:
        self._stack = stack
        self._store = store
        self._workers = workers
        self._show = progress
        self._stop = threading.Event()
        self._url = stack.settings.data_url + "/v2/stocks/bars"

    def run(
        self, symbols: Sequence[str], start: pd.Timestamp, end: pd.Timestamp | None
    ) -> DownloadReport:
        params = self._store.params
        now = pd.Timestamp.now(tz="UTC")
        last_complete = now - duration(params.timeframe)
        hi = min(end, last_complete) if end is not None else last_complete
        report = DownloadReport(self._store.root, params, list(symbols))
        started = time.monotonic()
        with self._store.writing():
            manifest = self._store.manifest
            resumed = list(manifest.chains.values())
            report.resumed_chains = len(resumed)
            fresh = []
            if start <= hi:
                fresh = plan(
                    manifest,
                    symbols,
                    start.value,
                    hi.value,
                    cut=session_start(now).value,
                    workers=self._workers,
                    timeframe=params.timeframe,
                )
            chains = resumed + fresh
            with _Progress(chains, self._stack, params.timeframe, enabled=self._show) as bar:
                self._run(chains, bar, report)
        report.seconds = time.monotonic() - started
        stored = self._store.manifest.symbols
        report.no_data = [s for s in symbols if stored.get(s, SymbolState()).rows == 0]
        if report.no_data:
            warnings.warn(
                f"No bars for {len(report.no_data)} of {len(symbols)} symbols (unknown to the data "
                f"API, or no trading from {start.date()} on): {', '.join(report.no_data)}. "
                "They were skipped; the rest is in the dataset.",
                MissingDataWarning,
                stacklevel=3,
            )
        return report

    def _run(self, chains: list[Chain], bar: _Progress, report: DownloadReport) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, min(self._workers, len(chains) or 1)))
        futures = [pool.submit(self._walk, chain, bar, report) for chain in chains]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                self._stop.set()
                wait(futures)
                raise self._failure(failed[0].exception())  # type: ignore[arg-type]
        except BaseException:  # KeyboardInterrupt included: stop after the pages under way
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _failure(self, error: BaseException) -> BaseException:
        if not isinstance(error, TradingKitError) or isinstance(error, DatasetError):
            return error
        message = (
            f"{error} The download stopped; every page fetched before is saved in "
            f"{self._store.root}. Run the same download again to continue from there."
        )
        again = type(error)(message)
        again.__dict__.update(error.__dict__)
        return again

    def _walk(self, chain: Chain, bar: _Progress, report: DownloadReport) -> None:
        params = self._store.params
        base = {
            "symbols": ",".join(chain.symbols),
            "timeframe": params.timeframe,
            "start": rfc3339(pd.Timestamp(chain.start, tz="UTC")),
            "end": rfc3339(pd.Timestamp(chain.end, tz="UTC")),
            "adjustment": params.adjustment,
            "feed": params.feed,
            "limit": PAGE_LIMIT,
        }
        base = {k: v for k, v in base.items() if v is not None}
        while not self._stop.is_set():
            query = {**base, "page_token": chain.token} if chain.token else base
            response = self._stack.request("GET", self._url, params=query, use_cache=False)
            page = frames.decode_page("bars", response.content)
            staged = self._store.stage(page.columns)
            fetched_at = pd.Timestamp.now(tz="UTC").value
            self._store.commit(staged, partial(record_page, chain=chain, page=page, at=fetched_at))
            with bar.lock:
                report.pages += 1
                report.rows += page.rows
            bar.page(chain, page)
            if not page.next_page_token:
                return


def record_page(manifest: Manifest, *, chain: Chain, page: frames.Page, at: int) -> None:
    """A page is stored: advance its chain (next token, counts, last bar per symbol)."""
    chain.token = page.next_page_token
    chain.pages += 1
    chain.rows += page.rows
    for symbol, columns in page.columns.items():
        stamps = columns["timestamp"]
        if len(stamps):
            last = int(stamps[-1].astype("datetime64[ns]").astype(np.int64))
            chain.last[symbol] = max(chain.last.get(symbol, last), last)
            chain.counts[symbol] = chain.counts.get(symbol, 0) + len(stamps)
    if chain.token:
        manifest.chains[chain.id] = chain
    else:
        complete(manifest, chain, at)


def complete(manifest: Manifest, chain: Chain, fetched_at: int) -> None:
    """A finished chain's ranges become its symbols' coverage; the chain is dropped."""
    for symbol in chain.symbols:
        state = manifest.symbols.setdefault(symbol, SymbolState())
        end = chain.end if chain.history else chain.last.get(symbol)
        if end is not None:
            state.ranges = merged(state.ranges, chain.start, end)
        state.rows += chain.counts.get(symbol, 0)
        if state.fetched_at is None:
            state.fetched_at = fetched_at
    manifest.chains.pop(chain.id, None)


# -- progress -----------------------------------------------------------------------------
class _Progress:
    """One tqdm bar over pages: rows, the share of the rate budget in use, and an ETA.

    The total is an estimate that sharpens as pages arrive: each page says how far its
    chain has got (which symbol, how far through the range), and chains not yet begun
    are scaled by what the others turned out to hold. The ETA is the larger of the
    time at the pace seen so far and the time the rate budget allows for what is left.
    """

    def __init__(
        self, chains: list[Chain], stack: HttpStack, timeframe: str, enabled: bool
    ) -> None:
        self.lock = threading.Lock()
        self._stack = stack
        self._guess = {
            c.id: max(1.0, len(c.symbols) * estimated_bars(timeframe, c.start, c.end) / PAGE_LIMIT)
            for c in chains
        }
        self._done_pages = {c.id: c.pages for c in chains}  # resumed chains start part-way
        self._fraction = {c.id: 0.0 for c in chains}
        self._chains = {c.id: c for c in chains}
        self._rows = 0
        self._started = time.monotonic()
        self._fetched = 0
        self._bar = None
        if enabled and chains:
            self._bar = tqdm(
                total=max(1, round(sum(self._guess.values()))),
                initial=sum(self._done_pages.values()),
                unit=" pages",
                desc="download",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} pages [{elapsed}{postfix}]",
                dynamic_ncols=True,
            )

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            if exc[0] is None:
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()

    def page(self, chain: Chain, page: frames.Page) -> None:
        with self.lock:
            self._done_pages[chain.id] = chain.pages
            self._rows += page.rows
            self._fetched += 1
            self._fraction[chain.id] = 1.0 if not page.next_page_token else _reached(chain, page)
            if self._bar is None:
                return
            total = self._estimated_total()
            status = self._stack.limiter.status()
            used = status.limit - status.remaining
            self._bar.total = max(round(total), self._bar.n + 1)
            self._bar.update(sum(self._done_pages.values()) - self._bar.n)
            self._bar.set_postfix_str(
                f"{self._rows:,} bars, rate {used}/{status.limit} per {status.window_seconds:g} s, "
                f"eta {_clock(self._eta(total - self._bar.n, status))}",
                refresh=False,
            )

    def _estimated_total(self) -> float:
        started = [
            (self._done_pages[i], f, self._guess[i]) for i, f in self._fraction.items() if f > 0
        ]
        scale = sum(p / f for p, f, _ in started) / sum(g for *_, g in started) if started else 1.0
        total = 0.0
        for cid, fraction in self._fraction.items():
            if fraction >= 1.0:
                total += self._done_pages[cid]
            elif fraction > 0:
                total += max(self._done_pages[cid] / fraction, self._done_pages[cid] + 1)
            else:
                total += self._guess[cid] * scale
        return total

    def _eta(self, left: float, status) -> float:
        elapsed = time.monotonic() - self._started
        pace = elapsed / self._fetched * left if self._fetched else 0.0
        beyond_budget = max(left - status.remaining, 0.0)
        budget = beyond_budget / status.limit * status.window_seconds
        return max(pace, budget)


def _reached(chain: Chain, page: frames.Page) -> float:
    """How far through its chain a page got: symbols done plus the share of the range."""
    if not page.columns:
        return 0.0
    symbol = max(page.columns)
    stamps = page.columns[symbol]["timestamp"]
    position = chain.symbols.index(symbol) if symbol in chain.symbols else 0
    share = 0.0
    if len(stamps):
        last = int(stamps[-1].astype("datetime64[ns]").astype(np.int64))
        share = (last - chain.start) / max(chain.end - chain.start, 1)
    return min(max((position + share) / len(chain.symbols), 1e-6), 0.999)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )
