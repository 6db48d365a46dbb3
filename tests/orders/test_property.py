"""Property tests: the local validator against the exchange's own rules.

1. Every order the validator and the pre-trade checks accept is accepted by the
   local exchange (never an ``OrderExecutionError``): our rules are at least as strict.
2. Every order the validator rejects is rejected before any HTTP request is made,
   counted at a proxy in front of the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.orders.conftest import Proxy
from trading_kit.errors import OrderExecutionError, OrderValidationError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders, OrderSpec

SYMBOLS = ("INTC", "BAC", "KO")
HOLD = 200  # shares held of each symbol, so that sells close rather than short
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same 50 examples every run: CI cannot pass one day and fail the next
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def tick(value: float) -> Decimal:
    places = Decimal("0.01") if value >= 1 else Decimal("0.0001")
    return Decimal(str(value)).quantize(places)


@st.composite
def plausible_orders(draw: st.DrawFn, prices: dict[str, float]) -> dict:
    """Orders a researcher might write: every class, type and time in force, with
    prices placed around the market (some on the wrong side, which the rules catch)."""
    symbol = draw(st.sampled_from(SYMBOLS))
    p = prices[symbol]
    order_class = draw(st.sampled_from(["simple", "simple", "bracket", "oco", "oto"]))
    side = draw(st.sampled_from(["buy", "sell"]))
    types = {
        "simple": ["market", "limit", "stop", "stop_limit", "trailing_stop"],
        "bracket": ["market", "limit", "stop", "stop_limit"],
        "oto": ["market", "limit", "stop", "stop_limit"],
        "oco": ["limit"],
    }[order_class]
    order_type = draw(st.sampled_from(types))
    tifs = ["day", "day", "day", "gtc", "gtc", "opg", "cls", "ioc", "fok"]
    if order_class != "simple":  # mostly what the class allows
        tifs = ["day"] * 5 + ["gtc"] * 4 + ["ioc"]
    tif = draw(st.sampled_from(tifs))
    up = 1 if side == "buy" else -1
    # distance of an exit from its base: usually on the right side, now and then not
    distance = st.one_of(
        st.floats(0.005, 0.2), st.floats(0.005, 0.2), st.floats(0.005, 0.2), st.floats(-0.02, 0.0)
    )
    factor = st.floats(0.80, 1.20)
    spec: dict = {
        "symbol": symbol,
        "side": draw(st.sampled_from([side, side.upper()])),
        "type": order_type,
        "time_in_force": tif,
        "order_class": order_class,
    }
    sizes = ["whole", "whole", "fraction", "notional"]
    if order_class != "simple" or tif != "day":  # mostly sizes that suit the order
        sizes = ["whole"] * 9 + ["fraction"]
    size = draw(st.sampled_from(sizes))
    if size == "notional":
        order_type = spec["type"] = "market"
    if size == "whole":
        spec["qty"] = draw(st.integers(1, 20))
    elif size == "fraction":
        spec["qty"] = str(Decimal(draw(st.integers(1, 20_000))) / 1000)
    else:
        spec["qty"] = None
        spec["notional"] = str(Decimal(draw(st.integers(100, 200_000))) / 100)
    if order_type in ("limit", "stop_limit") and order_class != "oco":  # oco: its take profit
        spec["limit_price"] = tick(p * draw(factor))
    if order_type in ("stop", "stop_limit"):
        spec["stop_price"] = tick(p * draw(factor))
    if order_type == "trailing_stop":
        if draw(st.booleans()):
            spec["trail_percent"] = draw(st.sampled_from(["0.5", "1", "2.5", "10"]))
        else:
            spec["trail_price"] = tick(p * draw(st.floats(0.005, 0.1)))
    if order_type == "limit" and draw(st.booleans()):
        spec["extended_hours"] = True
    entry = float(spec.get("limit_price") or spec.get("stop_price") or p)
    if order_class in ("bracket", "oto", "oco"):
        base = p if order_class == "oco" else entry
        exit_up = up if order_class != "oco" else -up
        if order_class != "oto" or draw(st.booleans()):
            spec["take_profit_limit_price"] = tick(base * (1 + exit_up * draw(distance)))
        if order_class != "oto" or "take_profit_limit_price" not in spec:
            stop = base * (1 - exit_up * draw(distance))
            spec["stop_loss_stop_price"] = tick(stop)
            if draw(st.booleans()):
                spec["stop_loss_limit_price"] = tick(
                    stop * (1 - exit_up * draw(st.floats(0, 0.02)))
                )
    return spec


@pytest.fixture
def market(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> Iterator[tuple[Orders, dict]]:
    """An account holding HOLD shares of each symbol, and the symbols' mid prices."""
    orders = new_orders(running.url)
    prices = {}
    for symbol in SYMBOLS:
        orders.place_order(symbol, qty=HOLD, side="buy")
        quote = orders._data.get_latest_quote(symbol, use_cache=False)
        prices[symbol] = float((quote["bid_price"].iloc[0] + quote["ask_price"].iloc[0]) / 2)
    yield orders, prices


def _reset(orders: Orders) -> None:
    """Cancel what is open and bring each holding back to HOLD shares."""
    orders.cancel_all_orders()
    held = orders.get_positions()["qty"]
    for symbol in SYMBOLS:
        have = Decimal(repr(float(held.get(symbol, 0.0)))).quantize(Decimal("1e-9"))
        gap = HOLD - have
        if gap:
            side = "buy" if gap > 0 else "sell"
            orders.place_order(symbol, qty=str(abs(gap)), side=side)


def test_accepted_orders_are_accepted_by_the_exchange(market: tuple[Orders, dict]) -> None:
    orders, prices = market
    outcomes = {"placed": 0, "rejected locally": 0}

    @settings(SETTINGS, max_examples=100)  # enough that a good share reach the exchange
    @given(spec=plausible_orders(prices))
    def check(spec: dict) -> None:
        try:
            order_spec = OrderSpec.from_dict(spec)
            orders.check(order_spec)
        except OrderValidationError:
            outcomes["rejected locally"] += 1
            return
        try:
            placed = orders.place_order(order_spec)
        except OrderExecutionError as refusal:  # pragma: no cover - the property failing
            raise AssertionError(
                f"validator accepted, exchange refused: {spec} -> {refusal}"
            ) from None
        outcomes["placed"] += 1
        assert placed.client_order_id == order_spec.client_order_id
        _reset(orders)

    check()
    assert outcomes["placed"] >= 15, outcomes  # the property was exercised, not vacuous


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["0.001", "150.005", "-1", "1e3", "gtd", "LIMIT", "bracket", "AAPL"]),
)
FIELDS = [
    "qty",
    "notional",
    "type",
    "time_in_force",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "extended_hours",
    "order_class",
    "take_profit_limit_price",
    "stop_loss_stop_price",
    "stop_loss_limit_price",
    "client_order_id",
    "side",
    "symbol",
]


@st.composite
def broken_orders(draw: st.DrawFn, prices: dict[str, float]) -> dict:
    """A plausible order with one to three fields replaced by junk."""
    spec = draw(plausible_orders(prices))
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        spec[name] = draw(JUNK)
    return spec


def test_rejected_orders_never_make_a_request(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    prices = {"INTC": 35.0, "BAC": 37.0, "KO": 62.0}
    with Proxy(running.url) as proxy:
        orders = new_orders(proxy.url)
        rejected = []

        @SETTINGS
        @given(spec=broken_orders(prices))
        def check(spec: dict) -> None:
            try:
                OrderSpec.from_dict(spec)
            except OrderValidationError:
                before = proxy.count()
                kwargs = {k: v for k, v in spec.items() if v is not None}
                with pytest.raises(OrderValidationError):
                    orders.place_order(**kwargs)
                assert proxy.count() == before
                rejected.append(spec)

        check()
        assert proxy.count() == 0
        assert len(rejected) >= 25
