"""Prices for the local exchange: a deterministic simulation, or a replay of the user's bars.

Both sources answer the same ``Market`` protocol, which the engine (fills) and the
market-data routes (bars, quotes, trades, snapshots) consume.

How the simulation works (and why it is cheap and reproducible):

* Time is cut into *blocks* of 1440 minutes running 07:00-07:00 UTC, so every NYSE
  session window (04:00-20:00 ET, in winter and summer) lies inside one block.
* Each block starts at an *anchor* price that is a closed-form function of (symbol, day
  number): a symbol's base price times slow sinusoids and a moving average of seeded daily
  shocks. No state is carried from one day to the next, so the cost is proportional to
  the range asked, never to the distance from some epoch.
* Inside a block the log price is a Brownian bridge from that block's anchor to the next
  one, seeded by blake2b(symbol, day) (never Python's ``hash()``), with the variance
  concentrated in the regular session (U-shaped), lower in extended hours and nearly
  nothing overnight. Consecutive blocks meet exactly at the anchors.
* The minute path P[0..1440] gives the 1-minute bars (open = P[j], close = P[j+1]),
  the tick state at each minute (price = P[j]: the last trade at that instant) and
  sub-minute quotes (every 5 s) and trades (every 10 s) interpolated along the minute.
* Every other timeframe aggregates the same 1-minute bars (``aggregate``). Intraday
  timeframes include extended-hours minutes; 1Day/1Week/1Month aggregate the
  regular-session minutes only, so a 1Day bar is exactly that session's 09:30-16:00
  1-minute bars. Minute and hour buckets are aligned in UTC; day, week (Monday) and month
  bars are stamped at midnight America/New_York, as Alpaca does.
* With ``MarketHours(always_open=True)`` every minute of every day trades and counts as
  regular (so a 1Day bar aggregates the whole New York day); the intraday variance is
  then spread evenly over the day. The price path therefore depends on the hours mode.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from trading_kit.exchange import wire
from trading_kit.exchange.calendar import (
    DAY_NS,
    MINUTE_NS,
    NEW_YORK,
    MarketHours,
    TimeLike,
    schedule,
    to_ns,
    to_utc,
)
from trading_kit.rules import tick_sizes, to_ticks

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "trade_count", "vwap"]
TICK_COLUMNS = ["price", "bid_price", "ask_price", "bid_size", "ask_size"]
QUOTE_COLUMNS = ["bid_price", "bid_size", "ask_price", "ask_size"]
TRADE_COLUMNS = ["price", "size", "id"]
ADJUSTMENTS = frozenset({"raw", "split", "dividend", "spin-off", "all"})

SECOND_NS = 1_000_000_000
HOUR_NS = 3600 * SECOND_NS
QUOTES_PER_MINUTE = 12  # one every 5 s
TRADES_PER_MINUTE = 6  # one every 10 s


# ---------------------------------------------------------------------------------------
# Timeframes
# ---------------------------------------------------------------------------------------

_TIMEFRAME_RE = re.compile(r"^([1-9][0-9]?)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNIT_ALIASES = {
    "Min": "Min",
    "T": "Min",
    "Hour": "Hour",
    "H": "Hour",
    "Day": "Day",
    "D": "Day",
    "Week": "Week",
    "W": "Week",
    "Month": "Month",
    "M": "Month",
}


@dataclass(frozen=True)
class Timeframe:
    """An Alpaca bar timeframe such as 5Min, 1Hour, 1Day (aliases 5T, 1H, 1D accepted)."""

    amount: int
    unit: str  # Min, Hour, Day, Week, Month

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def calendar_based(self) -> bool:
        """Day, week and month bars: New York calendar buckets of regular-session minutes."""
        return self.unit in ("Day", "Week", "Month")

    @property
    def nominal_ns(self) -> int:
        """Length of one bar (months counted as 28 days), to compare fineness."""
        unit = {
            "Min": MINUTE_NS,
            "Hour": HOUR_NS,
            "Day": DAY_NS,
            "Week": 7 * DAY_NS,
            "Month": 28 * DAY_NS,
        }[self.unit]
        return self.amount * unit

    def floor(self, ns: np.ndarray) -> np.ndarray:
        """The bucket (bar timestamp) of each UTC-ns instant."""
        ns = np.asarray(ns, dtype=np.int64)
        if self.unit in ("Min", "Hour"):
            width = self.nominal_ns
            return ns - ns % width
        # New York midnights fall on whole UTC hours: floor each distinct hour only once.
        hours, where = np.unique(ns - ns % HOUR_NS, return_inverse=True)
        return self._floor_calendar(hours)[where]

    def _floor_calendar(self, ns: np.ndarray) -> np.ndarray:
        local = pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC").tz_convert(NEW_YORK)
        days = local.tz_localize(None).asi8 // DAY_NS
        if self.unit == "Day":
            first = days
        elif self.unit == "Week":
            first = days - (days + 3) % 7  # 1970-01-01 was a Thursday; weeks start Monday
        else:
            months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            months -= months % self.amount
            first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        midnight = pd.DatetimeIndex((first * DAY_NS).view("datetime64[ns]"))
        return midnight.tz_localize(NEW_YORK).tz_convert("UTC").asi8

    def floor_one(self, t: TimeLike) -> int:
        return int(self.floor(np.array([to_ns(t)]))[0])

    def next_boundary(self, t: TimeLike) -> int:
        """The start of the bucket after the one containing ``t``."""
        first = self.floor_one(t)
        if self.unit in ("Min", "Hour"):
            return first + self.nominal_ns
        slack = {"Day": 25 * HOUR_NS, "Week": 7 * DAY_NS + HOUR_NS}.get(
            self.unit, (31 * self.amount + 1) * DAY_NS
        )
        return self.floor_one(pd.Timestamp(first + slack, tz="UTC"))


def parse_timeframe(text: str) -> Timeframe:
    """Alpaca's timeframe grammar: [1-59]Min, [1-23]Hour, 1Day, 1Week, [1,2,3,4,6,12]Month."""
    match = _TIMEFRAME_RE.match(text or "")
    if not match:
        raise ValueError(f"invalid timeframe: {text!r}")
    amount, unit = int(match.group(1)), _UNIT_ALIASES[match.group(2)]
    valid = {
        "Min": 1 <= amount <= 59,
        "Hour": 1 <= amount <= 23,
        "Day": amount == 1,
        "Week": amount == 1,
        "Month": amount in (1, 2, 3, 4, 6, 12),
    }[unit]
    if not valid:
        raise ValueError(f"invalid timeframe: {text!r}")
    return Timeframe(amount, unit)


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def empty_frame(columns: list[str]) -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: np.empty(0, dtype=np.float64) for c in columns}, index=index)


def _frame(ns: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    index = pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"), tz="UTC")
    index.name = "timestamp"
    return pd.DataFrame(
        {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, index=index
    )


def aggregate(
    ns: np.ndarray,
    bars: dict[str, np.ndarray],
    timeframe: Timeframe,
    start_ns: int,
) -> pd.DataFrame:
    """Aggregate sorted 1-minute (or finer-than-``timeframe``) bars into ``timeframe`` bars.

    Buckets stamped before ``start_ns`` are dropped: they would be partial.
    """
    if len(ns) == 0:
        return empty_frame(BAR_COLUMNS)
    bucket = timeframe.floor(ns)
    first = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    last = np.r_[first[1:] - 1, len(ns) - 1]
    volume = np.add.reduceat(bars["volume"], first)
    weighted = np.add.reduceat(bars["vwap"] * bars["volume"], first)
    plain = np.add.reduceat(bars["vwap"], first) / np.diff(np.r_[first, len(ns)])
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, weighted / np.where(volume > 0, volume, 1), plain)
    out = _frame(
        bucket[first],
        {
            "open": bars["open"][first],
            "high": np.maximum.reduceat(bars["high"], first),
            "low": np.minimum.reduceat(bars["low"], first),
            "close": bars["close"][last],
            "volume": volume,
            "trade_count": np.add.reduceat(bars["trade_count"], first),
            "vwap": np.round(vwap, 4),
        },
    )
    return out[out.index.asi8 >= start_ns]


class Market(Protocol):
    """What the engine and the data routes need from a price source."""

    hours: MarketHours

    def symbols(self) -> list[str]: ...
    def asset(self, symbol: str) -> dict | None: ...
    def ticks(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame: ...
    def quote_at(self, symbol: str, t: TimeLike) -> dict | None: ...
    def trade_at(self, symbol: str, t: TimeLike) -> dict | None: ...
    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: TimeLike,
        end: TimeLike,
        adjustment: str = "raw",
    ) -> pd.DataFrame: ...
    def quotes(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame: ...
    def trades(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame: ...
    def data_range(self, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp] | None: ...


def _check_adjustment(adjustment: str) -> None:
    parts = [p.strip() for p in (adjustment or "raw").split(",")]
    if not all(p in ADJUSTMENTS for p in parts):
        raise ValueError(f"invalid adjustment: {adjustment!r}")


# ---------------------------------------------------------------------------------------
# The simulated universe
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    name: str
    exchange: str  # Alpaca AssetExchange value
    base_price: float
    daily_vol: float  # typical daily log-return standard deviation
    daily_volume: float  # shares in a regular session


# fmt: off
UNIVERSE: dict[str, Listing] = {
    "AAPL": Listing("Apple Inc. Common Stock", "NASDAQ", 190.0, 0.015, 55e6),
    "MSFT": Listing("Microsoft Corporation Common Stock", "NASDAQ", 400.0, 0.014, 22e6),
    "GOOGL": Listing("Alphabet Inc. Class A Common Stock", "NASDAQ", 140.0, 0.018, 28e6),
    "AMZN": Listing("Amazon.com, Inc. Common Stock", "NASDAQ", 175.0, 0.019, 40e6),
    "TSLA": Listing("Tesla, Inc. Common Stock", "NASDAQ", 240.0, 0.032, 95e6),
    "NVDA": Listing("NVIDIA Corporation Common Stock", "NASDAQ", 120.0, 0.028, 250e6),
    "META": Listing("Meta Platforms, Inc. Class A Common Stock", "NASDAQ", 480.0, 0.022, 14e6),
    "NFLX": Listing("Netflix, Inc. Common Stock", "NASDAQ", 620.0, 0.022, 3.5e6),
    "AMD": Listing("Advanced Micro Devices, Inc. Common Stock", "NASDAQ", 160.0, 0.028, 45e6),
    "INTC": Listing("Intel Corporation Common Stock", "NASDAQ", 35.0, 0.022, 40e6),
    "CSCO": Listing("Cisco Systems, Inc. Common Stock", "NASDAQ", 50.0, 0.012, 17e6),
    "COST": Listing("Costco Wholesale Corporation Common Stock", "NASDAQ", 800.0, 0.012, 2e6),
    "PEP": Listing("PepsiCo, Inc. Common Stock", "NASDAQ", 170.0, 0.009, 5e6),
    "QQQ": Listing("Invesco QQQ Trust, Series 1", "NASDAQ", 430.0, 0.012, 38e6),
    "SPY": Listing("SPDR S&P 500 ETF Trust", "ARCA", 500.0, 0.009, 60e6),
    "IWM": Listing("iShares Russell 2000 ETF", "ARCA", 200.0, 0.013, 28e6),
    "DIA": Listing("SPDR Dow Jones Industrial Average ETF Trust", "ARCA", 390.0, 0.009, 3e6),
    "JPM": Listing("JPMorgan Chase & Co. Common Stock", "NYSE", 195.0, 0.012, 9e6),
    "BAC": Listing("Bank of America Corporation Common Stock", "NYSE", 37.0, 0.015, 38e6),
    "WMT": Listing("Walmart Inc. Common Stock", "NYSE", 60.0, 0.010, 15e6),
    "DIS": Listing("The Walt Disney Company Common Stock", "NYSE", 100.0, 0.015, 9e6),
    "KO": Listing("The Coca-Cola Company Common Stock", "NYSE", 62.0, 0.008, 13e6),
    "XOM": Listing("Exxon Mobil Corporation Common Stock", "NYSE", 115.0, 0.014, 16e6),
    "CVX": Listing("Chevron Corporation Common Stock", "NYSE", 155.0, 0.014, 8e6),
    "V": Listing("Visa Inc. Class A Common Stock", "NYSE", 275.0, 0.011, 6e6),
    "MA": Listing("Mastercard Incorporated Class A Common Stock", "NYSE", 460.0, 0.012, 2.5e6),
    "UNH": Listing("UnitedHealth Group Incorporated Common Stock", "NYSE", 520.0, 0.014, 3.5e6),
    "JNJ": Listing("Johnson & Johnson Common Stock", "NYSE", 155.0, 0.009, 7e6),
    "PG": Listing("The Procter & Gamble Company Common Stock", "NYSE", 165.0, 0.009, 7e6),
    "HD": Listing("The Home Depot, Inc. Common Stock", "NYSE", 350.0, 0.012, 3.5e6),
    "ORCL": Listing("Oracle Corporation Common Stock", "NYSE", 130.0, 0.018, 9e6),
}
# fmt: on

# Per listing venue: (quote/trade exchange code, SIP tape).
VENUES = {"NASDAQ": ("Q", "C"), "NYSE": ("N", "A"), "ARCA": ("P", "B")}

#: Every US-listed equity the simulation trades (about 5,300), with Alpaca's asset flags;
#: how it was made and how to remake it: the file's first line and scripts/make_us_equities.py.
UNIVERSE_FILE = Path(__file__).with_name("data") / "us_equities.csv"
_FLAGS = ("tradable", "marginable", "shortable", "easy_to_borrow", "fractionable")
# Prices of the listings without a curated entry: drawn once per symbol from its hash.
_DERIVED_PRICE = (20.0, 500.0)
_DERIVED_VOL = (0.010, 0.025)
_DERIVED_VOLUME = (3e5, 3e7)


def _asset_dict(symbol: str, listing: Listing) -> dict:
    return {
        "symbol": symbol,
        "name": listing.name,
        "exchange": listing.exchange,
        "status": "active",
        "fractionable": True,
        "shortable": True,
        "easy_to_borrow": True,
        "marginable": True,
        "tradable": True,
    }


@functools.cache
def listed_assets() -> dict[str, dict]:
    """The asset of every listed symbol (flags from the file, curated names where we have them)."""
    assets: dict[str, dict] = {}
    with UNIVERSE_FILE.open(encoding="utf-8") as lines:
        for row in csv.DictReader(line for line in lines if not line.startswith("#")):
            flags = {flag: row[flag] == "true" for flag in _FLAGS}
            assets[row["symbol"]] = {
                "symbol": row["symbol"],
                "name": row["name"],
                "exchange": row["exchange"],
                "status": row["status"],
                **flags,
            }
    for symbol, listing in UNIVERSE.items():
        assets[symbol] = {**_asset_dict(symbol, listing), **assets.get(symbol, {})}
        assets[symbol].update(name=listing.name, exchange=listing.exchange)
    return assets


def _log_uniform(u: float, bounds: tuple[float, float]) -> float:
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    return float(np.exp(lo + u * (hi - lo)))


@functools.cache
def listings() -> dict[str, Listing]:
    """How each symbol's price moves: curated for the well-known tickers, else from its hash."""
    out: dict[str, Listing] = {}
    for symbol, asset in listed_assets().items():
        if symbol in UNIVERSE:
            out[symbol] = UNIVERSE[symbol]
            continue
        u = np.frombuffer(_digest(symbol, "listing", size=24), dtype="<u8") / 2.0**64
        out[symbol] = Listing(
            asset["name"],
            asset["exchange"],
            round(_log_uniform(float(u[0]), _DERIVED_PRICE), 2),
            _DERIVED_VOL[0] + float(u[1]) * (_DERIVED_VOL[1] - _DERIVED_VOL[0]),
            round(_log_uniform(float(u[2]), _DERIVED_VOLUME)),
        )
    return out


def _digest(*parts: object, size: int = 16) -> bytes:
    text = ":".join(str(p) for p in parts).encode()
    return hashlib.blake2b(text, digest_size=size, person=b"trading_kit-sim").digest()


def _seeded_normals(symbol: str, days: np.ndarray) -> np.ndarray:
    """One standard normal per (symbol, day), from blake2b (Box-Muller); stable everywhere."""
    raw = b"".join(_digest(symbol, "shock", int(d)) for d in days)
    words = np.frombuffer(raw, dtype="<u8").reshape(-1, 2)
    u1 = ((words[:, 0] >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u2 = (words[:, 1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


_BLOCK_OFFSET_NS = 7 * HOUR_NS
_BLOCK_MINUTES = 1440
_SHOCK_WINDOW = 16  # anchors average this many daily shocks: trends last a few weeks
_PERIODS = np.array([613.0, 151.0, 37.0, 11.0])  # days
_AMPLITUDES = np.array([0.10, 0.05, 0.02, 0.006])  # log-price, scaled by daily_vol / 1.5%
_REGULAR, _EXTENDED, _CLOSED = 2, 1, 0


def _vol_shape(x: np.ndarray) -> np.ndarray:
    """Intraday volatility: high after the open, a lull at midday, a lift into the close."""
    return 0.75 + 1.4 * np.exp(-x / 0.08) + 0.45 * np.exp(-(1.0 - x) / 0.05)


def _volume_shape(x: np.ndarray) -> np.ndarray:
    """Intraday volume: the familiar U, heavier at both ends than volatility."""
    return 0.55 + 3.0 * np.exp(-x / 0.06) + 2.2 * np.exp(-(1.0 - x) / 0.04)


# Normalised over a full 390-minute session (a constant: blocks must not depend on each other).
_VOLUME_SHAPE_MEAN = float(_volume_shape(np.arange(390) / 390.0).mean())


def _block_of(ns: np.ndarray) -> np.ndarray:
    return (np.asarray(ns, dtype=np.int64) - _BLOCK_OFFSET_NS) // DAY_NS


@dataclass(frozen=True)
class _Profile:
    """The intraday shape of one kind of block (a few kinds: EST/EDT, half day, no session)."""

    sigma: np.ndarray  # 1440 volatility weights
    volume: np.ndarray  # 1440 volume weights (1.0 = an average regular minute)
    phase: np.ndarray  # 1440 codes: _REGULAR, _EXTENDED, _CLOSED
    frac: np.ndarray  # 1441 cumulative variance fraction (the bridge's clock)


def _make_profile(key: tuple[int, int, int, int] | None) -> _Profile:
    """``key`` = minute offsets (pre, open, close, post) of the block's session; None = always open."""
    j = np.arange(_BLOCK_MINUTES, dtype=np.float64)
    if key is None:
        sigma = np.full(_BLOCK_MINUTES, np.sqrt(390.0 / _BLOCK_MINUTES))
        volume = np.full(_BLOCK_MINUTES, 390.0 / _BLOCK_MINUTES)
        phase = np.full(_BLOCK_MINUTES, _REGULAR, dtype=np.int8)
    else:
        pre, opn, cls, post = key
        regular = (j >= opn) & (j < cls)
        extended = ((j >= pre) & (j < opn)) | ((j >= cls) & (j < post))
        x = np.clip((j - opn) / max(cls - opn, 1), 0.0, 1.0)
        sigma = np.where(regular, _vol_shape(x), np.where(extended, 0.35, 0.03))
        volume = np.where(
            regular, _volume_shape(x) / _VOLUME_SHAPE_MEAN, np.where(extended, 0.04, 0)
        )
        phase = np.where(regular, _REGULAR, np.where(extended, _EXTENDED, _CLOSED)).astype(np.int8)
    variance = np.r_[0.0, np.cumsum(sigma**2)]
    return _Profile(sigma, volume, phase, variance / variance[-1])


_profiles: dict[tuple[int, int, int, int] | None, _Profile] = {}
_profiles_lock = threading.Lock()


def _profile(key: tuple[int, int, int, int] | None) -> _Profile:
    with _profiles_lock:
        found = _profiles.get(key)
        if found is None:
            found = _profiles[key] = _make_profile(key)
        return found


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a counter-based hash, so per-minute noise needs no stored state."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform(seed: np.ndarray, j: np.ndarray, stream: int) -> np.ndarray:
    """A uniform in (0, 1) for each (block seed, minute, stream)."""
    counter = seed ^ (j.astype(np.uint64) * np.uint64(0x100000001B3) + np.uint64(stream << 48))
    return ((_splitmix(counter) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


@dataclass(frozen=True)
class _Block:
    """One 07:00-07:00 UTC block of a symbol: its minute path and what shaped it."""

    path: np.ndarray  # 1441 unrounded prices, P[j] at the start of minute j
    profile: _Profile
    seed: np.uint64  # per-minute noise (range, volume, spread, sizes) hangs off this


@functools.cache
def _sorted_symbols() -> list[str]:
    return sorted(listed_assets())


class SimulatedMarket:
    """Deterministic prices for every US-listed equity of ``listed_assets()`` on the NYSE calendar."""

    def __init__(
        self,
        hours: MarketHours | None = None,
        cache_blocks: int = 4096,
        *,
        extra_listings: dict[str, Listing] | None = None,
    ) -> None:
        self.hours = hours or MarketHours()
        # Symbols priced but not listed (no asset, no REST data): the test feed's FAKEPACA.
        self._extra = dict(extra_listings or {})
        self._cache: OrderedDict[tuple[str, int], _Block] = OrderedDict()
        self._cache_size = cache_blocks
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SimulatedMarket(hours={self.hours!r})"

    # -- reference data --------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(_sorted_symbols())

    def asset(self, symbol: str) -> dict | None:
        asset = listed_assets().get(symbol)
        return None if asset is None else dict(asset)

    def data_range(self, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        if symbol not in listings():
            return None
        s = schedule()
        return pd.Timestamp(int(s.pre[0]), tz="UTC"), pd.Timestamp(int(s.post[-1]), tz="UTC")

    # -- the path ------------------------------------------------------------------------

    def _listing(self, symbol: str) -> Listing:
        listing = listings().get(symbol) or self._extra.get(symbol)
        if listing is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        return listing

    def _log_anchor(self, symbol: str, days: np.ndarray) -> np.ndarray:
        """Log price at the start of each block: closed form in (symbol, day)."""
        listing = self._listing(symbol)
        scale = listing.daily_vol / 0.015
        phases = np.frombuffer(_digest(symbol, "phase", size=32), dtype="<u8")[:4]
        phases = phases.astype(np.float64) / 2.0**64 * 2.0 * np.pi
        waves = (scale * _AMPLITUDES) * np.sin(2.0 * np.pi * days[:, None] / _PERIODS + phases)
        window = np.arange(-_SHOCK_WINDOW + 1, 1)
        needed = np.unique((days[:, None] + window).ravel())
        shocks = _seeded_normals(symbol, needed)
        positions = np.searchsorted(needed, days[:, None] + window)
        sigma = 0.8 * listing.daily_vol * np.sqrt(_SHOCK_WINDOW / 2.0)
        drift = sigma * shocks[positions].sum(axis=1) / np.sqrt(_SHOCK_WINDOW)
        return np.log(listing.base_price) + waves.sum(axis=1) + drift

    def _block_profiles(self, days: np.ndarray) -> list[_Profile]:
        if self.hours.always_open:
            return [_profile(None)] * len(days)
        s = schedule()
        begin = days * DAY_NS + _BLOCK_OFFSET_NS
        i = np.searchsorted(s.pre, begin)
        safe = np.minimum(i, len(s.pre) - 1)
        has = (i < len(s.pre)) & (s.pre[safe] < begin + DAY_NS)
        edges = np.stack([s.pre[safe], s.opens[safe], s.closes[safe], s.post[safe]], axis=1)
        offsets = (edges - begin[:, None]) // MINUTE_NS
        return [
            _profile(tuple(int(v) for v in offsets[k]) if has[k] else (-1, -1, -1, -1))
            for k in range(len(days))
        ]

    def _generate(self, symbol: str, days: np.ndarray) -> list[_Block]:
        """The minute paths of ``days``: Brownian bridges between consecutive anchors."""
        listing = self._listing(symbol)
        log_a = self._log_anchor(symbol, np.r_[days, days + 1].astype(np.int64))
        log_a0, log_a1 = log_a[: len(days)], log_a[len(days) :]
        profiles = self._block_profiles(days)
        scale = 0.8 * listing.daily_vol / np.sqrt(390.0)
        seeds = [int.from_bytes(_digest(symbol, "block", int(d), size=8), "little") for d in days]
        shocks = np.empty((len(days), _BLOCK_MINUTES))
        for k, seed in enumerate(seeds):
            shocks[k] = np.random.Generator(np.random.PCG64(seed)).standard_normal(_BLOCK_MINUTES)
        sigma = np.stack([p.sigma for p in profiles]) * scale
        frac = np.stack([p.frac for p in profiles])
        walk = np.zeros((len(days), _BLOCK_MINUTES + 1))
        np.cumsum(shocks * sigma, axis=1, out=walk[:, 1:])
        log_p = log_a0[:, None] + frac * ((log_a1 - log_a0)[:, None] - walk[:, -1:]) + walk
        path = np.exp(log_p)
        return [_Block(path[k], profiles[k], np.uint64(seeds[k])) for k in range(len(days))]

    def _blocks(self, symbol: str, days: np.ndarray) -> list[_Block]:
        """Blocks for sorted unique ``days``, from an LRU cache (the engine asks repeatedly)."""
        keys = [(symbol, int(d)) for d in days]
        with self._lock:
            found = {key: self._cache.get(key) for key in keys}
            for key, block in found.items():
                if block is not None:
                    self._cache.move_to_end(key)
        missing = [key for key, block in found.items() if block is None]
        if missing:
            made = self._generate(symbol, np.array([d for _, d in missing], dtype=np.int64))
            with self._lock:
                for key, block in zip(missing, made, strict=True):
                    found[key] = block
                    self._cache[key] = block
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [found[key] for key in keys]

    def _minutes_state(
        self, symbol: str, ns: np.ndarray, parts: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        """Trading minutes ``ns``: the path at both ends, plus the ``parts`` asked for.

        Parts: "volume" (volume, trade_count), "range" (intraminute high/low excursions),
        "quote" (spread in ticks, bid and ask sizes). Per-minute noise comes from a
        counter-based hash, so only the minutes asked for cost anything.
        """
        listing = self._listing(symbol)
        day = _block_of(ns)
        j = ((ns - _BLOCK_OFFSET_NS) % DAY_NS) // MINUTE_NS
        days, row = np.unique(day, return_inverse=True)
        blocks = self._blocks(symbol, days)
        path = np.stack([b.path for b in blocks])
        p0, p1 = path[row, j], path[row, j + 1]
        seeds = np.array([b.seed for b in blocks], dtype=np.uint64)[row]
        kinds = {id(b.profile): b.profile for b in blocks}
        kind_of = {key: k for k, key in enumerate(kinds)}
        kind = np.array([kind_of[id(b.profile)] for b in blocks])[row]
        phase = np.stack([p.phase for p in kinds.values()])[kind, j]
        sigma = np.stack([p.sigma for p in kinds.values()])[kind, j]
        weight = np.stack([p.volume for p in kinds.values()])[kind, j]
        regular = phase == _REGULAR
        state = {"p0": p0, "p1": p1, "regular": regular}
        if "volume" in parts:
            noise = np.log(_uniform(seeds, j, 3))
            volume = (listing.daily_volume / 390.0) * weight * np.exp(0.3 * (noise + 1.0))
            state["volume"] = volume = np.maximum(np.round(volume), 1.0)
            size = np.where(regular, 90.0, 160.0)
            state["trade_count"] = np.maximum(np.round(volume / size), 1.0)
        if "range" in parts:
            state["excursion"] = 0.5 * sigma * (0.8 * listing.daily_vol / np.sqrt(390.0)) * p0
            state["up"] = -np.log(_uniform(seeds, j, 1))
            state["down"] = -np.log(_uniform(seeds, j, 2))
        if "quote" in parts:
            bps = np.where(regular, 0.5e-4, 2.0e-4) * (1.0 + _uniform(seeds, j, 4))
            state["spread"] = np.maximum(np.round(p0 * bps / tick_sizes(p0)), 2.0)
            state["bid_size"] = (1.0 + np.floor(_uniform(seeds, j, 5) * 8.0)) * 100.0
            state["ask_size"] = (1.0 + np.floor(_uniform(seeds, j, 6) * 8.0)) * 100.0
        return state

    # -- the Market protocol ----------------------------------------------------------

    def ticks(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """The state at each trading minute in [start, end): last trade and the quote.

        Row ``m`` is the state at the instant ``m`` (the open of minute ``m``), so it is
        known at ``m``: price equals ``trade_at(m)`` and the quote equals ``quote_at(m)``.
        """
        self._listing(symbol)
        ns, _ = self.hours.minutes(start, end)
        if len(ns) == 0:
            return empty_frame(TICK_COLUMNS)
        g = self._minutes_state(symbol, ns, ("quote",))
        price = to_ticks(g["p0"])
        bid, ask = _quote_sides(price, g["spread"])
        return _frame(
            ns,
            {
                "price": price,
                "bid_price": bid,
                "ask_price": ask,
                "bid_size": g["bid_size"],
                "ask_size": g["ask_size"],
            },
        )

    def minute_bars(
        self, symbol: str, start: TimeLike, end: TimeLike, extended: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """1-minute bars for trading minutes in [start, end) that are complete by ``end``.

        Returns (timestamps as UTC ns, columns). Without ``extended``: regular session only.
        """
        self._listing(symbol)
        ns, _ = self.hours.minutes(start, to_ns(end) - MINUTE_NS + 1, extended=extended)
        if len(ns) == 0:
            return ns, {c: np.empty(0) for c in BAR_COLUMNS}
        g = self._minutes_state(symbol, ns, ("volume", "range"))
        o, c = to_ticks(g["p0"]), to_ticks(g["p1"])
        high = to_ticks(np.maximum(o, c) + g["up"] * g["excursion"])
        low = to_ticks(np.minimum(o, c) - g["down"] * g["excursion"])
        columns = {
            "open": o,
            "high": high,
            "low": low,
            "close": c,
            "volume": g["volume"],
            "trade_count": g["trade_count"],
            "vwap": np.round((o + high + low + c) / 4.0, 4),
        }
        return ns, columns

    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: TimeLike,
        end: TimeLike,
        adjustment: str = "raw",
    ) -> pd.DataFrame:
        """Bars stamped at or after ``start``, from the 1-minute bars complete by ``end``.

        A bucket that straddles ``end`` is partial (the bar in progress at "now").
        ``adjustment`` is validated and has no effect: the simulation has no corporate actions.
        """
        tf = parse_timeframe(timeframe)
        _check_adjustment(adjustment)
        ns, columns = self.minute_bars(symbol, start, end, extended=not tf.calendar_based)
        if str(tf) == "1Min":
            return _frame(ns, columns)
        return aggregate(ns, columns, tf, to_ns(start))

    def quote_at(self, symbol: str, t: TimeLike) -> dict | None:
        """The latest quote at ``t`` (quotes refresh every 5 s of a trading minute)."""
        grid = self._grid_time(symbol, t, QUOTES_PER_MINUTE)
        if grid is None:
            return None
        q = self.quotes(symbol, grid, grid + 1)
        venue, tape = VENUES[self._listing(symbol).exchange]
        return _quote(q.index[0], q.iloc[0], venue, tape)

    def trade_at(self, symbol: str, t: TimeLike) -> dict | None:
        """The latest trade at ``t`` (one every 10 s of a trading minute)."""
        grid = self._grid_time(symbol, t, TRADES_PER_MINUTE)
        if grid is None:
            return None
        tr = self.trades(symbol, grid, grid + 1)
        venue, tape = VENUES[self._listing(symbol).exchange]
        return _trade(tr.index[0], tr.iloc[0], venue, tape)

    def _grid_time(self, symbol: str, t: TimeLike, per_minute: int) -> int | None:
        self._listing(symbol)
        minute = self.hours.last_trading_minute(t)
        if minute is None:
            return None
        step = MINUTE_NS // per_minute
        k = min((to_ns(t) - minute.value) // step, per_minute - 1)
        return int(minute.value + k * step)

    def _sub_minute(
        self, symbol: str, start: TimeLike, end: TimeLike, per_minute: int, parts: tuple[str, ...]
    ):
        """Grid points ``per_minute`` times a trading minute in [start, end), priced along it."""
        self._listing(symbol)
        lo, hi = to_ns(start), to_ns(end)
        minutes, _ = self.hours.minutes(lo - lo % MINUTE_NS, hi)
        step = MINUTE_NS // per_minute
        k = np.tile(np.arange(per_minute), len(minutes))
        minutes = np.repeat(minutes, per_minute)
        ns = minutes + k * step
        keep = (ns >= lo) & (ns < hi)
        if not keep.any():
            return None
        ns, k, minutes = ns[keep], k[keep], minutes[keep]
        g = self._minutes_state(symbol, minutes, parts)
        price = to_ticks(g["p0"] + (k / per_minute) * (g["p1"] - g["p0"]))
        return ns, k, price, g

    def quotes(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Historical quotes in [start, end): every 5 s of each trading minute."""
        got = self._sub_minute(symbol, start, end, QUOTES_PER_MINUTE, ("quote",))
        if got is None:
            return empty_frame(QUOTE_COLUMNS)
        ns, _, price, g = got
        bid, ask = _quote_sides(price, g["spread"])
        return _frame(
            ns,
            {
                "bid_price": bid,
                "bid_size": g["bid_size"],
                "ask_price": ask,
                "ask_size": g["ask_size"],
            },
        )

    def trades(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Historical trades in [start, end): every 10 s of each trading minute."""
        got = self._sub_minute(symbol, start, end, TRADES_PER_MINUTE, ("volume",))
        if got is None:
            return empty_frame(TRADE_COLUMNS)
        ns, k, price, g = got
        size = np.maximum(np.round(g["volume"] / g["trade_count"]), 1)  # the average trade
        minute_index = (ns - k * (MINUTE_NS // TRADES_PER_MINUTE)) // MINUTE_NS
        return _frame(
            ns, {"price": price, "size": size, "id": minute_index * TRADES_PER_MINUTE + k}
        )


def _quote_sides(price: np.ndarray, spread_ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around the last price: strictly below and above it, on the tick grid."""
    tick = tick_sizes(price)
    below = np.maximum(np.floor(spread_ticks / 2), 1)
    above = np.maximum(spread_ticks - below, 1)
    return to_ticks(price - below * tick), to_ticks(price + above * tick)


def _quote(t: pd.Timestamp, row: Mapping, venue: str, tape: str) -> dict:
    return {
        "t": t,
        "bid_price": float(row["bid_price"]),
        "ask_price": float(row["ask_price"]),
        "bid_size": int(row["bid_size"]),
        "ask_size": int(row["ask_size"]),
        "bid_exchange": venue,
        "ask_exchange": venue,
        "conditions": ["R"],
        "tape": tape,
    }


def _trade(t: pd.Timestamp, row: Mapping, venue: str, tape: str) -> dict:
    return {
        "t": t,
        "price": float(row["price"]),
        "size": int(row["size"]),
        "exchange": venue,
        "id": int(row["id"]),
        "conditions": ["@"],
        "tape": tape,
    }


# ---------------------------------------------------------------------------------------
# Replay of the user's own bars
# ---------------------------------------------------------------------------------------


class ReplayMarket:
    """Serves a DataFrame of bars (alpaca-py ``.df`` layout) instead of the simulation.

    The frame is indexed by (symbol, timestamp) with columns open high low close volume
    and optionally trade_count and vwap. A bar's close becomes the last trade at the
    bar's *end* (timestamp + the data's resolution), when it is known, so replay never
    shows a price before it happened; quotes are a one-tick spread around it.
    ``bars()`` resamples to any timeframe at least as coarse as the data; daily and
    coarser bars from intraday data use regular-session bars only, like the simulation.
    """

    #: The engine reads prices a day at a time: slicing held arrays costs per call, not per row.
    price_block_ns = DAY_NS

    def __init__(
        self,
        frame: pd.DataFrame,
        hours: MarketHours | None = None,
        resolution: str | None = None,
    ) -> None:
        self.hours = hours or MarketHours()
        self._data = _split_frame(frame)
        if resolution is not None:
            self.resolution = parse_timeframe(resolution)
        else:
            self.resolution = _infer_resolution(self._data)
        # Worked out once, so that the price at an instant is one binary search: the
        # engine asks it at every order and every account read of a replay.
        self._venues: dict[str, tuple[str, str]] = {}
        self._assets: dict[str, dict] = {}
        for symbol, data in self._data.items():
            data["known"] = data["ns"] + self.step_ns
            data["bid"], data["ask"] = _quote_sides(data["close"], np.full(len(data["ns"]), 2.0))
            self._venues[symbol] = VENUES[self.asset(symbol)["exchange"]]

    def __repr__(self) -> str:
        return f"ReplayMarket(symbols={self.symbols()!r}, resolution={self.resolution})"

    @property
    def step_ns(self) -> int:
        """How long after its start a bar's close is known: its length (a day for day and
        coarser bars, whose close is known by the next midnight)."""
        return self.resolution.nominal_ns if not self.resolution.calendar_based else DAY_NS

    def symbols(self) -> list[str]:
        return sorted(self._data)

    def asset(self, symbol: str) -> dict | None:
        if symbol not in self._data:
            return None
        asset = self._assets.get(symbol)
        if asset is None:  # asked at every order: worked out once
            listing = UNIVERSE.get(symbol) or Listing(symbol, "NASDAQ", 0.0, 0.0, 0.0)
            asset = self._assets[symbol] = _asset_dict(symbol, listing)
        return dict(asset)

    def data_range(self, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        data = self._data.get(symbol)
        if data is None:
            return None
        ns = data["ns"]
        return pd.Timestamp(int(ns[0]), tz="UTC"), pd.Timestamp(
            int(ns[-1]) + self.step_ns, tz="UTC"
        )

    def _series(self, symbol: str) -> dict[str, np.ndarray]:
        try:
            return self._data[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    def _known_between(self, symbol: str, start: TimeLike, end: TimeLike) -> slice:
        """The bars whose close is known in [start, end)."""
        known = self._series(symbol)["known"]
        lo = int(np.searchsorted(known, to_ns(start), side="left"))
        hi = int(np.searchsorted(known, to_ns(end), side="left"))
        return slice(lo, max(lo, hi))

    def ticks(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        data = self._series(symbol)
        rows = self._known_between(symbol, start, end)
        n = rows.stop - rows.start
        if n == 0:
            return empty_frame(TICK_COLUMNS)
        return _frame(
            data["known"][rows],
            {
                "price": data["close"][rows],
                "bid_price": data["bid"][rows],
                "ask_price": data["ask"][rows],
                "bid_size": np.full(n, 100.0),
                "ask_size": np.full(n, 100.0),
            },
        )

    def quotes(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        data = self._series(symbol)
        rows = self._known_between(symbol, start, end)
        n = rows.stop - rows.start
        if n == 0:
            return empty_frame(QUOTE_COLUMNS)
        return _frame(
            data["known"][rows],
            {
                "bid_price": data["bid"][rows],
                "bid_size": np.full(n, 100.0),
                "ask_price": data["ask"][rows],
                "ask_size": np.full(n, 100.0),
            },
        )

    def trades(self, symbol: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        data = self._series(symbol)
        rows = self._known_between(symbol, start, end)
        if rows.stop == rows.start:
            return empty_frame(TRADE_COLUMNS)
        return _frame(
            data["known"][rows],
            {
                "price": data["close"][rows],
                "size": np.maximum(data["volume"][rows], 1.0),
                "id": np.arange(rows.start, rows.stop, dtype=np.float64),
            },
        )

    def price_arrays(
        self, symbol: str, start: TimeLike, end: TimeLike
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What ``quotes`` and ``trades`` hold for [start, end), as views of the held
        arrays: quote times, bids, asks, trade times, prices. The engine reads its prices
        through them (``prices.Prices``): no frame to build for a day of minutes."""
        data = self._series(symbol)
        rows = self._known_between(symbol, start, end)
        known = data["known"][rows]
        return known, data["bid"][rows], data["ask"][rows], known, data["close"][rows]

    def _latest(self, symbol: str, t: TimeLike) -> int | None:
        known = self._series(symbol)["known"]
        i = int(np.searchsorted(known, to_ns(t), side="right")) - 1
        return None if i < 0 else i

    def quote_at(self, symbol: str, t: TimeLike) -> dict | None:
        """The quote around the last close known at ``t``; None before the first bar ends."""
        i = self._latest(symbol, t)
        if i is None:
            return None
        data = self._data[symbol]
        venue, tape = self._venues[symbol]
        row = {"bid_price": data["bid"][i], "ask_price": data["ask"][i]}
        row["bid_size"] = row["ask_size"] = 100.0
        return _quote(pd.Timestamp(int(data["known"][i]), tz="UTC"), row, venue, tape)

    def trade_at(self, symbol: str, t: TimeLike) -> dict | None:
        """The last close known at ``t`` as a trade; None before the first bar ends."""
        i = self._latest(symbol, t)
        if i is None:
            return None
        data = self._data[symbol]
        venue, tape = self._venues[symbol]
        row = {"price": data["close"][i], "size": max(data["volume"][i], 1.0), "id": i}
        return _trade(pd.Timestamp(int(data["known"][i]), tz="UTC"), row, venue, tape)

    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: TimeLike,
        end: TimeLike,
        adjustment: str = "raw",
    ) -> pd.DataFrame:
        """The given bars resampled to ``timeframe`` (stamped >= start, complete by end).

        Raises ``wire.AlpacaError`` (422) when ``timeframe`` is finer than the data.
        """
        tf = parse_timeframe(timeframe)
        _check_adjustment(adjustment)
        if tf.nominal_ns < self.resolution.nominal_ns:
            raise wire.unprocessable(
                f"timeframe {tf} is finer than the replayed data ({self.resolution})"
            )
        data = self._series(symbol)
        start_ns = to_ns(start)
        lo = np.searchsorted(data["ns"], tf.floor_one(start), side="left")
        hi = np.searchsorted(data["known"], to_ns(end), side="right")
        rows = np.arange(lo, max(lo, hi))
        if tf.calendar_based and not self.resolution.calendar_based:
            rows = rows[self.hours.regular_mask(data["ns"][rows])]
        columns = {c: data[c][rows] for c in BAR_COLUMNS}
        return aggregate(data["ns"][rows], columns, tf, start_ns)


def _split_frame(frame: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Validate an alpaca-py style bars frame and split it into sorted per-symbol arrays."""
    if not isinstance(frame.index, pd.MultiIndex) or frame.index.nlevels != 2:
        raise ValueError(
            "replay needs bars indexed by (symbol, timestamp), as alpaca-py's BarSet.df is"
        )
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise ValueError(f"replay bars are missing columns: {', '.join(missing)}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for symbol, group in frame.groupby(level=0, sort=True):
        stamps = pd.DatetimeIndex(group.index.get_level_values(1))
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        order = np.argsort(stamps.asi8, kind="stable")
        cols = {c: group[c].to_numpy(dtype=np.float64)[order] for c in group.columns}
        close = cols["close"]
        data = {
            "ns": stamps.as_unit("ns").asi8[order],
            "open": cols["open"],
            "high": cols["high"],
            "low": cols["low"],
            "close": close,
            "volume": cols["volume"],
            "trade_count": cols.get("trade_count", np.zeros(len(close))),
            "vwap": cols.get("vwap", (cols["high"] + cols["low"] + close) / 3.0),
        }
        data["trade_count"] = np.nan_to_num(data["trade_count"])
        data["vwap"] = np.where(np.isnan(data["vwap"]), close, data["vwap"])
        out[str(symbol)] = data
    if not out:
        raise ValueError("replay needs at least one bar")
    return out


def _infer_resolution(data: dict[str, dict[str, np.ndarray]]) -> Timeframe:
    """The data's own bar size: the smallest gap between consecutive bars of a symbol."""
    gaps = [np.diff(d["ns"]) for d in data.values() if len(d["ns"]) > 1]
    positive = np.concatenate(gaps) if gaps else np.empty(0, dtype=np.int64)
    positive = positive[positive > 0]
    if len(positive) == 0:
        return Timeframe(1, "Min")
    gap = int(positive.min())
    if gap < HOUR_NS:
        return Timeframe(max(1, gap // MINUTE_NS), "Min")
    if gap < DAY_NS - HOUR_NS:  # DST days are 23 h long
        return Timeframe(gap // HOUR_NS, "Hour")
    if gap < 7 * DAY_NS - HOUR_NS:
        return Timeframe(1, "Day")
    if gap < 28 * DAY_NS:
        return Timeframe(1, "Week")
    return Timeframe(1, "Month")


__all__ = [
    "BAR_COLUMNS",
    "TICK_COLUMNS",
    "UNIVERSE",
    "Listing",
    "Market",
    "ReplayMarket",
    "SimulatedMarket",
    "Timeframe",
    "aggregate",
    "listed_assets",
    "parse_timeframe",
    "to_utc",
]
