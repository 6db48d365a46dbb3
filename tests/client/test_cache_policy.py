"""The time-to-live table, checked without HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from requests_cache import DO_NOT_CACHE, NEVER_EXPIRE

from trading_kit.cache_policy import CacheTTL, DataKind, classify, expire_after

NOW = dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.timezone.utc)  # 10:00 in New York
DAY = 86_400.0


@pytest.mark.parametrize(
    ("path", "params", "ttl"),
    [
        ("/v2/stocks/quotes/latest", {"symbols": "AAPL"}, 1.0),
        ("/v2/stocks/AAPL/quotes/latest", {}, 1.0),
        ("/v2/stocks/trades/latest", {"symbols": "AAPL"}, 1.0),
        ("/v2/stocks/snapshots", {"symbols": "AAPL"}, 2.0),
        ("/v2/stocks/AAPL/snapshot", {}, 2.0),
        ("/v2/stocks/bars", {"end": None}, 300.0),  # open-ended: reaches now
        ("/v2/stocks/bars", {"end": "2024-03-05T14:00:00Z"}, 300.0),  # today's session
        ("/v2/stocks/bars", {"end": "2024-03-05T04:59:00Z"}, NEVER_EXPIRE),  # 23:59 NY, yesterday
        ("/v2/stocks/bars", {"end": "2024-03-05T05:00:00Z"}, 300.0),  # midnight NY: today
        ("/v2/stocks/bars", {"end": "2024-03-01", "adjustment": "raw"}, NEVER_EXPIRE),
        ("/v2/stocks/bars", {"end": "2024-03-01"}, NEVER_EXPIRE),  # Alpaca's default is raw
        ("/v2/stocks/bars", {"end": "2024-03-01", "adjustment": "split"}, DAY),
        ("/v2/stocks/bars", {"end": "2024-03-01", "adjustment": "all"}, DAY),
        ("/v2/stocks/AAPL/bars", {"end": "2024-03-01"}, NEVER_EXPIRE),
        ("/v2/stocks/quotes", {"end": "2024-03-01"}, NEVER_EXPIRE),
        ("/v2/stocks/trades", {"end": None}, 1.0),
        ("/v2/orders", {}, DO_NOT_CACHE),
        ("/v2/account", {}, DO_NOT_CACHE),
        ("/v2/positions/AAPL", {}, DO_NOT_CACHE),
        ("/v2/stocks/bars", {"end": "not a date"}, 300.0),  # unparseable: assume live
    ],
)
def test_expire_after(path: str, params: dict, ttl: float) -> None:
    assert expire_after(path, params, NOW) == ttl


def test_ttls_are_settings() -> None:
    fast = CacheTTL(latest=0.1, snapshot=0.2, live_bars=3.0, adjusted_history=60.0)
    assert expire_after("/v2/stocks/quotes/latest", {}, NOW, fast) == 0.1
    assert expire_after("/v2/stocks/bars", {}, NOW, fast) == 3.0


def test_trading_paths_are_never_market_data() -> None:
    for path in ("/v2/orders", "/v2/orders/abc", "/v2/assets/AAPL", "/v2/clock", "/v2/calendar"):
        assert classify(path) is DataKind.UNCACHED
