"""Long work never blocks the event loop (issue 9, item 10).

``/v2/calendar`` for 0001..9999 used to build 471 MB on the event loop while ``GET
/v2/clock`` waited half a minute. Alpaca's calendar covers 1970-2029 and answers a range
reaching outside with the days inside it; data and calendar pages are built in the
thread pool. The test asserts progress, not seconds: while the largest calendar and bars
requests are in flight, the clock keeps answering on another connection.
"""

from __future__ import annotations

import threading

import requests

from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, start_exchange

MAXIMAL = [
    ("/v2/calendar", {"start": "0001-01-01", "end": "9999-12-31"}),
    (
        "/v2/stocks/bars",
        {
            "symbols": "AAPL",
            "timeframe": "1Day",
            "start": "0001-01-01",
            "end": "9999-12-31",
            "limit": "10000",
        },
    ),
    ("/v2/calendar", {"start": "0001-01-01", "end": "9999-12-31"}),
]


def test_calendar_outside_1970_2029_answers_the_days_inside(running_exchange) -> None:
    url = running_exchange.url + "/v2/calendar"
    days = requests.get(url, params={"start": "0001-01-01", "end": "9999-12-31"}, headers=HEADERS)
    rows = days.json()
    assert days.status_code == 200
    assert rows[0]["date"] == "1970-01-02" and rows[-1]["date"] == "2029-12-31"
    assert 15_000 < len(rows) < 15_200  # every NYSE session of 60 years, about 252 a year
    before = requests.get(url, params={"start": "1900-01-01", "end": "1969-12-31"}, headers=HEADERS)
    after = requests.get(url, params={"start": "2030-01-01", "end": "9999-12-31"}, headers=HEADERS)
    assert before.json() == [] and after.json() == []


def test_clock_answers_while_maximal_requests_are_in_flight(sim_market) -> None:
    exchange = Exchange(sim_market, ManualClock("2029-12-31T15:00:00Z"), partial_fills=False)
    with start_exchange(exchange) as running:
        statuses: list[int] = []

        def heavy() -> None:
            with requests.Session() as session:
                session.headers.update(HEADERS)
                for path, params in MAXIMAL:
                    statuses.append(session.get(running.url + path, params=params).status_code)

        worker = threading.Thread(target=heavy)
        clocks_during = 0
        with requests.Session() as session:
            session.headers.update(HEADERS)
            session.get(running.url + "/v2/clock").raise_for_status()  # connection open
            worker.start()
            while worker.is_alive():
                session.get(running.url + "/v2/clock").raise_for_status()
                if worker.is_alive():
                    clocks_during += 1
        worker.join()
    assert statuses == [200] * len(MAXIMAL)
    # Blocked behind the loop, the clock would answer about once per maximal request.
    print("CLOCKS", clocks_during)
    assert clocks_during >= 10 * len(MAXIMAL), clocks_during
