"""The matching core: when, and at what price, the live orders of one symbol trade.

Pure: ``Order`` records and numpy arrays in, ``Event``s out; no account, no JSON, no HTTP.
What an event does to the account (cash, positions, bracket legs, persistence) is the
coordinator's business (``engine.py``), which hands ``MatchingCore.run`` a callback.

Matching is event driven and vectorised. For each live order we compute with numpy, over
the minute ticks of a window (a ``Path``), the first moment something happens to it: it
becomes active, triggers, fills, expires. Events are applied in time order from a heap;
only the orders an event touches (the order itself, its bracket legs or OCO sibling) are
re-evaluated. A 1,000-order session therefore costs a few numpy passes per order, not a
Python loop per order per minute; and the ``Book`` skips, in one numpy expression, the
resting orders no price of the window can reach.

Fill rules (Alpaca paper): marketable orders fill at the quote (buy at the ask, sell at
the bid), a marketable limit too; stops trigger on the last trade price; trailing stops
track the high-water mark on regular-hours trades; opg/cls fill at the auction (the trade
price of the opening / last minute). How much one fill takes is the injected
``FillModel``'s decision (as nautilus_trader separates its fill model from matching).
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, Decimal

import numpy as np
import pandas as pd

from ..rules import to_tick
from .orders import Order, to_decimal

ONE_SHOT_TIFS = frozenset({"ioc", "fok", "opg", "cls"})
PARTIAL_FILL_PROBABILITY = 0.10
NEVER = np.iinfo(np.int64).max
_NANO_QTY = Decimal("1e-9")


def ns(t: pd.Timestamp) -> int:
    """A tz-aware timestamp as UTC nanoseconds, whatever its unit."""
    return int(t.value)


def from_ns(value: int) -> pd.Timestamp:
    return pd.Timestamp(value, unit="ns", tz="UTC")


@dataclasses.dataclass
class Path:
    """Market data of one symbol over a window, as numpy arrays (one row per tick)."""

    times: np.ndarray  # int64 ns, ascending
    price: np.ndarray  # last trade
    bid: np.ndarray
    ask: np.ndarray
    regular: np.ndarray  # bool: inside the regular session
    session: np.ndarray  # bool: regular or extended hours

    def __len__(self) -> int:
        return len(self.times)

    def slice(self, a: int, b: int) -> Path:
        return Path(
            self.times[a:b],
            self.price[a:b],
            self.bid[a:b],
            self.ask[a:b],
            self.regular[a:b],
            self.session[a:b],
        )

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
    """Something that happens to one order at ``time_ns``.

    ``kind``: activate | trigger | fill | expire | cancel | trail. A fill carries its
    ``price`` and, once the fill model has decided, its ``qty``; ``hwm`` is a trailing
    stop's high-water mark at that moment.
    """

    time_ns: int
    kind: str
    index: int = -1
    price: float = 0.0
    hwm: float | None = None
    qty: Decimal | None = None


class FillModel:
    """How much of an order one fill takes: all of it, or now and then a random part.

    A partial fill happens with probability ``partial_fill_probability`` for a random
    10-90% of the remaining quantity (whole shares for whole-share orders), decided by
    ``random.Random(seed * 1_000_003 + sequence)`` so a session replays identically;
    ``sequence`` counts the decisions and is persisted with the account. Fill-or-kill
    orders always fill whole.
    """

    def __init__(
        self,
        seed: int = 0,
        partial_fill_probability: float = PARTIAL_FILL_PROBABILITY,
        sequence: int = 0,
    ) -> None:
        self.seed = seed
        self.probability = partial_fill_probability
        self.sequence = sequence

    def quantity(self, order: Order, price: Decimal) -> Decimal:
        """The quantity of ``order``'s next fill at ``price``."""
        if order.notional is not None and order.qty is None:
            return (order.notional / price).quantize(_NANO_QTY, rounding=ROUND_DOWN)
        leaves = order.leaves_qty
        if self.probability <= 0 or order.time_in_force == "fok":
            return leaves
        rng = random.Random(self.seed * 1_000_003 + self.sequence)
        self.sequence += 1
        if rng.random() >= self.probability:
            return leaves
        share = Decimal(str(round(rng.uniform(0.1, 0.9), 4)))
        if leaves == leaves.to_integral_value():
            part = (leaves * share).to_integral_value(rounding=ROUND_DOWN)
        else:
            part = (leaves * share).quantize(_NANO_QTY, rounding=ROUND_DOWN)
        return part if 0 < part < leaves else leaves


def _first(mask: np.ndarray) -> int | None:
    if not mask.size:
        return None
    i = int(mask.argmax())
    return i if mask[i] else None


# ------------------------------------------------------------------------ one order
def window(order: Order, path: Path, end_ns: int) -> tuple[int, int]:
    """The rows of ``path`` that can still affect ``order``: after ``since``, before expiry."""
    since = ns(order.since) if order.since is not None else -1
    stop_ns = end_ns + 1
    if order.expires_at is not None:
        stop_ns = min(stop_ns, ns(order.expires_at))
    lo = int(np.searchsorted(path.times, since, side="right"))
    hi = int(np.searchsorted(path.times, stop_ns, side="left"))
    return lo, max(lo, hi)


def _tradable(order: Order, path: Path, lo: int, hi: int) -> np.ndarray:
    if order.extended_hours and order.type == "limit":
        return path.session[lo:hi]
    return path.regular[lo:hi]


def next_event(order: Order, path: Path, end_ns: int) -> Event | None:
    """The first thing that happens to ``order`` in ``path`` up to ``end_ns``, if anything."""
    lo, hi = window(order, path, end_ns)
    tradable = _tradable(order, path, lo, hi)
    fill = first_fill(order, path, lo, hi, tradable)
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
    if order.expires_at is not None and ns(order.expires_at) <= end_ns:
        kind = "cancel" if order.time_in_force in ONE_SHOT_TIFS else "expire"
        return Event(ns(order.expires_at), kind)
    return None


def first_fill(order: Order, path: Path, lo: int, hi: int, tradable: np.ndarray) -> Event | None:
    """The first fill (or stop-limit trigger) of ``order`` in ``path[lo:hi]``."""
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
        return _trailing_fill(order, path, lo, hi, tradable)
    i = _first(cond)
    if i is None:
        return None
    price = float(px[i]) if auction else float(quote[i])
    return Event(int(path.times[lo + i]), "fill", lo + i, price)


def trail_stop(order: Order, hwm: Decimal) -> Decimal:
    """A trailing stop's stop price for high-water mark ``hwm``, on the tick."""
    if order.trail_price is not None:
        stop = hwm + order.trail_price if order.side == "buy" else hwm - order.trail_price
    else:
        pct = (order.trail_percent or Decimal(0)) / 100
        stop = hwm * (1 + pct) if order.side == "buy" else hwm * (1 - pct)
    return to_tick(stop)


def _trail_stops(order: Order, hwm: np.ndarray) -> np.ndarray:
    buy = order.side == "buy"
    if order.trail_price is not None:
        offset = float(order.trail_price)
        return hwm + offset if buy else hwm - offset
    pct = float(order.trail_percent or 0) / 100.0
    return hwm * (1 + pct) if buy else hwm * (1 - pct)


def _hwm_run(order: Order, px: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    start = float(order.hwm) if order.hwm is not None else float(px[0])
    if order.side == "buy":
        return np.minimum.accumulate(np.minimum(np.where(tradable, px, np.inf), start))
    return np.maximum.accumulate(np.maximum(np.where(tradable, px, -np.inf), start))


def _trailing_fill(
    order: Order, path: Path, lo: int, hi: int, tradable: np.ndarray
) -> Event | None:
    px = path.price[lo:hi]
    hwm = _hwm_run(order, px, tradable)
    stop = _trail_stops(order, hwm)
    buy = order.side == "buy"
    cond = tradable & (px >= stop if buy else px <= stop)
    i = _first(cond)
    if i is None:
        return None
    quote = path.ask if buy else path.bid
    return Event(int(path.times[lo + i]), "fill", lo + i, float(quote[lo + i]), float(hwm[i]))


def rolled_hwm(order: Order, path: Path) -> Decimal | None:
    """A trailing stop's high-water mark after the regular-hours trades of ``path``."""
    lo, hi = window(order, path, NEVER - 1)
    tradable = path.regular[lo:hi]
    if not tradable.any():
        return None
    return to_decimal(float(_hwm_run(order, path.price[lo:hi], tradable)[-1]))


# ------------------------------------------------------------------------ one symbol
class Book:
    """The live orders of one symbol, and a numpy filter of those a window can reach.

    Most resting orders are far from the market: comparing every limit/stop against the
    window's extremes in one numpy expression leaves only the few that may have an event.
    Each order owns a row of the arrays, rewritten in place when it changes (a freed row
    is reused), so a change costs O(1), not a rebuild of the symbol's book.
    """

    _FIELDS = (
        ("alive", bool),
        ("skippable", bool),
        ("buy", bool),
        ("limit", bool),
        ("threshold", np.float64),
        ("since", np.int64),
        ("expires", np.int64),
    )

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self._row: dict[str, int] = {}
        self._slots: list[Order | None] = []
        self._free: list[int] = []
        self._a = {name: np.zeros(16, dtype) for name, dtype in self._FIELDS}
        self._summary: tuple[bool, int, int, float, float, float, float] | None = None

    def __len__(self) -> int:
        return len(self.orders)

    def update(self, order: Order) -> None:
        """Take in (or drop) ``order`` after any change to it."""
        self._summary = None
        row = self._row.get(order.id)
        if not order.live:
            if row is not None:
                del self.orders[order.id], self._row[order.id]
                self._slots[row] = None
                self._a["alive"][row] = False
                self._free.append(row)
            return
        if row is None:
            row = self._free.pop() if self._free else self._grow()
            self._row[order.id] = row
            self._slots[row] = order
            self.orders[order.id] = order
        a = self._a
        a["alive"][row] = True
        a["skippable"][row] = (
            order.status != "accepted"
            and order.time_in_force not in ONE_SHOT_TIFS
            and order.type in ("limit", "stop")
            and not order.extended_hours
        )
        a["buy"][row] = order.side == "buy"
        a["limit"][row] = order.type == "limit"
        level = order.limit_price if order.type == "limit" else order.stop_price
        a["threshold"][row] = float(level or 0)
        a["since"][row] = ns(order.since) if order.since is not None else -1
        a["expires"][row] = ns(order.expires_at) if order.expires_at is not None else NEVER

    def _grow(self) -> int:
        row = len(self._slots)
        self._slots.append(None)
        if row >= len(self._a["alive"]):
            for name, column in self._a.items():
                bigger = np.zeros(2 * len(column), column.dtype)
                bigger[: len(column)] = column
                self._a[name] = bigger
        return row

    def _summarise(self) -> tuple[bool, int, int, float, float, float, float]:
        """The book's extremes: whether any order must always be looked at, the first
        expiry, the latest ``since``, and the levels nearest the market of each kind."""
        n = len(self._slots)
        a = {name: column[:n] for name, column in self._a.items()}
        alive, t = a["alive"], a["threshold"]
        quiet = alive & a["skippable"]

        def level(mask: np.ndarray, pick: Callable[[np.ndarray], float], none: float) -> float:
            return float(pick(t[mask])) if mask.any() else none

        buy, limit = a["buy"], a["limit"]
        return (
            bool((alive & ~a["skippable"]).any()),
            int(a["expires"][alive].min()) if alive.any() else NEVER,
            int(a["since"][alive].max()) if alive.any() else -1,
            level(quiet & buy & limit, np.max, -np.inf),  # the highest resting buy limit
            level(quiet & ~buy & limit, np.min, np.inf),  # the lowest sell limit
            level(quiet & buy & ~limit, np.min, np.inf),  # the lowest buy stop
            level(quiet & ~buy & ~limit, np.max, -np.inf),  # the highest sell stop
        )

    def _provably_quiet(self, path: Path, end_ns: int) -> bool:
        """True when no order can have an event in ``path`` (O(1) while the book is unchanged)."""
        if self._summary is None:
            self._summary = self._summarise()
        loud, first_expiry, last_since, buy_limit, sell_limit, buy_stop, sell_stop = self._summary
        if first_expiry <= end_ns:
            return False
        if not len(path):
            return True
        if loud or last_since >= path.times[0]:
            return False
        stats = path.stats(extended=False)
        if stats is None:
            return True
        min_ask, max_bid, min_px, max_px = stats
        return not (
            buy_limit >= min_ask
            or sell_limit <= max_bid
            or buy_stop <= max_px
            or sell_stop >= min_px
        )

    def candidates(self, path: Path, end_ns: int) -> list[Order]:
        """Orders that may have an event in ``path`` (a superset; the rest provably do not)."""
        if self._provably_quiet(path, end_ns):
            return []
        n = len(self._slots)
        a = {name: column[:n] for name, column in self._a.items()}
        no_expiry = a["expires"] > end_ns
        if not len(path):
            quiet = no_expiry
        else:
            stats = path.stats(extended=False)
            if stats is None:
                reached = np.zeros(n, dtype=bool)
            else:
                min_ask, max_bid, min_px, max_px = stats
                t = a["threshold"]
                reached = np.where(
                    a["limit"],
                    np.where(a["buy"], t >= min_ask, t <= max_bid),
                    np.where(a["buy"], t <= max_px, t >= min_px),
                )
            quiet = a["skippable"] & no_expiry & (a["since"] < path.times[0]) & ~reached
        slots = self._slots
        return [slots[i] for i in np.flatnonzero(a["alive"] & ~quiet)]  # type: ignore[misc]


#: What the coordinator does with one event; returns the orders to re-evaluate.
Apply = Callable[[Order, Event], Iterable[Order]]


class MatchingCore:
    """Matching for one symbol: its book of live orders, events in time order, fill sizes."""

    def __init__(self, symbol: str, fill_model: FillModel) -> None:
        self.symbol = symbol
        self.fill_model = fill_model
        self.book = Book()

    def advance(self, path: Path, end_ns: int, apply: Apply) -> None:
        """Run the book through ``path`` up to ``end_ns``."""
        if self.book:
            candidates = self.book.candidates(path, end_ns)
            if candidates:
                self.run(candidates, path, end_ns, apply)

    def run(self, orders: list[Order], path: Path, end_ns: int, apply: Apply) -> None:
        """Events of ``orders`` in ``path``, applied in time order (then by age, then id)."""
        heap: list[tuple[int, int, str, int, Event]] = []
        version: dict[str, int] = {}
        by_id = {o.id: o for o in orders}

        def push(order: Order) -> None:
            by_id[order.id] = order
            version[order.id] = version.get(order.id, 0) + 1
            if not order.live:
                return
            event = next_event(order, path, end_ns)
            if event is not None:
                key = (event.time_ns, ns(order.created_at), order.id, version[order.id], event)
                heapq.heappush(heap, key)

        for order in orders:
            push(order)
        while heap:
            _, _, oid, v, event = heapq.heappop(heap)
            if version[oid] != v:
                continue
            order = by_id[oid]
            if event.kind == "fill":
                qty = self.fill_model.quantity(order, to_decimal(event.price))
                event = dataclasses.replace(event, qty=qty)
            for touched in apply(order, event):
                push(touched)
        for order in orders:
            if order.type == "trailing_stop" and order.live:
                hwm = rolled_hwm(order, path)
                if hwm is not None:
                    apply(order, Event(end_ns, "trail", hwm=float(hwm)))
