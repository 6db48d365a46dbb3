"""``Orders.get_portfolio_history`` and ``Orders.tearsheet`` for a paper account.

Most tests put a small loopback server in front of the local exchange that answers the
portfolio-history route (and, when asked, activities) in Alpaca's wire format with
hand-made bodies, so edge cases Alpaca can produce (a broker that ignores
``page_token``, windows labelled by their start) are exercised exactly; every other
request goes to the real exchange. The last test talks to the exchange itself.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from trading_kit.analytics import buy_and_hold, round_trips
from trading_kit.errors import AnalyticsError, OrderExecutionError, OrderValidationError
from trading_kit.exchange import Exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders

HISTORY_PATH = "/v2/account/portfolio/history"
ACTIVITIES_PATH = "/v2/account/activities"
NY = "America/New_York"


class AlpacaFront:
    """Loopback server: the portfolio history route (and, when given, activities with
    Alpaca's ``page_token`` paging) answered here; everything else forwarded to ``target``."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.history: Any = None  # the JSON body to answer the history route with
        self.fills: list[dict] | None = None  # activities served here when set
        self.ignore_page_token = False
        self.seen: list[tuple[str, dict[str, str]]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: list | None = None) -> None:
                self.send_response(status)
                for key, value in headers or [("Content-Type", "application/json")]:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                front.seen.append((url.path, query))
                if url.path == HISTORY_PATH:
                    self._send(200, json.dumps(front.history).encode())
                elif url.path == ACTIVITIES_PATH and front.fills is not None:
                    self._send(200, json.dumps(front.page(query)).encode())
                else:
                    self._forward(None)

            def _forward(self, body: bytes | None) -> None:
                upstream = http.client.HTTPConnection(
                    front.target.hostname, front.target.port, timeout=10
                )
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                content = reply.read()
                upstream.close()
                self._send(reply.status, content, reply.getheaders())

            def _forward_with_body(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._forward(self.rfile.read(length) if length else None)

            do_POST = do_PATCH = do_DELETE = _forward_with_body

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def page(self, query: dict[str, str]) -> list[dict]:
        """Alpaca's activities paging: ``page_size`` items after the ``page_token`` id."""
        items = sorted(self.fills or [], key=lambda f: f["transaction_time"])
        if query.get("direction", "desc") == "desc":
            items.reverse()
        token = None if self.ignore_page_token else query.get("page_token")
        if token is not None:
            items = items[[f["id"] for f in items].index(token) + 1 :]
        return items[: int(query.get("page_size", 100))]

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [query for seen, query in self.seen if seen == path]

    def __enter__(self) -> AlpacaFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def front(running_exchange: RunningExchange) -> Iterator[AlpacaFront]:
    with AlpacaFront(running_exchange.url) as server:
        yield server


def history_body(days: list[str], equity: list[float], timeframe: str = "1D") -> dict:
    """Alpaca's answer: windows labelled by their start (midnight New York for days)."""
    stamps = [int(pd.Timestamp(d, tz=NY).timestamp()) for d in days]
    base = next(e for e in equity if e)
    return {
        "timestamp": stamps,
        "equity": equity,
        "profit_loss": [e - base if e else 0 for e in equity],
        "profit_loss_pct": [(e - base) / base if e else None for e in equity],
        "base_value": base,
        "base_value_asof": days[0],
        "timeframe": timeframe,
    }


# -- get_portfolio_history -------------------------------------------------------------
def test_portfolio_history_as_a_frame(
    front: AlpacaFront, connect_orders: Callable[[str], Orders]
) -> None:
    front.history = history_body(["2024-03-04", "2024-03-05"], [0.0, 100_500.25])
    front.history["profit_loss_pct"][0] = None
    orders = connect_orders(front.url)
    frame = orders.get_portfolio_history("1W", "1d", end="2024-03-06", extended_hours=False)
    assert front.requests_to(HISTORY_PATH) == [
        {
            "period": "1W",
            "timeframe": "1D",
            "end": "2024-03-06T00:00:00Z",
            "extended_hours": "false",
        }
    ]
    assert list(frame.columns) == ["equity", "profit_loss", "profit_loss_pct"]
    assert frame.index.name == "timestamp"
    assert list(frame.index) == [
        pd.Timestamp("2024-03-04 05:00", tz="UTC"),
        pd.Timestamp("2024-03-05 05:00", tz="UTC"),
    ]
    assert frame["equity"].tolist() == [0.0, 100_500.25]
    assert pd.isna(frame["profit_loss_pct"].iloc[0])
    assert frame.attrs == {"base_value": 100_500.25, "timeframe": "1D"}
    # alpaca-py's own model reads the same body the same way
    from alpaca.trading.models import PortfolioHistory

    model = PortfolioHistory(**front.history)
    assert model.equity == frame["equity"].tolist()


@pytest.mark.parametrize(
    ("arguments", "field", "said"),
    [
        ({"period": "1X"}, "period", "period='1X' must be a number and a unit"),
        ({"period": 7}, "period", "period=7"),
        ({"timeframe": "2H"}, "timeframe", "timeframe='2H' is not a portfolio history timeframe"),
        ({"extended_hours": "yes"}, "extended_hours", "extended_hours='yes' must be True or False"),
        ({"start": "not a date"}, "start", "start='not a date' is not a date"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    front: AlpacaFront,
    connect_orders: Callable[[str], Orders],
    arguments: dict,
    field: str,
    said: str,
) -> None:
    orders = connect_orders(front.url)
    with pytest.raises(OrderValidationError) as caught:
        orders.get_portfolio_history(**arguments)
    assert caught.value.field == field
    assert said in str(caught.value)
    assert front.requests_to(HISTORY_PATH) == []


def test_a_malformed_answer_is_a_clear_error(
    front: AlpacaFront, connect_orders: Callable[[str], Orders]
) -> None:
    front.history = {"timestamp": [1, 2], "equity": [1.0], "timeframe": "1D"}
    with pytest.raises(OrderExecutionError, match="not Alpaca's shape"):
        connect_orders(front.url).get_portfolio_history()


# -- tearsheet ---------------------------------------------------------------------------
def close_of(day: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} 16:00", tz=NY).tz_convert("UTC")


@pytest.fixture
def traded_week(orders: Orders, exchange: Exchange) -> dict[str, float]:
    """Tuesday to Friday on the manual clock: AAPL held overnight, then MSFT; equity at
    each close, as the portfolio history reports it."""
    closes: dict[str, float] = {}
    orders.place_order("AAPL", qty=100, side="buy")  # Tuesday 10:00
    exchange.set_time(close_of("2024-03-05"))
    closes["2024-03-05"] = orders.get_account().equity
    exchange.set_time(pd.Timestamp("2024-03-06 10:00", tz=NY))
    orders.place_order("AAPL", qty=100, side="sell")
    orders.place_order("MSFT", qty=10, side="buy")
    exchange.set_time(close_of("2024-03-06"))
    closes["2024-03-06"] = orders.get_account().equity
    exchange.set_time(pd.Timestamp("2024-03-07 11:30", tz=NY))
    orders.place_order("MSFT", qty=10, side="sell")
    for day in ("2024-03-07", "2024-03-08"):
        exchange.set_time(close_of(day))
        closes[day] = orders.get_account().equity
    exchange.set_time(pd.Timestamp("2024-03-09 10:00", tz=NY))  # Saturday
    return closes


def test_tearsheet_of_the_paper_account(
    front: AlpacaFront,
    connect_orders: Callable[[str], Orders],
    traded_week: dict[str, float],
    orders: Orders,
) -> None:
    days = ["2024-03-04", *traded_week]  # Monday: before the account had money
    front.history = history_body(days, [0.0, *traded_week.values()])
    sheet = connect_orders(front.url).tearsheet("1W", "1D")

    assert front.requests_to(HISTORY_PATH) == [{"period": "1W", "timeframe": "1D"}]
    # each day's equity at the end of its window (the next midnight in New York)
    ends = [pd.Timestamp(d, tz=NY) + pd.Timedelta(days=1) for d in traded_week]
    assert list(sheet.equity.index) == [e.tz_convert("UTC") for e in ends]
    assert sheet.equity.tolist() == list(traded_week.values())
    assert sheet.frequency.periods_per_year == 252
    first, last = traded_week["2024-03-05"], traded_week["2024-03-08"]
    assert sheet.metrics.loc["total_return", "strategy"] == pytest.approx(last / first - 1)

    fills = orders.get_activities()
    expected = round_trips(fills)
    assert sheet.round_trips[["symbol", "qty", "pnl"]].values.tolist() == (
        expected[["symbol", "qty", "pnl"]].values.tolist()
    )
    # AAPL was bought on Tuesday, inside the first window: its round trip closed on
    # Wednesday, after the first equity value, so it is in; MSFT's too.
    assert sheet.round_trips["symbol"].tolist() == ["AAPL", "MSFT"]
    assert sorted(sheet.bars) == ["AAPL", "MSFT"]
    held = buy_and_hold(
        pd.concat({s: b for s, b in sheet.bars.items()}, names=["symbol", "timestamp"]),
        sheet.equity.index,
        first,
    )
    assert sheet.benchmark.tolist() == pytest.approx(held.tolist())
    assert list(sheet.metrics.columns) == ["strategy", "buy_and_hold"]
    assert len(sheet.journal) == 4 and sheet.slippage.loc[("all", "all"), "orders"] == 4
    assert set(sheet.figures()) == {
        "equity",
        "monthly_returns",
        "trades_AAPL",
        "trades_MSFT",
        "slippage",
    }


def test_tearsheet_against_named_symbols_or_none(
    front: AlpacaFront, connect_orders: Callable[[str], Orders], traded_week: dict[str, float]
) -> None:
    front.history = history_body(list(traded_week), list(traded_week.values()))
    orders = connect_orders(front.url)
    spy = orders.tearsheet("1W", "1D", benchmark="spy")
    assert list(spy.metrics.columns) == ["strategy", "buy_and_hold_SPY"]
    assert spy.benchmark.iloc[0] == pytest.approx(spy.equity.iloc[0])
    assert list(orders.tearsheet("1W", "1D", benchmark=False).metrics.columns) == ["strategy"]


@pytest.mark.parametrize(("benchmark", "field"), [(5, "benchmark"), ("not a ticker!", "symbol")])
def test_a_bad_benchmark_is_refused_before_any_request(
    front: AlpacaFront, connect_orders: Callable[[str], Orders], benchmark: object, field: str
) -> None:
    with pytest.raises(OrderValidationError) as caught:
        connect_orders(front.url).tearsheet(benchmark=benchmark)
    assert caught.value.field == field
    assert repr(benchmark) in str(caught.value)
    assert front.seen == []


def test_an_unfunded_history_says_what_to_do(
    front: AlpacaFront, connect_orders: Callable[[str], Orders]
) -> None:
    front.history = history_body(["2024-03-04", "2024-03-05"], [0.0, 100_000.0])
    with pytest.raises(AnalyticsError, match="1 funded equity value") as caught:
        connect_orders(front.url).tearsheet("1W", "1D")
    assert caught.value.argument == "period"


def fill(number: int) -> dict:
    when = pd.Timestamp("2024-03-05 15:00", tz="UTC") + pd.Timedelta(seconds=number)
    return {
        "id": f"{when:%Y%m%d%H%M%S}000::{number:06d}",
        "activity_type": "FILL",
        "transaction_time": when.isoformat().replace("+00:00", "Z"),
        "type": "fill",
        "price": "100.00" if number % 2 == 0 else "101.00",
        "qty": "1",
        "side": "buy" if number % 2 == 0 else "sell",
        "symbol": "AAPL",
        "leaves_qty": "0",
        "order_id": f"order-{number}",
        "cum_qty": "1",
        "order_status": "filled",
    }


def test_every_page_of_fills_is_read(
    front: AlpacaFront, connect_orders: Callable[[str], Orders]
) -> None:
    front.fills = [fill(n) for n in range(250)]
    fills = connect_orders(front.url)._fills_until(pd.Timestamp("2024-03-06", tz="UTC"))
    assert len(fills) == 250 and fills.index.is_unique
    pages = front.requests_to(ACTIVITIES_PATH)
    assert [p.get("page_token") for p in pages] == [None, fill(99)["id"], fill(199)["id"]]
    assert all(p["direction"] == "asc" and p["page_size"] == "100" for p in pages)
    assert len(round_trips(fills)) == 125


def test_a_broker_that_ignores_page_token_is_not_followed_forever(
    front: AlpacaFront, connect_orders: Callable[[str], Orders]
) -> None:
    front.fills = [fill(n) for n in range(250)]
    front.ignore_page_token = True
    with pytest.warns(
        UserWarning, match=r"ignores page_token\): the tear sheet has the first 100 fills"
    ):
        fills = connect_orders(front.url)._fills_until(pd.Timestamp("2024-03-06", tz="UTC"))
    assert len(fills) == 100
    assert len(front.requests_to(ACTIVITIES_PATH)) == 2


def test_same_instant_fills_come_back_in_execution_order(orders: Orders) -> None:
    """The flip of a position in two orders at one instant must reach FIFO in that order."""
    orders.place_order("AAPL", qty=100, side="buy")
    orders.place_order("AAPL", qty=100, side="sell")
    orders.place_order("AAPL", qty=50, side="sell")  # a short, opened at the same instant
    fills = orders.get_activities()
    assert fills["qty"].tolist() == [100, 100, 50]
    assert fills["side"].tolist() == ["buy", "sell", "sell"]
    assert round_trips(fills)["direction"].tolist() == ["long"]


def test_tearsheet_against_the_local_exchange_itself(
    orders: Orders, exchange: Exchange, traded_week: dict[str, float]
) -> None:
    """The exchange's own portfolio history and fills make the tear sheet end to end."""
    frame = orders.get_portfolio_history("1W", "1D")
    assert list(frame.columns) == ["equity", "profit_loss", "profit_loss_pct"]
    assert frame.attrs["timeframe"] == "1D"
    assert frame.index.is_monotonic_increasing
    sheet = orders.tearsheet("1W", "1D")
    # flat since Thursday 11:30: every later value, the last one included, is the same
    assert sheet.equity.iloc[-1] == pytest.approx(traded_week["2024-03-08"], abs=0.01)
    assert sheet.round_trips["symbol"].tolist() == ["AAPL", "MSFT"]
    assert sheet.trades["total_pnl"] == pytest.approx(
        round_trips(orders.get_activities())["pnl"].sum()
    )
