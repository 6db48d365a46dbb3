"""NYSE trading hours: regular sessions, extended hours, holidays and half days.

The schedule comes from exchange_calendars ("XNYS"), loaded once per process (building
it takes ~0.4 s) and kept as plain int64 nanosecond arrays, so every question
("is it open at t?", "which minutes trade in [a, b)?") is a ``searchsorted`` away.

Extended hours run 04:00 ET to the open and from the close to 20:00 ET; on half days
the after-hours session ends four hours after the 13:00 close (17:00 ET), as Alpaca's
calendar reports. ``always_open`` is for demos: every minute of every day is a regular
minute, and "sessions" are America/New_York calendar days.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..rules import NEW_YORK, to_utc

MINUTE_NS = 60_000_000_000
DAY_NS = 86_400 * 1_000_000_000
_CALENDAR_FIRST = "1970-01-01"
_CALENDAR_LAST = "2100-12-31"
#: ``GET /v2/calendar`` answers for these days only, as Alpaca's calendar does (1970-2029);
#: a range reaching outside is answered for the part inside.
CALENDAR_API_FIRST = dt.date(1970, 1, 1)
CALENDAR_API_LAST = dt.date(2029, 12, 31)
#: The span of time the exchange reasons about. A query may name any year from 1 to 9999;
#: nothing trades outside this span, so such times are clamped to it (pandas' nanosecond
#: timestamps end in 2262; the NYSE schedule loaded here ends in 2100).
SPAN_START = pd.Timestamp("1970-01-01", tz="UTC")
SPAN_END = pd.Timestamp("2100-01-01", tz="UTC")
# Settlement moved from T+2 to T+1 in the US on this date.
_T_PLUS_ONE_FROM = np.datetime64("2024-05-28", "D")

TimeLike = pd.Timestamp | dt.datetime | str


def to_ns(t: TimeLike) -> int:
    return int(to_utc(t).value)


def within_span(t: pd.Timestamp) -> pd.Timestamp:
    """``t`` (UTC, any unit, e.g. year 1 or 9999 from a query) clamped to the exchange's span."""
    return min(max(to_utc(t), SPAN_START), SPAN_END).as_unit("ns")


@dataclass(frozen=True)
class _Schedule:
    """NYSE sessions as parallel int64 arrays (UTC nanoseconds), sorted by date."""

    dates: np.ndarray  # datetime64[D], the session's New York date
    pre: np.ndarray  # 04:00 ET
    opens: np.ndarray  # 09:30 ET
    closes: np.ndarray  # 16:00 ET, 13:00 on half days
    post: np.ndarray  # 20:00 ET, close + 4h on half days


_schedule_lock = threading.Lock()


@functools.cache
def _load_schedule() -> _Schedule:
    import exchange_calendars as xcals  # slow import and build: only when first needed

    schedule = xcals.get_calendar("XNYS", start=_CALENDAR_FIRST, end=_CALENDAR_LAST).schedule
    sessions = pd.DatetimeIndex(schedule.index)
    local_midnight = sessions.tz_localize(NEW_YORK)
    opens = schedule["open"].to_numpy("datetime64[ns]").astype(np.int64)
    closes = schedule["close"].to_numpy("datetime64[ns]").astype(np.int64)
    pre = (local_midnight + pd.Timedelta(hours=4)).as_unit("ns").asi8
    twenty = (local_midnight + pd.Timedelta(hours=20)).as_unit("ns").asi8
    post = np.minimum(twenty, closes + 4 * 3_600_000_000_000)
    return _Schedule(
        dates=sessions.to_numpy("datetime64[D]"),
        pre=pre,
        opens=opens,
        closes=closes,
        post=post,
    )


def schedule() -> _Schedule:
    with _schedule_lock:  # exchange_calendars is not thread-safe while building
        return _load_schedule()


def _ny_midnight_after(t: pd.Timestamp) -> pd.Timestamp:
    local = t.tz_convert(NEW_YORK)
    next_day = (local.normalize().tz_localize(None) + pd.Timedelta(days=1)).tz_localize(NEW_YORK)
    return next_day.tz_convert("UTC")


_FOREVER = 2**63 - 1
_NO_SPAN: tuple[int, int, Any] = (0, 0, None)


class MarketHours:
    """When the market trades: NYSE sessions, or every minute when ``always_open``."""

    def __init__(self, always_open: bool = False) -> None:
        self.always_open = always_open
        # The last answer of each question and the span of time it holds for: the engine
        # asks them at every order and request, nearly always within the same session.
        self._spans: dict[str, tuple[int, int, Any]] = {}

    def __repr__(self) -> str:
        return f"MarketHours(always_open={self.always_open})"

    # -- point questions -------------------------------------------------------------

    def is_open(self, t: TimeLike) -> bool:
        """True during the regular session (every instant if ``always_open``)."""
        if self.always_open:
            return True
        ns = to_ns(t)
        lo, hi, answer = self._spans.get("open", _NO_SPAN)
        if lo <= ns < hi:
            return answer
        s = schedule()
        i = int(s.opens.searchsorted(ns, side="right")) - 1
        if i >= 0 and ns < s.closes[i]:
            span = (int(s.opens[i]), int(s.closes[i]), True)
        else:  # between the close before and the next open
            after = int(s.opens[i + 1]) if i + 1 < len(s.opens) else _FOREVER
            span = (int(s.closes[i]) if i >= 0 else -_FOREVER, after, False)
        self._spans["open"] = span
        return span[2]

    def is_extended(self, t: TimeLike) -> bool:
        """True in pre-market (04:00 ET-open) or after-hours (close-20:00 ET) of a session day."""
        if self.always_open:
            return False
        s, ns = schedule(), to_ns(t)
        i = int(np.searchsorted(s.pre, ns, side="right")) - 1
        if i < 0 or ns >= s.post[i]:
            return False
        return not (s.opens[i] <= ns < s.closes[i])

    def session_close(self, t: TimeLike) -> pd.Timestamp:
        """Close of the session ``t`` is in, or of the next one (when day orders expire)."""
        return self.next_close(t)

    def next_open(self, t: TimeLike) -> pd.Timestamp:
        """The first regular open strictly after ``t`` (Alpaca's clock ``next_open``)."""
        if self.always_open:
            return _ny_midnight_after(to_utc(t))
        return self._next("opens", t)

    def next_close(self, t: TimeLike) -> pd.Timestamp:
        """The first regular close strictly after ``t``."""
        if self.always_open:
            return _ny_midnight_after(to_utc(t))
        return self._next("closes", t)

    def _next(self, edges_name: str, t: TimeLike) -> pd.Timestamp:
        """The first of the schedule's ``edges_name`` strictly after ``t`` (the same for
        every ``t`` from the edge before it on: remembered for that span)."""
        ns = to_ns(t)
        lo, hi, answer = self._spans.get(edges_name, _NO_SPAN)
        if lo <= ns < hi:
            return answer
        edges = getattr(schedule(), edges_name)
        i = int(edges.searchsorted(ns, side="right"))
        if i >= len(edges):
            raise ValueError(f"{t} is beyond the NYSE calendar (ends {_CALENDAR_LAST})")
        answer = pd.Timestamp(int(edges[i]), tz="UTC")
        self._spans[edges_name] = (int(edges[i - 1]) if i else -_FOREVER, int(edges[i]), answer)
        return answer

    # -- vectorised questions for the market simulation ---------------------------------

    def minutes(
        self, start: TimeLike, end: TimeLike, extended: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Trading minutes in [start, end) as int64 UTC ns, and a mask of regular-session ones.

        With ``extended`` the pre-market and after-hours minutes are included. With
        ``always_open`` every minute is a regular minute.
        """
        lo, hi = _ceil_minute(to_ns(start)), to_ns(end)
        if hi <= lo:
            empty = np.empty(0, dtype=np.int64)
            return empty, np.empty(0, dtype=bool)
        if self.always_open:
            minutes = np.arange(lo, hi, MINUTE_NS, dtype=np.int64)
            return minutes, np.ones(len(minutes), dtype=bool)
        s = schedule()
        first_edges, last_edges = (s.pre, s.post) if extended else (s.opens, s.closes)
        i0 = int(np.searchsorted(last_edges, lo, side="right"))
        i1 = int(np.searchsorted(first_edges, hi, side="left"))
        if i1 <= i0:
            empty = np.empty(0, dtype=np.int64)
            return empty, np.empty(0, dtype=bool)
        begin = np.maximum(first_edges[i0:i1], lo)
        stop = np.minimum(last_edges[i0:i1], hi)
        counts = np.maximum((stop - begin + MINUTE_NS - 1) // MINUTE_NS, 0)
        minutes = _ranges(begin, counts)
        if not extended:
            return minutes, np.ones(len(minutes), dtype=bool)
        opens = np.repeat(s.opens[i0:i1], counts)
        closes = np.repeat(s.closes[i0:i1], counts)
        return minutes, (minutes >= opens) & (minutes < closes)

    def regular_mask(self, ns: np.ndarray) -> np.ndarray:
        """For each UTC-ns timestamp: is it inside a regular session?"""
        if self.always_open:
            return np.ones(len(ns), dtype=bool)
        s = schedule()
        i = np.searchsorted(s.opens, ns, side="right") - 1
        safe = np.clip(i, 0, None)
        return (i >= 0) & (ns < s.closes[safe])

    def last_trading_minute(self, t: TimeLike) -> pd.Timestamp | None:
        """The start of the latest minute at or before ``t`` in which the market traded."""
        ns = to_ns(t)
        if self.always_open:
            return pd.Timestamp(ns - ns % MINUTE_NS, tz="UTC")
        s = schedule()
        i = int(np.searchsorted(s.pre, ns, side="right")) - 1
        if i < 0:
            return None
        if ns < s.post[i]:
            return pd.Timestamp(ns - ns % MINUTE_NS, tz="UTC")
        return pd.Timestamp(int(s.post[i]) - MINUTE_NS, tz="UTC")

    # -- GET /v2/calendar ------------------------------------------------------------------

    def calendar(self, start: dt.date | str, end: dt.date | str) -> list[dict]:
        """Rows for Alpaca's ``GET /v2/calendar``: one per session day in [start, end].

        ``date`` is YYYY-MM-DD, ``open``/``close`` are "HH:MM" New York time (alpaca-py's
        ``Calendar`` parses them with ``%H:%M``), ``session_open``/``session_close`` are
        "HHMM", and ``settlement_date`` is T+1 (T+2 before 2024-05-28). Only days in
        Alpaca's 1970-2029 are answered; the rows are built column-wise (the whole span is
        about 15,000 rows).
        """
        first = np.datetime64(max(_as_date(start), CALENDAR_API_FIRST), "D")
        last = np.datetime64(min(_as_date(end), CALENDAR_API_LAST), "D")
        if last < first:
            return []
        if self.always_open:
            days = np.arange(first, last + 1)
            return [
                {
                    "date": str(day),
                    "open": "00:00",
                    "close": "23:59",
                    "session_open": "0000",
                    "session_close": "2359",
                    "settlement_date": str(day + 1),
                }
                for day in days
            ]
        s = schedule()
        i0 = int(np.searchsorted(s.dates, first, side="left"))
        i1 = int(np.searchsorted(s.dates, last, side="right"))
        index = np.arange(i0, i1)
        lag = np.where(s.dates[index] >= _T_PLUS_ONE_FROM, 1, 2)
        settle = s.dates[np.minimum(index + lag, len(s.dates) - 1)]
        columns = zip(
            s.dates[index].astype(str).tolist(),
            _ny_clocks(s.opens[index], ":"),
            _ny_clocks(s.closes[index], ":"),
            _ny_clocks(s.pre[index], ""),
            _ny_clocks(s.post[index], ""),
            settle.astype(str).tolist(),
            strict=True,
        )
        keys = ("date", "open", "close", "session_open", "session_close", "settlement_date")
        return [dict(zip(keys, row, strict=True)) for row in columns]


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _ny_clocks(ns: np.ndarray, separator: str) -> list[str]:
    """New York wall-clock "HH:MM" (or "HHMM") of UTC-ns instants, for many at once."""
    local = pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC").tz_convert(NEW_YORK)
    return [f"{h:02d}{separator}{m:02d}" for h, m in zip(local.hour, local.minute, strict=True)]


def _ceil_minute(ns: int) -> int:
    return -((-ns) // MINUTE_NS) * MINUTE_NS


def _ranges(begin: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``begin[k] + MINUTE * arange(counts[k])`` for every k, without a loop."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    return np.repeat(begin, counts) + offsets * MINUTE_NS
