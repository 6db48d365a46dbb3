"""``GET /v2/account/portfolio/history``: the account's equity and P&L over time.

Built from the exchange's own fills and the market's prices: equity at the end of each
window is cash plus every position marked at the last trade before that instant, where
cash and positions are the fills replayed up to it. Parameters, as Alpaca documents them:

* ``period``: number + unit, D (trading days), W, M, A; default 1M. ``date_start`` /
  ``date_end`` (YYYY-MM-DD) or ``start`` / ``end`` (RFC 3339) instead; ``date_end``
  defaults to today.
* ``timeframe``: 1Min, 5Min, 15Min, 1H or 1D; default 1Min under 7 days, 15Min under 30,
  else 1D. Intraday timeframes cover at most 30 days.
* ``intraday_reporting``: market_hours (09:30-16:00 ET, the default), extended_hours
  (04:00-20:00 ET; also what ``extended_hours=true`` asks for) or continuous (24 hours).
* ``pnl_reset``: per_day (intraday default: each day's P&L is against the previous close)
  or no_reset (against the start of the range).

Timestamps are epoch seconds of each window's start; points end at the exchange's "now"
and begin when the account was created. The work runs in the thread pool.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import NEW_YORK
from .core import Exchange
from .trading_api import in_thread, json, query_bool, query_choice
from .wire import bad_request

MINUTE_NS = 60_000_000_000
TIMEFRAME_MINUTES = {"1Min": 1, "5Min": 5, "15Min": 15, "1H": 60, "1D": None}
REPORTING = ("market_hours", "extended_hours", "continuous")
PNL_RESETS = ("per_day", "no_reset")
MAX_INTRADAY_DAYS = 30
_PERIOD = re.compile(r"^([1-9][0-9]{0,3})([DWMA])$")


@dataclasses.dataclass(frozen=True)
class HistoryQuery:
    first_day: dt.date
    last_day: dt.date
    trading_days: int | None  # a period in D counts sessions, not calendar days
    timeframe: str
    reporting: str
    pnl_reset: str
    start_ns: int | None = None
    end_ns: int | None = None


@dataclasses.dataclass(frozen=True)
class Ledger:
    """What the history needs from the account, copied under the exchange lock."""

    cash: float
    fills: list[tuple[int, str, float, float]]  # (UTC ns, symbol, signed qty, price)
    created_ns: int
    now_ns: int


def ledger_snapshot(exchange: Exchange) -> Ledger:
    """The account's fills and cash now (the one place this module reads the engine)."""
    engine = exchange.engine
    fills = [
        (
            int(fill.time.value),
            fill.symbol,
            float(fill.qty) if fill.side == "buy" else -float(fill.qty),
            float(fill.price),
        )
        for fill in engine.ledger.fills  # in time, then execution, order
    ]
    return Ledger(float(engine.cash), fills, int(engine.created_at.value), int(engine.now().value))


# -- the query -------------------------------------------------------------------------


def _date(params: Any, name: str) -> dt.date | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r} (use YYYY-MM-DD)") from None


def _instant(params: Any, name: str) -> pd.Timestamp | None:
    value = params.get(name)
    if not value:
        return None
    try:
        stamp = pd.Timestamp(value.replace(" ", "+"))
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (ValueError, OverflowError):
        raise bad_request(f"invalid {name}: {value!r} (use RFC 3339)") from None


def parse_query(request: Request, today: dt.date) -> HistoryQuery:
    params = request.query_params
    timeframe = params.get("timeframe") or None
    if timeframe is not None and timeframe not in TIMEFRAME_MINUTES:
        raise bad_request(f"invalid timeframe: {timeframe!r} (use 1Min, 5Min, 15Min, 1H or 1D)")
    extended = query_bool(request, "extended_hours")
    reporting = query_choice(
        request, "intraday_reporting", REPORTING, "extended_hours" if extended else "market_hours"
    )
    start, end = _instant(params, "start"), _instant(params, "end")
    date_start, date_end = _date(params, "date_start"), _date(params, "date_end")
    if start is not None:
        date_start = start.tz_convert(NEW_YORK).date()
    if end is not None:
        date_end = end.tz_convert(NEW_YORK).date()
    last = min(date_end or today, today)
    trading_days = None
    period = params.get("period")
    if date_start is not None:
        first = date_start
        span_days = (last - first).days + 1
    else:
        match = _PERIOD.match(period or "1M")
        if not match:
            raise bad_request(f"invalid period: {period!r} (use e.g. 1D, 2W, 3M or 1A)")
        amount, unit = int(match.group(1)), match.group(2)
        span_days = amount * {"D": 1, "W": 7, "M": 30, "A": 365}[unit]
        if unit == "D":
            trading_days = amount
            first = last - dt.timedelta(days=2 * amount + 10)
        elif unit == "W":
            first = last - dt.timedelta(weeks=amount) + dt.timedelta(days=1)
        else:
            months = amount * (12 if unit == "A" else 1)
            first = (pd.Timestamp(last) - pd.DateOffset(months=months)).date()
            first += dt.timedelta(days=1)
    first = max(first, dt.date(1970, 1, 1))
    if last < first:
        raise bad_request("the history must end after it starts")
    if timeframe is None:
        timeframe = "1Min" if span_days < 7 else "15Min" if span_days < 30 else "1D"
    if timeframe != "1D" and (last - first).days + 1 > MAX_INTRADAY_DAYS and trading_days is None:
        raise bad_request(
            f"timeframe {timeframe} covers at most {MAX_INTRADAY_DAYS} days; use 1D for longer"
        )
    if timeframe != "1D" and trading_days is not None and trading_days > MAX_INTRADAY_DAYS:
        raise bad_request(
            f"timeframe {timeframe} covers at most {MAX_INTRADAY_DAYS} days; use 1D for longer"
        )
    default_reset = "no_reset" if timeframe == "1D" else "per_day"
    return HistoryQuery(
        first_day=first,
        last_day=last,
        trading_days=trading_days,
        timeframe=timeframe,
        reporting=reporting,
        pnl_reset=query_choice(request, "pnl_reset", PNL_RESETS, default_reset),
        start_ns=None if start is None else int(start.value),
        end_ns=None if end is None else int(end.value),
    )


# -- the windows -----------------------------------------------------------------------


def _sessions(hours: Any, q: HistoryQuery) -> pd.DataFrame:
    """One row per session day: New York midnight, pre, open, close, post (UTC ns)."""
    rows = hours.calendar(q.first_day, q.last_day)
    if q.trading_days is not None:
        rows = rows[-q.trading_days :]
    if not rows:
        return pd.DataFrame(columns=["midnight", "pre", "open", "close", "post", "next"])
    frame = pd.DataFrame(rows)
    dates = pd.to_datetime(frame["date"])

    def at(clock: pd.Series) -> np.ndarray:
        text = clock.str.replace(":", "", regex=False)
        offset = pd.to_timedelta(text.str[:2].astype(int) * 60 + text.str[2:].astype(int), "min")
        return pd.DatetimeIndex(dates + offset).tz_localize(NEW_YORK).as_unit("ns").asi8

    midnight = pd.DatetimeIndex(dates).tz_localize(NEW_YORK).as_unit("ns").asi8
    next_midnight = (
        pd.DatetimeIndex(dates + pd.Timedelta(days=1)).tz_localize(NEW_YORK).as_unit("ns").asi8
    )
    return pd.DataFrame(
        {
            "midnight": midnight,
            "pre": at(frame["session_open"]),
            "open": at(frame["open"]),
            "close": at(frame["close"]),
            "post": at(frame["session_close"]),
            "next": next_midnight,
        }
    )


def windows(
    hours: Any, q: HistoryQuery, ledger: Ledger
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window starts, window ends, session index of each window), ends capped at now."""
    days = _sessions(hours, q)
    now = ledger.now_ns
    if q.timeframe == "1D":
        starts = days["midnight"].to_numpy(np.int64)
        nominal_ends = days["close"].to_numpy(np.int64)
        session = np.arange(len(days))
    else:
        lo_col, hi_col = {
            "market_hours": ("open", "close"),
            "extended_hours": ("pre", "post"),
            "continuous": ("midnight", "next"),
        }[q.reporting]
        step = TIMEFRAME_MINUTES[q.timeframe] * MINUTE_NS
        lo, hi = days[lo_col].to_numpy(np.int64), days[hi_col].to_numpy(np.int64)
        counts = np.maximum((hi - lo + step - 1) // step, 0)
        session = np.repeat(np.arange(len(days)), counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        starts = lo[session] + offsets * step
        nominal_ends = np.minimum(starts + step, hi[session])
    ends = np.minimum(nominal_ends, now)
    keep = (starts < now) & (nominal_ends > ledger.created_ns)  # begun, and the account open
    if q.start_ns is not None:
        keep &= ends > q.start_ns
    if q.end_ns is not None:
        keep &= starts <= q.end_ns
    return starts[keep], ends[keep], session[keep]


# -- equity ----------------------------------------------------------------------------


def _marks(market: Any, symbol: str, q: HistoryQuery, instants: np.ndarray) -> np.ndarray:
    """The last trade price of ``symbol`` at or before each instant (sorted UTC ns)."""
    first, last = int(instants.min()), int(instants.max())
    daily = q.timeframe == "1D"
    lookback = pd.Timedelta(days=10)
    bars = market.bars(
        symbol,
        "1Day" if daily else "1Min",
        pd.Timestamp(first, tz="UTC") - lookback,
        pd.Timestamp(last, tz="UTC"),
    )
    if not len(bars):
        return np.full(len(instants), np.nan)
    stamps = bars.index.as_unit("ns").asi8
    if daily:  # a day's point ends at its close: the bar stamped at that New York midnight
        where = np.searchsorted(stamps, instants, side="right") - 1
    else:  # a minute bar's close is the last trade before the minute ends
        where = np.searchsorted(stamps + MINUTE_NS, instants, side="right") - 1
    closes = bars["close"].to_numpy(np.float64)
    return np.where(where >= 0, closes[np.clip(where, 0, None)], np.nan)


def equity_at(
    market: Any, q: HistoryQuery, ledger: Ledger, instants: np.ndarray, before: bool = False
) -> np.ndarray:
    """Cash plus marked positions at each instant, replaying the fills up to it (or, with
    ``before``, the fills strictly before it: a baseline excludes the fills of its instant)."""
    fill_ns = np.array([f[0] for f in ledger.fills], dtype=np.int64)
    signed = np.array([f[2] for f in ledger.fills], dtype=np.float64)
    price = np.array([f[3] for f in ledger.fills], dtype=np.float64)
    start_cash = ledger.cash + float(np.sum(signed * price))
    upto = np.searchsorted(fill_ns, instants, side="left" if before else "right")
    cash = start_cash - np.r_[0.0, np.cumsum(signed * price)][upto]
    equity = cash.copy()
    for symbol in sorted({f[1] for f in ledger.fills}):
        mine = np.array([f[1] == symbol for f in ledger.fills], dtype=bool)
        held = np.r_[0.0, np.cumsum(np.where(mine, signed, 0.0))][upto]
        if not held.any():
            continue
        marks = _marks(market, symbol, q, instants)
        last_fill = np.r_[np.nan, np.where(mine, price, np.nan)]
        fallback = pd.Series(last_fill).ffill().to_numpy()[upto]  # no trade yet: the fill price
        equity += held * np.where(np.isnan(marks), fallback, marks)
    return equity


def portfolio_history(market: Any, q: HistoryQuery, ledger: Ledger) -> dict[str, Any]:
    starts, ends, session = windows(market.hours, q, ledger)
    if not len(starts):
        return {
            "timestamp": [],
            "equity": [],
            "profit_loss": [],
            "profit_loss_pct": [],
            "base_value": None,
            "timeframe": q.timeframe,
            "cashflow": {},
        }
    equity = equity_at(market, q, ledger, ends)
    days = _sessions(market.hours, q)
    closes = days["close"].to_numpy(np.int64)
    first_open = int(days["open"].iloc[0])
    prev_close = np.r_[previous_close(market.hours, first_open), closes[:-1]]
    if q.pnl_reset == "per_day":  # each day against the close before it
        baseline_at = prev_close[session]
    else:  # everything against the close before the range
        baseline_at = np.full(len(starts), prev_close[session[0]])
    baseline_at = np.maximum(baseline_at, ledger.created_ns)  # nor before the account existed
    base = equity_at(market, q, ledger, baseline_at, before=True)
    profit = equity - base
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(base != 0, profit / base, np.nan)
    return {
        "timestamp": (starts // 1_000_000_000).tolist(),
        "equity": np.round(equity, 4).tolist(),
        "profit_loss": np.round(profit, 4).tolist(),
        "profit_loss_pct": [None if np.isnan(p) else round(float(p), 8) for p in pct],
        "base_value": round(float(base[-1] if q.pnl_reset == "per_day" else base[0]), 4),
        "base_value_asof": pd.Timestamp(int(baseline_at[-1]), tz="UTC")
        .tz_convert(NEW_YORK)
        .date()
        .isoformat(),
        "timeframe": q.timeframe,
        "cashflow": {},
    }


def previous_close(hours: Any, ns: int) -> int:
    """The regular close before instant ``ns`` (the previous session's end of day)."""
    t = pd.Timestamp(ns, tz="UTC")
    for days in range(1, 15):
        close = hours.next_close(t - pd.Timedelta(days=days))
        if int(close.value) < ns:
            return int(close.value)
    return ns


def portfolio_history_routes(exchange: Exchange) -> list[BaseRoute]:
    async def get_history(request: Request) -> Response:
        today = exchange.engine.now().tz_convert(NEW_YORK).date()
        q = parse_query(request, today)
        ledger = await in_thread(exchange.run, ledger_snapshot, exchange)
        body = await in_thread(portfolio_history, exchange.market, q, ledger)
        return json(body)

    return [Route("/v2/account/portfolio/history", get_history, methods=["GET"])]
