"""The inputs that once answered 500 (issue 9, item 9), each pinned down on its own.

Alpaca answers a malformed field with a 4xx ``{"code", "message"}`` and keeps serving the
connection; a query's time range is any RFC 3339 or YYYY-MM-DD value, and a range reaching
past the data simply returns the data there is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.exchange.conftest import HEADERS
from trading_kit.exchange.server import RunningExchange

ORDER = {
    "symbol": "AAPL",
    "qty": "1",
    "side": "buy",
    "type": "limit",
    "limit_price": "100",
    "time_in_force": "day",
}


@pytest.fixture
def http(running_exchange: RunningExchange) -> Iterator[tuple[str, requests.Session]]:
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield running_exchange.url, session


def _alpaca_4xx(response: requests.Response) -> dict:
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["code"], int) and isinstance(body["message"], str)
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qty", "1e30"),
        ("qty", 1e308),
        ("qty", 10**30),
        ("qty", "1E+999999999"),
        ("qty", "NaN"),
        ("qty", "1_000"),
        ("limit_price", "1e20"),
        ("limit_price", 1e308),
    ],
)
def test_huge_numbers_in_an_order_are_422_and_the_connection_lives(http, field, value) -> None:
    url, session = http
    body = _alpaca_4xx(session.post(url + "/v2/orders", json={**ORDER, field: value}))
    assert field in body["message"]
    # The keep-alive connection still serves the next, valid request.
    assert session.post(url + "/v2/orders", json=ORDER).status_code == 200
    assert session.get(url + "/v2/orders").json()[0]["qty"] == "1"


@pytest.mark.parametrize(("field", "value"), [("qty", "1e30"), ("limit_price", 1e308)])
def test_huge_numbers_in_a_replace_are_422(http, field, value) -> None:
    url, session = http
    order = session.post(url + "/v2/orders", json=ORDER).json()
    body = _alpaca_4xx(session.patch(url + f"/v2/orders/{order['id']}", json={field: value}))
    assert field in body["message"]
    assert session.get(url + f"/v2/orders/{order['id']}").json()["status"] == "new"


def test_close_position_with_a_huge_qty_is_a_4xx(http) -> None:
    url, session = http
    market = {**ORDER, "type": "market"}
    del market["limit_price"]
    session.post(url + "/v2/orders", json=market)
    _alpaca_4xx(session.delete(url + "/v2/positions/AAPL", params={"qty": "1e30"}))
    assert session.get(url + "/v2/positions/AAPL").json()["qty"] == "1"


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01"},
        {"start": "0001-01-01T00:00:00Z", "end": "2024-01-10"},
        {"start": "2024-01-02", "end": "9999-12-31"},
        {"start": "2024-01-02", "end": "9999-12-31T23:59:59.999999999Z"},
    ],
)
def test_extreme_years_on_data_routes_answer_the_data_there_is(http, params) -> None:
    url, session = http
    response = session.get(
        url + "/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Day", **params}
    )
    assert response.status_code == 200, response.text
    bars = response.json()["bars"]["AAPL"]
    assert bars and all(b["t"] >= "1970" for b in bars)


def test_extreme_years_on_order_filters(http) -> None:
    url, session = http
    session.post(url + "/v2/orders", json=ORDER)
    everything = session.get(url + "/v2/orders", params={"status": "all", "after": "0001-01-01"})
    assert len(everything.json()) == 1
    nothing = session.get(url + "/v2/orders", params={"status": "all", "after": "9999-12-31"})
    assert nothing.json() == []


def test_admin_clock_refuses_to_leave_the_calendar(http) -> None:
    url, session = http
    body = _alpaca_4xx(session.post(url + "/admin/clock", json={"set": "9999-01-01T00:00:00Z"}))
    assert "2100" in body["message"]
    _alpaca_4xx(session.post(url + "/admin/clock", json={"advance": "1000000days"}))
    assert session.get(url + "/v2/clock").status_code == 200
