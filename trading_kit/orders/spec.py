"""``OrderSpec``: one validated description of an order, checked locally with no HTTP.

Every rule Alpaca applies to the *shape* of an order is applied here first, so a
mistake costs no request and reads like a sentence: the field, the bad value, the
rule, and what would be accepted. Rules that need the account or the market
(buying power, asset flags, the last price) live in :mod:`.checks`.

The rules, in the order they are checked (``RULES`` names them for the tests)::

    numbers      every quantity and price a finite number no larger than 10**12
    enums        side, type, time_in_force, order_class: case-insensitive, listed on error
    symbol       a ticker: letters, digits, '.', '-' (at most 12)
    size         exactly one of qty / notional; positive; qty at most 9 decimals,
                 notional at most 2; whole qty unless the order may be fractional
                 (simple day order, not a trailing stop); notional only for simple
                 market day orders
    prices       limit_price for limit/stop_limit, stop_price for stop/stop_limit, and
                 neither where the type has no use for it; trailing stops take exactly
                 one of trail_price / trail_percent (in (0, 100)) and day or gtc;
                 every price positive and on the tick (2 decimals at or above $1, 4 below)
    hours        extended_hours only for limit day orders, never on a bracket; opg and
                 cls only for market and limit orders
    class        bracket/oco/oto: day or gtc, the legs each class needs, the entry
                 types it allows, and the legs' prices on the right side of the entry
                 (buy: take profit > entry > stop loss; sell mirrored) and of each
                 other (a stop-limit leg's limit at or beyond its stop)
    client id    non-empty, at most 128 characters; a uuid4 when not given, so a
                 retried submission can be recognised (see :mod:`.executor`)
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from alpaca.trading.enums import OrderSide, OrderType, TimeInForce

from ..errors import OrderValidationError
from ..rules import CENT, TICKER_HINT, on_tick, ticker

# Accepted values, in the order Alpaca documents them (alpaca-py's enums are the source).
SIDES: tuple[str, ...] = tuple(m.value for m in OrderSide)
TYPES: tuple[str, ...] = tuple(m.value for m in OrderType)
TIME_IN_FORCE: tuple[str, ...] = tuple(m.value for m in TimeInForce)
ORDER_CLASSES: tuple[str, ...] = ("simple", "bracket", "oco", "oto")
PRICE_FIELDS = (
    "limit_price",
    "stop_price",
    "trail_price",
    "take_profit_limit_price",
    "stop_loss_stop_price",
    "stop_loss_limit_price",
)
DECIMAL_FIELDS = ("qty", "notional", "trail_percent", *PRICE_FIELDS)
MAX_CLIENT_ORDER_ID = 128
# Beyond this no quantity, price or notional is an order, and Decimal's 28 digits of
# precision could no longer hold it to the tick.
MAX_NUMBER = Decimal(10) ** 12
# Names users (and Alpaca's JSON) reach for, mapped onto ours.
ALIASES = {"order_type": "type", "tif": "time_in_force"}

# The rule names, one per check below; ``tests/orders/test_spec.py`` covers each.
RULES = (
    "enum",
    "symbol",
    "qty_or_notional",
    "positive",
    "decimals",
    "whole_qty",
    "notional_order",
    "required_price",
    "unused_price",
    "trail",
    "trail_percent_range",
    "tick",
    "trailing_tif",
    "extended_hours",
    "auction_tif",
    "class_tif",
    "class_legs",
    "class_type",
    "leg_prices",
    "client_order_id",
)


def _reject(message: str, field: str | None) -> OrderValidationError:
    return OrderValidationError(message, field=field)


def _fmt(value: Any) -> str:
    """A value as the user wrote it: decimals without exponent, strings quoted."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return repr(value)


def decimal_text(value: Decimal) -> str:
    """A decimal as Alpaca's API writes it: plain digits, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def to_decimal(value: Any, field: str) -> Decimal | None:
    """A number from an int, float (numpy's too), str or Decimal; floats by their shortest repr."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str, Decimal)):
        raise _reject(f"{field}={value!r} is not a number; pass e.g. {field}=10.5.", field)
    if isinstance(value, numbers.Integral):
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, Decimal):
        value = repr(float(value))  # 150.1 means the price 150.1, not its binary neighbour
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _reject(
            f"{field}={value!r} is not a number; pass e.g. {field}=10.5.", field
        ) from None
    if not number.is_finite():
        raise _reject(f"{field}={value!r} must be a finite number.", field)
    if abs(number) > MAX_NUMBER:
        raise _reject(
            f"{field}={value!r} is larger than any order can be (at most {MAX_NUMBER:,}).", field
        )
    return number


def choice(value: Any, accepted: tuple[str, ...], field: str) -> str:
    """An enum value, case-insensitive; alpaca-py enum members are accepted too."""
    text = str(getattr(value, "value", value)).strip().lower()
    if text not in accepted:
        raise _reject(
            f"{field}={_fmt(value)} is not accepted; use one of {', '.join(accepted)}.", field
        )
    return text


@dataclass(frozen=True)
class OrderSpec:
    """A validated order: construct it and it is either valid or an ``OrderValidationError``.

    Build it from keyword arguments (``OrderSpec(symbol="AAPL", qty=10, side="buy")``
    or :meth:`from_kwargs`), or from a dict (:meth:`from_dict`, which also reads
    Alpaca's own JSON with nested ``take_profit`` / ``stop_loss``). Numbers become
    ``Decimal``; enum values are lower-cased. ``client_order_id`` is a fresh uuid4
    when not given: it is the key that makes a retried submission safe.
    """

    symbol: str
    side: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    type: str = "market"
    time_in_force: str = "day"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    order_class: str = "simple"
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, accepted in (
            ("side", SIDES),
            ("type", TYPES),
            ("time_in_force", TIME_IN_FORCE),
            ("order_class", ORDER_CLASSES),
        ):
            value = getattr(self, name)
            if name == "order_class" and value in (None, ""):
                value = "simple"
            set_(self, name, choice(value, accepted, name))
        for name in DECIMAL_FIELDS:
            set_(self, name, to_decimal(getattr(self, name), name))
        if not isinstance(self.extended_hours, bool):
            raise _reject(
                f"extended_hours={self.extended_hours!r} must be True or False.", "extended_hours"
            )
        if self.client_order_id is None:
            set_(self, "client_order_id", str(uuid.uuid4()))
        set_(self, "symbol", _symbol(self.symbol))
        validate(self)

    # -- builders ---------------------------------------------------------------------
    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> OrderSpec:
        """``OrderSpec`` from keyword arguments, accepting ``order_type=`` for ``type=``."""
        return cls.from_dict(kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderSpec:
        """From a flat dict (the ticket widget's) or Alpaca's order JSON (nested legs)."""
        values = {ALIASES.get(k, k): v for k, v in data.items() if v is not None}
        take_profit = values.pop("take_profit", None)
        stop_loss = values.pop("stop_loss", None)
        if isinstance(take_profit, Mapping):
            values.setdefault("take_profit_limit_price", take_profit.get("limit_price"))
        if isinstance(stop_loss, Mapping):
            values.setdefault("stop_loss_stop_price", stop_loss.get("stop_price"))
            values.setdefault("stop_loss_limit_price", stop_loss.get("limit_price"))
        known = _field_names(cls)
        unknown = sorted(set(values) - known)
        if unknown:
            raise _reject(
                f"unknown order field {unknown[0]!r}; the fields are {', '.join(sorted(known))}.",
                unknown[0],
            )
        if "symbol" not in values or "side" not in values:
            missing = "symbol" if "symbol" not in values else "side"
            raise _reject(f"{missing} is required.", missing)
        return cls(**values)

    def replace(self, **changes: Any) -> OrderSpec:
        """A copy with ``changes`` applied and validated (a new client order id unless given)."""
        changes.setdefault("client_order_id", None)
        return dataclasses.replace(self, **changes)

    # -- views ------------------------------------------------------------------------
    @property
    def fractional(self) -> bool:
        """A notional order, or a qty with a fractional part."""
        return self.notional is not None or (
            self.qty is not None and self.qty != self.qty.to_integral_value()
        )

    @property
    def entry_price(self) -> Decimal | None:
        """The price the entry trades at or triggers from, when the order says (else the market)."""
        if self.type in ("limit", "stop_limit"):
            return self.limit_price
        if self.type == "stop":
            return self.stop_price
        return None

    def to_alpaca_json(self) -> dict[str, Any]:
        """Exactly the body of Alpaca's ``POST /v2/orders``: decimals as strings, legs nested."""
        body: dict[str, Any] = {
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "time_in_force": self.time_in_force,
            "order_class": self.order_class,
            "client_order_id": self.client_order_id,
        }
        for name in (
            "qty",
            "notional",
            "limit_price",
            "stop_price",
            "trail_price",
            "trail_percent",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = decimal_text(value)
        if self.extended_hours:
            body["extended_hours"] = True
        if self.take_profit_limit_price is not None:
            body["take_profit"] = {"limit_price": decimal_text(self.take_profit_limit_price)}
        if self.stop_loss_stop_price is not None:
            stop_loss = {"stop_price": decimal_text(self.stop_loss_stop_price)}
            if self.stop_loss_limit_price is not None:
                stop_loss["limit_price"] = decimal_text(self.stop_loss_limit_price)
            body["stop_loss"] = stop_loss
        return body

    def to_dict(self) -> dict[str, Any]:
        """Every field, decimals as floats: for display and for the ticket widget."""
        return {
            f.name: float(v) if isinstance(v := getattr(self, f.name), Decimal) else v
            for f in dataclasses.fields(self)
        }


def _symbol(value: Any) -> str:
    name = ticker(value)
    if name is None:
        raise _reject(f"symbol={value!r} is not a ticker; {TICKER_HINT}.", "symbol")
    return name


# -- the rules --------------------------------------------------------------------------
def validate(spec: OrderSpec, *, last_price: Decimal | float | None = None) -> None:
    """Raise ``OrderValidationError`` for the first rule ``spec`` breaks.

    ``last_price`` (optional) stands in for the entry of a market or trailing entry
    when checking bracket prices; without it, those legs are checked against each other.
    """
    _check_size(spec)
    _check_prices(spec)
    _check_hours(spec)
    _check_class(spec)
    reference = Decimal(str(last_price)) if last_price is not None else None
    _check_leg_prices(spec, reference)
    _check_client_order_id(spec.client_order_id)


def _check_size(spec: OrderSpec) -> None:
    if (spec.qty is None) == (spec.notional is None):
        both = "both were given" if spec.qty is not None else "neither was given"
        raise _reject(
            f"give exactly one of qty (shares) or notional (dollars); {both}.",
            "qty",
        )
    if spec.qty is not None:
        if spec.qty <= 0:
            raise _reject(f"qty={_fmt(spec.qty)} must be greater than 0.", "qty")
        if spec.qty != spec.qty.quantize(Decimal("1e-9")):
            raise _reject(f"qty={_fmt(spec.qty)} has more than 9 decimal places.", "qty")
        if spec.qty != spec.qty.to_integral_value():
            why = _why_not_fractional(spec)
            if why:
                raise _reject(
                    f"qty={_fmt(spec.qty)} is fractional, but {why}; use a whole number of shares.",
                    "qty",
                )
    if spec.notional is not None:
        if spec.notional <= 0:
            raise _reject(f"notional={_fmt(spec.notional)} must be greater than 0.", "notional")
        if spec.notional != spec.notional.quantize(CENT):
            raise _reject(
                f"notional={_fmt(spec.notional)} has more than 2 decimal places (whole cents).",
                "notional",
            )
        if spec.type != "market" or spec.time_in_force != "day" or spec.order_class != "simple":
            raise _reject(
                f"notional={_fmt(spec.notional)} is only accepted for simple market orders with "
                f"time_in_force='day' (this is a {spec.order_class} {spec.type} "
                f"{spec.time_in_force} order); give qty instead.",
                "notional",
            )


def _why_not_fractional(spec: OrderSpec) -> str | None:
    """Why this order may not trade fractional shares, or ``None`` when it may."""
    if spec.time_in_force != "day":
        return f"fractional orders must have time_in_force='day', not {spec.time_in_force!r}"
    if spec.order_class != "simple":
        return f"{spec.order_class} orders cannot be fractional"
    if spec.type == "trailing_stop":
        return "trailing stop orders cannot be fractional"
    return None


_NEEDS = {
    "market": (),
    "limit": ("limit_price",),
    "stop": ("stop_price",),
    "stop_limit": ("limit_price", "stop_price"),
    "trailing_stop": (),
}


def _check_prices(spec: OrderSpec) -> None:
    needs = _NEEDS[spec.type]
    for name in ("limit_price", "stop_price"):
        value = getattr(spec, name)
        if (
            name in needs
            and value is None
            and not (name == "limit_price" and spec.order_class == "oco")
        ):
            raise _reject(f"{name} is required for {spec.type} orders.", name)
        if name not in needs and value is not None:
            raise _reject(
                f"{name}={_fmt(value)} is not used by {spec.type} orders; remove it "
                f"(or choose type={'limit' if name == 'limit_price' else 'stop'}).",
                name,
            )
    if spec.type == "trailing_stop":
        if (spec.trail_price is None) == (spec.trail_percent is None):
            raise _reject(
                "trailing_stop orders need exactly one of trail_price (dollars) or "
                "trail_percent (percent of the high-water mark).",
                "trail_price",
            )
        if spec.trail_percent is not None and not 0 < spec.trail_percent < 100:
            raise _reject(
                f"trail_percent={_fmt(spec.trail_percent)} must be between 0 and 100 (exclusive).",
                "trail_percent",
            )
        if spec.time_in_force not in ("day", "gtc"):
            raise _reject(
                f"time_in_force={spec.time_in_force!r} is not accepted for trailing_stop "
                "orders; use day or gtc.",
                "time_in_force",
            )
    else:
        for name in ("trail_price", "trail_percent"):
            if getattr(spec, name) is not None:
                raise _reject(
                    f"{name}={_fmt(getattr(spec, name))} is only used by trailing_stop orders.",
                    name,
                )
    for name in PRICE_FIELDS:
        value = getattr(spec, name)
        if value is None:
            continue
        if value <= 0:
            raise _reject(f"{name}={_fmt(value)} must be greater than 0.", name)
        if not on_tick(value):
            tick = "0.01 (whole cents) at or above $1" if value >= 1 else "0.0001 below $1"
            raise _reject(f"{name}={_fmt(value)} is not on the tick: prices move in {tick}.", name)


def _check_hours(spec: OrderSpec) -> None:
    if spec.extended_hours and (spec.type != "limit" or spec.time_in_force != "day"):
        raise _reject(
            f"extended_hours=True needs a limit order with time_in_force day "
            f"(this is a {spec.type} {spec.time_in_force} order): Alpaca takes only limit day "
            "orders in extended hours.",
            "extended_hours",
        )
    if spec.extended_hours and spec.order_class == "bracket":
        raise _reject(
            "extended_hours=True is not supported for bracket orders; leave it out.",
            "extended_hours",
        )
    if spec.time_in_force in ("opg", "cls") and spec.type not in ("market", "limit"):
        raise _reject(
            f"time_in_force={spec.time_in_force!r} (auction) is only accepted for market and "
            f"limit orders, not {spec.type}.",
            "time_in_force",
        )


_CLASS_TYPES = {
    "bracket": ("market", "limit", "stop", "stop_limit"),
    "oto": ("market", "limit", "stop", "stop_limit"),
    "oco": ("limit",),
}


def _check_class(spec: OrderSpec) -> None:
    tp, sl = spec.take_profit_limit_price, spec.stop_loss_stop_price
    if spec.order_class == "simple":
        for name in ("take_profit_limit_price", "stop_loss_stop_price", "stop_loss_limit_price"):
            if getattr(spec, name) is not None:
                raise _reject(
                    f"{name} is only used by bracket, oco and oto orders; set order_class "
                    "(or use place_bracket_order).",
                    name,
                )
        return
    if spec.time_in_force not in ("day", "gtc"):
        raise _reject(
            f"time_in_force={spec.time_in_force!r} is not accepted for {spec.order_class} "
            "orders; use day or gtc.",
            "time_in_force",
        )
    if spec.stop_loss_limit_price is not None and sl is None:
        raise _reject(
            "stop_loss_limit_price needs stop_loss_stop_price (the stop that triggers it).",
            "stop_loss_stop_price",
        )
    if spec.order_class in ("bracket", "oco"):
        for name, value in (("take_profit_limit_price", tp), ("stop_loss_stop_price", sl)):
            if value is None:
                raise _reject(f"{name} is required for {spec.order_class} orders.", name)
    elif (tp is None) == (sl is None):
        raise _reject(
            "oto orders need exactly one exit: take_profit_limit_price or stop_loss_stop_price.",
            "take_profit_limit_price",
        )
    allowed = _CLASS_TYPES[spec.order_class]
    if spec.type not in allowed:
        raise _reject(
            f"type={spec.type!r} is not accepted for {spec.order_class} orders; use one of "
            f"{', '.join(allowed)}.",
            "type",
        )
    if spec.order_class == "oco" and spec.limit_price is not None and spec.limit_price != tp:
        raise _reject(
            f"limit_price={_fmt(spec.limit_price)} differs from take_profit_limit_price="
            f"{_fmt(tp)}; an oco order's limit is its take profit, so leave limit_price out.",
            "limit_price",
        )


def _check_leg_prices(spec: OrderSpec, last_price: Decimal | None) -> None:
    """Exit legs on the profitable / protective side of the entry and of each other.

    For a buy entry the exits sell: take profit above the entry, stop loss below it.
    An oco order is itself the exit of a position: a sell oco closes a long (take
    profit above the stop), a buy oco closes a short (take profit below the stop).
    """
    if spec.order_class == "simple":
        return
    tp, sl, sl_limit = (
        spec.take_profit_limit_price,
        spec.stop_loss_stop_price,
        spec.stop_loss_limit_price,
    )
    # ``up``: the exits are sells, profit is above. For oco the order's own side sells.
    up = spec.side == "buy" if spec.order_class != "oco" else spec.side == "sell"
    above, below = ("above", "below") if up else ("below", "above")
    if tp is not None and sl is not None and (tp <= sl if up else tp >= sl):
        raise _reject(
            f"take_profit_limit_price={_fmt(tp)} must be {above} stop_loss_stop_price="
            f"{_fmt(sl)} for a {spec.side} {spec.order_class} order.",
            "take_profit_limit_price",
        )
    if sl is not None and sl_limit is not None and (sl_limit > sl if up else sl_limit < sl):
        raise _reject(
            f"stop_loss_limit_price={_fmt(sl_limit)} must be at or {below} stop_loss_stop_price="
            f"{_fmt(sl)}: the stop-limit exit {'sells' if up else 'buys'} once the stop "
            "is reached, so its limit sits beyond the stop.",
            "stop_loss_limit_price",
        )
    if spec.order_class == "oco":
        return
    entry = spec.entry_price
    what = "the entry price"
    if entry is None:
        entry, what = last_price, "the last price"
    if entry is None:
        return
    if tp is not None and (tp < entry + CENT if up else tp > entry - CENT):
        raise _reject(
            f"take_profit_limit_price={_fmt(tp)} must be {above} {what} {_fmt(entry)} "
            f"(by at least $0.01) for a {spec.side} {spec.order_class} order.",
            "take_profit_limit_price",
        )
    if sl is not None and (sl > entry - CENT if up else sl < entry + CENT):
        raise _reject(
            f"stop_loss_stop_price={_fmt(sl)} must be {below} {what} {_fmt(entry)} "
            f"(by at least $0.01) for a {spec.side} {spec.order_class} order.",
            "stop_loss_stop_price",
        )


def _check_client_order_id(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _reject(
            f"client_order_id={value!r} must be a non-empty string (or leave it out for a uuid4).",
            "client_order_id",
        )
    if len(value) > MAX_CLIENT_ORDER_ID:
        raise _reject(
            f"client_order_id is {len(value)} characters; Alpaca accepts at most "
            f"{MAX_CLIENT_ORDER_ID}.",
            "client_order_id",
        )


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """A dataclass's field names (asked at every order: worked out once)."""
    return frozenset(f.name for f in dataclasses.fields(cls))
