"""Fuzz every route of the exchange: no input is answered 5xx, every error has Alpaca's shape.

Alpaca answers malformed input with a 4xx and ``{"code": <int>, "message": <str>}``
(https://docs.alpaca.markets/docs/api-references, "Errors"). Hypothesis draws requests
for every route the app registers (so a new route is fuzzed without touching this file):
path parameters, query strings and JSON bodies mixing plausible values with the ones
that once answered 500 (quantities of 1e30 and 1e308, years 1 and 9999). After each
request, a valid one on the same keep-alive connection must still be answered: a 500
used to close the connection and reset the client's next request.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, start_exchange
from trading_kit.exchange.app import create_app
from trading_kit.exchange.orders import asset_id

EXAMPLES_PER_ROUTE = 40

NASTY_NUMBERS = [
    "1e30",
    1e308,
    -1e308,
    "1e20",
    10**30,
    "1E+999999999",
    "1e-999999999",
    "NaN",
    "Infinity",
    "-0",
    "0",
    "1_000",
    "0.000000001",
    "999999999999.99",
    "",
    " ",
]
NASTY_TIMES = [
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "2024-02-30",
    "2024-03-05T15:00:00+05:00",
    "1969-12-31",
    "2100-01-02",
    "1704153600",
    "yesterday",
]
PLAIN = ["AAPL", "aapl", "MSFT", "ZZZZZZ", "", "a" * 300, "é", "%00", "1", "-1", "true", "null"]

scalars = st.one_of(
    st.sampled_from(NASTY_NUMBERS),
    st.sampled_from(NASTY_TIMES),
    st.sampled_from(PLAIN),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
)
numbers = st.sampled_from(NASTY_NUMBERS) | st.floats(allow_nan=False, allow_infinity=False)
times = st.sampled_from(NASTY_TIMES)
#: What each field is most often fuzzed with; every field also gets any scalar now and then.
LIKELY: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        ["qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent"], numbers
    ),
    **dict.fromkeys(
        ["trail", "percentage", "limit", "page_size", "max_margin_multiplier"], numbers
    ),
    **dict.fromkeys(["start", "end", "after", "until", "date", "date_start", "date_end"], times),
    "set": times,
    "advance": st.sampled_from(["1min", "5h", "-1min", "100000days", "1e30s", "soon"]),
    "side": st.sampled_from(["buy", "sell", "BUY", "hold"]),
    "type": st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop", "x"]),
    "time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok", "opg", "cls", "x"]),
    "symbol": st.sampled_from(PLAIN),
    "symbols": st.sampled_from(PLAIN) | st.lists(st.sampled_from(PLAIN), max_size=3),
    "timeframe": st.sampled_from(["1Min", "1Day", "61Min", "1W", "1A", "5Min", "15Min", "1H"]),
    "period": st.sampled_from(["1D", "1W", "1M", "1A", "10000A", "0D", "-1D", "intraday"]),
    "take_profit": st.dictionaries(st.sampled_from(["limit_price", "x"]), numbers, max_size=2),
    "stop_loss": st.dictionaries(
        st.sampled_from(["limit_price", "stop_price", "x"]), numbers, max_size=2
    ),
}
ORDER_KEYS = [
    "symbol",
    "qty",
    "notional",
    "side",
    "type",
    "time_in_force",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "trail",
    "extended_hours",
    "client_order_id",
    "order_class",
    "take_profit",
    "stop_loss",
]
OTHER_BODY_KEYS = [
    "name",
    "symbols",
    "dtbp_check",
    "trade_confirm_email",
    "suspend_trade",
    "no_shorting",
    "fractional_trading",
    "max_margin_multiplier",
    "pdt_check",
    "advance",
    "set",
]
QUERY_KEYS = [
    "symbols",
    "timeframe",
    "start",
    "end",
    "limit",
    "page_token",
    "sort",
    "feed",
    "adjustment",
    "status",
    "after",
    "until",
    "direction",
    "nested",
    "side",
    "qty",
    "percentage",
    "cancel_orders",
    "client_order_id",
    "activity_types",
    "page_size",
    "date",
    "period",
    "date_start",
    "date_end",
    "intraday_reporting",
    "pnl_reset",
    "extended_hours",
    "exchange",
    "attributes",
    "asset_class",
]
VALID_ORDER = {
    "symbol": "AAPL",
    "qty": "1",
    "side": "buy",
    "type": "limit",
    "limit_price": "100",
    "time_in_force": "day",
}
VALID_QUERY = {"symbols": "AAPL", "timeframe": "1Day", "start": "2024-03-01"}


def _value(draw: st.DrawFn, key: str) -> Any:
    if key in LIKELY and draw(st.integers(0, 3)):
        return draw(LIKELY[key])
    return draw(scalars)


#: A valid body per route: the fuzzer changes a field or two of it, so that the odd value
#: passes the early checks and reaches the code behind them.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/v2/orders": VALID_ORDER,
    "/v2/orders/{order_id}": {"qty": "2", "limit_price": "60"},
    "/admin/clock": {"advance": "1min"},
    "/v2/watchlists": {"name": "fuzz", "symbols": ["AAPL"]},
    "/v2/watchlists/{watchlist_id}": {"symbol": "MSFT", "name": "renamed"},
    "/v2/account/configurations": {"no_shorting": False, "max_margin_multiplier": "2"},
}


@st.composite
def json_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """Mostly ``valid`` with a few fields changed; now and then any JSON at all."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(st.one_of(scalars, st.lists(scalars, max_size=3)))
    body = dict(valid) if shape > 2 else {}
    if body and draw(st.integers(0, 3)) == 0:
        del body[draw(st.sampled_from(sorted(body)))]
    own = sorted(
        set(valid) | ({"take_profit", "stop_loss", "notional"} if "symbol" in valid else set())
    )
    keys = st.sampled_from(own) if own else st.sampled_from(OTHER_BODY_KEYS)
    if draw(st.integers(0, 4)) == 0:
        keys = st.sampled_from(ORDER_KEYS + OTHER_BODY_KEYS)
    for key in draw(st.lists(keys, min_size=1, max_size=2, unique=True)):
        body[key] = _value(draw, key)
    return body


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    """Mostly a valid data query with a few parameters changed or added."""
    params = dict(VALID_QUERY) if draw(st.booleans()) else {}
    for key in draw(st.lists(st.sampled_from(QUERY_KEYS), max_size=4, unique=True)):
        value = _value(draw, key)
        params[key] = value if isinstance(value, str) else str(value)
    return params


def _routes(exchange: Exchange) -> list[tuple[str, str]]:
    """(method, path template) for every route the app serves."""
    pairs = []
    for route in create_app(exchange).routes:
        for method in sorted(getattr(route, "methods", None) or ["GET"]):
            if method != "HEAD":
                pairs.append((method, route.path))
    return sorted(set(pairs))


def _is_alpaca_error(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), int)
        and isinstance(body.get("message"), str)
    )


@pytest.mark.slow
def test_no_route_answers_5xx_and_every_error_is_alpaca_shaped(sim_market) -> None:
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), partial_fills=False)
    routes = _routes(exchange)
    assert len(routes) >= 30  # every trading, data and admin route is in the draw
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        placed = session.post(
            running.url + "/v2/orders",
            json={
                "symbol": "AAPL",
                "qty": "1",
                "side": "buy",
                "type": "limit",
                "limit_price": "50",
                "time_in_force": "gtc",
            },
        ).json()
        session.post(
            running.url + "/v2/orders",
            json={
                "symbol": "MSFT",
                "qty": "5",
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
        )
        watchlist = session.post(
            running.url + "/v2/watchlists", json={"name": "mine", "symbols": ["AAPL"]}
        ).json()
        path_values = st.sampled_from(
            [
                placed["id"],
                watchlist["id"],
                asset_id("AAPL"),
                "MSFT",
                "AAPL",
                "not-an-id",
                "0" * 36,
                "é",
                "..%2F",
            ]
        ) | st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40)

        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            params=queries(),
            path_value=path_values,
            data=st.data(),
            raw=st.sampled_from([*[None] * 8, b"{not json", b"\xff\xfe", b"[1,", b"1e999999"]),
        )
        def check(method: str, template: str, params, path_value, data, raw) -> None:
            body = data.draw(json_bodies(VALID_BODIES.get(template, {})))
            path = re.sub(r"\{[^}]+\}", requests.utils.quote(path_value, safe="") or "x", template)
            kwargs: dict[str, Any] = {"params": params, "timeout": 60}
            if method in ("POST", "PATCH", "PUT"):
                if raw is not None:
                    kwargs["data"] = raw
                    kwargs["headers"] = {"Content-Type": "application/json"}
                else:
                    kwargs["json"] = body
            response = session.request(method, running.url + path, **kwargs)
            assert response.status_code < 500, (method, path, params, body, response.text)
            if response.status_code >= 400:
                assert _is_alpaca_error(response), (method, path, response.text)
            # The same keep-alive connection still answers a valid request.
            assert session.get(running.url + "/v2/clock", timeout=60).status_code == 200

        for method, template in routes:  # every route gets its own examples
            check(method, template)
