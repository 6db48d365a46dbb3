"""The engine: one paper account's orders, coordinated across matching, ledger and wire.

A thin coordinator. It owns the orders and their lifecycle (accept, activate, fill,
cancel, expire, replace, bracket and OCO groups) and hands every other job to the module
that does it:

* ``matching.py`` decides when and at what price each live order trades (one
  ``MatchingCore`` per symbol, the ``FillModel`` injected);
* ``ledger.py`` books fills and keeps cash, positions, holds and day baselines;
* ``checks.py`` admits (or refuses) every new or replacing order, by the same rules;
* ``prices.py`` reads and caches the market; ``wire.py`` renders Alpaca's JSON.

Every change to an order goes through ``_mark``, which keeps the indexes (matching books,
open orders, holds, the wash-trade index) current, records what the store must write
(``drain``), and the trade updates to publish once it is written. The engine keeps the
whole account in memory; ``Exchange`` (core.py) persists it after each operation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pandas as pd

from ..rules import NEW_YORK
from ..rules import to_utc as utc
from . import checks, wire
from .calendar import MarketHours, within_span
from .clock import Clock
from .ledger import AccountNumbers, Ledger
from .market import Market
from .matching import (
    ONE_SHOT_TIFS,
    PARTIAL_FILL_PROBABILITY,
    Event,
    FillModel,
    MatchingCore,
    Path,
    from_ns,
    ns,
    trail_stop,
)
from .order_request import OrderRequest, ReplaceRequest, parse_order, parse_replace
from .orders import CLOSED_STATUSES, Fill, Order, Position, TradeUpdate, asset_id, to_decimal
from .prices import Prices
from .timeline import Timeline
from .wire import bad_request, not_found, unprocessable

#: Order statuses and the trade-update events a change to them sends (``None``: silent).
STATUS_EVENTS = {
    "accepted": "accepted",
    "new": "new",
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "replaced",
    "rejected": "rejected",
    "done_for_day": "done_for_day",
    "pending_new": "pending_new",
    "pending_cancel": "pending_cancel",
    "pending_replace": "pending_replace",
    "held": None,
    "filled": None,  # fills send ``fill`` / ``partial_fill`` with the execution
    "partially_filled": None,
}
_UNSENT = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})
_NANO_QTY = Decimal("1e-9")
_NANOSECOND = pd.Timedelta(1, "ns")
_MINUTE = pd.Timedelta(minutes=1)
_AFTER_HOURS = pd.Timedelta(hours=4)  # a day order with extended_hours lives until 20:00


@dataclasses.dataclass
class Changes:
    """What the store must write after an operation, and what to publish once it has."""

    orders: list[Order]
    positions: list[Position]
    removed_positions: list[str]
    fills: list[Fill]
    meta: dict[str, str]
    events: list[TradeUpdate] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.orders or self.positions or self.removed_positions or self.fills or self.meta
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Engine:
    """Orders, positions and matching for one paper account."""

    def __init__(
        self,
        market: Market,
        clock: Clock,
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
        self.initial_cash = Decimal(str(cash))
        self.emit_events = False  # the exchange turns this on when someone listens
        self.prices = Prices(market)
        self._reference_closes: dict[dt.date, pd.Timestamp] = {}
        self._reference_day: tuple[int, int, pd.Timestamp] = (0, 0, pd.Timestamp(0, tz="UTC"))
        self._asset_ids: dict[str, str] | None = None
        self._reset()
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA" + "".join(random.Random(seed).choices("0123456789", k=10))
        self.created_at = self.now()
        self.cursor = self.created_at

    def _reset(self) -> None:
        """An empty account (before ``restore`` loads a stored one)."""
        self.fill_model = FillModel(
            self.seed, PARTIAL_FILL_PROBABILITY if self.partial_fills else 0.0
        )
        self.ledger = Ledger(self.initial_cash)
        self.orders: dict[str, Order] = {}
        self._by_client: dict[str, str] = {}
        self._open: set[str] = set()
        self._timeline = Timeline()  # every order by submission time, and each symbol's
        self._timelines: dict[str, Timeline] = {}
        self._cores: dict[str, MatchingCore] = {}
        self._wash = checks.WashIndex()
        self._emitted: dict[str, str] = {}  # order id -> the status its last event showed
        self._dirty_orders: set[str] = set()
        self._dirty_positions: set[str] = set()
        self._new_fills: list[Fill] = []
        self._events: list[TradeUpdate] = []
        self._meta_dirty = True
        self._drained_meta: dict[str, str] = {}

    # ------------------------------------------------------------------ views for callers
    @property
    def cash(self) -> Decimal:
        return self.ledger.cash

    @property
    def positions(self) -> dict[str, Position]:
        return self.ledger.positions

    @property
    def hours(self) -> MarketHours:
        return self.market.hours

    @property
    def has_open_orders(self) -> bool:
        """Whether moving the clock can change anything (without open orders it cannot)."""
        return bool(self._open)

    def now(self) -> pd.Timestamp:
        return utc(self.clock.now())

    # ------------------------------------------------------------------ state and store
    def meta(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "account_number": self.account_number,
            "created_at": self.created_at.isoformat(),
            "cursor": self.cursor.isoformat(),
            "fill_seq": str(self.fill_model.sequence),
            **self.ledger.meta(),
        }

    def restore(
        self,
        meta: dict[str, str],
        orders: Iterable[Order],
        positions: Iterable[Position],
        fills: Iterable[Fill],
    ) -> None:
        """Load a stored state (after a restart, or after a write that failed)."""
        self._reset()
        if meta:
            self.account_id = meta["account_id"]
            self.account_number = meta["account_number"]
            self.created_at = utc(meta["created_at"])
            self.cursor = utc(meta["cursor"])
            self.fill_model.sequence = int(meta["fill_seq"])
            self.ledger.restore(meta, list(positions), list(fills))
            self._drained_meta = dict(meta)
        for order in orders:
            self.orders[order.id] = order
            self._by_client[order.client_order_id] = order.id
            self._emitted[order.id] = order.status
            self._index(order)
            self._enlist(order)
        self._dirty_orders.clear()
        self._meta_dirty = False

    def _meta_changes(self) -> dict[str, str]:
        """The meta values that differ from the last drained ones (usually the cursor)."""
        meta = self.meta()
        changed = {k: v for k, v in meta.items() if self._drained_meta.get(k) != v}
        self._drained_meta = meta
        return changed

    def drain(self) -> Changes:
        """Everything changed since the previous drain, and forget it."""
        positions = self.ledger.positions
        changes = Changes(
            orders=[self.orders[i] for i in self._dirty_orders],
            positions=[positions[s] for s in self._dirty_positions if s in positions],
            removed_positions=[s for s in self._dirty_positions if s not in positions],
            fills=self._new_fills,
            meta=self._meta_changes() if self._meta_dirty else {},
            events=self._events,
        )
        self._dirty_orders = set()
        self._dirty_positions = set()
        self._new_fills = []
        self._events = []
        self._meta_dirty = False
        return changes

    # ------------------------------------------------------------------ one change, everywhere
    def _core(self, symbol: str) -> MatchingCore:
        core = self._cores.get(symbol)
        if core is None:
            core = self._cores[symbol] = MatchingCore(symbol, self.fill_model)
        return core

    def _index(self, order: Order) -> None:
        """Keep every index current after a change to ``order``."""
        if order.is_open:
            self._open.add(order.id)
        else:
            self._open.discard(order.id)
        self._core(order.symbol).book.update(order)
        self.ledger.update_holds(order)
        self._wash.update(order)

    def _mark(
        self, order: Order, now: pd.Timestamp | None = None, fill: Fill | None = None
    ) -> None:
        """Record a change to ``order``: indexes, what to persist, what to publish."""
        if now is not None:
            order.updated_at = now
        self._dirty_orders.add(order.id)
        self._index(order)
        if fill is not None:
            self._publish(order, fill.time, fill)
        elif self._emitted.get(order.id) != order.status and STATUS_EVENTS.get(order.status):
            self._publish(order, order.updated_at or order.created_at, None)
        self._emitted[order.id] = order.status

    def _publish(self, order: Order, when: dt.datetime, fill: Fill | None) -> None:
        if not self.emit_events:
            return
        legs = tuple(self.orders[i].snapshot() for i in order.leg_ids if i in self.orders)
        if fill is None:
            event = STATUS_EVENTS[order.status]
            assert event is not None
            update = TradeUpdate(event, order.snapshot(), utc(when), legs)
        else:
            update = TradeUpdate(
                "fill" if order.status == "filled" else "partial_fill",
                order.snapshot(),
                fill.time,
                legs,
                execution_id=fill.execution_id,
                price=fill.price,
                qty=fill.qty,
                position_qty=self.ledger.position_qty(order.symbol),
            )
        self._events.append(update)

    def _add(self, order: Order) -> None:
        self.orders[order.id] = order
        self._by_client[order.client_order_id] = order.id
        self._enlist(order)
        self._mark(order)

    def _enlist(self, order: Order) -> None:
        self._timeline.add(order)
        self._timelines.setdefault(order.symbol, Timeline()).add(order)

    # ------------------------------------------------------------------ market helpers
    def _asset(self, symbol: str) -> tuple[str, dict[str, Any]]:
        """The tradable asset for a ticker or an asset id (as Alpaca accepts either)."""
        asset = self.market.asset(symbol)
        if asset is None and _is_uuid(symbol):
            if self._asset_ids is None:
                self._asset_ids = {asset_id(s).upper(): s for s in self.market.symbols()}
            ticker = self._asset_ids.get(symbol.upper())
            asset = None if ticker is None else self.market.asset(ticker)
        if asset is None or not asset.get("tradable", True):
            raise bad_request(f'asset "{symbol}" not found')
        return asset["symbol"], asset

    def last_price(self, symbol: str, t: dt.datetime) -> Decimal:
        return self.prices.last(symbol, utc(t))

    def reference_close(self, t: pd.Timestamp) -> pd.Timestamp:
        """The previous trading day's close: the last session close before ``t``'s NY day."""
        lo, hi, close = self._reference_day
        if lo <= t.value < hi:  # the same New York day as last time (most calls)
            return close
        day = t.tz_convert(NEW_YORK).date()
        close = self._reference_closes.get(day)
        if close is None:
            midnight = pd.Timestamp(day, tz=NEW_YORK).tz_convert("UTC")
            close = midnight - pd.Timedelta(days=1)
            for days in range(1, 12):  # the last close at or before midnight
                candidate = utc(self.hours.session_close(midnight - pd.Timedelta(days=days)))
                if candidate <= midnight:
                    close = candidate
                    break
            self._reference_closes[day] = close
        midnight = pd.Timestamp(day, tz=NEW_YORK)
        self._reference_day = (
            midnight.tz_convert("UTC").value,
            (midnight + pd.DateOffset(days=1)).tz_convert("UTC").value,
            close,
        )
        return close

    def previous_close(self, symbol: str, t: pd.Timestamp) -> Decimal:
        """``lastday_price``: the last trade of the previous trading day."""
        return self.prices.close_price(symbol, self.reference_close(t))

    # ------------------------------------------------------------------ time
    def process_until(self, t: dt.datetime | str) -> None:
        """Run the market forward to ``t``: triggers, fills, expiries, in time order.

        The window is cut at the previous trading day's close, where the equity is
        recorded: that is ``last_equity`` for the rest of the day.
        """
        t = utc(t)
        if t <= self.cursor:
            return
        # only closes from t's reference close on can be some day's reference (at most two)
        reference = self.reference_close(t)
        close = reference if reference > self.cursor else utc(self.hours.next_close(self.cursor))
        while close <= t:
            self._advance_to(close)
            self.ledger.record_baseline(close, self.ledger.equity(self._close_prices(close)))
            close = utc(self.hours.next_close(close))
        self._advance_to(t)

    def _close_prices(self, close: pd.Timestamp) -> Callable[[str], Decimal]:
        return lambda symbol: self.prices.close_price(symbol, close)

    def _advance_to(self, t: pd.Timestamp) -> None:
        if t <= self.cursor:
            return
        end_ns = ns(t)
        for symbol in sorted(s for s, core in self._cores.items() if core.book):
            path = self.prices.ticks(symbol, self.cursor, t)
            self._cores[symbol].advance(path, end_ns, self._apply)
        self.cursor = t
        self._meta_dirty = True

    # ------------------------------------------------------------------ events of matching
    def _apply(self, order: Order, event: Event) -> list[Order]:
        """Carry out one event; return the orders whose next event must be recomputed."""
        when = from_ns(event.time_ns)
        if event.kind == "activate":
            order.status = "new"
            order.since = from_ns(event.time_ns - 1)
            self._mark(order, when)
            return [order]
        if event.kind == "trigger":
            order.triggered = True
            order.since = when
            self._mark(order, when)
            return [order]
        if event.kind == "trail":
            assert event.hwm is not None
            self._set_trail(order, to_decimal(event.hwm))
            self._mark(order)
            return []
        if event.kind in ("expire", "cancel"):
            return self._close(order, "expired" if event.kind == "expire" else "canceled", when)
        return self._fill_event(order, event, when)

    def _set_trail(self, order: Order, hwm: Decimal) -> None:
        order.hwm = hwm
        order.stop_price = trail_stop(order, hwm)

    def _fill_event(self, order: Order, event: Event, when: pd.Timestamp) -> list[Order]:
        price = to_decimal(event.price)
        if order.type == "trailing_stop" and event.hwm is not None:
            self._set_trail(order, to_decimal(event.hwm))
        if order.type == "stop_limit":
            order.triggered = True
        qty = event.qty
        assert qty is not None
        if qty <= 0:
            return self._close(order, "canceled", when)
        leaves = qty if order.notional is not None and order.qty is None else order.leaves_qty
        fill = self.ledger.book_fill(order, qty, price, when, self.account_id)
        self._dirty_positions.add(order.symbol)
        self._new_fills.append(fill)
        self._meta_dirty = True
        if order.notional is not None or qty >= leaves:
            order.status = "filled"
            order.filled_at = when
            self._mark(order, when, fill)
            return [order, *self._after_fill(order, when)]
        order.status = "partially_filled"
        order.since = when
        self._mark(order, when, fill)
        if order.time_in_force in ONE_SHOT_TIFS:
            return self._close(order, "canceled", when)
        return [order]

    def _group(self, order: Order) -> tuple[Order, list[Order]]:
        parent = self.orders[order.parent_id] if order.parent_id else order
        return parent, [self.orders[i] for i in parent.leg_ids]

    def _after_fill(self, order: Order, when: pd.Timestamp) -> list[Order]:
        """Bracket/OTO: the entry's fill releases the legs; OCO/legs: one fill cancels the rest.

        As Alpaca shows it, a bracket's take profit becomes ``new`` and its stop loss keeps
        showing ``held`` (it is working all the same) until the take profit is done.
        """
        parent, legs = self._group(order)
        touched: list[Order] = []
        if order is parent and order.order_class in ("bracket", "oto"):
            for leg in legs:
                if leg.status != "held":
                    continue
                if order.order_class == "bracket" and leg.type != "limit" and len(legs) > 1:
                    leg.released = True  # the stop loss: working, shown as held
                else:
                    leg.status = "new"
                leg.since = when
                leg.qty = order.filled_qty
                if leg.time_in_force == "day":
                    leg.expires_at = self._expiry(leg, when)
                self._mark(leg, when)
                touched.append(leg)
            return touched
        if order.order_class in ("bracket", "oco", "oto"):
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
            return close + _AFTER_HOURS if order.extended_hours else close
        if tif == "opg":
            return utc(self.hours.next_open(now)) + _MINUTE
        if tif == "cls":
            return utc(self.hours.session_close(now))
        return None

    def _since(self, order: Order, now: pd.Timestamp) -> pd.Timestamp:
        """Market data after this instant may fill the order (opg/cls wait for the auction)."""
        if order.time_in_force == "opg" and order.expires_at is not None:
            return order.expires_at - _MINUTE - _NANOSECOND
        if order.time_in_force == "cls" and order.expires_at is not None:
            return max(now, order.expires_at - _MINUTE - _NANOSECOND)
        return now - _NANOSECOND

    def _context(
        self, asset: dict[str, Any], point: Path, now: pd.Timestamp, replacing: Order | None
    ) -> checks.Context:
        return checks.Context(
            ledger=self.ledger,
            quote=checks.Quote(
                bid=to_decimal(float(point.bid[0])),
                ask=to_decimal(float(point.ask[0])),
                last=to_decimal(float(point.price[0])),
            ),
            asset=asset,
            now=now,
            hours=self.hours,
            buying_power=lambda: self._numbers(now).buying_power,
            wash=self._wash,
            shorting_enabled=self.shorting_enabled,
            replacing=replacing,
        )

    def submit(self, body: Any) -> dict[str, Any]:
        """``POST /v2/orders``: validate, admit, accept, and try to match at the current quote."""
        request = parse_order(body)
        now = self.now()
        symbol, asset = self._asset(request.symbol)
        if symbol != request.symbol:
            request = dataclasses.replace(request, symbol=symbol)
        if request.fractional and not asset.get("fractionable", False):
            raise bad_request("qty must be integer")
        if request.client_order_id and request.client_order_id in self._by_client:
            raise bad_request("client_order_id must be unique")
        point = self.prices.point(symbol, now)
        hold = checks.admit(request, self._context(asset, point, now, None))
        orders = self._create(request, now, hold)
        response = self.order_json(orders[0])
        self._activate_submitted(orders, now, point)
        return response

    def _create(
        self, request: OrderRequest, now: pd.Timestamp, hold: Decimal | None
    ) -> list[Order]:
        parent = Order(
            id=str(uuid.uuid4()),
            client_order_id=request.client_order_id or str(uuid.uuid4()),
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force,
            created_at=now,
            submitted_at=now,
            updated_at=now,
            order_class=request.order_class,
            qty=request.qty,
            notional=request.notional,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            trail_price=request.trail_price,
            trail_percent=request.trail_percent,
            extended_hours=request.extended_hours,
            position_intent=request.position_intent,
            hold_price=hold,
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
        active = [o for o in orders if o.live]
        if not active:
            return
        self._core(active[0].symbol).run(active, point, ns(now), self._apply)
        for order in active:
            if order.live and (order.since is None or order.since < now):
                order.since = now
                self._mark(order)
            if order.status == "accepted" and order.time_in_force == "cls" and point.regular[0]:
                order.status = "new"  # waits for the closing auction, but is live
                self._mark(order, now)

    def get_order(self, order_id: str) -> Order:
        if not _is_uuid(order_id):
            raise bad_request("order_id is missing")  # Alpaca's answer to a malformed id
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
        legs = [self.orders[i] for i in order.leg_ids] if nested and order.leg_ids else None
        return wire.order_json(order, legs)

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
        """``GET /v2/orders``: filter by status, time, side, symbols; newest first by default.

        Open orders (few) are put in order when asked; the others are walked in submission
        order (``timeline``) from the end asked for, until the page is full.
        """
        newest_first = direction == "desc"
        after_ns = None if after is None else ns(within_span(after))  # year 1 or 9999 too
        until_ns = None if until is None else ns(within_span(until))
        if status == "open":
            timeline = Timeline()
            for order_id in self._open:
                timeline.add(self.orders[order_id])
        elif symbols and len(symbols) == 1:
            timeline = self._timelines.get(next(iter(symbols))) or Timeline()
        else:
            timeline = self._timeline
        selected: list[Order] = []
        for order in timeline.walk(after_ns, until_ns, newest_first):
            if len(selected) == limit:
                break
            if status == "closed" and order.is_open:
                continue
            if nested and order.parent_id:
                continue
            if side and order.side != side:
                continue
            if symbols and order.symbol not in symbols:
                continue
            selected.append(order)
        return [self.order_json(o, nested=nested) for o in selected]

    def cancel(self, order_id: str) -> Order:
        """``DELETE /v2/orders/{id}``: cancel the order and the rest of its bracket/OCO group."""
        order = self.get_order(order_id)
        if not order.is_open:
            raise unprocessable(f'order is already in "{order.status}" state')
        now = self.now()
        parent, legs = self._group(order)
        for member in [parent, *legs]:
            if member.is_open:
                self._close(member, "canceled", now, cascade=False)
        return order

    def cancel_all(self) -> list[dict[str, Any]]:
        """``DELETE /v2/orders``: one result per open order (multi-status)."""
        results = []
        for oid in sorted(self._open, key=lambda i: ns(self.orders[i].created_at)):
            order = self.orders[oid]
            if not order.is_open or (order.parent_id and self.orders[order.parent_id].is_open):
                continue
            self.cancel(oid)
            results.append({"id": oid, "status": 200, "body": self.order_json(order)})
        return results

    def replace(self, order_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /v2/orders/{id}``: a new order replaces the old one, which ends ``replaced``.

        The new order passes the same admission rules as a new one would, counting what
        the old one holds as free: a replace cannot sell shares that are not there.
        """
        request = parse_replace(body)
        old = self.get_order(order_id)
        if old.status in CLOSED_STATUSES:
            raise unprocessable(f'order is already in "{old.status}" state')
        if old.status in _UNSENT or (old.status == "held" and not old.released):
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
            status="held" if old.status == "held" else "accepted",
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
        point = self.prices.point(new.symbol, now)
        _, asset = self._asset(new.symbol)
        proposal = OrderRequest(
            symbol=new.symbol,
            side=new.side,
            type=new.type,
            time_in_force=new.time_in_force,
            qty=new.qty,
            limit_price=new.limit_price,
            stop_price=new.stop_price if new.type != "trailing_stop" else None,
            trail_price=new.trail_price,
            trail_percent=new.trail_percent,
            extended_hours=new.extended_hours,
            order_class=new.order_class,
        )
        new.hold_price = checks.admit(proposal, self._context(asset, point, now, old))
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
        self._activate_submitted([new], now, point)
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
        """``DELETE /v2/positions/{symbol}``: a market order for all, ``qty`` or ``percentage``.

        A percentage of a whole-share position sells whole shares (3 shares at 50% sell 1);
        only a fractional position is closed fractionally.
        """
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
            size = (abs(position.qty) * percentage / 100).quantize(_NANO_QTY, rounding=ROUND_DOWN)
            if position.qty == position.qty.to_integral_value():
                size = size.to_integral_value(rounding=ROUND_DOWN)
        side = "sell" if position.qty > 0 else "buy"
        held = self.ledger.held_qty(position.symbol, side)
        if size > abs(position.qty) - held or size <= 0:
            free = abs(position.qty) - held
            raise wire.insufficient_qty(position.symbol, size, position.qty, held, free)
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
            except wire.AlpacaError as error:
                results.append({"symbol": symbol, "status": error.status, "body": error.body()})
        return results

    def position_json(self, position: Position, now: pd.Timestamp) -> dict[str, Any]:
        held = (
            self.ledger.held_qty(position.symbol, "sell")
            if position.qty > 0
            else -self.ledger.held_qty(position.symbol, "buy")
        )
        return wire.position_json(
            position,
            current=self.last_price(position.symbol, now),
            lastday=self.previous_close(position.symbol, now),
            qty_available=position.qty - held,
            asset=self.market.asset(position.symbol) or {},
        )

    def positions_json(self) -> list[dict[str, Any]]:
        now = self.now()
        return [self.position_json(self.positions[s], now) for s in sorted(self.positions)]

    # ------------------------------------------------------------------ account API
    def _numbers(self, now: pd.Timestamp) -> AccountNumbers:
        return self.ledger.numbers(lambda symbol: self.last_price(symbol, now))

    def last_equity(self, now: pd.Timestamp) -> Decimal:
        """Equity at the previous trading day's close (Alpaca's ``last_equity``)."""
        close = self.reference_close(now)
        recorded = self.ledger.baseline(close)
        if recorded is not None:
            return recorded
        if self.created_at >= close:
            return self.ledger.opening_equity  # the account did not exist at that close
        # a state stored before baselines were recorded: today's holdings at that close
        return self.ledger.equity(self._close_prices(close))

    def account_json(self) -> dict[str, Any]:
        now = self.now()
        return wire.account_json(
            account_id=self.account_id,
            account_number=self.account_number,
            created_at=self.created_at,
            shorting_enabled=self.shorting_enabled,
            cash=self.ledger.cash,
            numbers=self._numbers(now),
            last_equity=self.last_equity(now),
            balance_asof=(self.reference_close(now) - pd.Timedelta(1, "ns"))
            .tz_convert(NEW_YORK)
            .date(),
        )

    def activities_json(
        self,
        activity_types: str | Iterable[str] | None = None,
        direction: str = "desc",
        page_size: int = 100,
        *,
        page_token: str | None = None,
        after: pd.Timestamp | None = None,
        until: pd.Timestamp | None = None,
        date: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /v2/account/activities``: fills only (the exchange has no other activity)."""
        if isinstance(activity_types, str):
            activity_types = {activity_types}
        if activity_types is not None and "FILL" not in set(activity_types):
            return []
        page = self.ledger.fills_page(
            direction, page_size, page_token=page_token, after=after, until=until, date=date
        )
        return [wire.activity_json(fill) for fill in page]
