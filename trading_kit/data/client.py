"""``MarketData``: Alpaca's stock market data as DataFrames, through the shared HTTP stack."""

from __future__ import annotations

import datetime as dt
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests
from alpaca.data.enums import Adjustment, DataFeed
from tqdm.auto import tqdm

from ..cache_policy import session_start
from ..connection import http_stack
from ..errors import CacheWarning, DatasetError, MarketDataError, StaleDataWarning
from ..http import HttpStack
from ..rate_limit import RateLimitStatus
from ..rules import EARLIEST, TICKER_HINT, rfc3339, ticker, to_utc, user_time
from . import frames
from .bar_store import DatasetParams
from .history_cache import HistoryCache, history_root
from .timeframes import default_lookback, parse_timeframe, span_for

if TYPE_CHECKING:
    from .bulk import DownloadReport

PAGE_LIMIT = 10_000  # Alpaca's largest page
TimeLike = str | dt.date | dt.datetime | pd.Timestamp


class MarketData:
    """Bars, latest quotes and trades, and snapshots for US stocks.

    Keys come from arguments or the environment (see ``trading_kit.config``); with
    none at all, requests go to the embedded local exchange. Every call goes through
    one cached, rate-limited, retrying HTTP stack (``trading_kit.http``), and every
    returned frame records where it came from in ``df.attrs``: ``from_cache``,
    ``stale`` and ``fetched_at`` (an RFC 3339 string; ``pd.Timestamp()`` reads it).
    """

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        data_url: str | None = None,
        trading_url: str | None = None,
        cache_path: str | None = None,
        feed: str | None = None,
        stack: HttpStack | None = None,
        **limits: float,
    ) -> None:
        self._stack = stack or http_stack(
            api_key,
            secret_key,
            trading_url=trading_url,
            data_url=data_url,
            cache_path=cache_path,
            **limits,
        )
        self.feed = _choice(feed, DataFeed, "feed") if feed else None
        self._ahead: ThreadPoolExecutor | None = None  # asks for next pages (see _pages)
        cache_file = self._stack.settings.cache_path
        self._history: HistoryCache | None = None
        if self._stack.transport is None:  # an exchange in this process: nothing is cached
            self._history = self._stack.cache.attach(  # type: ignore[assignment]
                "bars", HistoryCache(history_root(cache_file))
            )

    def __repr__(self) -> str:
        feed = f", feed={self.feed!r}" if self.feed else ""
        return f"MarketData(data_url={self._stack.settings.data_url!r}{feed})"

    @property
    def cache(self):  # -> CacheControl; annotated loosely to keep http's class private
        """``cache.info()`` and ``cache.clear()``."""
        return self._stack.cache

    @property
    def rate_limit(self) -> RateLimitStatus:
        """The request budget left in the rolling window (client and server view)."""
        return self._stack.limiter.status()

    # -- bars -------------------------------------------------------------------------
    def get_bars(
        self,
        symbols: str | Iterable[str],
        timeframe: Any = "1Day",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        limit: int | None = None,
        adjustment: str = "raw",
        feed: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ) -> pd.DataFrame:
        """OHLCV bars indexed by (``symbol``, ``timestamp``), every page followed.

        ``limit`` is per symbol (Alpaca's own ``limit`` counts across all symbols of a
        request, which starves the later ones, so each symbol is then fetched on its
        own). With ``start``, ``limit=500`` gives the first 500 bars of each symbol from
        ``start``; without ``start``, the last 500 up to ``end`` (or now), as a
        researcher asking for "500 bars" means. Without ``start`` or ``limit`` the
        request reaches back a span that fits the timeframe (5 days of minutes, 60 days
        of hours, a year of days, 5 years of weeks, 10 of months). Implicit starts are
        rounded to midnight UTC so repeated calls share cache entries. Naive times are
        UTC, as in Alpaca's API. ``progress`` shows a bar when more than one page is
        needed.
        """
        names = _symbols(symbols)
        frame = parse_timeframe(timeframe)
        end_ts = _timestamp(end, "end")
        start_ts = _timestamp(start, "start")
        limit = _limit(limit)
        latest_first = start_ts is None and limit is not None
        if start_ts is None:
            base = end_ts if end_ts is not None else pd.Timestamp.now(tz="UTC")
            start_ts = _lookback_start(frame, limit, base)
        if end_ts is not None and start_ts > end_ts:
            raise MarketDataError(f"start={start!r} is after end={end!r}; swap them.")
        params = {
            "timeframe": frame,
            "start": rfc3339(start_ts),
            "end": rfc3339(end_ts),
            "adjustment": _choice(adjustment, Adjustment, "adjustment"),
            "feed": _choice(feed, DataFeed, "feed") if feed else self.feed,
            "sort": "desc" if latest_first else None,
        }
        if use_cache and limit is None and params["adjustment"] == "raw" and self._history:
            return self._bars_with_history(names, params, start_ts, end_ts, progress)
        return self._series("bars", names, params, limit, use_cache, progress)

    def _bars_with_history(
        self,
        names: list[str],
        params: dict,
        start: pd.Timestamp,
        end: pd.Timestamp | None,
        progress: bool,
    ) -> pd.DataFrame:
        """Raw bars cut at today's session: the history before it from the decoded store
        (``history_cache``), fetching only what it lacks; the live edge through HTTP."""
        cut = session_start(dt.datetime.now(dt.timezone.utc))
        history_end = cut - pd.Timedelta(microseconds=1)
        if end is not None:
            history_end = min(end, history_end)
        pages: list[frames.Page] = []  # each symbol's history, then its live edge
        from_cache, stale, times = True, False, []
        history, read = self._history, None
        assert history is not None  # get_bars comes here only with a history cache
        if start <= history_end:

            def fetch(symbols: list[str], first: int, last: int) -> list[frames.Page]:
                query = {
                    **params,
                    "start": rfc3339(pd.Timestamp(first, tz="UTC")),
                    "end": rfc3339(pd.Timestamp(last, tz="UTC")),
                }
                return self._pages("bars", symbols, query, None, False, progress)[0]

            kind = DatasetParams(params["timeframe"], "raw", params["feed"])
            try:
                read = history.read(
                    self._stack.settings.data_url,
                    kind,
                    names,
                    start.value,
                    history_end.value,
                    fetch,
                )
            except DatasetError as problem:  # an unusable cache directory: go on without it
                self._history = None
                warnings.warn(
                    f"Decoded bar history cannot be kept ({problem}); bars go through the "
                    "HTTP cache only.",
                    CacheWarning,
                    stacklevel=3,
                )
                return self._series("bars", names, params, None, True, progress)
            self._stack.count(hits=0 if read.fetched_pages else 1, misses=read.fetched_pages)
            pages.extend(read.pages)
            from_cache = not read.fetched_pages
            times.append(read.fetched_at or pd.Timestamp.now(tz="UTC"))
        try:
            if end is None or end >= cut:
                live = self._series(
                    "bars",
                    names,
                    {**params, "start": rfc3339(max(start, cut))},
                    None,
                    True,
                    progress,
                )
                pages.append(frames.frame_page("bars", live))
                from_cache = from_cache and live.attrs["from_cache"]
                stale = live.attrs["stale"]
                times.append(pd.Timestamp(live.attrs["fetched_at"]))
            frame = frames.series_frame("bars", pages)
            return _provenance(frame, from_cache, stale, min(times))
        finally:  # the frame first, then the fetched history is stored behind the call
            if read is not None:
                history.keep(read)

    def get_quotes(
        self,
        symbols: str | Iterable[str],
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        limit: int | None = None,
        feed: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Historical quotes indexed by (``symbol``, ``timestamp``); ``limit`` per symbol."""
        params = self._range_params(start, end, feed)
        return self._series("quotes", _symbols(symbols), params, _limit(limit), use_cache, progress)

    def get_trades(
        self,
        symbols: str | Iterable[str],
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        limit: int | None = None,
        feed: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Historical trades indexed by (``symbol``, ``timestamp``); ``limit`` per symbol."""
        params = self._range_params(start, end, feed)
        return self._series("trades", _symbols(symbols), params, _limit(limit), use_cache, progress)

    # -- universe-scale history -------------------------------------------------------
    def download(
        self,
        symbols: str | Iterable[str] | None = None,
        timeframe: Any = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        adjustment: str | None = None,
        feed: str | None = None,
        workers: int = 4,
        progress: bool = True,
    ) -> DownloadReport:
        """Download bars of many symbols into a Parquet dataset at ``path``, resumably.

        Pages are written as they arrive (``symbol=…/year=…`` Parquet files, columns as
        ``get_bars``), so memory stays flat however large the download; ``workers``
        requests run at once within the shared rate budget. Interrupted (Ctrl+C, a crash,
        a SIGKILL), the same call continues where it stopped. Called again later, it
        fetches only what the dataset lacks: ``md.download(path=path)`` brings every
        symbol up to date with the same parameters. Returns a ``DownloadReport``; symbols
        without any bars are listed there and in a ``MissingDataWarning``. Read the
        dataset with ``trading_kit.open_dataset(path)`` (or Polars, DuckDB, Dask).
        """
        from .bar_store import BarStore, DatasetParams
        from .bulk import Downloader

        if path is None:
            raise DatasetError("path is required: the directory to write the dataset to.")
        existing = _existing_params(path)
        params = DatasetParams(
            timeframe=parse_timeframe(timeframe)
            if timeframe is not None
            else _need(existing, "timeframe").timeframe,
            adjustment=_choice(adjustment, Adjustment, "adjustment")
            if adjustment is not None
            else (existing.adjustment if existing else "raw"),
            feed=_choice(feed, DataFeed, "feed")
            if feed is not None
            else (existing.feed if existing else self.feed),
        )
        store = BarStore(path, params)
        stored = store.manifest.symbols
        names = _universe(symbols) if symbols is not None else sorted(stored)
        if not names:
            raise MarketDataError("No symbols given; pass a list such as ['AAPL', 'MSFT'].")
        start_ts = _timestamp(start, "start")
        if start_ts is None:
            firsts = [r.ranges[0][0] for r in stored.values() if r.ranges]
            if not firsts:
                raise MarketDataError(
                    "start is required for a new dataset, e.g. start='2024-01-02'."
                )
            start_ts = pd.Timestamp(min(firsts), tz="UTC")
        end_ts = _timestamp(end, "end")
        if end_ts is not None and start_ts > end_ts:
            raise MarketDataError(
                f"start {start_ts.isoformat()} is after end {end_ts.isoformat()}; swap them."
            )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise MarketDataError(f"workers must be a positive whole number, got {workers!r}.")
        return Downloader(self._stack, store, workers=workers, progress=progress).run(
            names, start_ts, end_ts
        )

    # -- latest values and snapshots --------------------------------------------------
    def get_latest_quote(self, symbol: str, *, feed: str | None = None, use_cache: bool = True):
        """The latest quote of one symbol: a one-row frame indexed by ``symbol``."""
        return self.get_multi_quotes([_one(symbol)], feed=feed, use_cache=use_cache)

    def get_latest_trade(self, symbol: str, *, feed: str | None = None, use_cache: bool = True):
        """The latest trade of one symbol: a one-row frame indexed by ``symbol``."""
        return self.get_multi_trades([_one(symbol)], feed=feed, use_cache=use_cache)

    def get_snapshot(self, symbol: str, *, feed: str | None = None, use_cache: bool = True):
        """Latest trade, quote, minute, daily and previous daily bar of one symbol."""
        return self.get_snapshots([_one(symbol)], feed=feed, use_cache=use_cache)

    def get_multi_quotes(
        self, symbols: Iterable[str], *, feed: str | None = None, use_cache: bool = True
    ) -> pd.DataFrame:
        """Latest quotes, one row per symbol."""
        payload, meta = self._latest("quotes/latest", symbols, feed, use_cache)
        return _with_provenance(frames.latest_frame("quotes", payload.get("quotes") or {}), meta)

    def get_multi_trades(
        self, symbols: Iterable[str], *, feed: str | None = None, use_cache: bool = True
    ) -> pd.DataFrame:
        """Latest trades, one row per symbol."""
        payload, meta = self._latest("trades/latest", symbols, feed, use_cache)
        return _with_provenance(frames.latest_frame("trades", payload.get("trades") or {}), meta)

    def get_snapshots(
        self, symbols: Iterable[str], *, feed: str | None = None, use_cache: bool = True
    ) -> pd.DataFrame:
        """Snapshots, one row per symbol, flattened (see ``frames.snapshot_frame``)."""
        payload, meta = self._latest("snapshots", symbols, feed, use_cache)
        snapshots = payload.get("snapshots", payload)  # Alpaca keys the body by symbol
        return _with_provenance(frames.snapshot_frame(snapshots or {}), meta)

    # -- plumbing ---------------------------------------------------------------------
    def _range_params(self, start: TimeLike, end: TimeLike | None, feed: str | None) -> dict:
        start_ts, end_ts = _timestamp(start, "start"), _timestamp(end, "end")
        if start_ts is None:
            raise MarketDataError("start is required for historical quotes and trades.")
        if end_ts is not None and start_ts > end_ts:
            raise MarketDataError(f"start={start!r} is after end={end!r}; swap them.")
        return {
            "start": rfc3339(start_ts),
            "end": rfc3339(end_ts),
            "feed": _choice(feed, DataFeed, "feed") if feed else self.feed,
        }

    def _latest(
        self, endpoint: str, symbols: Iterable[str], feed: str | None, use_cache: bool
    ) -> tuple[dict, list[requests.Response]]:
        params = {
            "symbols": ",".join(_symbols(symbols)),
            "feed": _choice(feed, DataFeed, "feed") if feed else self.feed,
        }
        response = self._get(f"/v2/stocks/{endpoint}", params, use_cache)
        return self._stack.json(response), [response]

    def _series(
        self,
        kind: str,
        symbols: list[str],
        params: dict,
        limit: int | None,
        use_cache: bool,
        progress: bool,
    ) -> pd.DataFrame:
        if limit is None or len(symbols) == 1:
            pages, meta = self._pages(kind, symbols, params, limit, use_cache, progress)
        else:  # per-symbol limit: one paginated walk per symbol, a few at a time
            pages, meta = [], []
            with ThreadPoolExecutor(max_workers=min(4, len(symbols))) as pool:
                walks = pool.map(
                    lambda s: self._pages(kind, [s], params, limit, use_cache, progress), symbols
                )
                for symbol_pages, symbol_meta in walks:
                    pages.extend(symbol_pages)
                    meta.extend(symbol_meta)
        frame = frames.series_frame(kind, pages)
        if params.get("sort") == "desc":
            frame = frame.sort_index()
        return _with_provenance(frame, meta)

    def _pages(
        self,
        kind: str,
        symbols: list[str],
        params: dict,
        limit: int | None,
        use_cache: bool,
        progress: bool,
    ) -> tuple[list[frames.Page], list[requests.Response]]:
        """Follow ``next_page_token`` until the data or ``limit`` runs out.

        Uncached walks without a limit ask for the next page while this one is decoded
        (its token is read off the body's end), so the wait for the server overlaps the
        decoding instead of adding to it.
        """
        pages: list[frames.Page] = []
        responses: list[requests.Response] = []
        bar = None
        fetched, token = 0, None
        ahead: Future[requests.Response] | None = None  # the next page, already asked for
        path = f"/v2/stocks/{kind}"
        try:
            while True:
                page_size = PAGE_LIMIT if limit is None else min(PAGE_LIMIT, limit - fetched)
                query = {
                    **params,
                    "symbols": ",".join(symbols),
                    "limit": page_size,
                    "page_token": token,
                }
                response = ahead.result() if ahead else self._get(path, query, use_cache)
                ahead = None
                responses.append(response)
                if use_cache:  # the same bytes may come from the cache again: remember them
                    page = self._stack.memo.get_or_make(
                        kind,
                        response.content,
                        lambda _, r=response: frames.decode_page(kind, self._stack.json(r)),
                        _rows,
                    )
                else:
                    peeked = _peek_token(response.content) if limit is None else None
                    if peeked:
                        ahead = self._prefetcher().submit(
                            self._get, path, {**query, "page_token": peeked}, False
                        )
                    page = frames.decode_page(kind, self._stack.json(response))
                    if ahead and page.next_page_token != peeked:  # never expected: ask again
                        ahead.result()
                        ahead = None
                pages.append(page)
                count = page.rows
                fetched += count
                token = page.next_page_token
                if not token or (limit is not None and fetched >= limit) or count == 0:
                    break
                if bar is None and progress and not getattr(response, "from_cache", False):
                    bar = tqdm(
                        total=limit, initial=count, unit=" " + kind, desc=",".join(symbols)[:30]
                    )
                elif bar is not None:
                    bar.update(count)
        finally:
            if ahead is not None:  # stopped early (an error, or an empty page): let it land
                ahead.cancel() or ahead.exception()
            if bar is not None:
                bar.update(fetched - bar.n)
                bar.close()
        return pages, responses

    def _prefetcher(self) -> ThreadPoolExecutor:
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(max_workers=4, thread_name_prefix="trading_kit-pages")
        return self._ahead

    def _get(self, path: str, params: Mapping[str, Any], use_cache: bool) -> requests.Response:
        query = {k: v for k, v in params.items() if v is not None}
        url = self._stack.settings.data_url + path
        return self._stack.request("GET", url, params=query, use_cache=use_cache)


_NEXT_TOKEN = re.compile(rb'"next_page_token"\s*:\s*(?:null|"([^"]*)")')


def _peek_token(body: bytes) -> str | None:
    """A page's ``next_page_token`` read off either end of the body, without parsing it."""
    for end in (body[-300:], body[:300]):
        found = _NEXT_TOKEN.search(end)
        if found:
            return found.group(1).decode() if found.group(1) is not None else None
    return None


def _rows(page: frames.Page) -> int:
    return page.rows


def _provenance(
    frame: pd.DataFrame, from_cache: bool, stale: bool, fetched_at: pd.Timestamp
) -> pd.DataFrame:
    """``df.attrs`` as plain JSON values (``fetched_at`` in RFC 3339), so ``to_parquet``
    and ``to_json``, which store the attrs, keep working on every frame we return."""
    frame.attrs.update(from_cache=from_cache, stale=stale, fetched_at=rfc3339(fetched_at))
    return frame


def _with_provenance(frame: pd.DataFrame, responses: Sequence[requests.Response]) -> pd.DataFrame:
    """Record in ``frame.attrs`` where the data came from; warn if any of it is stale."""
    cached = [bool(getattr(r, "from_cache", False)) for r in responses]
    stale = [bool(getattr(r, "served_stale", False)) for r in responses]
    now = pd.Timestamp.now(tz="UTC")
    times = [_created_at(r) if c else now for r, c in zip(responses, cached, strict=True)]
    _provenance(frame, bool(cached) and all(cached), any(stale), min(times) if times else now)
    if any(stale):
        age = now - min(t for t, s in zip(times, stale, strict=True) if s)
        warnings.warn(
            f"The request failed (server unreachable or erroring), so this data was served from an expired cache "
            f"entry fetched {_age(age)} ago (df.attrs['stale'] is True).",
            StaleDataWarning,
            stacklevel=3,
        )
    return frame


def _created_at(response: requests.Response) -> pd.Timestamp:
    return to_utc(response.created_at)  # type: ignore[attr-defined]


def _age(age: pd.Timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _lookback_start(frame: str, limit: int | None, base: pd.Timestamp) -> pd.Timestamp:
    """Where a request without ``start`` begins: far enough back for ``limit`` bars
    (never before 1970, however large the limit), else the timeframe's default span."""
    try:
        span = span_for(frame, limit) if limit is not None else default_lookback(frame)
        start = (base - span).normalize()
    except (OverflowError, ValueError):  # a limit reaching back past any calendar
        return EARLIEST
    return max(start, EARLIEST)


def _symbols(symbols: str | Iterable[str]) -> list[str]:
    if isinstance(symbols, str):
        items: list[Any] = symbols.split(",")
    elif isinstance(symbols, Iterable) and not isinstance(symbols, (bytes, Mapping)):
        items = list(symbols)
    else:
        raise MarketDataError(
            f"symbols={symbols!r} is not a ticker or a list of tickers; "
            "pass e.g. 'AAPL', 'AAPL,MSFT' or ['AAPL', 'MSFT']."
        )
    names: list[str] = []
    for item in items:
        name = ticker(item)
        if name is None:
            raise MarketDataError(f"Invalid symbol {item!r}: {TICKER_HINT}.")
        if name not in names:
            names.append(name)
    if not names:
        raise MarketDataError("No symbols given; pass a ticker such as 'AAPL' or a list of them.")
    return sorted(names)  # one spelling of each request, so the cache recognises it


def _universe(symbols: str | Iterable[str]) -> list[str]:
    """Every ticker of a (possibly long) list, or one error naming all the malformed ones."""
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    names = [ticker(item) for item in items]
    bad = [item for item, name in zip(items, names, strict=True) if name is None]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:20]) + (" …" if len(bad) > 20 else "")
        raise MarketDataError(
            f"{len(bad)} invalid symbol(s): {shown}; {TICKER_HINT}. Nothing was downloaded."
        )
    return sorted(set(n for n in names if n))


def _existing_params(path: str | os.PathLike[str]):
    """The parameters of the dataset at ``path``, or ``None`` if there is none yet."""
    from .bar_store import MANIFEST, BarStore

    if not (Path(path).expanduser() / MANIFEST).exists():
        return None
    return BarStore(path).params


def _need(existing: Any, name: str) -> Any:
    if existing is None:
        raise MarketDataError(f"{name} is required for a new dataset, e.g. timeframe='1Min'.")
    return existing


def _one(symbol: str) -> str:
    if not isinstance(symbol, str) or "," in symbol:
        raise MarketDataError(
            f"Expected one symbol, got {symbol!r}; use the get_multi_* / get_snapshots methods for several."
        )
    return symbol


def _limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise MarketDataError(f"limit must be a positive whole number of items, got {limit!r}.")
    return limit


def _timestamp(value: TimeLike | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return user_time(value)
    except ValueError as why:
        raise MarketDataError(f"{name}={value!r} {why}.") from None


def _choice(value: Any, enum: Any, name: str) -> str:
    """A value from alpaca-py's enum (case-insensitive), or a ``MarketDataError`` listing them."""
    text = str(getattr(value, "value", value)).strip().lower()
    accepted = [member.value for member in enum]
    if text not in accepted:
        raise MarketDataError(f"Unknown {name} {value!r}; use one of {', '.join(accepted)}.")
    return text
