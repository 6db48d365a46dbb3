"""Admission: the rules an order must pass against the account and the market to exist.

``order_request.py`` checks the shape of a request; these rules need state: the time of
day, the quote, the position, what open orders hold, buying power. ``admit`` runs them in
one order for every path that creates or changes an order (``POST /v2/orders``,
``PATCH /v2/orders/{id}``, ``DELETE /v2/positions/{symbol}``), so a replace cannot do
what a new order may not (issue 9: a 2-share sell replaced to 100,000 shares went short).

Rules, as Alpaca documents them:

* opg orders are refused from 9:28 ET to 19:00 ET, cls orders from 15:50 ET to 19:00 ET
  (on session days; ten minutes before an early close);
* an order worth under $1 (notional, or qty x price) is refused, unless it closes the
  whole position;
* bracket exits must sit at least a cent beyond the base price;
* an OCO is an exit: it needs a position to close on its side;
* a simple market or limit order that could trade against one of the account's own
  open orders is a potential wash trade;
* buys need buying power for ``limit (or stop, or ask) x qty``; sells beyond the free
  long quantity are short sales, which need a shortable asset, no long position, and
  buying power for ``max(limit, 1.03 x ask) x qty``. Open buys and short sells hold
  their value until they fill or end.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable
from decimal import Decimal

import pandas as pd

from ..rules import NEW_YORK
from .calendar import MarketHours
from .ledger import Ledger
from .order_request import OrderRequest
from .orders import Order
from .wire import decimal_str, forbidden, insufficient_qty, unprocessable

SHORT_SALE_MARKUP = Decimal("1.03")
MINIMUM_ORDER_VALUE = Decimal(1)
_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_NANO_QTY = Decimal("1e-9")


@dataclasses.dataclass(frozen=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal


@dataclasses.dataclass
class Context:
    """What the rules read: the account, the market at this instant, the order replaced."""

    ledger: Ledger
    quote: Quote
    asset: dict
    now: pd.Timestamp
    hours: MarketHours
    buying_power: Callable[[], Decimal]
    wash: WashIndex
    shorting_enabled: bool
    replacing: Order | None = None


def admit(request: OrderRequest, ctx: Context) -> Decimal | None:
    """Check ``request`` against every rule; return the price per share its hold uses."""
    check_auction_window(request.time_in_force, ctx.now, ctx.hours)
    check_minimum_value(request, ctx)
    check_bracket_prices(request, ctx.quote.last)
    if request.order_class == "oco":
        check_exit(request, ctx)
        return None
    check_wash_trade(request, ctx.wash)
    return check_funds(request, ctx)


# ------------------------------------------------------------------------ time
def _clock_text(t: pd.Timestamp) -> str:
    return t.strftime("%I:%M%p").lstrip("0").lower()


def check_auction_window(tif: str, now: pd.Timestamp, hours: MarketHours) -> None:
    """opg: refused 2 minutes before the open until 19:00 ET; cls: 10 before the close."""
    if tif not in ("opg", "cls") or hours.always_open:
        return
    local = now.tz_convert(NEW_YORK)
    midnight = local.normalize()
    session_open = hours.next_open(midnight - pd.Timedelta(1, "ns")).tz_convert(NEW_YORK)
    if session_open.normalize() != midnight:
        return  # no session today: the order waits for the next one
    if tif == "opg":
        cutoff = session_open - pd.Timedelta(minutes=2)
    else:
        cutoff = hours.next_close(session_open).tz_convert(NEW_YORK) - pd.Timedelta(minutes=10)
    reopen = midnight + pd.Timedelta(hours=19)
    if cutoff <= local < reopen:
        raise unprocessable(
            f"{tif} orders are not accepted between {_clock_text(cutoff)} and 7:00pm ET "
            f"(the {'opening' if tif == 'opg' else 'closing'} auction is being prepared); "
            "submit before or after that window"
        )


# ------------------------------------------------------------------------ price
def unit_price(request: OrderRequest, quote: Quote) -> Decimal:
    """The price per share an order is valued at: its limit, its stop, or the far quote."""
    if request.type == "stop_limit":
        assert request.limit_price is not None and request.stop_price is not None
        return max(request.limit_price, request.stop_price)
    if request.limit_price is not None:
        return request.limit_price
    if request.stop_price is not None:
        return request.stop_price
    return quote.ask if request.side == "buy" else quote.bid


def _qty(request: OrderRequest, price: Decimal) -> Decimal:
    if request.qty is not None:
        return request.qty
    assert request.notional is not None
    return (request.notional / price).quantize(_NANO_QTY)


def check_minimum_value(request: OrderRequest, ctx: Context) -> None:
    """Alpaca refuses orders worth under $1, except one that closes the whole position."""
    if ctx.replacing is not None and ctx.replacing.parent_id:
        return  # a bracket or OCO exit leg
    if request.notional is not None:
        value = request.notional
    else:
        assert request.qty is not None
        value = request.qty * unit_price(request, ctx.quote)
        position = ctx.ledger.position_qty(request.symbol)
        closing = "sell" if position > 0 else "buy"
        if position != 0 and request.side == closing and request.qty == abs(position):
            return
    if value < MINIMUM_ORDER_VALUE:
        raise forbidden("cost basis must be >= minimal amount of order 1")


def check_bracket_prices(request: OrderRequest, last: Decimal) -> None:
    if request.order_class not in ("bracket", "oto"):
        return
    if request.type in ("limit", "stop_limit"):
        base = request.limit_price
    elif request.type == "stop":
        base = request.stop_price
    else:
        base = last
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


# ------------------------------------------------------------------------ quantities
def check_exit(request: OrderRequest, ctx: Context) -> None:
    """An OCO (or a replaced exit leg) closes part of a position on its own side."""
    position = ctx.ledger.position_qty(request.symbol)
    qty = _qty(request, ctx.quote.bid)
    held = ctx.ledger.held_qty(request.symbol, request.side, without=ctx.replacing)
    closable = max(position, _ZERO) if request.side == "sell" else max(-position, _ZERO)
    if qty > closable - held:
        raise insufficient_qty(request.symbol, qty, position, held, closable - held)


def check_funds(request: OrderRequest, ctx: Context) -> Decimal | None:
    """Buying power for buys and short sales, free shares for sells; returns the hold price."""
    ledger, quote = ctx.ledger, ctx.quote
    position = ledger.position_qty(request.symbol)
    if ctx.replacing is not None and ctx.replacing.parent_id:
        check_exit(request, ctx)  # a bracket/OCO leg: an exit, held once per group
        return None
    if request.side == "sell":
        qty = _qty(request, quote.bid)
        held = ledger.held_qty(request.symbol, "sell", without=ctx.replacing)
        if qty <= max(position, _ZERO) - held:
            return None  # sells shares the account has free
        can_short = (
            ctx.shorting_enabled
            and position <= 0
            and ctx.asset.get("shortable", False)
            and not request.fractional
        )
        if not can_short:
            free = max(position, _ZERO) - held
            raise insufficient_qty(request.symbol, qty, position, held, free)
        per_share = max(request.limit_price or _ZERO, SHORT_SALE_MARKUP * quote.ask)
        check_buying_power(qty * per_share, ctx)
        return per_share
    if position < 0:
        return None  # covering a short
    if request.notional is not None:
        check_buying_power(request.notional, ctx)
        return quote.ask
    per_share = unit_price(request, quote)
    assert request.qty is not None
    check_buying_power(request.qty * per_share, ctx)
    return per_share


def check_buying_power(cost: Decimal, ctx: Context) -> None:
    available = ctx.buying_power()
    if ctx.replacing is not None:
        available += ctx.ledger.bp_hold_of(ctx.replacing)  # the replaced order's hold frees up
    if cost > available:
        raise forbidden(
            "insufficient buying power",
            buying_power=decimal_str(available.quantize(_CENT)),
            cost_basis=decimal_str(cost.quantize(_CENT)),
        )


# ------------------------------------------------------------------------ wash trades
class WashIndex:
    """Open market and limit orders per (symbol, side): can a new order cross one?

    Kept incrementally (``update`` after any change to an order): a count of market
    orders and a heap of limit prices per side, so the check costs the same with one
    resting order or thousands.
    """

    def __init__(self) -> None:
        self._market: dict[tuple[str, str], set[str]] = {}
        self._limits: dict[tuple[str, str], dict[str, Decimal]] = {}
        self._heaps: dict[tuple[str, str], list[tuple[Decimal, str]]] = {}

    def update(self, order: Order) -> None:
        key = (order.symbol, order.side)
        counted = order.is_open and order.status != "held" and order.type in ("market", "limit")
        if counted and order.type == "market":
            self._market.setdefault(key, set()).add(order.id)
        else:
            self._market.get(key, set()).discard(order.id)
        limits = self._limits.setdefault(key, {})
        if counted and order.type == "limit":
            assert order.limit_price is not None
            if order.id not in limits:
                limits[order.id] = order.limit_price
                best = order.limit_price if order.side == "sell" else -order.limit_price
                heapq.heappush(self._heaps.setdefault(key, []), (best, order.id))
        else:
            limits.pop(order.id, None)

    def _best(self, key: tuple[str, str]) -> Decimal | None:
        """The lowest sell limit or the highest buy limit still open."""
        heap, live = self._heaps.get(key, []), self._limits.get(key, {})
        while heap and heap[0][1] not in live:
            heapq.heappop(heap)
        if not heap:
            return None
        return heap[0][0] if key[1] == "sell" else -heap[0][0]

    def crosses(self, symbol: str, side: str, order_type: str, limit: Decimal | None) -> bool:
        other = (symbol, "sell" if side == "buy" else "buy")
        if self._market.get(other):
            return True
        best = self._best(other)
        if best is None:
            return False
        if order_type == "market":
            return True
        assert limit is not None
        return limit >= best if side == "buy" else limit <= best


def check_wash_trade(request: OrderRequest, wash: WashIndex) -> None:
    """Alpaca refuses an order that could trade against one of the account's own orders."""
    if request.order_class or request.type not in ("market", "limit"):
        return
    if wash.crosses(request.symbol, request.side, request.type, request.limit_price):
        raise forbidden("potential wash trade detected. use complex orders")
