"""The account's books: cash, positions, fills, what open orders hold, and day baselines.

Every number here is kept incrementally, so asking for it costs the same with one open
order or four thousand: the coordinator calls ``update_holds`` after any change to an
order, and the ledger adjusts two running totals, buying power held by open buys and
short sells, and shares held per (symbol, side).

Holds follow Alpaca: an open buy holds ``limit (or stop, or ask) x qty`` of buying power
(its ``notional`` for a notional order); an opening short sell holds
``max(limit, 1.03 x ask) x qty``; sells and covers hold shares. The exits of a bracket or
an OCO cancel each other, so such a group holds its largest leg once, not every leg.

``last_equity`` is the equity at the previous trading day's 16:00 ET close, fixed for the
day: the coordinator records the equity at every session close it passes
(``record_baseline``), so ``equity - last_equity`` is today's P&L.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal

import pandas as pd

from ..rules import NEW_YORK
from .orders import Fill, Order, Position

MARGIN_MULTIPLIER = Decimal(2)
INITIAL_MARGIN = Decimal("0.5")
MAINTENANCE_MARGIN = Decimal("0.3")
_ZERO = Decimal(0)
_BASELINES_KEPT = 10


@dataclasses.dataclass(frozen=True)
class AccountNumbers:
    """Equity, margin and buying power at one set of prices."""

    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    buying_power: Decimal


def group_of(order: Order) -> str:
    """The orders whose holds count once together: a bracket's or an OCO's exits."""
    if order.order_class in ("bracket", "oco"):
        return order.parent_id or order.id
    return order.id


def holds_anything(order: Order) -> bool:
    """Open and working (a held bracket leg holds nothing until its entry fills)."""
    return order.is_open and (order.status != "held" or order.released)


class Ledger:
    """Cash, positions and fills of one account, and what its open orders hold."""

    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.opening_equity = cash  # the account's equity before its first trade
        self.positions: dict[str, Position] = {}
        self.fills: list[Fill] = []  # sorted by id: by time, then in execution order
        self.baselines: dict[pd.Timestamp, Decimal] = {}  # session close -> equity then
        self._baselines_text: str | None = None
        self._fill_ids: list[str] = []
        self._bp_holds: dict[str, Decimal] = {}
        self.bp_held = _ZERO
        self._qty_key: dict[str, tuple[str, str, str]] = {}  # order id -> (symbol, side, group)
        self._groups: dict[tuple[str, str, str], dict[str, Decimal]] = {}
        self._qty_held: dict[tuple[str, str], Decimal] = {}

    # ------------------------------------------------------------------ fills
    def add_fill(self, fill: Fill) -> None:
        i = bisect.bisect(self._fill_ids, fill.id)
        self._fill_ids.insert(i, fill.id)
        self.fills.insert(i, fill)

    def book_fill(
        self, order: Order, qty: Decimal, price: Decimal, when: pd.Timestamp, account_id: str
    ) -> Fill:
        """Cash, position, the order's filled qty and average price, and the fill record."""
        amount = qty * price
        self.cash += -amount if order.side == "buy" else amount
        position = self.positions.get(order.symbol) or Position(order.symbol)
        position.apply_fill(order.side, qty, price)
        if position.qty == 0:
            self.positions.pop(order.symbol, None)
        else:
            self.positions[order.symbol] = position
        before = order.filled_qty
        order.filled_qty = before + qty
        previous = (order.filled_avg_price or _ZERO) * before
        order.filled_avg_price = ((previous + amount) / order.filled_qty).quantize(Decimal("1e-6"))
        done = order.notional is not None or order.filled_qty >= (order.qty or 0)
        # the execution id leads with a sequence number: fills of one millisecond keep
        # their execution order when activities are sorted (and paged) by id
        execution = uuid.UUID(int=(len(self.fills) << 96) | (uuid.uuid4().int & (2**96 - 1)))
        fill = Fill(
            id=f"{when.strftime('%Y%m%d%H%M%S%f')[:-3]}::{execution}",
            account_id=account_id,
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            time=when,
            leaves_qty=_ZERO if done else order.leaves_qty,
            cum_qty=order.filled_qty,
        )
        self.add_fill(fill)
        return fill

    def fill_index(self, fill_id: str, after: bool = False) -> int:
        """Where ``fill_id`` is (or would be) in ``fills``; past it with ``after``."""
        find = bisect.bisect_right if after else bisect.bisect_left
        return find(self._fill_ids, fill_id)

    def fills_page(
        self,
        direction: str,
        page_size: int,
        *,
        page_token: str | None = None,
        after: pd.Timestamp | None = None,
        until: pd.Timestamp | None = None,
        date: dt.date | None = None,
    ) -> list[Fill]:
        """One page of fills, paged by id as Alpaca pages activities.

        ``page_token`` is the id of the last entry of the previous page; the page holds
        the entries beyond it in ``direction``. ``after``/``until`` bound the time
        (exclusive); ``date`` is one New York day.
        """
        fills = self.fills
        if direction == "desc":
            stop = len(fills) if page_token is None else self.fill_index(page_token)
            rows: Iterable[int] = range(stop - 1, -1, -1)
        else:
            start = 0 if page_token is None else self.fill_index(page_token, after=True)
            rows = range(start, len(fills))
        page: list[Fill] = []
        for i in rows:
            fill = fills[i]
            if after is not None and fill.time <= after:
                continue
            if until is not None and fill.time >= until:
                continue
            if date is not None and fill.time.tz_convert(NEW_YORK).date() != date:
                continue
            page.append(fill)
            if len(page) >= page_size:
                break
        return page

    def position_qty(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.qty if position else _ZERO

    # ------------------------------------------------------------------ holds
    def update_holds(self, order: Order) -> None:
        """Recount what ``order`` holds after any change to it (O(1))."""
        old = self._bp_holds.pop(order.id, None)
        if old is not None:
            self.bp_held -= old
        new = self._buying_power_hold(order)
        if new:
            self._bp_holds[order.id] = new
            self.bp_held += new
        key = self._qty_key.pop(order.id, None)
        if key is not None:
            self._set_member(key, order.id, None)
        if holds_anything(order) and order.qty is not None:
            key = (order.symbol, order.side, group_of(order))
            self._qty_key[order.id] = key
            self._set_member(key, order.id, order.leaves_qty)

    @staticmethod
    def _buying_power_hold(order: Order) -> Decimal:
        if not holds_anything(order):
            return _ZERO
        if order.side == "buy" and order.notional is not None:
            return order.notional
        if order.hold_price is not None:
            return order.leaves_qty * order.hold_price
        return _ZERO

    def _set_member(self, key: tuple[str, str, str], order_id: str, leaves: Decimal | None) -> None:
        members = self._groups.setdefault(key, {})
        before = max(members.values(), default=_ZERO)
        if leaves is None:
            members.pop(order_id, None)
        else:
            members[order_id] = leaves
        after = max(members.values(), default=_ZERO)
        if not members:
            del self._groups[key]
        side = key[:2]
        self._qty_held[side] = self._qty_held.get(side, _ZERO) + after - before

    def held_qty(self, symbol: str, side: str, without: Order | None = None) -> Decimal:
        """Shares open orders on ``side`` hold, leaving out ``without``'s whole group."""
        held = self._qty_held.get((symbol, side), _ZERO)
        key = None if without is None else self._qty_key.get(without.id)
        if key is not None and key[:2] == (symbol, side):
            held -= max(self._groups[key].values(), default=_ZERO)
        return held

    def bp_hold_of(self, order: Order) -> Decimal:
        return self._bp_holds.get(order.id, _ZERO)

    # ------------------------------------------------------------------ numbers
    def equity(self, price: Callable[[str], Decimal]) -> Decimal:
        return self.cash + sum(
            (p.qty * price(p.symbol) for p in self.positions.values()), start=_ZERO
        )

    def numbers(self, price: Callable[[str], Decimal]) -> AccountNumbers:
        """Equity, margin and buying power with every position marked at ``price(symbol)``."""
        long_value = short_value = _ZERO
        for position in self.positions.values():
            value = position.qty * price(position.symbol)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        equity = self.cash + long_value + short_value
        gross = long_value - short_value
        initial = gross * INITIAL_MARGIN
        buying_power = max(max(equity - initial, _ZERO) * MARGIN_MULTIPLIER - self.bp_held, _ZERO)
        return AccountNumbers(
            equity=equity,
            long_market_value=long_value,
            short_market_value=short_value,
            initial_margin=initial,
            maintenance_margin=gross * MAINTENANCE_MARGIN,
            buying_power=buying_power,
        )

    # ------------------------------------------------------------------ day baselines
    def record_baseline(self, close: pd.Timestamp, equity: Decimal) -> None:
        """The equity at a session close (the next day's ``last_equity``)."""
        self.baselines[close] = equity
        for old in sorted(self.baselines)[:-_BASELINES_KEPT]:
            del self.baselines[old]
        self._baselines_text = None

    def baseline(self, close: pd.Timestamp) -> Decimal | None:
        return self.baselines.get(close)

    # ------------------------------------------------------------------ state
    def meta(self) -> dict[str, str]:
        if self._baselines_text is None:  # written at every step: rendered once a day
            self._baselines_text = ";".join(
                f"{t.isoformat()}={v}" for t, v in sorted(self.baselines.items())
            )
        return {
            "cash": str(self.cash),
            "opening_equity": str(self.opening_equity),
            "baselines": self._baselines_text,
        }

    def restore(self, meta: dict[str, str], positions: list[Position], fills: list[Fill]) -> None:
        self.cash = Decimal(meta["cash"])
        if "opening_equity" in meta:
            self.opening_equity = Decimal(meta["opening_equity"])
        else:  # stored before it was kept: every cash change is a fill, so undo them
            self.opening_equity = self.cash + sum(
                (f.qty * f.price * (1 if f.side == "buy" else -1) for f in fills), start=_ZERO
            )
        self.baselines = {}
        self._baselines_text = None
        for item in filter(None, meta.get("baselines", "").split(";")):
            close, value = item.split("=")
            self.baselines[pd.Timestamp(close)] = Decimal(value)
        self.positions = {p.symbol: p for p in positions}
        for fill in sorted(fills, key=lambda f: f.id):
            self._fill_ids.append(fill.id)
            self.fills.append(fill)
