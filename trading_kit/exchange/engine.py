"""The matching engine: Alpaca paper-trading rules applied to a simulated price path.

The engine keeps the whole account in memory (orders, positions, cash, fill activities) and
reports what changed since the last ``drain()`` so the store can write it through.

Matching is event driven and vectorised per symbol: for each open order we compute, with
numpy over the minute ticks of the window, the first moment something happens to it (it
becomes active, triggers, fills, expires). Events are applied in time order from a heap;
only the orders an event touches (the order itself, its bracket legs or OCO sibling) are
re-evaluated. A 1,000-order session therefore costs a few numpy passes per order, not a
Python loop per order per minute.

Fill rules (Alpaca paper): marketable orders fill at the quote (buy at the ask, sell at
the bid), a marketable limit too; stops trigger on the last trade price; trailing stops
track the high-water mark on regular-hours trades; opg/cls fill at the auction (the trade
price of the opening / last minute). Partial fills happen 10% of the time for a random
share of the remaining quantity, from a seeded source.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
import uuid
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from ..rules import NEW_YORK, rfc3339, to_tick
from ..rules import to_utc as utc
from .order_request import (
    OrderRequest,
    ReplaceRequest,
    bad_request,
    parse_order,
    parse_replace,
    unprocessable,
)
from .orders import CLOSED_STATUSES, Order, Position, asset_id, to_decimal
from .wire import CODE_FORBIDDEN, CODE_NOT_FOUND, AlpacaError, decimal_str

ACTIVE_STATUSES = frozenset({"accepted", "new", "partially_filled"})
ONE_SHOT_TIFS = frozenset({"ioc", "fok", "opg", "cls"})
PARTIAL_FILL_PROBABILITY = 0.10
MARGIN_MULTIPLIER = Decimal(2)
INITIAL_MARGIN = Decimal("0.5")
MAINTENANCE_MARGIN = Decimal("0.3")
_CENT = Decimal("0.01")
_NS_MINUTE = 60_000_000_000
_NEVER = np.iinfo(np.int64).max
TICK_PREFETCH = pd.Timedelta(days=1)


def _ns(t: dt.datetime) -> int:
    if isinstance(t, pd.Timestamp) and t.tzinfo is not None:
        return int(t.value)  # always UTC nanoseconds, whatever the unit
    return int(utc(t).value)


def _from_ns(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def _q(value: Decimal, places: int = 4) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places))


def forbidden(message: str, **extra: Any) -> AlpacaError:
    return AlpacaError(403, CODE_FORBIDDEN, message, extra=extra or None)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, CODE_NOT_FOUND, message)


@dataclasses.dataclass
class Path:
    """Market data of one symbol over a window, as numpy arrays (one row per minute)."""

    times: np.ndarray  # int64 ns, ascending
    price: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    regular: np.ndarray  # bool: inside the regular session
    session: np.ndarray  # bool: regular or extended hours

    def __len__(self) -> int:
        return len(self.times)

    def stats(self, extended: bool) -> tuple[float, float, float, float] | None:
        """(min ask, max bid, min price, max price) over the tradable rows, memoised."""
        cache = self.__dict__.setdefault("_stats", {})
        if extended not in cache:
            mask = self.session if extended else self.regular
            if not mask.any():
                cache[extended] = None
            else:
                cache[extended] = (
                    float(self.ask[mask].min()),
                    float(self.bid[mask].max()),
                    float(self.price[mask].min()),
                    float(self.price[mask].max()),
                )
        return cache[extended]


@dataclasses.dataclass(frozen=True)
class Event:
    time_ns: int
    kind: str  # activate | trigger | fill | expire | cancel
    index: int = -1
    price: float = 0.0
    hwm: float | None = None


@dataclasses.dataclass
class Changes:
    """What the store must write after an operation."""

    orders: list[Order]
    positions: list[Position]
    removed_positions: list[str]
    activities: list[dict[str, Any]]
    meta: dict[str, str]


def _first(mask: np.ndarray) -> int | None:
    if not mask.size:
        return None
    i = int(mask.argmax())
    return i if mask[i] else None


class _Book:
    """The live orders of one symbol as arrays, to skip the ones a window cannot reach.

    Most resting orders are far from the market: comparing every limit/stop against the
    window's extremes in one numpy expression leaves only the few that may have an event.
    Rebuilt whenever an order of the symbol changes (the engine drops it in ``_mark``).
    """

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders
        self.skippable = np.array(
            [
                o.status != "accepted"
                and o.time_in_force not in ONE_SHOT_TIFS
                and o.type in ("limit", "stop")
                and not o.extended_hours
                for o in orders
            ],
            dtype=bool,
        )
        self.buy = np.array([o.side == "buy" for o in orders], dtype=bool)
        self.limit = np.array([o.type == "limit" for o in orders], dtype=bool)
        self.threshold = np.array(
            [float((o.limit_price if o.type == "limit" else o.stop_price) or 0) for o in orders]
        )
        self.since = np.array([_ns(o.since) if o.since is not None else -1 for o in orders])
        self.expires = np.array(
            [_ns(o.expires_at) if o.expires_at is not None else _NEVER for o in orders]
        )

    def candidates(self, path: Path, end_ns: int) -> list[Order]:
        """Orders that may have an event in ``path`` (a superset; the rest provably do not)."""
        no_expiry = self.expires > end_ns
        if not len(path):
            quiet = no_expiry
        else:
            stats = path.stats(extended=False)
            if stats is None:
                reached = np.zeros(len(self.orders), dtype=bool)
            else:
                min_ask, max_bid, min_px, max_px = stats
                t = self.threshold
                reached = np.where(
                    self.limit,
                    np.where(self.buy, t >= min_ask, t <= max_bid),
                    np.where(self.buy, t <= max_px, t >= min_px),
                )
            quiet = self.skippable & no_expiry & (self.since < path.times[0]) & ~reached
        return [self.orders[i] for i in np.flatnonzero(~quiet)]


class Engine:
    """Accounts, orders, positions and matching for one paper account."""

    def __init__(
        self,
        market: Any,
        clock: Any,
        *,
        seed: int = 0,
        partial_fills: bool = True,
        cash: float | int | Decimal = 100_000,
        shorting_enabled: bool = True,
    ) -> None:
        self.market = market
        self.clock = clock
        self.seed = seed
        self.partial_fills = partial_fills
        self.shorting_enabled = shorting_enabled
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA" + "".join(random.Random(seed).choices("0123456789", k=10))
        self.created_at = utc(clock.now())
        self.cash = Decimal(str(cash))
        self.cursor = utc(clock.now())
        self.fill_seq = 0
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.activities: list[dict[str, Any]] = []
        self._by_client: dict[str, str] = {}
        self._open: set[str] = set()
        self._open_by_symbol: dict[str, set[str]] = {}
        self._books: dict[str, _Book] = {}
        self._prev_close_cache: dict[tuple[str, str], Decimal] = {}
        self._point_cache: dict[tuple[str, int], Path] = {}
        self._tick_cache: dict[str, tuple[int, int, Path]] = {}
        self._dirty_orders: set[str] = set()
        self._dirty_positions: set[str] = set()
        self._new_activities: list[dict[str, Any]] = []
        self._meta_dirty = True

    # ------------------------------------------------------------------ state and store
    def meta(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "account_number": self.account_number,
            "created_at": self.created_at.isoformat(),
            "cash": str(self.cash),
            "cursor": self.cursor.isoformat(),
            "fill_seq": str(self.fill_seq),
        }

    def restore(
        self,
        meta: dict[str, str],
        orders: Iterable[Order],
        positions: Iterable[Position],
        activities: Iterable[dict[str, Any]],
    ) -> None:
        """Load a stored state (after a restart); the clock may have moved on meanwhile."""
        if meta:
            self.account_id = meta["account_id"]
            self.account_number = meta["account_number"]
            self.created_at = utc(meta["created_at"])
            self.cash = Decimal(meta["cash"])
            self.cursor = utc(meta["cursor"])
            self.fill_seq = int(meta["fill_seq"])
        for order in orders:
            self.orders[order.id] = order
            self._by_client[order.client_order_id] = order.id
            if order.is_open:
                self._open.add(order.id)
                self._open_by_symbol.setdefault(order.symbol, set()).add(order.id)
        self.positions = {p.symbol: p for p in positions}
        self.activities = list(activities)
        self._meta_dirty = False

    def drain(self) -> Changes:
        """Everything changed since the previous drain, and forget it."""
        changes = Changes(
            orders=[self.orders[i] for i in self._dirty_orders],
            positions=[self.positions[s] for s in self._dirty_positions if s in self.positions],
            removed_positions=[s for s in self._dirty_positions if s not in self.positions],
            activities=self._new_activities,
            meta=self.meta() if self._meta_dirty else {},
        )
        self._dirty_orders = set()
        self._dirty_positions = set()
        self._new_activities = []
        self._meta_dirty = False
        return changes

    def _mark(self, order: Order, now: dt.datetime | None = None) -> None:
        if now is not None:
            order.updated_at = now
        self._dirty_orders.add(order.id)
        self._books.pop(order.symbol, None)
        if order.is_open:
            self._open.add(order.id)
            self._open_by_symbol.setdefault(order.symbol, set()).add(order.id)
        else:
            self._open.discard(order.id)
            self._open_by_symbol.get(order.symbol, set()).discard(order.id)

    def _add(self, order: Order) -> None:
        self.orders[order.id] = order
        self._by_client[order.client_order_id] = order.id
        self._mark(order)

    # ------------------------------------------------------------------ market helpers
    @property
    def hours(self) -> Any:
        return self.market.hours

    def now(self) -> pd.Timestamp:
        return utc(self.clock.now())

    def _asset(self, symbol: str) -> dict[str, Any]:
        asset = self.market.asset(symbol)
        if asset is None or not asset.get("tradable", True):
            raise unprocessable_asset(symbol)
        return asset

    def last_price(self, symbol: str, t: dt.datetime) -> Decimal:
        return to_decimal(float(self._point_path(symbol, utc(t)).price[0]))

    def previous_close(self, symbol: str, t: pd.Timestamp) -> Decimal:
        """The last trade of the previous session (``lastday_price``), cached per day."""
        key = (symbol, t.date().isoformat())
        if key not in self._prev_close_cache:
            close = self._previous_session_close(t)
            self._prev_close_cache[key] = self.last_price(symbol, close - pd.Timedelta(1, "us"))
        return self._prev_close_cache[key]

    def _previous_session_close(self, t: pd.Timestamp) -> pd.Timestamp:
        for days in range(1, 12):
            close = utc(self.hours.session_close(t - pd.Timedelta(days=days)))
            if close <= t - pd.Timedelta(days=days - 1) and close < t:
                return close
        return t - pd.Timedelta(days=1)

    def _point_path(self, symbol: str, t: pd.Timestamp) -> Path:
        """The quote and last trade at ``t``, as a one-row path (used at submission).

        Cached per (symbol, instant): under a manual clock many orders share one instant.
        """
        key = (symbol, _ns(t))
        path = self._point_cache.get(key)
        if path is None:
            if len(self._point_cache) > 256:
                self._point_cache.clear()
            path = self._point_cache[key] = self._load_point_path(symbol, t)
        return path

    def _load_point_path(self, symbol: str, t: pd.Timestamp) -> Path:
        quote = self.market.quote_at(symbol, t)
        trade = self.market.trade_at(symbol, t)
        if quote is None or trade is None:
            raise bad_request(f"no market data for {symbol} at {rfc3339(t)}")
        regular = bool(self.hours.is_open(t))
        session = regular or bool(self.hours.is_extended(t))
        return Path(
            times=np.array([_ns(t)], dtype=np.int64),
            price=np.array([float(trade["price"])]),
            bid=np.array([float(quote["bid_price"])]),
            ask=np.array([float(quote["ask_price"])]),
            regular=np.array([regular]),
            session=np.array([session]),
        )

    def _tick_path(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> Path:
        """Minute ticks in (start, end], sliced from a per-symbol cache filled a day ahead.

        A clock stepped minute by minute would otherwise ask the market for one row at a
        time; the prefetched rows are only ever read up to the current time.
        """
        lo_ns, hi_ns = _ns(start), _ns(end)
        cached = self._tick_cache.get(symbol)
        if cached is None or not (cached[0] <= lo_ns and hi_ns < cached[1]):
            fetch_end = max(end, start + TICK_PREFETCH) + pd.Timedelta(1, "us")
            cached = (lo_ns, _ns(fetch_end), self._load_ticks(symbol, start, fetch_end))
            self._tick_cache[symbol] = cached
        full = cached[2]
        a = int(np.searchsorted(full.times, lo_ns, side="right"))
        b = int(np.searchsorted(full.times, hi_ns, side="right"))
        return Path(
            times=full.times[a:b],
            price=full.price[a:b],
            bid=full.bid[a:b],
            ask=full.ask[a:b],
            regular=full.regular[a:b],
            session=full.session[a:b],
        )

    def _load_ticks(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> Path:
        frame = self.market.ticks(symbol, start, end)
        times = frame.index.as_unit("ns").asi8 if len(frame) else np.empty(0, np.int64)
        return Path(
            times=np.asarray(times, dtype=np.int64),
            price=frame["price"].to_numpy(np.float64),
            bid=frame["bid_price"].to_numpy(np.float64),
            ask=frame["ask_price"].to_numpy(np.float64),
            regular=np.asarray(self.hours.regular_mask(times), dtype=bool),
            session=np.ones(len(times), dtype=bool),
        )

    # ------------------------------------------------------------------ time
    def process_until(self, t: Any) -> None:
        """Run the market forward to ``t``: triggers, fills, expiries, in time order."""
        t = utc(t)
        if t <= self.cursor:
            return
        end_ns = _ns(t)
        for symbol in sorted(s for s, ids in self._open_by_symbol.items() if ids):
            book = self._books.get(symbol)
            if book is None:
                live = [self.orders[i] for i in self._open_by_symbol[symbol]]
                book = self._books[symbol] = _Book([o for o in live if o.status in ACTIVE_STATUSES])
            if not book.orders:
                continue
            path = self._tick_path(symbol, self.cursor, t)
            candidates = book.candidates(path, end_ns)
            if candidates:
                self._run(candidates, path, end_ns)
        self.cursor = t
        self._meta_dirty = True

    # ------------------------------------------------------------------ matching
    def _run(self, orders: list[Order], path: Path, end_ns: int) -> None:
        heap: list[tuple[int, int, str, int, Event]] = []
        version: dict[str, int] = {}

        def push(order: Order) -> None:
            version[order.id] = version.get(order.id, 0) + 1
            if order.status not in ACTIVE_STATUSES:
                return
            event = self._next_event(order, path, end_ns)
            if event is not None:
                key = (event.time_ns, _ns(order.created_at), order.id, version[order.id], event)
                heapq.heappush(heap, key)

        for order in orders:
            push(order)
        while heap:
            _, _, oid, v, event = heapq.heappop(heap)
            if version[oid] != v:
                continue
            for touched in self._apply(self.orders[oid], event, path):
                push(touched)
        for order in orders:
            if order.type == "trailing_stop" and order.status in ACTIVE_STATUSES:
                self._roll_trailing(order, path)

    def _window(self, order: Order, path: Path, end_ns: int) -> tuple[int, int]:
        since = _ns(order.since) if order.since is not None else -1
        stop_ns = end_ns + 1
        if order.expires_at is not None:
            stop_ns = min(stop_ns, _ns(order.expires_at))
        lo = int(np.searchsorted(path.times, since, side="right"))
        hi = int(np.searchsorted(path.times, stop_ns, side="left"))
        return lo, max(lo, hi)

    def _tradable(self, order: Order, path: Path, lo: int, hi: int) -> np.ndarray:
        if order.extended_hours and order.type == "limit":
            return path.session[lo:hi]
        return path.regular[lo:hi]

    def _next_event(self, order: Order, path: Path, end_ns: int) -> Event | None:
        lo, hi = self._window(order, path, end_ns)
        tradable = self._tradable(order, path, lo, hi)
        fill = self._first_fill(order, path, lo, hi, tradable)
        first_tradable = _first(tradable)
        if order.time_in_force in ONE_SHOT_TIFS and first_tradable is not None:
            i = lo + first_tradable
            if fill is not None and fill.index == i:
                return fill
            return Event(int(path.times[i]), "cancel", i)
        if fill is not None and fill.kind == "fill":
            if order.status == "accepted" and first_tradable is not None:
                i = lo + first_tradable
                if i < fill.index:
                    return Event(int(path.times[i]), "activate", i)
            return fill
        if order.status == "accepted" and first_tradable is not None:
            i = lo + first_tradable
            if fill is None or i < fill.index:
                return Event(int(path.times[i]), "activate", i)
        if fill is not None:
            return fill  # a stop-limit trigger
        if order.expires_at is not None and _ns(order.expires_at) <= end_ns:
            kind = "cancel" if order.time_in_force in ONE_SHOT_TIFS else "expire"
            return Event(_ns(order.expires_at), kind)
        return None

    def _first_fill(
        self, order: Order, path: Path, lo: int, hi: int, tradable: np.ndarray
    ) -> Event | None:
        """The first fill (or stop-limit trigger) of ``order`` in path[lo:hi]."""
        if hi <= lo:
            return None
        buy = order.side == "buy"
        px, bid, ask = path.price[lo:hi], path.bid[lo:hi], path.ask[lo:hi]
        auction = order.time_in_force in ("opg", "cls")
        quote = ask if buy else bid
        limit = float(order.limit_price) if order.limit_price is not None else None

        def limit_ok(against: np.ndarray) -> np.ndarray:
            assert limit is not None
            return against <= limit if buy else against >= limit

        kind = order.type
        if kind == "stop_limit" and order.triggered:
            kind = "limit"
        if kind == "market":
            cond = tradable
        elif kind == "limit":
            cond = tradable & limit_ok(px if auction else quote)
        elif kind in ("stop", "stop_limit"):
            stop = float(order.stop_price or 0)
            crossed = tradable & (px >= stop if buy else px <= stop)
            if kind == "stop_limit":
                i0 = _first(crossed)
                if i0 is None:
                    return None
                fills = tradable[i0:] & limit_ok(quote[i0:])
                i1 = _first(fills)
                if i1 is None:
                    return Event(int(path.times[lo + i0]), "trigger", lo + i0)
                i = lo + i0 + i1
                return Event(int(path.times[i]), "fill", i, float(quote[i0 + i1]))
            cond = crossed
        else:  # trailing_stop
            return self._trailing_fill(order, path, lo, hi, tradable)
        i = _first(cond)
        if i is None:
            return None
        price = float(px[i]) if auction else float(quote[i])
        return Event(int(path.times[lo + i]), "fill", lo + i, price)

    def _trail_stop(self, order: Order, hwm: np.ndarray) -> np.ndarray:
        buy = order.side == "buy"
        if order.trail_price is not None:
            offset = float(order.trail_price)
            return hwm + offset if buy else hwm - offset
        pct = float(order.trail_percent or 0) / 100.0
        return hwm * (1 + pct) if buy else hwm * (1 - pct)

    def _hwm_run(self, order: Order, px: np.ndarray, tradable: np.ndarray) -> np.ndarray:
        start = float(order.hwm) if order.hwm is not None else float(px[0])
        if order.side == "buy":
            return np.minimum.accumulate(np.minimum(np.where(tradable, px, np.inf), start))
        return np.maximum.accumulate(np.maximum(np.where(tradable, px, -np.inf), start))

    def _trailing_fill(
        self, order: Order, path: Path, lo: int, hi: int, tradable: np.ndarray
    ) -> Event | None:
        px = path.price[lo:hi]
        hwm = self._hwm_run(order, px, tradable)
        stop = self._trail_stop(order, hwm)
        buy = order.side == "buy"
        cond = tradable & (px >= stop if buy else px <= stop)
        i = _first(cond)
        if i is None:
            return None
        quote = path.ask if buy else path.bid
        return Event(int(path.times[lo + i]), "fill", lo + i, float(quote[lo + i]), float(hwm[i]))

    def _roll_trailing(self, order: Order, path: Path) -> None:
        """Move ``hwm`` and ``stop_price`` along the regular-hours trades of the window."""
        lo, hi = self._window(order, path, _NEVER - 1)
        tradable = path.regular[lo:hi]
        if not tradable.any():
            return
        hwm = self._hwm_run(order, path.price[lo:hi], tradable)[-1]
        self._set_trail(order, to_decimal(float(hwm)))
        self._mark(order)

    def _set_trail(self, order: Order, hwm: Decimal) -> None:
        order.hwm = hwm
        if order.trail_price is not None:
            stop = hwm + order.trail_price if order.side == "buy" else hwm - order.trail_price
        else:
            pct = (order.trail_percent or Decimal(0)) / 100
            stop = hwm * (1 + pct) if order.side == "buy" else hwm * (1 - pct)
        order.stop_price = to_tick(stop)

    def _apply(self, order: Order, event: Event, path: Path) -> list[Order]:
        """Carry out one event; return the orders whose next event must be recomputed."""
        when = _from_ns(event.time_ns)
        if event.kind == "activate":
            order.status = "new"
            order.since = _from_ns(event.time_ns - 1)
            self._mark(order, when)
            return [order]
        if event.kind == "trigger":
            order.triggered = True
            order.since = when
            self._mark(order, when)
            return [order]
        if event.kind in ("expire", "cancel"):
            return self._close(order, "expired" if event.kind == "expire" else "canceled", when)
        return self._fill_event(order, event, when)

    def _fill_event(self, order: Order, event: Event, when: pd.Timestamp) -> list[Order]:
        price = to_decimal(event.price)
        if order.type == "trailing_stop" and event.hwm is not None:
            self._set_trail(order, to_decimal(event.hwm))
        if order.type == "stop_limit":
            order.triggered = True
        if order.notional is not None and order.qty is None:
            qty = (order.notional / price).quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
            leaves = qty
        else:
            leaves = order.leaves_qty
            qty = self._fill_size(order, leaves)
        if qty <= 0:
            return self._close(order, "canceled", when)
        self._execute(order, qty, price, when)
        if order.notional is not None or qty >= leaves:
            order.status = "filled"
            order.filled_at = when
            self._mark(order, when)
            return [order, *self._after_fill(order, when)]
        order.status = "partially_filled"
        order.since = when
        self._mark(order, when)
        if order.time_in_force in ONE_SHOT_TIFS:
            return self._close(order, "canceled", when)
        return [order]

    def _fill_size(self, order: Order, leaves: Decimal) -> Decimal:
        if not self.partial_fills or order.time_in_force == "fok":
            return leaves
        rng = random.Random(self.seed * 1_000_003 + self.fill_seq)
        self.fill_seq += 1
        self._meta_dirty = True
        if rng.random() >= PARTIAL_FILL_PROBABILITY:
            return leaves
        share = Decimal(str(round(rng.uniform(0.1, 0.9), 4)))
        if leaves == leaves.to_integral_value():
            part = (leaves * share).to_integral_value(rounding=ROUND_DOWN)
            return part if 0 < part < leaves else leaves
        part = (leaves * share).quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
        return part if 0 < part < leaves else leaves

    def _execute(self, order: Order, qty: Decimal, price: Decimal, when: pd.Timestamp) -> None:
        """Book a fill: cash, position, the order's averages, a FILL activity."""
        amount = qty * price
        self.cash += -amount if order.side == "buy" else amount
        position = self.positions.get(order.symbol) or Position(order.symbol)
        position.apply_fill(order.side, qty, price)
        if position.qty == 0:
            self.positions.pop(order.symbol, None)
        else:
            self.positions[order.symbol] = position
        self._dirty_positions.add(order.symbol)
        before = order.filled_qty
        order.filled_qty = before + qty
        previous = (order.filled_avg_price or Decimal(0)) * before
        order.filled_avg_price = _q((previous + amount) / order.filled_qty, 6)
        self._meta_dirty = True
        done = order.notional is not None or order.filled_qty >= (order.qty or 0)
        activity = {
            "id": f"{when.strftime('%Y%m%d%H%M%S%f')[:-3]}::{uuid.uuid4()}",
            "account_id": self.account_id,
            "activity_type": "FILL",
            "transaction_time": rfc3339(when),
            "type": "fill" if done else "partial_fill",
            "price": decimal_str(price),
            "qty": decimal_str(qty),
            "side": order.side,
            "symbol": order.symbol,
            "leaves_qty": decimal_str(Decimal(0) if done else order.leaves_qty),
            "order_id": order.id,
            "cum_qty": decimal_str(order.filled_qty),
            "order_status": "filled" if done else "partially_filled",
        }
        self.activities.append(activity)
        self._new_activities.append(activity)

    def _group(self, order: Order) -> tuple[Order | None, list[Order]]:
        parent = self.orders[order.parent_id] if order.parent_id else order
        legs = [self.orders[i] for i in parent.leg_ids]
        return parent, legs

    def _after_fill(self, order: Order, when: pd.Timestamp) -> list[Order]:
        """Bracket/OTO: the entry's fill releases the legs; OCO/legs: one fill cancels the rest."""
        parent, legs = self._group(order)
        touched: list[Order] = []
        if order is parent and order.order_class in ("bracket", "oto"):
            for leg in legs:
                if leg.status == "held":
                    leg.status = "new"
                    leg.since = when
                    leg.qty = order.filled_qty
                    if leg.time_in_force == "day":
                        leg.expires_at = self._expiry(leg, when)
                    self._mark(leg, when)
                    touched.append(leg)
            return touched
        if order.order_class in ("bracket", "oco", "oto"):
            assert parent is not None
            for other in [parent, *legs]:
                if other is not order and other.is_open:
                    touched += self._close(other, "canceled", when, cascade=False)
        return touched

    def _close(
        self, order: Order, status: str, when: pd.Timestamp, cascade: bool = True
    ) -> list[Order]:
        order.status = status
        if status == "expired":
            order.expired_at = when
        elif status == "canceled":
            order.canceled_at = when
        self._mark(order, when)
        touched = [order]
        if cascade and order.leg_ids and order.filled_qty == 0:
            for leg in (self.orders[i] for i in order.leg_ids):
                if leg.is_open:
                    touched += self._close(leg, "canceled", when, cascade=False)
        return touched

    # ------------------------------------------------------------------ orders API
    def _expiry(self, order: Order, now: pd.Timestamp) -> pd.Timestamp | None:
        tif = order.time_in_force
        if tif == "day":
            close = utc(self.hours.session_close(now))
            return close + pd.Timedelta(hours=4) if order.extended_hours else close
        if tif == "opg":
            return utc(self.hours.next_open(now)) + pd.Timedelta(minutes=1)
        if tif == "cls":
            return utc(self.hours.session_close(now))
        return None

    def _since(self, order: Order, now: pd.Timestamp) -> pd.Timestamp:
        """Market data after this instant may fill the order (opg/cls wait for the auction)."""
        if order.time_in_force == "opg" and order.expires_at is not None:
            return order.expires_at - pd.Timedelta(minutes=1) - pd.Timedelta(1, "ns")
        if order.time_in_force == "cls" and order.expires_at is not None:
            return max(now, order.expires_at - pd.Timedelta(minutes=1) - pd.Timedelta(1, "ns"))
        return now - pd.Timedelta(1, "ns")

    def submit(self, body: Any) -> dict[str, Any]:
        """``POST /v2/orders``: validate, accept, and try to match at the current quote."""
        request = parse_order(body)
        now = self.now()
        asset = self._asset(request.symbol)
        if request.fractional and not asset.get("fractionable", False):
            raise bad_request("qty must be integer")
        if request.client_order_id and request.client_order_id in self._by_client:
            raise bad_request("client_order_id must be unique")
        point = self._point_path(request.symbol, now)
        price = to_decimal(float(point.price[0]))
        self._check_bracket_prices(request, price)
        self._check_wash_trade(request)
        hold = self._check_funds(request, asset, point)
        orders = self._create(request, now, hold)
        parent = orders[0]
        response = self.order_json(parent)
        self._activate_submitted(orders, now, point)
        return response

    def _create(
        self, request: OrderRequest, now: pd.Timestamp, hold: Decimal | None
    ) -> list[Order]:
        common = {
            "symbol": request.symbol,
            "time_in_force": request.time_in_force,
            "created_at": now,
            "submitted_at": now,
            "updated_at": now,
            "order_class": request.order_class,
        }
        parent = Order(
            id=str(uuid.uuid4()),
            client_order_id=request.client_order_id or str(uuid.uuid4()),
            side=request.side,
            type=request.type,
            qty=request.qty,
            notional=request.notional,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            trail_price=request.trail_price,
            trail_percent=request.trail_percent,
            extended_hours=request.extended_hours,
            position_intent=request.position_intent,
            hold_price=hold,
            **common,
        )
        parent.expires_at = self._expiry(parent, now)
        parent.since = self._since(parent, now)
        if parent.type == "trailing_stop":
            self._set_trail(parent, self.last_price(parent.symbol, now))
        legs: list[Order] = []
        exit_side = "sell" if request.side == "buy" else "buy"
        if request.order_class in ("bracket", "oto") and request.take_profit_limit is not None:
            legs.append(self._leg(parent, exit_side, "limit", request.take_profit_limit, None))
        if request.order_class in ("bracket", "oto") and request.stop_loss_stop is not None:
            sl_type = "stop_limit" if request.stop_loss_limit is not None else "stop"
            legs.append(
                self._leg(
                    parent, exit_side, sl_type, request.stop_loss_limit, request.stop_loss_stop
                )
            )
        if request.order_class == "oco":
            sl_type = "stop_limit" if request.stop_loss_limit is not None else "stop"
            leg = self._leg(
                parent, request.side, sl_type, request.stop_loss_limit, request.stop_loss_stop
            )
            leg.status = "accepted"
            leg.expires_at = parent.expires_at
            legs.append(leg)
        parent.leg_ids = [leg.id for leg in legs]
        for order in (parent, *legs):
            self._add(order)
        return [parent, *legs]

    def _leg(
        self,
        parent: Order,
        side: str,
        order_type: str,
        limit: Decimal | None,
        stop: Decimal | None,
    ) -> Order:
        return Order(
            id=str(uuid.uuid4()),
            client_order_id=str(uuid.uuid4()),
            symbol=parent.symbol,
            side=side,
            type=order_type,
            time_in_force=parent.time_in_force,
            created_at=parent.created_at,
            submitted_at=parent.submitted_at,
            updated_at=parent.updated_at,
            qty=parent.qty,
            order_class=parent.order_class,
            limit_price=limit,
            stop_price=stop,
            status="held",
            parent_id=parent.id,
            since=parent.since,
        )

    def _activate_submitted(self, orders: list[Order], now: pd.Timestamp, point: Path) -> None:
        """Match freshly accepted orders against the quote at submission time."""
        active = [o for o in orders if o.status in ACTIVE_STATUSES]
        self._run(active, point, _ns(now))
        for order in active:
            if order.status in ACTIVE_STATUSES and (order.since is None or order.since < now):
                order.since = now
            if order.status == "accepted" and order.time_in_force == "cls" and point.regular[0]:
                order.status = "new"  # waits for the closing auction, but is live
                self._mark(order, now)

    def _check_bracket_prices(self, request: OrderRequest, price: Decimal) -> None:
        if request.order_class not in ("bracket", "oto"):
            return
        if request.type in ("limit", "stop_limit"):
            base = request.limit_price
        elif request.type == "stop":
            base = request.stop_price
        else:
            base = price
        assert base is not None
        tp, sl = request.take_profit_limit, request.stop_loss_stop
        if request.side == "buy":
            if tp is not None and tp < base + _CENT:
                raise unprocessable("take_profit.limit_price must be >= base_price + 0.01")
            if sl is not None and sl > base - _CENT:
                raise unprocessable("stop_loss.stop_price must be <= base_price - 0.01")
        else:
            if tp is not None and tp > base - _CENT:
                raise unprocessable("take_profit.limit_price must be <= base_price - 0.01")
            if sl is not None and sl < base + _CENT:
                raise unprocessable("stop_loss.stop_price must be >= base_price + 0.01")

    def _check_wash_trade(self, request: OrderRequest) -> None:
        """Alpaca rejects an order that could trade against one of the account's own orders."""
        if request.order_class:
            return
        for oid in self._open:
            other = self.orders[oid]
            if other.symbol != request.symbol or other.side == request.side:
                continue
            if other.status == "held" or other.type not in ("market", "limit"):
                continue
            if request.type not in ("market", "limit"):
                continue
            crosses = request.type == "market" or other.type == "market"
            if not crosses:
                assert request.limit_price is not None and other.limit_price is not None
                crosses = (
                    request.limit_price >= other.limit_price
                    if request.side == "buy"
                    else request.limit_price <= other.limit_price
                )
            if crosses:
                raise forbidden("potential wash trade detected. use complex orders")

    def _held_qty(self, symbol: str, side: str, exclude: str | None = None) -> Decimal:
        """Shares that open orders on one side hold. The exits of a bracket or an OCO
        cancel each other, so such a group holds its largest leg once, not every leg."""
        held: dict[str, Decimal] = {}
        for oid in self._open:
            o = self.orders[oid]
            if o.symbol != symbol or o.side != side or o.status == "held" or o.id == exclude:
                continue
            group = (o.parent_id or o.id) if o.order_class in ("bracket", "oco") else o.id
            leaves = o.leaves_qty if o.qty is not None else Decimal(0)
            held[group] = max(held.get(group, Decimal(0)), leaves)
        return sum(held.values(), Decimal(0))

    def _check_funds(
        self, request: OrderRequest, asset: dict[str, Any], point: Path
    ) -> Decimal | None:
        """Buying power for buys and new shorts; available qty for sells. Returns the hold price."""
        position = self.positions.get(request.symbol)
        held_qty = position.qty if position else Decimal(0)
        bid, ask = to_decimal(float(point.bid[0])), to_decimal(float(point.ask[0]))
        if request.side == "sell" and request.order_class != "oco":
            qty = request.qty if request.qty is not None else _q(request.notional / bid, 9)  # type: ignore[operator]
            available = max(held_qty, Decimal(0)) - self._held_qty(request.symbol, "sell")
            if qty <= available:
                return None
            can_short = (
                self.shorting_enabled
                and held_qty <= 0
                and asset.get("shortable", False)
                and not request.fractional
            )
            if not can_short:
                raise forbidden(
                    f"insufficient qty available for order (requested: {decimal_str(qty)}, "
                    f"available: {decimal_str(max(available, Decimal(0)))})",
                    symbol=request.symbol,
                    existing_qty=decimal_str(held_qty),
                    held_for_orders=decimal_str(self._held_qty(request.symbol, "sell")),
                    available=decimal_str(max(available, Decimal(0))),
                )
            self._check_buying_power(qty * bid)
            return None
        if request.side == "buy" and held_qty < 0:
            return None  # covering a short
        if request.side != "buy":
            return None
        if request.notional is not None:
            cost, per_share = request.notional, ask
        else:
            per_share = request.limit_price or request.stop_price or ask
            if request.type == "stop_limit":
                per_share = max(request.limit_price or ask, request.stop_price or ask)
            cost = (request.qty or Decimal(0)) * per_share
        self._check_buying_power(cost)
        return per_share

    def _check_buying_power(self, cost: Decimal) -> None:
        buying_power = self.account_numbers(self.now())["buying_power"]
        if cost > buying_power:
            raise forbidden(
                "insufficient buying power",
                buying_power=decimal_str(_q(buying_power, 2)),
                cost_basis=decimal_str(_q(cost, 2)),
            )

    def get_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise not_found(f"order not found for {order_id}")
        return order

    def get_by_client_id(self, client_order_id: str) -> Order:
        oid = self._by_client.get(client_order_id)
        if oid is None:
            raise not_found(f"order not found for {client_order_id}")
        return self.orders[oid]

    def order_json(self, order: Order, nested: bool = True) -> dict[str, Any]:
        legs = (
            [self.orders[i].to_json() for i in order.leg_ids] if nested and order.leg_ids else None
        )
        return order.to_json(legs)

    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        after: pd.Timestamp | None = None,
        until: pd.Timestamp | None = None,
        direction: str = "desc",
        nested: bool = False,
        side: str | None = None,
        symbols: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /v2/orders``: filter by status, time, side, symbols; newest first by default."""
        if status == "open":
            pool: Iterable[Order] = (self.orders[i] for i in self._open)
        else:
            pool = self.orders.values()
        selected = []
        for order in pool:
            if status == "closed" and order.is_open:
                continue
            if nested and order.parent_id:
                continue
            if side and order.side != side:
                continue
            if symbols and order.symbol not in symbols:
                continue
            submitted = order.submitted_at or order.created_at
            if after is not None and submitted <= after:
                continue
            if until is not None and submitted >= until:
                continue
            selected.append(order)
        selected.sort(
            key=lambda o: (o.submitted_at or o.created_at, o.id), reverse=direction == "desc"
        )
        return [self.order_json(o, nested=nested) for o in selected[:limit]]

    def cancel(self, order_id: str) -> Order:
        """``DELETE /v2/orders/{id}``: cancel the order and the rest of its bracket/OCO group."""
        order = self.get_order(order_id)
        if not order.is_open:
            raise unprocessable(f'order is already in "{order.status}" state')
        now = self.now()
        parent, legs = self._group(order)
        assert parent is not None
        for member in [parent, *legs]:
            if member.is_open:
                self._close(member, "canceled", now, cascade=False)
        return order

    def cancel_all(self) -> list[dict[str, Any]]:
        """``DELETE /v2/orders``: one result per open order (multi-status)."""
        results = []
        for oid in sorted(self._open, key=lambda i: _ns(self.orders[i].created_at)):
            order = self.orders[oid]
            if not order.is_open or (order.parent_id and self.orders[order.parent_id].is_open):
                continue
            self.cancel(oid)
            results.append({"id": oid, "status": 200, "body": self.order_json(order)})
        return results

    def replace(self, order_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /v2/orders/{id}``: a new order replaces the old one, which ends ``replaced``."""
        request = parse_replace(body)
        old = self.get_order(order_id)
        if old.status in CLOSED_STATUSES:
            raise unprocessable(f'order is already in "{old.status}" state')
        if old.status in ("accepted", "pending_new", "pending_cancel", "pending_replace", "held"):
            raise unprocessable("unable to replace order, order isn't sent to exchange yet")
        self._check_replace_fields(old, request)
        if request.client_order_id and request.client_order_id in self._by_client:
            raise bad_request("client_order_id must be unique")
        now = self.now()
        new = dataclasses.replace(
            old,
            id=str(uuid.uuid4()),
            client_order_id=request.client_order_id or str(uuid.uuid4()),
            created_at=now,
            submitted_at=now,
            updated_at=now,
            qty=request.qty if request.qty is not None else old.leaves_qty,
            time_in_force=request.time_in_force or old.time_in_force,
            limit_price=request.limit_price if request.limit_price is not None else old.limit_price,
            stop_price=request.stop_price if request.stop_price is not None else old.stop_price,
            status="accepted",
            filled_qty=Decimal(0),
            filled_avg_price=None,
            filled_at=None,
            replaces=old.id,
            replaced_by=None,
            replaced_at=None,
            leg_ids=list(old.leg_ids),
            triggered=False,
        )
        if new.type == "trailing_stop" and request.trail is not None:
            if new.trail_price is not None:
                new.trail_price = request.trail
            else:
                new.trail_percent = request.trail
            self._set_trail(new, new.hwm or self.last_price(new.symbol, now))
        if new.side == "buy" and new.type != "trailing_stop":
            per_share = new.limit_price or new.stop_price or new.hold_price or Decimal(0)
            extra = (new.qty or Decimal(0)) * per_share - old.leaves_qty * (old.hold_price or 0)
            if extra > 0:
                self._check_buying_power(extra)
            new.hold_price = per_share
        new.expires_at = self._expiry(new, now)
        new.since = self._since(new, now)
        old.status = "replaced"
        old.replaced_by = new.id
        old.replaced_at = now
        self._mark(old, now)
        self._add(new)
        for leg_id in new.leg_ids:
            self.orders[leg_id].parent_id = new.id
            self._mark(self.orders[leg_id])
        if new.parent_id:
            parent = self.orders[new.parent_id]
            parent.leg_ids = [new.id if i == old.id else i for i in parent.leg_ids]
            self._mark(parent)
        response = self.order_json(new)
        self._activate_submitted([new], now, self._point_path(new.symbol, now))
        return response

    def _check_replace_fields(self, old: Order, request: ReplaceRequest) -> None:
        if request.limit_price is not None and old.type not in ("limit", "stop_limit"):
            raise unprocessable(f"limit_price is not allowed for {old.type} orders")
        if request.stop_price is not None and old.type not in ("stop", "stop_limit"):
            raise unprocessable(f"stop_price is not allowed for {old.type} orders")
        if request.trail is not None and old.type != "trailing_stop":
            raise unprocessable("trail is only allowed for trailing_stop orders")
        if request.qty is not None and request.qty != request.qty.to_integral_value():
            raise bad_request("qty must be integer")

    # ------------------------------------------------------------------ positions API
    def get_position(self, symbol_or_id: str) -> Position:
        symbol = symbol_or_id.upper()
        position = self.positions.get(symbol)
        if position is None:
            for candidate in self.positions.values():
                if asset_id(candidate.symbol) == symbol_or_id:
                    return candidate
            raise not_found("position does not exist")
        return position

    def close_position(
        self, symbol_or_id: str, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> dict[str, Any]:
        """``DELETE /v2/positions/{symbol}``: a market order for all, ``qty`` or ``percentage``."""
        position = self.get_position(symbol_or_id)
        if qty is not None and percentage is not None:
            raise bad_request("only one of qty or percentage can be specified")
        size = abs(position.qty)
        if qty is not None:
            if qty <= 0:
                raise bad_request("qty must be > 0")
            size = qty
        elif percentage is not None:
            if not (0 < percentage <= 100):
                raise bad_request("percentage must be > 0 and <= 100")
            size = (abs(position.qty) * percentage / 100).quantize(
                Decimal("1e-9"), rounding=ROUND_DOWN
            )
            asset = self.market.asset(position.symbol) or {}
            if not asset.get("fractionable", False):
                size = size.to_integral_value(rounding=ROUND_DOWN)
        side = "sell" if position.qty > 0 else "buy"
        same_side_held = self._held_qty(position.symbol, side)
        available = abs(position.qty) - same_side_held
        if size > available or size <= 0:
            raise forbidden(
                f"insufficient qty available for order (requested: {decimal_str(size)}, "
                f"available: {decimal_str(max(available, Decimal(0)))})",
                symbol=position.symbol,
                existing_qty=decimal_str(position.qty),
                held_for_orders=decimal_str(same_side_held),
                available=decimal_str(max(available, Decimal(0))),
            )
        return self.submit(
            {
                "symbol": position.symbol,
                "qty": str(size),
                "side": side,
                "type": "market",
                "time_in_force": "day",
            }
        )

    def close_all(self, cancel_orders: bool = False) -> list[dict[str, Any]]:
        """``DELETE /v2/positions``: one multi-status result per position."""
        if cancel_orders:
            self.cancel_all()
        results = []
        for symbol in sorted(self.positions):
            try:
                body = self.close_position(symbol)
                results.append({"symbol": symbol, "status": 200, "body": body})
            except AlpacaError as error:
                results.append({"symbol": symbol, "status": error.status, "body": error.body()})
        return results

    def position_json(self, position: Position, now: pd.Timestamp) -> dict[str, Any]:
        current = self.last_price(position.symbol, now)
        lastday = self.previous_close(position.symbol, now)
        market_value = position.qty * current
        cost = position.cost_basis
        unrealized = market_value - cost
        intraday = market_value - position.qty * lastday
        asset = self.market.asset(position.symbol) or {}
        return {
            "asset_id": asset_id(position.symbol),
            "symbol": position.symbol,
            "exchange": asset.get("exchange", "NASDAQ"),
            "asset_class": "us_equity",
            "asset_marginable": bool(asset.get("marginable", True)),
            "qty": decimal_str(position.qty),
            "qty_available": decimal_str(
                position.qty
                - (
                    self._held_qty(position.symbol, "sell")
                    if position.qty > 0
                    else -self._held_qty(position.symbol, "buy")
                )
            ),
            "avg_entry_price": decimal_str(_q(position.avg_entry_price, 4)),
            "side": "long" if position.qty > 0 else "short",
            "market_value": decimal_str(_q(market_value, 4)),
            "cost_basis": decimal_str(_q(cost, 4)),
            "unrealized_pl": decimal_str(_q(unrealized, 4)),
            "unrealized_plpc": decimal_str(_q(unrealized / abs(cost), 10) if cost else Decimal(0)),
            "unrealized_intraday_pl": decimal_str(_q(intraday, 4)),
            "unrealized_intraday_plpc": decimal_str(
                _q(intraday / abs(position.qty * lastday), 10) if lastday else Decimal(0)
            ),
            "current_price": decimal_str(current),
            "lastday_price": decimal_str(lastday),
            "change_today": decimal_str(_q((current - lastday) / lastday, 10) if lastday else 0),
        }

    def positions_json(self) -> list[dict[str, Any]]:
        now = self.now()
        return [self.position_json(self.positions[s], now) for s in sorted(self.positions)]

    # ------------------------------------------------------------------ account API
    def account_numbers(self, now: pd.Timestamp) -> dict[str, Decimal]:
        """Equity, margin and buying power from cash, positions and open buy orders."""
        long_value = short_value = Decimal(0)
        for position in self.positions.values():
            value = position.qty * self.last_price(position.symbol, now)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        equity = self.cash + long_value + short_value
        initial = (long_value - short_value) * INITIAL_MARGIN
        held = Decimal(0)
        for oid in self._open:
            order = self.orders[oid]
            if order.side != "buy" or order.status == "held":
                continue
            if order.notional is not None:
                held += order.notional
            elif order.hold_price is not None:
                held += order.leaves_qty * order.hold_price
        buying_power = max(max(equity - initial, Decimal(0)) * MARGIN_MULTIPLIER - held, Decimal(0))
        return {
            "equity": equity,
            "long_market_value": long_value,
            "short_market_value": short_value,
            "initial_margin": initial,
            "maintenance_margin": (long_value - short_value) * MAINTENANCE_MARGIN,
            "buying_power": buying_power,
        }

    def account_json(self) -> dict[str, Any]:
        now = self.now()
        n = self.account_numbers(now)
        last_equity = self.cash + sum(
            (p.qty * self.previous_close(p.symbol, now) for p in self.positions.values()),
            Decimal(0),
        )

        def money(value: Decimal) -> str | None:
            return decimal_str(_q(value, 4))

        return {
            "id": self.account_id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": money(n["buying_power"]),
            "regt_buying_power": money(n["buying_power"]),
            "non_marginable_buying_power": money(max(self.cash, Decimal(0))),
            "options_buying_power": "0",
            "cash": decimal_str(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": money(n["equity"]),
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": rfc3339(self.created_at),
            "trade_suspended_by_user": False,
            "multiplier": decimal_str(MARGIN_MULTIPLIER),
            "shorting_enabled": self.shorting_enabled,
            "equity": money(n["equity"]),
            "last_equity": money(last_equity),
            "long_market_value": money(n["long_market_value"]),
            "short_market_value": money(n["short_market_value"]),
            "position_market_value": money(n["long_market_value"] - n["short_market_value"]),
            "initial_margin": money(n["initial_margin"]),
            "maintenance_margin": money(n["maintenance_margin"]),
            "last_maintenance_margin": money(n["maintenance_margin"]),
            "sma": money(max(self.cash, Decimal(0))),
            "options_approved_level": 0,
            "options_trading_level": 0,
            "balance_asof": now.tz_convert(NEW_YORK).date().isoformat(),
        }

    def activities_json(
        self, activity_type: str | None = None, direction: str = "desc", page_size: int = 100
    ) -> list[dict[str, Any]]:
        if activity_type not in (None, "FILL"):
            return []
        # stable sort: fills at the same instant keep their execution order
        items = sorted(self.activities, key=lambda a: pd.Timestamp(a["transaction_time"]))
        if direction == "desc":
            items.reverse()
        return items[:page_size]


def unprocessable_asset(symbol: str) -> AlpacaError:
    return bad_request(f'asset "{symbol}" not found')
