"""How long each response may be served from the cache: a pure function of the request.

Policy apart from mechanism (as requests-cache itself does): this module only maps
(path, query, now) to a time-to-live, so every rule is table-tested without HTTP;
``http.py`` hands the answer to requests-cache as the request's ``expire_after``.

Rules, from the issue and Alpaca's data model:

* latest quotes and latest trades: 1 s; snapshots: 2 s;
* bars reaching into the current session (or open-ended): 5 min;
* raw bars that ended before today's session never change: kept until cleared;
  adjusted bars ended before today: 1 day (a split or dividend may re-adjust them);
* historical quotes and trades: kept when they ended before today, else 1 s;
* anything else, trading endpoints included: never cached.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import pandas as pd
from requests_cache import DO_NOT_CACHE, NEVER_EXPIRE

from .rules import NEW_YORK, to_utc


class DataKind(str, Enum):
    LATEST_QUOTE = "latest_quote"
    LATEST_TRADE = "latest_trade"
    SNAPSHOT = "snapshot"
    BARS = "bars"
    QUOTES = "quotes"
    TRADES = "trades"
    UNCACHED = "uncached"


_PATHS: tuple[tuple[re.Pattern[str], DataKind], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"/v2/stocks/(?:[^/]+/)?quotes/latest$", DataKind.LATEST_QUOTE),
        (r"/v2/stocks/(?:[^/]+/)?trades/latest$", DataKind.LATEST_TRADE),
        (r"/v2/stocks/(?:snapshots|[^/]+/snapshot)$", DataKind.SNAPSHOT),
        (r"/v2/stocks/(?:[^/]+/)?bars$", DataKind.BARS),
        (r"/v2/stocks/(?:[^/]+/)?quotes$", DataKind.QUOTES),
        (r"/v2/stocks/(?:[^/]+/)?trades$", DataKind.TRADES),
    )
)


@dataclass(frozen=True)
class CacheTTL:
    """The time-to-live of each kind of data, in seconds."""

    latest: float = 1.0
    snapshot: float = 2.0
    live_bars: float = 300.0
    adjusted_history: float = 86_400.0


def classify(path: str) -> DataKind:
    """The kind of data an API path returns (``UNCACHED`` for anything not market data)."""
    for pattern, kind in _PATHS:
        if pattern.search(path):
            return kind
    return DataKind.UNCACHED


def session_start(now: dt.datetime) -> pd.Timestamp:
    """Midnight in New York of ``now``'s trading day: data ending before it is history."""
    return pd.Timestamp(now).tz_convert(NEW_YORK).normalize().tz_convert("UTC")


def expire_after(
    path: str,
    params: Mapping[str, object],
    now: dt.datetime,
    ttl: CacheTTL = CacheTTL(),
) -> float | int:
    """Seconds to keep a response, or requests-cache's ``NEVER_EXPIRE`` / ``DO_NOT_CACHE``."""
    kind = classify(path)
    if kind is DataKind.UNCACHED:
        return DO_NOT_CACHE
    if kind in (DataKind.LATEST_QUOTE, DataKind.LATEST_TRADE):
        return ttl.latest
    if kind is DataKind.SNAPSHOT:
        return ttl.snapshot
    if not _ended_before_today(params.get("end"), now):
        return ttl.live_bars if kind is DataKind.BARS else ttl.latest
    adjustment = str(params.get("adjustment") or "raw").lower()
    if kind is DataKind.BARS and adjustment != "raw":
        return ttl.adjusted_history
    return NEVER_EXPIRE


def _ended_before_today(end: object, now: dt.datetime) -> bool:
    if end is None or end == "":
        return False
    try:
        end_ts = to_utc(str(end))
    except ValueError:
        return False
    return end_ts < session_start(now)
