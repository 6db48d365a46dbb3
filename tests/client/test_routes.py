"""The route table: what a repeat of each route does, and what its answer looks like."""

from __future__ import annotations

import pytest

from trading_kit.routes import Answer, Failure, Repeat, answer_problem, may_repeat, route

R, S, A = Repeat.READ, Repeat.SAME_EFFECT, Repeat.ACTS_AGAIN


@pytest.mark.parametrize(
    ("method", "path", "repeat", "answer"),
    [
        ("GET", "/v2/stocks/bars", R, Answer.OBJECT),
        ("GET", "/v2/stocks/AAPL/quotes/latest", R, Answer.OBJECT),
        ("GET", "/v2/stocks/snapshots", R, Answer.OBJECT),
        ("GET", "/v2/orders", R, Answer.LIST),
        ("GET", "/v2/orders/abc-123", R, Answer.OBJECT),
        ("GET", "/v2/orders:by_client_order_id", R, Answer.OBJECT),
        ("POST", "/v2/orders", A, Answer.OBJECT),
        ("PATCH", "/v2/orders/abc-123", A, Answer.OBJECT),
        ("DELETE", "/v2/orders/abc-123", S, Answer.EMPTY_OR_JSON),
        ("DELETE", "/v2/orders", S, Answer.LIST),
        ("GET", "/v2/positions", R, Answer.LIST),
        ("GET", "/v2/positions/AAPL", R, Answer.OBJECT),
        ("DELETE", "/v2/positions/AAPL", A, Answer.OBJECT),  # creates an order
        ("DELETE", "/v2/positions", A, Answer.LIST),  # creates orders
        ("GET", "/v2/account", R, Answer.OBJECT),
        ("GET", "/v2/account/activities", R, Answer.LIST),
        ("GET", "/v2/account/activities/FILL", R, Answer.LIST),
        ("GET", "/v2/assets", R, Answer.LIST),
        ("GET", "/v2/assets/AAPL", R, Answer.OBJECT),
        ("GET", "/v2/clock", R, Answer.OBJECT),
        ("GET", "/v2/calendar", R, Answer.LIST),
        ("delete", "/base/v2/positions/AAPL", A, Answer.OBJECT),  # a base path, any case
        ("POST", "/admin/clock", A, Answer.EMPTY_OR_JSON),  # unknown change: acts again
        ("GET", "/somewhere/else", R, Answer.EMPTY_OR_JSON),
        ("PUT", "/v2/watchlists/x", A, Answer.EMPTY_OR_JSON),
    ],
)
def test_every_route_is_classified(method: str, path: str, repeat: Repeat, answer: Answer) -> None:
    assert route(method, path) == (repeat, answer)


@pytest.mark.parametrize(
    ("repeat", "failure", "allowed"),
    [
        (R, Failure.NEVER_SENT, True),
        (R, Failure.THROTTLED, True),
        (R, Failure.SERVER_ERROR, True),
        (R, Failure.NO_ANSWER, True),
        (S, Failure.NEVER_SENT, True),
        (S, Failure.THROTTLED, True),
        (S, Failure.SERVER_ERROR, True),
        (S, Failure.NO_ANSWER, True),
        (A, Failure.NEVER_SENT, True),  # the server saw nothing
        (A, Failure.THROTTLED, True),  # refused before anything was done
        (A, Failure.SERVER_ERROR, False),  # a gateway's 504: the order may exist
        (A, Failure.NO_ANSWER, False),  # dropped after sending: it may exist
    ],
)
def test_a_change_is_repeated_only_when_it_surely_never_arrived(
    repeat: Repeat, failure: Failure, allowed: bool
) -> None:
    assert may_repeat(repeat, failure) is allowed


@pytest.mark.parametrize(
    ("answer", "body", "empty", "problem"),
    [
        (Answer.OBJECT, {"bars": {}}, False, None),
        (Answer.OBJECT, None, False, "JSON null where an object was expected"),
        (Answer.OBJECT, [], False, "JSON empty list [] where an object was expected"),
        (Answer.OBJECT, "x", False, "JSON string where an object was expected"),
        (Answer.OBJECT, None, True, "an empty body"),
        (Answer.LIST, [], False, None),
        (Answer.LIST, {"code": 1}, False, "JSON object where a list was expected"),
        (Answer.LIST, 3, False, "JSON number where a list was expected"),
        (Answer.EMPTY_OR_JSON, None, True, None),
        (Answer.EMPTY_OR_JSON, {"id": "x"}, False, None),
    ],
)
def test_a_well_formed_answer_has_the_routes_shape(
    answer: Answer, body: object, empty: bool, problem: str | None
) -> None:
    assert answer_problem(answer, body, empty) == problem
