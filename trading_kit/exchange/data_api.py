"""Alpaca's market-data v2 stock endpoints, served from a ``Market`` and a ``Clock``.

Spoken exactly as alpaca-py's ``StockHistoricalDataClient`` calls them (``url_override``
pointing here): bars, quotes and trades (historical, paginated), their ``/latest``
variants, and snapshots, each in the multi-symbol form alpaca-py uses and the
single-symbol form (``/v2/stocks/{symbol}/...``) of Alpaca's REST reference.

Rules kept from Alpaca:

* ``start`` and ``end`` are inclusive, RFC 3339 or YYYY-MM-DD (a date means New York
  midnight; an ``end`` date covers that whole day). ``start`` defaults to the start of
  the current New York day, ``end`` to now. Nothing after the exchange clock's "now" is
  ever served: a bar whose bucket is still running is built from its completed minutes.
* ``limit`` (default 1000, at most 10000) counts items across all symbols of a page.
  A page holds symbols in the order asked; ``next_page_token`` (opaque base64, null on
  the last page) says where the next page continues.
* Unknown symbols get no data (omitted), as Alpaca does; bad parameters get a 400
  ``{"code": 40010001, "message": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from trading_kit.exchange import wire
from trading_kit.exchange.calendar import DAY_NS, SPAN_END, SPAN_START, within_span
from trading_kit.exchange.clock import Clock
from trading_kit.exchange.market import Market, Timeframe, parse_timeframe
from trading_kit.exchange.market_records import (
    BAR_FIELDS,
    QUOTE_FIELDS,
    TRADE_FIELDS,
    quote_constants,
    records,
    trade_constants,
)
from trading_kit.exchange.trading_api import in_thread
from trading_kit.rules import NEW_YORK, rfc3339, to_utc

try:  # orjson is several times faster on 10,000-item pages; json is the fallback
    import orjson

    def _dumps(payload: object) -> bytes:
        return orjson.dumps(payload)

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(payload: object) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()


DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
FEEDS = frozenset({"sip", "iex", "otc", "delayed_sip", "boats", "overnight"})
ADJUSTMENTS = frozenset({"raw", "split", "dividend", "spin-off", "all"})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)


def _bad(message: str) -> wire.AlpacaError:
    return wire.invalid_query(message)


# ---------------------------------------------------------------------------------------
# Query parameters
# ---------------------------------------------------------------------------------------


def _parse_time(name: str, text: str, is_end: bool) -> int:
    """RFC 3339 or YYYY-MM-DD to UTC ns; an ``end`` date means the end of that day.

    Any year from 1 to 9999 is accepted and clamped to the exchange's span (no data
    exists outside it), so ``start=0001-01-01`` means "from the beginning".
    """
    text = text.strip()
    if _DATE_RE.match(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise _bad(f"invalid {name}: {text!r}") from None
        midnight = pd.Timestamp(max(min(day, SPAN_END.date()), SPAN_START.date()))
        if is_end:
            midnight += pd.Timedelta(days=1)
        ns = midnight.tz_localize(NEW_YORK).tz_convert("UTC").value
        return ns - 1 if is_end else ns
    # A "+" in an unencoded query string arrives as a space: put it back.
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
    if not _TIME_RE.match(text):
        raise _bad(f"invalid {name}: {text!r} (use RFC 3339 or YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(text[:10])
        if not SPAN_START.year <= day.year < SPAN_END.year:
            edge = SPAN_START if day.year < SPAN_START.year else SPAN_END
            return int(edge.value)
        return int(within_span(to_utc(text)).value)
    except ValueError:
        raise _bad(f"invalid {name}: {text!r}") from None


@dataclass(frozen=True)
class _Query:
    symbols: list[str]
    start: int  # inclusive, UTC ns
    end: int  # inclusive, UTC ns, already capped at now
    limit: int
    desc: bool
    token: tuple[str, int] | None


def _query(request: Request, clock: Clock, symbols: list[str] | None = None) -> _Query:
    params = request.query_params
    if symbols is None:
        raw = params.get("symbols", "")
        symbols = list(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
        if not symbols:
            raise _bad("missing symbols: pass symbols=AAPL,MSFT")
    now = clock.now().value
    today = pd.Timestamp(now, tz="UTC").tz_convert(NEW_YORK).normalize().tz_convert("UTC").value
    start = _parse_time("start", params["start"], False) if params.get("start") else today
    end = _parse_time("end", params["end"], True) if params.get("end") else now
    if params.get("end") and end < start:
        raise _bad("end should not be before start")
    # A start after the exchange's "now" (a manual clock behind the caller's) is no error:
    # there is simply no data yet, as for any start in the future.
    limit_text = params.get("limit") or str(DEFAULT_LIMIT)
    try:
        limit = int(limit_text)
    except ValueError:
        raise _bad(f"invalid limit: {limit_text!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad(f"invalid limit: {limit} (must be between 1 and {MAX_LIMIT})")
    sort = (params.get("sort") or "asc").lower()
    if sort not in ("asc", "desc"):
        raise _bad(f"invalid sort: {sort!r} (asc or desc)")
    feed = params.get("feed")
    if feed and feed.lower() not in FEEDS:
        raise _bad(f"invalid feed: {feed!r}")
    currency = params.get("currency")
    if currency and currency.upper() != "USD":
        raise _bad(f"unsupported currency: {currency!r} (the local exchange quotes in USD)")
    adjustment = params.get("adjustment")
    if adjustment and not all(p.strip() in ADJUSTMENTS for p in adjustment.split(",")):
        raise _bad(f"invalid adjustment: {adjustment!r}")
    token = _decode_token(params["page_token"]) if params.get("page_token") else None
    if token is not None and token[0] not in symbols:
        raise _bad("invalid page_token: it does not belong to these symbols")
    return _Query(symbols, start, min(end, now), limit, sort == "desc", token)


def _encode_token(symbol: str, ns: int) -> str:
    return base64.urlsafe_b64encode(_dumps([symbol, ns])).decode()


def _decode_token(token: str) -> tuple[str, int]:
    try:
        symbol, ns = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(symbol, str) and isinstance(ns, int):
            return symbol, ns
    except (ValueError, TypeError, binascii.Error):
        pass
    raise _bad("invalid page_token")


# ---------------------------------------------------------------------------------------
# Pagination over (symbol, time)
# ---------------------------------------------------------------------------------------

Fetch = Callable[[str, int, int], pd.DataFrame]  # items stamped in [lo, hi], both inclusive


def _paginate(
    market: Market, q: _Query, fetch: Fetch, span: int
) -> tuple[dict[str, pd.DataFrame], str | None]:
    """Fill one page of ``q.limit`` items, symbol after symbol, in chunks of ``span`` ns.

    One item beyond the limit is fetched: if it exists, it is where the next page starts.
    """
    page: dict[str, list[pd.DataFrame]] = {}
    count = 0
    first = q.symbols.index(q.token[0]) if q.token else 0
    for position in range(first, len(q.symbols)):
        symbol = q.symbols[position]
        known = market.data_range(symbol) if market.asset(symbol) is not None else None
        if known is None:
            continue
        lo, hi = max(q.start, known[0].value), min(q.end, known[1].value)
        if q.token and position == first:
            lo, hi = (lo, min(hi, q.token[1])) if q.desc else (max(lo, q.token[1]), hi)
        while lo <= hi:
            a, b = (max(lo, hi - span + 1), hi) if q.desc else (lo, min(hi, lo + span - 1))
            if q.desc:
                hi = a - 1
            else:
                lo = b + 1
            items = fetch(symbol, a, b)
            if q.desc:
                items = items.iloc[::-1]
            items = items.iloc[: q.limit + 1 - count]
            if len(items) == 0:
                continue
            count += len(items)
            if count > q.limit:
                page.setdefault(symbol, []).append(items.iloc[:-1])
                token = _encode_token(symbol, int(items.index[-1].value))
                return _concat(page), token
            page.setdefault(symbol, []).append(items)
    return _concat(page), None


def _concat(page: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    out = {}
    for symbol, parts in page.items():
        frame = pd.concat(parts) if len(parts) > 1 else parts[0]
        if len(frame):
            out[symbol] = frame
    return out


def _bar_span(tf: Timeframe) -> int:
    """Chunk length for a timeframe. Every bar is built from its 1-minute bars, so a
    chunk is bounded in minutes as well as in bars: the newest 100 months need about
    nine years of minutes, not every minute since the request's start."""
    if tf.unit == "Min":
        return tf.amount * 4 * DAY_NS
    if tf.unit == "Hour":
        return tf.amount * 90 * DAY_NS
    return 3 * 365 * DAY_NS  # days, weeks, months: about 300,000 minutes a chunk


# ---------------------------------------------------------------------------------------
# JSON rows (built column-wise: a 10,000-bar page is a few milliseconds)
# ---------------------------------------------------------------------------------------


def _times(frame: pd.DataFrame) -> list[str]:
    ns = frame.index.as_unit("ns").asi8
    unit = "s" if not (ns % 1_000_000_000).any() else "us"
    return [f"{t}Z" for t in np.datetime_as_string(ns.view("datetime64[ns]"), unit=unit)]


def _bar_rows(frame: pd.DataFrame) -> list[dict]:
    return records(frame, BAR_FIELDS, times=_times(frame))


def _rfc3339(t: pd.Timestamp) -> str | None:
    return rfc3339(pd.Timestamp(t))


def _latest_quote_json(quote: dict) -> dict:
    return {
        "t": _rfc3339(quote["t"]),
        "ax": quote["ask_exchange"],
        "ap": quote["ask_price"],
        "as": quote["ask_size"],
        "bx": quote["bid_exchange"],
        "bp": quote["bid_price"],
        "bs": quote["bid_size"],
        "c": quote["conditions"],
        "z": quote["tape"],
    }


def _latest_trade_json(trade: dict) -> dict:
    return {
        "t": _rfc3339(trade["t"]),
        "x": trade["exchange"],
        "p": trade["price"],
        "s": trade["size"],
        "c": trade["conditions"],
        "i": trade["id"],
        "z": trade["tape"],
    }


def _json(payload: object, status: int = 200) -> Response:
    return Response(_dumps(payload), status_code=status, media_type="application/json")


# ---------------------------------------------------------------------------------------
# The routes
# ---------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def _alpaca_errors(handler: Callable[[Request], Response], *, offload: bool = True) -> Handler:
    """Bad input becomes Alpaca's ``{"code", "message"}``; these routes never answer 500.

    A page of history runs in the thread pool (``offload``): building 10,000 bars takes
    tens of milliseconds, which must not stall the event loop (and the order routes)
    meanwhile. A latest quote or trade is one lookup, cheaper than the hop to a thread,
    so it runs inline as the order routes do.
    """

    async def endpoint(request: Request) -> Response:
        try:
            if not offload:
                return handler(request)
            return await in_thread(handler, request)
        except wire.AlpacaError as error:
            return error.response()
        except ValueError as error:  # e.g. a timeframe or adjustment the market refuses
            return wire.invalid_query(str(error)).response()

    endpoint.__name__ = handler.__name__
    return endpoint


class _DataApi:
    def __init__(self, market: Market, clock: Clock) -> None:
        self.market = market
        self.clock = clock

    # -- historical ------------------------------------------------------------------------

    def _bars_page(self, request: Request, symbols: list[str] | None):
        q = _query(request, self.clock, symbols)
        text = request.query_params.get("timeframe", "")
        if not text:
            raise _bad("missing timeframe: pass e.g. timeframe=1Min, 1Hour or 1Day")
        try:
            tf = parse_timeframe(text)
        except ValueError:
            raise _bad(
                f"invalid timeframe: {text!r} (use [1-59]Min, [1-23]Hour, 1Day, 1Week "
                "or [1,2,3,4,6,12]Month)"
            ) from None
        adjustment = request.query_params.get("adjustment") or "raw"
        now = self.clock.now().value

        def fetch(symbol: str, lo: int, hi: int) -> pd.DataFrame:
            cutoff = min(tf.next_boundary(pd.Timestamp(hi, tz="UTC")), now)
            frame = self.market.bars(
                symbol,
                str(tf),
                pd.Timestamp(lo, tz="UTC"),
                pd.Timestamp(cutoff, tz="UTC"),
                adjustment,
            )
            return frame[frame.index.asi8 <= hi]

        return _paginate(self.market, q, fetch, _bar_span(tf))

    def _ticks_page(self, request: Request, symbols: list[str] | None, kind: str):
        q = _query(request, self.clock, symbols)
        series = self.market.quotes if kind == "quotes" else self.market.trades

        def fetch(symbol: str, lo: int, hi: int) -> pd.DataFrame:
            return series(symbol, pd.Timestamp(lo, tz="UTC"), pd.Timestamp(hi + 1, tz="UTC"))

        span = DAY_NS // 2 if kind == "quotes" else DAY_NS
        return _paginate(self.market, q, fetch, span)

    def _rows(self, kind: str, symbol: str, frame: pd.DataFrame) -> list[dict]:
        if kind == "bars":
            return _bar_rows(frame)
        if kind == "quotes":
            return records(frame, QUOTE_FIELDS, quote_constants(self.market, symbol), _times(frame))
        return records(frame, TRADE_FIELDS, trade_constants(self.market, symbol), _times(frame))

    def historical(self, kind: str, single: bool) -> Handler:
        def handler(request: Request) -> Response:
            symbol = request.path_params.get("symbol") if single else None
            symbols = [symbol] if symbol else None
            if kind == "bars":
                page, token = self._bars_page(request, symbols)
            else:
                page, token = self._ticks_page(request, symbols, kind)
            if single:
                frame = page.get(symbol)
                rows = [] if frame is None else self._rows(kind, symbol, frame)
                return _json({kind: rows, "symbol": symbol, "next_page_token": token})
            data = {s: self._rows(kind, s, f) for s, f in page.items()}
            return _json({kind: data, "next_page_token": token})

        handler.__name__ = f"{kind}_{'single' if single else 'multi'}"
        return _alpaca_errors(handler)

    # -- latest and snapshots -----------------------------------------------------------

    def _symbols(self, request: Request) -> list[str]:
        raw = request.query_params.get("symbols", "")
        symbols = list(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
        if not symbols:
            raise _bad("missing symbols: pass symbols=AAPL,MSFT")
        return symbols

    def _check_feed(self, request: Request) -> None:
        feed = request.query_params.get("feed")
        if feed and feed.lower() not in FEEDS:
            raise _bad(f"invalid feed: {feed!r}")

    def latest_quote(self, symbol: str, now: pd.Timestamp) -> dict | None:
        if self.market.asset(symbol) is None:
            return None
        quote = self.market.quote_at(symbol, now)
        return None if quote is None else _latest_quote_json(quote)

    def latest_trade(self, symbol: str, now: pd.Timestamp) -> dict | None:
        if self.market.asset(symbol) is None:
            return None
        trade = self.market.trade_at(symbol, now)
        return None if trade is None else _latest_trade_json(trade)

    def _recent_bars(self, symbol: str, timeframe: str, now: pd.Timestamp, days: int):
        """The last bars of ``timeframe`` up to ``now``, looking back from the latest trade."""
        trade = self.market.trade_at(symbol, now)
        if trade is None:
            return None
        last = pd.Timestamp(trade["t"])
        for lookback in (days, 10 * days, 100 * days):
            try:
                frame = self.market.bars(symbol, timeframe, last - pd.Timedelta(days=lookback), now)
            except wire.AlpacaError:  # replayed data coarser than the timeframe
                return None
            if len(frame) >= 2:
                return frame
        return frame

    def latest_bar(self, symbol: str, now: pd.Timestamp) -> dict | None:
        if self.market.asset(symbol) is None:
            return None
        frame = self._recent_bars(symbol, "1Min", now, 4)
        return None if frame is None or not len(frame) else _bar_rows(frame.iloc[-1:])[0]

    def snapshot(self, symbol: str, now: pd.Timestamp) -> dict | None:
        if self.market.asset(symbol) is None:
            return None
        daily = self._recent_bars(symbol, "1Day", now, 10)
        daily_rows = [] if daily is None else _bar_rows(daily.iloc[-2:])
        return {
            "latestTrade": self.latest_trade(symbol, now),
            "latestQuote": self.latest_quote(symbol, now),
            "minuteBar": self.latest_bar(symbol, now),
            "dailyBar": daily_rows[-1] if daily_rows else None,
            "prevDailyBar": daily_rows[-2] if len(daily_rows) > 1 else None,
        }

    def latest(self, kind: str, single: bool) -> Handler:
        key = {"quotes": "quote", "trades": "trade", "bars": "bar"}[kind]
        build = {"quotes": self.latest_quote, "trades": self.latest_trade, "bars": self.latest_bar}

        def handler(request: Request) -> Response:
            self._check_feed(request)
            now = self.clock.now()
            if single:
                symbol = request.path_params["symbol"]
                item = build[kind](symbol, now)
                if item is None:
                    raise wire.not_found(f"no {key} found for {symbol}")
                return _json({"symbol": symbol, key: item})
            items = {s: build[kind](s, now) for s in self._symbols(request)}
            return _json({kind: {s: v for s, v in items.items() if v is not None}})

        handler.__name__ = f"latest_{kind}_{'single' if single else 'multi'}"
        return _alpaca_errors(handler, offload=kind == "bars")

    def snapshots(self, single: bool) -> Handler:
        def handler(request: Request) -> Response:
            self._check_feed(request)
            now = self.clock.now()
            if single:
                symbol = request.path_params["symbol"]
                snap = self.snapshot(symbol, now)
                if snap is None:
                    raise wire.not_found(f"no snapshot found for {symbol}")
                return _json({"symbol": symbol, **snap})
            snaps = {s: self.snapshot(s, now) for s in self._symbols(request)}
            return _json({s: v for s, v in snaps.items() if v is not None})

        handler.__name__ = f"snapshot_{'single' if single else 'multi'}"
        return _alpaca_errors(handler)


def data_routes(market: Market, clock: Clock) -> list[BaseRoute]:
    """Starlette routes for ``/v2/stocks/...`` (mount them next to the trading routes)."""
    api = _DataApi(market, clock)
    base = "/v2/stocks"
    return [
        Route(f"{base}/bars", api.historical("bars", single=False)),
        Route(f"{base}/bars/latest", api.latest("bars", single=False)),
        Route(f"{base}/quotes", api.historical("quotes", single=False)),
        Route(f"{base}/quotes/latest", api.latest("quotes", single=False)),
        Route(f"{base}/trades", api.historical("trades", single=False)),
        Route(f"{base}/trades/latest", api.latest("trades", single=False)),
        Route(f"{base}/snapshots", api.snapshots(single=False)),
        Route(base + "/{symbol}/bars", api.historical("bars", single=True)),
        Route(base + "/{symbol}/bars/latest", api.latest("bars", single=True)),
        Route(base + "/{symbol}/quotes", api.historical("quotes", single=True)),
        Route(base + "/{symbol}/quotes/latest", api.latest("quotes", single=True)),
        Route(base + "/{symbol}/trades", api.historical("trades", single=True)),
        Route(base + "/{symbol}/trades/latest", api.latest("trades", single=True)),
        Route(base + "/{symbol}/snapshot", api.snapshots(single=True)),
    ]


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "data_routes"]
