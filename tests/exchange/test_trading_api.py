"""The HTTP surface with raw requests: auth, bad input, status codes, multi-status, admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.server import RunningExchange, start_exchange


@pytest.fixture
def http(running_exchange: RunningExchange) -> Iterator[tuple[str, requests.Session]]:
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield running_exchange.url, session


def is_alpaca_error(response: requests.Response, status: int, code: int | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["code"], int) and isinstance(body["message"], str)
    if code is not None:
        assert body["code"] == code
    return body


@pytest.mark.parametrize(
    "headers",
    [{}, {"APCA-API-KEY-ID": "k"}, {"APCA-API-KEY-ID": "", "APCA-API-SECRET-KEY": "s"}],
)
def test_missing_credentials_are_401(running_exchange: RunningExchange, headers: dict) -> None:
    for path in ("/v2/account", "/v2/orders", "/admin/clock", "/v2/nowhere"):
        response = requests.get(running_exchange.url + path, headers=headers)
        body = is_alpaca_error(response, 401, 40110000)
        assert body["message"] == "request is not authorized"


def test_configured_credentials_must_match(sim_market, manual_clock) -> None:
    ex = Exchange(sim_market, manual_clock, credentials=("right-key", "right-secret"))
    with start_exchange(ex) as running:
        wrong = requests.get(running.url + "/v2/account", headers=HEADERS)
        is_alpaca_error(wrong, 401, 40110000)
        right = requests.get(
            running.url + "/v2/account",
            headers={"APCA-API-KEY-ID": "right-key", "APCA-API-SECRET-KEY": "right-secret"},
        )
        assert right.status_code == 200


def test_malformed_json_is_400(http) -> None:
    url, session = http
    response = session.post(
        url + "/v2/orders", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    is_alpaca_error(response, 400, 40010000)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {
                "symbol": "AAPL",
                "qty": "-1",
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
            422,
            40010001,
        ),
        (
            {
                "symbol": "AAPL",
                "qty": 1,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
                "x": 1,
            },
            422,
            40010001,
        ),
        (
            {
                "symbol": "AAPL",
                "qty": {"a": 1},
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
            422,
            40010001,
        ),
        (
            {"symbol": 7, "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"},
            422,
            40010001,
        ),
        (
            {
                "symbol": "AAPL",
                "qty": 1,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
                "extended_hours": "yes",
            },
            422,
            40010001,
        ),
        (
            {
                "symbol": "AAPL",
                "qty": 10_000,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
            403,
            40310000,
        ),
        ("just a string", 422, 40010001),
        (None, 422, 40010001),
    ],
)
def test_bad_orders_are_4xx_with_alpaca_body(http, body, status: int, code: int) -> None:
    url, session = http
    is_alpaca_error(session.post(url + "/v2/orders", json=body), status, code)


def test_unknown_routes_and_methods(http) -> None:
    url, session = http
    is_alpaca_error(session.get(url + "/v2/nowhere"), 404, 40410000)
    is_alpaca_error(session.put(url + "/v2/orders"), 405)


def test_unknown_order_is_404(http) -> None:
    url, session = http
    missing = "00000000-0000-0000-0000-000000000000"
    for method in ("GET", "DELETE", "PATCH"):
        body = is_alpaca_error(
            session.request(method, f"{url}/v2/orders/{missing}", json={}), 404, 40410000
        )
        assert body["message"] == f"order not found for {missing}"
    is_alpaca_error(
        session.get(url + "/v2/orders:by_client_order_id", params={"client_order_id": "x"}), 404
    )
    is_alpaca_error(session.get(url + "/v2/positions/AAPL"), 404, 40410000)
    is_alpaca_error(session.get(url + "/v2/assets/NOPE"), 404, 40410000)


def test_bad_query_parameters_are_422(http) -> None:
    url, session = http
    is_alpaca_error(session.get(url + "/v2/orders", params={"status": "sideways"}), 422, 40010001)
    is_alpaca_error(session.get(url + "/v2/orders", params={"limit": "lots"}), 422, 40010001)
    is_alpaca_error(
        session.get(url + "/v2/orders", params={"after": "yesterday-ish"}), 422, 40010001
    )
    is_alpaca_error(
        session.get(url + "/v2/calendar", params={"start": "03/01/2024"}), 422, 40010001
    )


def test_order_json_has_the_required_alpaca_fields(http) -> None:
    url, session = http
    order = {
        "symbol": "AAPL",
        "qty": "10",
        "side": "buy",
        "type": "limit",
        "limit_price": "1",
        "time_in_force": "day",
    }
    response = session.post(url + "/v2/orders", json=order)
    assert response.status_code == 200
    body = response.json()
    for field in (
        "id",
        "client_order_id",
        "created_at",
        "updated_at",
        "submitted_at",
        "order_class",
        "time_in_force",
        "status",
        "extended_hours",
    ):
        assert body[field] is not None or field == "order_class"
    assert body["status"] == "accepted" and body["order_class"] == ""
    assert body["qty"] == "10" and body["limit_price"] == "1" and body["filled_avg_price"] is None
    assert body["created_at"].endswith("Z")


def test_cancel_is_204_and_cancel_all_is_207(http) -> None:
    url, session = http
    order = {
        "symbol": "AAPL",
        "qty": 1,
        "side": "buy",
        "type": "limit",
        "limit_price": 1,
        "time_in_force": "gtc",
    }
    first = session.post(url + "/v2/orders", json=order).json()
    second = session.post(url + "/v2/orders", json=order).json()
    response = session.delete(f"{url}/v2/orders/{first['id']}")
    assert response.status_code == 204 and response.content == b""
    response = session.delete(url + "/v2/orders")
    assert response.status_code == 207
    assert [(r["id"], r["status"]) for r in response.json()] == [(second["id"], 200)]
    assert session.get(url + "/v2/orders").json() == []


def test_close_all_positions_is_207(http) -> None:
    url, session = http
    for symbol in ("AAPL", "SPY"):
        session.post(
            url + "/v2/orders",
            json={
                "symbol": symbol,
                "qty": 2,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
        )
    response = session.delete(url + "/v2/positions", params={"cancel_orders": "true"})
    assert response.status_code == 207
    results = response.json()
    assert [(r["symbol"], r["status"], r["body"]["side"]) for r in results] == [
        ("AAPL", 200, "sell"),
        ("SPY", 200, "sell"),
    ]
    assert session.get(url + "/v2/positions").json() == []


def test_activities_list_fills(http) -> None:
    url, session = http
    order = session.post(
        url + "/v2/orders",
        json={"symbol": "AAPL", "qty": 3, "side": "buy", "type": "market", "time_in_force": "day"},
    ).json()
    for path in ("/v2/account/activities", "/v2/account/activities/FILL"):
        fills = session.get(url + path).json()
        assert [(f["activity_type"], f["order_id"], f["qty"], f["type"]) for f in fills] == [
            ("FILL", order["id"], "3", "fill")
        ]
    assert session.get(url + "/v2/account/activities/DIV").json() == []


def test_admin_clock_steps_a_manual_clock(http) -> None:
    url, session = http
    assert session.get(url + "/admin/clock").json()["now"] == "2024-03-05T15:00:00Z"
    order = {
        "symbol": "AAPL",
        "qty": 1,
        "side": "buy",
        "type": "limit",
        "limit_price": 1,
        "time_in_force": "day",
    }
    placed = session.post(url + "/v2/orders", json=order).json()
    moved = session.post(url + "/admin/clock", json={"advance": "7h"}).json()
    assert moved["now"] == "2024-03-05T22:00:00Z" and moved["is_open"] is False
    assert session.get(f"{url}/v2/orders/{placed['id']}").json()["status"] == "expired"
    moved = session.post(url + "/admin/clock", json={"set": "2024-03-06T15:00:00Z"}).json()
    assert moved["now"] == "2024-03-06T15:00:00Z"
    is_alpaca_error(session.post(url + "/admin/clock", json={"set": "2024-03-01T00:00:00Z"}), 422)
    is_alpaca_error(session.post(url + "/admin/clock", json={"advance": "soon"}), 422)
    is_alpaca_error(session.post(url + "/admin/clock", json={"jump": 1}), 422)


def test_admin_clock_refuses_a_realtime_clock(sim_market) -> None:
    from trading_kit.exchange.clock import RealtimeClock

    with start_exchange(Exchange(sim_market, RealtimeClock())) as running:
        response = requests.post(
            running.url + "/admin/clock", json={"advance": "1min"}, headers=HEADERS
        )
        is_alpaca_error(response, 409)


def test_rate_limit_answers_429(sim_market, manual_clock) -> None:
    with start_exchange(Exchange(sim_market, manual_clock, rate_limit=3)) as running:
        codes = [
            requests.get(running.url + "/v2/clock", headers=HEADERS).status_code for _ in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        body = requests.get(running.url + "/v2/clock", headers=HEADERS).json()
        assert body == {"code": 42910000, "message": "rate limit exceeded"}


def test_data_routes_share_the_port(http) -> None:
    url, session = http
    response = session.get(url + "/v2/stocks/AAPL/quotes/latest")
    assert response.status_code == 200, response.text
    assert "quote" in response.json()
    assert SESSION_TIME.year == 2024
