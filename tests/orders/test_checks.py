"""Pre-trade checks and risk rules: as tables over a plain MarketContext, then end to end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.orders.conftest import CLOSED_TIME, Proxy
from trading_kit.errors import OrderExecutionError, OrderValidationError
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders, OrderSpec, PreTradeChecks, RiskLimits
from trading_kit.orders.checks import MarketContext, Quote, money, run_checks
from trading_kit.orders.risk import RiskState, check_risk

D = Decimal
ASSET = {
    "symbol": "AAPL",
    "tradable": True,
    "fractionable": True,
    "shortable": True,
    "status": "active",
}
CONTEXT = MarketContext(
    buying_power=D("9870.12"),
    is_open=True,
    asset=ASSET,
    quote=Quote(D("152.00"), D("152.10")),
)
ALL = PreTradeChecks()


OCO = {"type": "limit", "take_profit_limit_price": 160, "stop_loss_stop_price": 140}
OCO_BUY = {"type": "limit", "take_profit_limit_price": 140, "stop_loss_stop_price": 160}


def ny(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2024, 3, 5, hour, minute, tzinfo=ZoneInfo("America/New_York"))


SESSION = (ny(9, 30), ny(16, 0))


def spec(**changes: object) -> OrderSpec:
    return OrderSpec.from_dict({"symbol": "AAPL", "side": "buy", "qty": 10, **changes})


def context(**changes: object) -> MarketContext:
    return MarketContext(**{**CONTEXT.__dict__, **changes})


# (order, context changes, field, the message, word for word where it has numbers)
FAILS = [
    (
        spec(qty=100, type="limit", limit_price="152.30"),
        {},
        "qty",
        "buy AAPL needs $15,230.00 (100 x $152.30), buying power is $9,870.12",
    ),
    (
        spec(qty=None, notional=10_000),
        {},
        "notional",
        "needs $10,000.00 (notional), buying power is $9,870.12",
    ),
    (spec(qty=65), {}, "qty", "needs $9,886.50 (65 x $152.10)"),  # market: priced at the ask
    # a short: Alpaca values it at max(limit, 1.03 x ask) = 1.03 x 152.10
    (spec(side="sell", qty=64), {}, "qty", "needs $10,026.43 (64 x $156.66)"),
    # Alpaca refuses orders worth under $1
    (spec(qty="0.005"), {}, "qty", "worth $0.76; the broker takes orders worth at least $1.00"),
    (spec(type="limit", limit_price="0.99", qty=1), {}, "qty", "worth $0.99"),
    # an oco order exits a position on its side, so it needs one
    (spec(order_class="oco", side="sell", **OCO), {}, "qty", "needs a long position"),
    (
        spec(order_class="oco", side="buy", **OCO_BUY),
        {"position_qty": D(10), "qty_available": D(10)},
        "qty",
        "needs a short position with 10 shares free, and 0 are",
    ),
    # Alpaca refuses opg orders from 9:28 to 19:00 ET, cls from 15:50 (on session days)
    (spec(time_in_force="opg"), {"now": ny(10, 0), "session": SESSION}, "time_in_force", "09:28"),
    (spec(time_in_force="cls"), {"now": ny(15, 55), "session": SESSION}, "time_in_force", "15:50"),
    (spec(), {"asset": None}, "symbol", "AAPL is not an asset this broker knows"),
    (spec(), {"asset": {**ASSET, "tradable": False}}, "symbol", "AAPL is not tradable"),
    (
        spec(qty="0.5"),
        {"asset": {**ASSET, "fractionable": False}},
        "qty",
        "not fractionable, so qty=0.5",
    ),
    (spec(side="sell"), {"asset": {**ASSET, "shortable": False}}, "side", "AAPL is not shortable"),
    (
        spec(time_in_force="ioc"),
        {"is_open": False, "next_open": "2024-03-06T09:30:00-05:00"},
        "time_in_force",
        "the market is closed (it opens 2024-03-06T09:30:00-05:00)",
    ),
    (
        spec(side="sell", qty=12),
        {"position_qty": D(10), "qty_available": D(10)},
        "qty",
        "selling 12 AAPL but only 10 of 10 are available",
    ),
    (
        spec(side="sell", qty=8),
        {"position_qty": D(10), "qty_available": D(5)},
        "qty",
        "only 5 of 10 are available (5 held for open sell orders)",
    ),
    (spec(side="sell", qty="0.5"), {}, "qty", "short sales must be whole shares"),
    (spec(side="sell"), {"shorting_enabled": False}, "side", "shorting is disabled"),
    (
        spec(order_class="bracket", take_profit_limit_price=150, stop_loss_stop_price=140),
        {},
        "take_profit_limit_price",
        "must be above the last price 152.05",
    ),
]
PASSES = [
    (spec(qty=64), {}),  # 64 x 152.10 = 9,734.40 fits
    (spec(qty="0.0066"), {}),  # 0.0066 x 152.10 = $1.00
    (spec(side="sell", qty="0.004"), {"position_qty": D("0.004"), "qty_available": D("0.004")}),
    (spec(order_class="oco", side="sell", **OCO), {"position_qty": D(10), "qty_available": D(10)}),
    (spec(time_in_force="opg"), {"now": ny(9, 27), "session": SESSION}),
    (spec(time_in_force="opg"), {"now": ny(19, 0), "session": SESSION}),
    (spec(time_in_force="cls"), {"now": ny(15, 49), "session": SESSION}),
    (spec(time_in_force="opg"), {"now": ny(10, 0), "session": None}),  # no session today
    (spec(type="limit", limit_price="987.01", qty=10), {"buying_power": D("9870.10")}),  # exactly
    (spec(side="sell", qty=10), {"position_qty": D(10), "qty_available": D(10)}),  # all of it
    (spec(side="buy", qty=1000), {"position_qty": D(-1000)}),  # a cover needs no buying power
    (spec(time_in_force="day"), {"is_open": False}),  # a day order waits for the open
    (spec(qty="0.5"), {}),
    (spec(order_class="bracket", take_profit_limit_price=160, stop_loss_stop_price=140), {}),
]


@pytest.mark.parametrize(("order", "changes", "field", "message"), FAILS)
def test_check_fails_with_the_numbers(
    order: OrderSpec, changes: dict, field: str, message: str
) -> None:
    with pytest.raises(OrderValidationError) as caught:
        run_checks(order, context(**changes), ALL)
    assert message in str(caught.value)
    assert caught.value.field == field


@pytest.mark.parametrize(("order", "changes"), PASSES)
def test_check_passes_at_the_edge(order: OrderSpec, changes: dict) -> None:
    run_checks(order, context(**changes), ALL)


@pytest.mark.parametrize(
    "name", ["buying_power", "market_hours", "asset", "position", "leg_prices"]
)
def test_each_check_can_be_switched_off(name: str) -> None:
    failing = {
        "buying_power": (spec(qty=1000), {}),
        "market_hours": (spec(time_in_force="fok"), {"is_open": False}),
        "asset": (spec(), {"asset": None}),
        "position": (spec(side="sell", qty=12), {"position_qty": D(10), "qty_available": D(10)}),
        "leg_prices": (spec(order_class="oto", take_profit_limit_price=150), {}),
    }[name]
    with pytest.raises(OrderValidationError):
        run_checks(failing[0], context(**failing[1]), ALL)
    only_this = PreTradeChecks(**{n: n == name for n in ALL.__dict__})
    with pytest.raises(OrderValidationError):
        run_checks(failing[0], context(**failing[1]), only_this)
    run_checks(failing[0], context(**failing[1]), PreTradeChecks(**{name: False}))


def test_money_is_formatted_for_people() -> None:
    assert money(D("15230")) == "$15,230.00" and money(D("9870.123")) == "$9,870.12"


# -- risk rules -------------------------------------------------------------------------
RISK_FAILS = [
    (
        RiskLimits(max_order_notional=1_000),
        spec(qty=7),
        {},
        "trades about $1,064.70, above the max_order_notional of $1,000.00",
    ),
    (
        RiskLimits(max_position_notional=2_000),
        spec(qty=5),
        {"position_qty": D(10)},
        "position would be about $2,280.75, above the max_position_notional of $2,000.00",
    ),
    (
        RiskLimits(max_open_orders=3),
        spec(),
        {"open_orders": 3},
        "3 orders are already open and max_open_orders is 3",
    ),
    (
        RiskLimits(max_daily_loss=500),
        spec(),
        {"equity": D(99_500), "last_equity": D(100_000)},
        "today's loss is $500.00, at or beyond the max_daily_loss of $500.00",
    ),
]
RISK_PASSES = [
    (RiskLimits(max_order_notional=1_064.70), spec(qty=7), {}),
    (
        RiskLimits(max_position_notional=2_000),
        spec(side="sell", qty=5),
        {"position_qty": D(20)},
    ),  # shrinking
    (RiskLimits(max_open_orders=3), spec(), {"open_orders": 2}),
    (
        RiskLimits(max_daily_loss=500),
        spec(side="sell", qty=5),
        {"equity": D(99_000), "last_equity": D(100_000), "position_qty": D(10)},
    ),
    (RiskLimits(max_daily_loss=500), spec(), {"equity": D(99_500.01), "last_equity": D(100_000)}),
]


def _state(changes: dict) -> RiskState:
    market = {k: changes.pop(k) for k in list(changes) if k in MarketContext.__dataclass_fields__}
    return RiskState(market=context(**market), **changes)


@pytest.mark.parametrize(("limits", "order", "changes", "message"), RISK_FAILS)
def test_risk_rule_breached(
    limits: RiskLimits, order: OrderSpec, changes: dict, message: str
) -> None:
    with pytest.raises(OrderValidationError) as caught:
        check_risk(order, limits, _state(dict(changes)))
    assert message in str(caught.value)


@pytest.mark.parametrize(("limits", "order", "changes"), RISK_PASSES)
def test_risk_rule_edge_passes(limits: RiskLimits, order: OrderSpec, changes: dict) -> None:
    check_risk(order, limits, _state(dict(changes)))


def test_risk_limits_are_validated() -> None:
    with pytest.raises(OrderValidationError, match="max_open_orders=0"):
        RiskLimits(max_open_orders=0)
    with pytest.raises(OrderValidationError, match="max_daily_loss=-1"):
        RiskLimits(max_daily_loss=-1)


# -- end to end ---------------------------------------------------------------------------
class FlaggedMarket(SimulatedMarket):
    """The simulated market with KO not fractionable nor shortable, and DIS halted."""

    def asset(self, symbol: str) -> dict | None:
        asset = super().asset(symbol)
        if asset and symbol == "KO":
            return {**asset, "fractionable": False, "shortable": False}
        if asset and symbol == "DIS":
            return {**asset, "tradable": False}
        return asset


@pytest.fixture
def flagged(clock: ManualClock) -> Iterator[RunningExchange]:
    exchange = Exchange(FlaggedMarket(), clock, partial_fills=False)
    with start_exchange(exchange) as handle:
        yield handle
    exchange.close()


def test_buying_power_check_quotes_the_numbers(orders: Orders) -> None:
    account = orders.get_account()
    ask = float(orders._data.get_latest_quote("COST", use_cache=False)["ask_price"].iloc[0])
    qty = int(account.buying_power // ask) + 1
    with pytest.raises(OrderValidationError) as caught:
        orders.place_order("COST", qty=qty, side="buy")
    assert (
        f"needs ${qty * ask:,.2f} ({qty} x ${ask:,.2f}), buying power is "
        f"${account.buying_power:,.2f}"
    ) in str(caught.value)


def test_asset_checks_end_to_end(
    flagged: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    with Proxy(flagged.url) as proxy:
        orders = new_orders(proxy.url)
        for kwargs, words in (
            ({"symbol": "KO", "qty": 0.5, "side": "buy"}, "not fractionable"),
            ({"symbol": "KO", "qty": 1, "side": "sell"}, "not shortable"),
            ({"symbol": "DIS", "qty": 1, "side": "buy"}, "not tradable"),
            ({"symbol": "ZZZZ", "qty": 1, "side": "buy"}, "not an asset"),
        ):
            with pytest.raises(OrderValidationError, match=words):
                orders.place_order(**kwargs)
        assert proxy.count("POST") == 0
        unchecked = new_orders(proxy.url, checks=PreTradeChecks(asset=False))
        with pytest.raises(OrderExecutionError, match="qty must be integer"):
            unchecked.place_order("KO", qty=0.5, side="buy")
        assert proxy.count("POST") == 1


def test_market_hours_check_end_to_end(running: RunningExchange, orders: Orders) -> None:
    running.exchange.set_time(CLOSED_TIME)
    with pytest.raises(OrderValidationError, match="the market is closed"):
        orders.place_order(
            "AAPL", qty=1, side="buy", type="limit", limit_price=1, time_in_force="ioc"
        )
    day = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    assert day.status in ("new", "accepted")


def test_selling_more_than_held_end_to_end(orders: Orders) -> None:
    orders.place_order("AAPL", qty=10, side="buy")
    with pytest.raises(
        OrderValidationError, match="selling 11 AAPL but only 10 of 10 are available"
    ):
        orders.place_order("AAPL", qty=11, side="sell")
    orders.place_order("AAPL", qty=4, side="sell", type="limit", limit_price=999)
    with pytest.raises(OrderValidationError, match="only 6 of 10 are available"):
        orders.place_order("AAPL", qty=7, side="sell")
    assert orders.place_order("AAPL", qty=6, side="sell").qty == 6


def test_risk_rules_end_to_end(running: RunningExchange, new_orders: Callable[..., Orders]) -> None:
    orders = new_orders(running.url, risk={"max_open_orders": 2, "max_order_notional": 5_000})
    with pytest.raises(OrderValidationError, match="max_order_notional"):
        orders.place_order("AAPL", qty=100, side="buy")
    orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=2)
    with pytest.raises(OrderValidationError, match="2 orders are already open"):
        orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=3)
