"""Risk rules a researcher sets per ``Orders`` instance: limits the broker does not know.

``RiskLimits(max_order_notional=5_000, max_open_orders=10)``: every limit is optional,
and a breach is an ``OrderValidationError`` raised before anything is sent. Like the
pre-trade checks, the rules read a plain :class:`RiskState` the executor gathers, so
they are tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..errors import OrderValidationError
from .checks import MarketContext, estimated_cost, estimated_price, estimated_qty, money
from .spec import OrderSpec


def _amount(value: float | int | Decimal | None, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value <= 0:
        raise OrderValidationError(f"{name}={value!r} must be a positive number.", field=name)
    return Decimal(str(value))


@dataclass(frozen=True)
class RiskLimits:
    """Optional limits; ``None`` switches a rule off.

    ``max_order_notional``: dollars one order may trade. ``max_position_notional``:
    dollars held in one symbol after the order fills. ``max_open_orders``: open orders
    at once (the new one included). ``max_daily_loss``: once equity is this many
    dollars below yesterday's close, only orders that reduce a position pass.
    """

    max_order_notional: float | None = None
    max_position_notional: float | None = None
    max_open_orders: int | None = None
    max_daily_loss: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_position_notional", "max_daily_loss"):
            _amount(getattr(self, name), name)
        if self.max_open_orders is not None and (
            isinstance(self.max_open_orders, bool)
            or not isinstance(self.max_open_orders, int)
            or self.max_open_orders < 1
        ):
            raise OrderValidationError(
                f"max_open_orders={self.max_open_orders!r} must be a whole number >= 1.",
                field="max_open_orders",
            )

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.max_order_notional,
                self.max_position_notional,
                self.max_open_orders,
                self.max_daily_loss,
            )
        )


@dataclass(frozen=True)
class RiskState:
    """What the rules read: open orders, today's P&L, and the market context."""

    market: MarketContext
    open_orders: int = 0
    equity: Decimal | None = None
    last_equity: Decimal | None = None


def reduces_position(spec: OrderSpec, market: MarketContext) -> bool:
    """True when the order only shrinks the existing position (a sale of a long, a cover)."""
    qty = estimated_qty(spec, market) or Decimal(0)
    held = market.position_qty
    if spec.side == "sell":
        return held > 0 and qty <= held
    return held < 0 and qty <= -held


def check_risk(spec: OrderSpec, limits: RiskLimits, state: RiskState) -> None:
    """Raise ``OrderValidationError`` for the first limit the order would breach."""
    market = state.market
    cost = estimated_cost(spec, market)
    if limits.max_order_notional is not None and cost is not None:
        cap = Decimal(str(limits.max_order_notional))
        if cost > cap:
            raise OrderValidationError(
                f"this order trades about {money(cost)}, above the max_order_notional of "
                f"{money(cap)} set on this Orders instance.",
                field="qty" if spec.qty is not None else "notional",
            )
    if limits.max_position_notional is not None:
        price = market.quote.mid if market.quote else estimated_price(spec, market)
        qty = estimated_qty(spec, market)
        if price is not None and qty is not None:
            signed = qty if spec.side == "buy" else -qty
            after = abs(market.position_qty + signed) * price
            cap = Decimal(str(limits.max_position_notional))
            if after > cap and after > abs(market.position_qty) * price:
                raise OrderValidationError(
                    f"after this order the {spec.symbol} position would be about {money(after)}, "
                    f"above the max_position_notional of {money(cap)}.",
                    field="qty" if spec.qty is not None else "notional",
                )
    if limits.max_open_orders is not None and state.open_orders + 1 > limits.max_open_orders:
        raise OrderValidationError(
            f"{state.open_orders} orders are already open and max_open_orders is "
            f"{limits.max_open_orders}; cancel some first (cancel_order / cancel_all_orders).",
            field=None,
        )
    if (
        limits.max_daily_loss is not None
        and state.equity is not None
        and state.last_equity is not None
    ):
        loss = state.last_equity - state.equity
        cap = Decimal(str(limits.max_daily_loss))
        if loss >= cap and not reduces_position(spec, market):
            raise OrderValidationError(
                f"today's loss is {money(loss)}, at or beyond the max_daily_loss of {money(cap)}; "
                "only orders that reduce a position are accepted until tomorrow.",
                field=None,
            )
