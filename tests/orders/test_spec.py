"""OrderSpec validation as a table: each rule has a rejected example and an accepted boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce

from trading_kit.errors import OrderValidationError
from trading_kit.orders.spec import RULES, OrderSpec, validate

BASE = {"symbol": "AAPL", "side": "buy", "qty": 10}
LIMIT = {**BASE, "type": "limit", "limit_price": 150}
BRACKET = {
    **LIMIT,
    "order_class": "bracket",
    "take_profit_limit_price": 160,
    "stop_loss_stop_price": 145,
}
SELL_BRACKET = {
    **BRACKET,
    "side": "sell",
    "take_profit_limit_price": 140,
    "stop_loss_stop_price": 155,
}
OCO = {
    **BASE,
    "side": "sell",
    "type": "limit",
    "order_class": "oco",
    "take_profit_limit_price": 160,
    "stop_loss_stop_price": 140,
}

# (rule, changes to BASE, field named, words the message must contain)
REJECTED = [
    ("enum", {"side": "hold"}, "side", ["side='hold'", "buy, sell"]),
    ("enum", {"type": "iceberg"}, "type", ["market, limit, stop, stop_limit, trailing_stop"]),
    (
        "enum",
        {"time_in_force": "gtd"},
        "time_in_force",
        ["time_in_force='gtd' is not accepted", "day, gtc, opg, cls, ioc, fok"],
    ),
    ("enum", {"order_class": "mleg"}, "order_class", ["simple, bracket, oco, oto"]),
    ("symbol", {"symbol": "AAPL US"}, "symbol", ["'AAPL US'", "ticker"]),
    ("symbol", {"symbol": ""}, "symbol", ["ticker"]),
    ("qty_or_notional", {"qty": None}, "qty", ["exactly one of qty", "neither"]),
    ("qty_or_notional", {"notional": 100}, "qty", ["both"]),
    ("positive", {"qty": 0}, "qty", ["qty=0", "greater than 0"]),
    ("positive", {"qty": 1e19}, "qty", ["larger than any order", "1,000,000,000,000"]),
    ("positive", {**LIMIT, "limit_price": 1e26}, "limit_price", ["larger than any order"]),
    ("positive", {"qty": None, "notional": -5}, "notional", ["notional=-5"]),
    ("positive", {**LIMIT, "limit_price": 0}, "limit_price", ["limit_price=0", "greater than 0"]),
    ("decimals", {"qty": "0.0000000001"}, "qty", ["9 decimal places"]),
    ("decimals", {"qty": None, "notional": "10.005"}, "notional", ["2 decimal places"]),
    ("whole_qty", {"qty": 1.5, "time_in_force": "gtc"}, "qty", ["fractional", "day"]),
    ("whole_qty", {**BRACKET, "qty": 1.5}, "qty", ["bracket orders cannot be fractional"]),
    ("whole_qty", {"qty": 1.5, "type": "trailing_stop", "trail_percent": 1}, "qty", ["trailing"]),
    ("notional_order", {**LIMIT, "qty": None, "notional": 100}, "notional", ["market", "day"]),
    ("notional_order", {"qty": None, "notional": 100, "time_in_force": "gtc"}, "notional", ["day"]),
    ("required_price", {"type": "limit"}, "limit_price", ["limit_price is required for limit"]),
    ("required_price", {"type": "stop"}, "stop_price", ["stop_price is required for stop"]),
    ("required_price", {"type": "stop_limit", "stop_price": 10}, "limit_price", ["stop_limit"]),
    ("required_price", {"type": "stop_limit", "limit_price": 10}, "stop_price", ["stop_limit"]),
    ("unused_price", {"limit_price": 150}, "limit_price", ["not used by market"]),
    ("unused_price", {**LIMIT, "stop_price": 150}, "stop_price", ["not used by limit"]),
    ("trail", {"type": "trailing_stop"}, "trail_price", ["exactly one of trail_price"]),
    (
        "trail",
        {"type": "trailing_stop", "trail_price": 1, "trail_percent": 1},
        "trail_price",
        ["exactly one"],
    ),
    ("trail", {"trail_percent": 1}, "trail_percent", ["only used by trailing_stop"]),
    (
        "trail_percent_range",
        {"type": "trailing_stop", "trail_percent": 100},
        "trail_percent",
        ["between 0 and 100"],
    ),
    (
        "trail_percent_range",
        {"type": "trailing_stop", "trail_percent": 0},
        "trail_percent",
        ["between 0 and 100"],
    ),
    ("tick", {**LIMIT, "limit_price": "150.001"}, "limit_price", ["150.001", "tick", "0.01"]),
    ("tick", {**LIMIT, "limit_price": "0.12345"}, "limit_price", ["0.0001 below $1"]),
    ("tick", {**BRACKET, "stop_loss_stop_price": "145.555"}, "stop_loss_stop_price", ["tick"]),
    ("tick", {"type": "trailing_stop", "trail_price": "1.001"}, "trail_price", ["tick"]),
    (
        "trailing_tif",
        {"type": "trailing_stop", "trail_price": 1, "time_in_force": "ioc"},
        "time_in_force",
        ["day or gtc"],
    ),
    ("extended_hours", {"extended_hours": True}, "extended_hours", ["limit order", "market day"]),
    (
        "extended_hours",
        {**LIMIT, "extended_hours": True, "time_in_force": "ioc"},
        "extended_hours",
        ["time_in_force day", "limit ioc"],
    ),
    (  # Alpaca: "Only limit day orders will be accepted as extended hours eligible"
        "extended_hours",
        {**LIMIT, "extended_hours": True, "time_in_force": "gtc"},
        "extended_hours",
        ["time_in_force day", "limit gtc"],
    ),
    ("extended_hours", {**BRACKET, "extended_hours": True}, "extended_hours", ["bracket"]),
    ("extended_hours", {"extended_hours": "yes"}, "extended_hours", ["True or False"]),
    (
        "auction_tif",
        {"type": "stop", "stop_price": 10, "time_in_force": "opg"},
        "time_in_force",
        ["auction", "market and limit"],
    ),
    ("class_tif", {**BRACKET, "time_in_force": "ioc"}, "time_in_force", ["bracket", "day or gtc"]),
    (
        "class_legs",
        {**BRACKET, "stop_loss_stop_price": None},
        "stop_loss_stop_price",
        ["required for bracket"],
    ),
    (
        "class_legs",
        {**OCO, "take_profit_limit_price": None},
        "take_profit_limit_price",
        ["required for oco"],
    ),
    (
        "class_legs",
        {**BRACKET, "order_class": "oto"},
        "take_profit_limit_price",
        ["exactly one exit"],
    ),
    (
        "class_legs",
        {**LIMIT, "take_profit_limit_price": 160},
        "take_profit_limit_price",
        ["only used by bracket"],
    ),
    (
        "class_legs",
        {**BRACKET, "stop_loss_stop_price": None, "stop_loss_limit_price": 140},
        "stop_loss_stop_price",
        ["needs stop_loss_stop_price"],
    ),
    (
        "class_type",
        {**BRACKET, "type": "trailing_stop", "limit_price": None, "trail_percent": 1},
        "type",
        ["not accepted for bracket"],
    ),
    ("class_type", {**OCO, "type": "market"}, "type", ["use one of limit"]),
    ("class_type", {**OCO, "limit_price": 150}, "limit_price", ["leave limit_price out"]),
    (
        "leg_prices",
        {**BRACKET, "take_profit_limit_price": "150"},
        "take_profit_limit_price",
        ["above the entry price 150"],
    ),
    (
        "leg_prices",
        {**BRACKET, "stop_loss_stop_price": "150"},
        "stop_loss_stop_price",
        ["below the entry price 150"],
    ),
    (
        "leg_prices",
        {**SELL_BRACKET, "take_profit_limit_price": "150"},
        "take_profit_limit_price",
        ["below the entry price"],
    ),
    (
        "leg_prices",
        {**SELL_BRACKET, "stop_loss_stop_price": "150"},
        "stop_loss_stop_price",
        ["above the entry price"],
    ),
    (
        "leg_prices",
        {**BRACKET, "take_profit_limit_price": 140, "stop_loss_stop_price": 145},
        "take_profit_limit_price",
        ["above stop_loss_stop_price=145"],
    ),
    (
        "leg_prices",
        {**BRACKET, "stop_loss_limit_price": "145.01"},
        "stop_loss_limit_price",
        ["at or below stop_loss_stop_price"],
    ),
    (
        "leg_prices",
        {**SELL_BRACKET, "stop_loss_limit_price": "154.99"},
        "stop_loss_limit_price",
        ["at or above"],
    ),
    (
        "leg_prices",
        {**OCO, "take_profit_limit_price": 130},
        "take_profit_limit_price",
        ["above stop_loss_stop_price=140"],
    ),
    (
        "leg_prices",
        {**OCO, "side": "buy"},
        "take_profit_limit_price",
        ["below stop_loss_stop_price=140"],
    ),
    (
        "leg_prices",
        {**BRACKET, "type": "stop", "limit_price": None, "stop_price": 161},
        "take_profit_limit_price",
        ["entry price 161"],
    ),
    (
        "client_order_id",
        {"client_order_id": "x" * 129},
        "client_order_id",
        ["129 characters", "128"],
    ),
    ("client_order_id", {"client_order_id": "  "}, "client_order_id", ["non-empty"]),
]

# (rule, changes to BASE): the edge of each rule that must still pass
ACCEPTED = [
    ("enum", {"side": "SELL", "type": "Market", "time_in_force": "GTC"}),
    ("enum", {"side": OrderSide.SELL, "time_in_force": TimeInForce.FOK}),
    ("symbol", {"symbol": " brk.b "}),
    ("qty_or_notional", {"qty": None, "notional": 1}),
    ("positive", {"qty": "0.000000001"}),
    ("positive", {"qty": 10**12}),
    ("decimals", {"qty": "0.123456789"}),
    ("decimals", {"qty": None, "notional": "10.01"}),
    ("whole_qty", {"qty": 1.5}),
    ("whole_qty", {**LIMIT, "qty": "0.5"}),
    ("whole_qty", {"qty": "2.000", "time_in_force": "gtc"}),
    ("notional_order", {"qty": None, "notional": "0.01"}),
    ("required_price", {"type": "stop_limit", "stop_price": 10, "limit_price": 10}),
    ("unused_price", {"type": "stop", "stop_price": 10}),
    ("trail", {"type": "trailing_stop", "trail_price": "0.01"}),
    ("trail_percent_range", {"type": "trailing_stop", "trail_percent": "99.99"}),
    ("trail_percent_range", {"type": "trailing_stop", "trail_percent": "0.01"}),
    ("tick", {**LIMIT, "limit_price": "1.00"}),
    ("tick", {**LIMIT, "limit_price": "0.9999"}),
    ("tick", {**LIMIT, "limit_price": 150.1}),  # the float 150.1 is the price 150.1
    ("trailing_tif", {"type": "trailing_stop", "trail_price": 1, "time_in_force": "gtc"}),
    ("extended_hours", {**LIMIT, "extended_hours": True, "time_in_force": "day"}),
    ("auction_tif", {**LIMIT, "time_in_force": "opg"}),
    ("auction_tif", {"time_in_force": "cls"}),
    ("class_tif", {**BRACKET, "time_in_force": "gtc"}),
    ("class_legs", {**BRACKET, "order_class": "oto", "stop_loss_stop_price": None}),
    ("class_legs", {**BRACKET, "order_class": "oto", "take_profit_limit_price": None}),
    ("class_type", {**BRACKET, "type": "stop_limit", "stop_price": 150}),
    ("class_type", {**OCO, "limit_price": 160}),
    (
        "leg_prices",
        {**BRACKET, "take_profit_limit_price": "150.01", "stop_loss_stop_price": "149.99"},
    ),
    (
        "leg_prices",
        {**SELL_BRACKET, "take_profit_limit_price": "149.99", "stop_loss_stop_price": "150.01"},
    ),
    ("leg_prices", {**BRACKET, "stop_loss_limit_price": "145"}),
    ("leg_prices", {**OCO, "side": "buy", "take_profit_limit_price": 139.99}),
    ("leg_prices", {**BRACKET, "type": "market", "limit_price": None}),  # no entry: legs only
    ("client_order_id", {"client_order_id": "x" * 128}),
]


def _spec(changes: dict) -> OrderSpec:
    return OrderSpec.from_dict({**BASE, **changes})


def test_every_rule_has_a_rejected_and_an_accepted_case() -> None:
    assert {r for r, *_ in REJECTED} == set(RULES)
    assert {r for r, _ in ACCEPTED} == set(RULES)


@pytest.mark.parametrize(
    ("rule", "changes", "field", "words"),
    REJECTED,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(REJECTED)],
)
def test_rejected(rule: str, changes: dict, field: str, words: list[str]) -> None:
    with pytest.raises(OrderValidationError) as caught:
        OrderSpec(**{**BASE, **changes})
    assert caught.value.field == field
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("rule", "changes"), ACCEPTED, ids=[f"{r[0]}-{i}" for i, r in enumerate(ACCEPTED)]
)
def test_accepted_boundary(rule: str, changes: dict) -> None:
    spec = _spec(changes)
    assert spec.to_alpaca_json()["symbol"] == spec.symbol


def test_enums_are_normalised_and_numbers_are_decimals() -> None:
    spec = OrderSpec(symbol="aapl", side="BUY", qty=10, type="Limit", limit_price=150.1)
    assert (spec.symbol, spec.side, spec.type) == ("AAPL", "buy", "limit")
    assert spec.limit_price == Decimal("150.1") and spec.qty == Decimal(10)


def test_a_client_order_id_is_generated_when_not_given() -> None:
    first, second = OrderSpec(**BASE), OrderSpec(**BASE)
    assert len(first.client_order_id) == 36 and first.client_order_id != second.client_order_id
    assert OrderSpec(**BASE, client_order_id="mine-1").client_order_id == "mine-1"


def test_to_alpaca_json_is_the_post_body() -> None:
    spec = OrderSpec(
        **{**BRACKET, "stop_loss_limit_price": "144.5", "client_order_id": "c-1", "qty": "10.0"}
    )
    assert spec.to_alpaca_json() == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "order_class": "bracket",
        "client_order_id": "c-1",
        "qty": "10",
        "limit_price": "150",
        "take_profit": {"limit_price": "160"},
        "stop_loss": {"stop_price": "145", "limit_price": "144.5"},
    }
    notional = OrderSpec(symbol="AAPL", side="buy", notional=250.5, client_order_id="c-2")
    assert notional.to_alpaca_json() == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "order_class": "simple",
        "client_order_id": "c-2",
        "notional": "250.5",
    }
    ext = OrderSpec(**LIMIT, extended_hours=True)
    assert ext.to_alpaca_json()["extended_hours"] is True


def test_from_dict_reads_alpacas_own_json_round_trip() -> None:
    spec = OrderSpec(**{**BRACKET, "stop_loss_limit_price": 144})
    again = OrderSpec.from_dict(spec.to_alpaca_json())
    assert again == spec
    assert (
        OrderSpec.from_kwargs(
            symbol="AAPL", side="buy", qty=1, order_type="LIMIT", limit_price=5
        ).type
        == "limit"
    )


def test_from_dict_names_unknown_and_missing_fields() -> None:
    with pytest.raises(OrderValidationError, match="unknown order field 'price'") as caught:
        OrderSpec.from_dict({**BASE, "price": 10})
    assert caught.value.field == "price"
    with pytest.raises(OrderValidationError, match="side is required"):
        OrderSpec.from_dict({"symbol": "AAPL", "qty": 1})


def test_numbers_must_be_numbers() -> None:
    for bad in ("ten", True, float("nan"), [1]):
        with pytest.raises(OrderValidationError, match="qty=") as caught:
            OrderSpec(**{**BASE, "qty": bad})
        assert caught.value.field == "qty"


def test_replace_validates_and_gives_a_new_client_order_id() -> None:
    spec = OrderSpec(**LIMIT)
    moved = spec.replace(limit_price=151)
    assert moved.limit_price == 151 and moved.client_order_id != spec.client_order_id
    with pytest.raises(OrderValidationError, match="tick"):
        spec.replace(limit_price="151.001")


def test_market_entry_bracket_is_checked_against_a_last_price_when_given() -> None:
    spec = OrderSpec(**{**BRACKET, "type": "market", "limit_price": None})
    validate(spec, last_price=150)
    with pytest.raises(OrderValidationError, match="above the last price 170"):
        validate(spec, last_price=170)


def test_to_dict_is_plain_floats() -> None:
    assert OrderSpec(**LIMIT).to_dict()["limit_price"] == 150.0
