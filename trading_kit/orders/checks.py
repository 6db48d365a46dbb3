"""Pre-trade checks: what the account, the clock and the asset say about an order.

Policy apart from mechanism: the executor fetches a :class:`MarketContext` (account,
clock, asset, position, latest quote) and these functions only read it, so every
check is tested as a table without a server. Each check can be switched off in
:class:`PreTradeChecks`; all are on by default, because the broker would refuse the
same order less helpfully (Alpaca says "insufficient buying power"; we say how much
the order needs and how much there is).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ..errors import OrderValidationError
from .spec import OrderSpec, validate

#: Time-in-force values that must meet an open market: they never rest until the open.
IMMEDIATE_TIFS = frozenset({"ioc", "fok"})
#: The opening and closing auctions: Alpaca takes them only outside a window each day.
AUCTION_TIFS = frozenset({"opg", "cls"})
#: Alpaca values an opening short sale at 3% above the ask (or its limit, if higher).
SHORT_SALE_MARKUP = Decimal("1.03")
#: Alpaca refuses orders worth less than this (notional, or qty x price).
MINIMUM_ORDER_VALUE = Decimal(1)


@dataclass(frozen=True)
class PreTradeChecks:
    """Which checks run before an order is sent (``PreTradeChecks(buying_power=False)``)."""

    buying_power: bool = True
    market_hours: bool = True
    asset: bool = True
    position: bool = True
    leg_prices: bool = True

    @classmethod
    def coerce(cls, value: PreTradeChecks | bool | None) -> PreTradeChecks:
        """``True``/``None`` for all checks, ``False`` for none, or the object itself."""
        if isinstance(value, PreTradeChecks):
            return value
        on = value is None or bool(value)
        return cls(on, on, on, on, on)

    @property
    def any(self) -> bool:
        return any(
            (self.buying_power, self.market_hours, self.asset, self.position, self.leg_prices)
        )


@dataclass(frozen=True)
class Quote:
    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        if self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2
        return self.ask if self.ask > 0 else self.bid


@dataclass(frozen=True)
class MarketContext:
    """Everything the checks read, fetched once per order by the executor.

    ``position_qty`` is signed (negative when short); ``qty_available`` is what is not
    already held for other open sell orders. ``None`` means "not fetched".
    """

    buying_power: Decimal | None = None
    shorting_enabled: bool = True
    is_open: bool | None = None
    next_open: str | None = None
    asset: dict | None = None
    position_qty: Decimal = Decimal(0)
    qty_available: Decimal = Decimal(0)
    quote: Quote | None = None
    now: dt.datetime | None = None  # the broker's clock, New York time
    session: tuple[dt.datetime, dt.datetime] | None = None  # today's open and close, if any


def money(value: Decimal | float) -> str:
    """``$15,230.00``: how a person reads an amount of dollars."""
    return f"${Decimal(value):,.2f}"


def shares(value: Decimal) -> str:
    return format(value.normalize(), "f")


def estimated_qty(spec: OrderSpec, context: MarketContext) -> Decimal | None:
    """Shares the order is for; a notional order's from the quote."""
    if spec.qty is not None:
        return spec.qty
    if context.quote is None or spec.notional is None:
        return None
    price = context.quote.bid if spec.side == "sell" else context.quote.ask
    return spec.notional / price if price > 0 else None


def estimated_price(spec: OrderSpec, context: MarketContext) -> Decimal | None:
    """Per-share price used for cost: the order's own price, else the quote side it crosses;
    for an opening short, Alpaca's max(limit, 1.03 x ask)."""
    if opens_short(spec, context) and context.quote is not None:
        return max(spec.limit_price or Decimal(0), SHORT_SALE_MARKUP * context.quote.ask)
    return unit_price(spec, context)


def unit_price(spec: OrderSpec, context: MarketContext) -> Decimal | None:
    """The order's own price (a stop-limit's higher one), else the quote side it crosses."""
    if spec.type == "stop_limit":
        return max(spec.limit_price or Decimal(0), spec.stop_price or Decimal(0))
    if spec.entry_price is not None:
        return spec.entry_price
    if context.quote is None:
        return None
    return context.quote.ask if spec.side == "buy" else context.quote.bid


def estimated_cost(spec: OrderSpec, context: MarketContext) -> Decimal | None:
    """Dollars of buying power the order uses: notional, or qty times the estimated price."""
    if spec.notional is not None:
        return spec.notional
    price = estimated_price(spec, context)
    return None if price is None or spec.qty is None else spec.qty * price


def opens_short(spec: OrderSpec, context: MarketContext) -> bool:
    return spec.side == "sell" and spec.order_class != "oco" and context.position_qty <= 0


def run_checks(spec: OrderSpec, context: MarketContext, checks: PreTradeChecks) -> None:
    """Raise ``OrderValidationError`` for the first enabled check the order fails."""
    if checks.asset:
        check_asset(spec, context)
    if checks.market_hours:
        check_market_hours(spec, context)
    if checks.position:
        check_position(spec, context)
    if checks.leg_prices:
        check_leg_prices(spec, context)
    if checks.buying_power:
        check_order_value(spec, context)
        check_buying_power(spec, context)


def check_asset(spec: OrderSpec, context: MarketContext) -> None:
    asset = context.asset
    if asset is None:
        raise OrderValidationError(
            f"{spec.symbol} is not an asset this broker knows; check the ticker.", field="symbol"
        )
    if not asset.get("tradable", False) or asset.get("status", "active") != "active":
        raise OrderValidationError(
            f"{spec.symbol} is not tradable at this broker (status {asset.get('status')!r}).",
            field="symbol",
        )
    if spec.fractional and not asset.get("fractionable", False):
        what = (
            f"notional={shares(spec.notional)}"
            if spec.notional is not None
            else (f"qty={shares(spec.qty)}" if spec.qty is not None else "this order")
        )
        raise OrderValidationError(
            f"{spec.symbol} is not fractionable, so {what} cannot be traded; use a whole qty.",
            field="notional" if spec.notional is not None else "qty",
        )
    if opens_short(spec, context) and not asset.get("shortable", False):
        raise OrderValidationError(
            f"selling {spec.symbol} with no position to sell would open a short, and "
            f"{spec.symbol} is not shortable.",
            field="side",
        )


def check_market_hours(spec: OrderSpec, context: MarketContext) -> None:
    check_auction_window(spec, context)
    if spec.time_in_force in IMMEDIATE_TIFS and context.is_open is False:
        when = f" (it opens {context.next_open})" if context.next_open else ""
        raise OrderValidationError(
            f"the market is closed{when}, and a time_in_force={spec.time_in_force!r} order "
            "cannot wait for the open; use day or gtc, or submit while the market is open.",
            field="time_in_force",
        )


def check_auction_window(spec: OrderSpec, context: MarketContext) -> None:
    """Alpaca refuses opg orders from 9:28 to 19:00 ET and cls orders from 15:50 (ten
    minutes before the close) to 19:00, on session days."""
    if spec.time_in_force not in AUCTION_TIFS or context.now is None or context.session is None:
        return
    opens, closes = context.session
    if spec.time_in_force == "opg":
        cutoff, auction = opens - dt.timedelta(minutes=2), "opening"
    else:
        cutoff, auction = closes - dt.timedelta(minutes=10), "closing"
    reopen = context.now.replace(hour=19, minute=0, second=0, microsecond=0)
    if cutoff <= context.now < reopen:
        raise OrderValidationError(
            f"time_in_force={spec.time_in_force!r} orders are not taken between "
            f"{cutoff:%H:%M} and 19:00 New York time while the {auction} auction is "
            f"prepared (it is {context.now:%H:%M}); submit after 19:00 for the next session, "
            "or use day.",
            field="time_in_force",
        )


def check_order_value(spec: OrderSpec, context: MarketContext) -> None:
    """Alpaca refuses an order worth under $1, unless it closes the whole position."""
    closing = "sell" if context.position_qty > 0 else "buy"
    if spec.qty is not None and spec.side == closing and spec.qty == abs(context.position_qty):
        return
    if spec.notional is not None:
        value = spec.notional
    else:
        price = unit_price(spec, context)
        if price is None or spec.qty is None:
            return
        value = spec.qty * price
    if value < MINIMUM_ORDER_VALUE:
        raise OrderValidationError(
            f"this order is worth {money(value)}; the broker takes orders worth at least "
            f"{money(MINIMUM_ORDER_VALUE)} (notional, or qty x price).",
            field="notional" if spec.notional is not None else "qty",
        )


def check_position(spec: OrderSpec, context: MarketContext) -> None:
    """Selling more than held: a long can be sold down to zero, not through it. An oco
    order is an exit: it needs a position on the other side to close."""
    if spec.order_class == "oco":
        check_exit(spec, context)
        return
    if spec.side != "sell":
        return
    qty = estimated_qty(spec, context)
    if qty is None:
        return
    if context.position_qty > 0:
        available = max(context.qty_available, Decimal(0))
        if qty > available:
            held = context.position_qty - available
            note = f" ({shares(held)} held for open sell orders)" if held > 0 else ""
            raise OrderValidationError(
                f"selling {shares(qty)} {spec.symbol} but only {shares(available)} of "
                f"{shares(context.position_qty)} are available{note}; sell at most "
                f"{shares(available)}, or cancel those orders first.",
                field="qty",
            )
        return
    if context.position_qty == 0:
        if spec.fractional:
            raise OrderValidationError(
                f"selling {shares(qty)} {spec.symbol} with no position would open a short, "
                "and short sales must be whole shares.",
                field="qty",
            )
        if not context.shorting_enabled:
            raise OrderValidationError(
                f"selling {shares(qty)} {spec.symbol} with no position would open a short, "
                "and shorting is disabled on this account.",
                field="side",
            )


def check_exit(spec: OrderSpec, context: MarketContext) -> None:
    qty = estimated_qty(spec, context)
    if qty is None:
        return
    if spec.side == "sell":
        closable = max(context.qty_available, Decimal(0)) if context.position_qty > 0 else 0
        held = "long"
    else:
        closable = max(-context.qty_available, Decimal(0)) if context.position_qty < 0 else 0
        held = "short"
    if qty > closable:
        raise OrderValidationError(
            f"an oco order exits a position: this {spec.side} of {shares(qty)} {spec.symbol} "
            f"needs a {held} position with {shares(qty)} shares free, and "
            f"{shares(Decimal(closable))} are; size it to the position, or use a simple order.",
            field="qty",
        )


def check_leg_prices(spec: OrderSpec, context: MarketContext) -> None:
    """Bracket/oto exits against the market when the entry has no price of its own."""
    if spec.order_class in ("bracket", "oto") and spec.entry_price is None and context.quote:
        validate(spec, last_price=context.quote.mid)


def check_buying_power(spec: OrderSpec, context: MarketContext) -> None:
    if context.buying_power is None:
        return
    if spec.side == "buy" and context.position_qty < 0:
        return  # covering a short releases buying power
    if spec.side == "sell" and not opens_short(spec, context):
        return
    cost = estimated_cost(spec, context)
    if cost is None:
        raise OrderValidationError(
            f"there is no latest quote for {spec.symbol}, so the buying-power check cannot "
            "price this order; retry, give a limit price, or switch the check off with "
            "checks=PreTradeChecks(buying_power=False).",
            field="symbol",
        )
    if cost <= context.buying_power:
        return
    price = estimated_price(spec, context)
    how = (
        f"{shares(spec.qty)} x {money(price)}"
        if spec.qty is not None and price is not None
        else "notional"
    )
    raise OrderValidationError(
        f"{spec.side} {spec.symbol} needs {money(cost)} ({how}), buying power is "
        f"{money(context.buying_power)}; reduce the size or free buying power.",
        field="notional" if spec.notional is not None else "qty",
    )
