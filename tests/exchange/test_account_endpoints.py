"""Portfolio history, account configurations, watchlists and rate-limit headers (issue 10).

Each is driven through alpaca-py's ``TradingClient`` (unchanged, ``url_override``) or raw
HTTP, following Alpaca's trading API reference: "Portfolio History", "Account
Configurations", "Watchlists" and "Rate limit" (``X-RateLimit-*`` headers, 429 past it).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import (
    CreateWatchlistRequest,
    GetPortfolioHistoryRequest,
    MarketOrderRequest,
    UpdateWatchlistRequest,
)

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, start_exchange
from trading_kit.exchange.server import RunningExchange


@pytest.fixture
def client(running_exchange: RunningExchange) -> TradingClient:
    return TradingClient("test-key", "test-secret", paper=True, url_override=running_exchange.url)


def _buy(client: TradingClient, symbol: str, qty: int) -> None:
    client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force="day"))


# -- portfolio history ----------------------------------------------------------------


def test_intraday_history_marks_the_fills_to_market(client, exchange) -> None:
    """Alpaca: equity per window, P&L against the previous close (pnl_reset per_day)."""
    _buy(client, "AAPL", 20)
    exchange.advance("2h")
    history = client.get_portfolio_history(
        GetPortfolioHistoryRequest(period="1D", timeframe="15Min")
    )
    assert history.timeframe == "15Min"
    # Windows start when the account was opened (10:00 ET) and end at the clock (12:00 ET).
    starts = [pd.Timestamp(t, unit="s", tz="UTC") for t in history.timestamp]
    assert starts[0] == SESSION_TIME
    assert starts[-1] == SESSION_TIME + pd.Timedelta("1h45min")
    assert all(b - a == pd.Timedelta("15min") for a, b in itertools.pairwise(starts))
    # The account opened today with 100,000: that is the baseline of today's P&L.
    assert history.base_value == 100_000
    account = client.get_account()
    assert history.equity[-1] == pytest.approx(float(account.equity), abs=1e-6)
    for equity, pl, pct in zip(
        history.equity, history.profit_loss, history.profit_loss_pct, strict=True
    ):
        assert pl == pytest.approx(equity - 100_000, abs=1e-6)
        assert pct == pytest.approx(pl / 100_000)
    assert len(set(history.equity)) > 1  # marked to a moving market, not the fill price


def test_daily_history_has_one_point_per_session(client, exchange) -> None:
    _buy(client, "MSFT", 10)
    exchange.advance("3D")  # Friday 2024-03-08, 10:00 ET
    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1W", timeframe="1D"))
    days = [
        pd.Timestamp(t, unit="s", tz="UTC").tz_convert("America/New_York")
        for t in history.timestamp
    ]
    assert [d.date().isoformat() for d in days] == [
        "2024-03-05",
        "2024-03-06",
        "2024-03-07",
        "2024-03-08",
    ]
    assert all(d.hour == 0 and d.minute == 0 for d in days)  # stamped at New York midnight
    assert history.equity[-1] == pytest.approx(float(client.get_account().equity), abs=1e-6)
    assert history.profit_loss == pytest.approx([e - 100_000 for e in history.equity])


def test_history_defaults_and_an_empty_account(client) -> None:
    history = client.get_portfolio_history()  # period 1M: one daily point so far
    assert history.timeframe == "1D"
    assert history.equity == [100_000.0] and history.profit_loss == [0.0]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"period": "10X"}, "period"),
        ({"timeframe": "2Min"}, "timeframe"),
        ({"period": "2M", "timeframe": "1Min"}, "1D for longer"),
        ({"date_start": "2024-02-30"}, "date_start"),
        ({"intraday_reporting": "sometimes"}, "intraday_reporting"),
        ({"pnl_reset": "weekly"}, "pnl_reset"),
    ],
)
def test_bad_history_parameters_are_422(running_exchange, params, words) -> None:
    response = requests.get(
        running_exchange.url + "/v2/account/portfolio/history", params=params, headers=HEADERS
    )
    assert response.status_code == 422, response.text
    assert words in response.json()["message"]


# -- account configurations -----------------------------------------------------------


def test_configurations_patch_persist_and_no_shorting_takes_effect(
    sim_market, tmp_path: Path
) -> None:
    db = tmp_path / "exchange.sqlite"
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db, partial_fills=False)
    with start_exchange(exchange) as running:
        client = TradingClient("k", "s", paper=True, url_override=running.url)
        config = client.get_account_configurations()
        assert (config.no_shorting, config.fractional_trading, config.max_margin_multiplier) == (
            False,
            True,
            "2",
        )
        config.no_shorting, config.trade_confirm_email = True, "none"
        changed = client.set_account_configurations(config)
        assert changed.no_shorting and changed.trade_confirm_email == "none"
        assert client.get_account().shorting_enabled is False
        with pytest.raises(APIError) as refused:  # a sell with nothing held would be a short
            client.submit_order(
                MarketOrderRequest(symbol="AAPL", qty=1, side="sell", time_in_force="day")
            )
        assert refused.value.status_code == 403
    exchange.close()
    restarted = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db, partial_fills=False)
    with start_exchange(restarted) as running:
        client = TradingClient("k", "s", paper=True, url_override=running.url)
        assert client.get_account_configurations().no_shorting is True
        assert client.get_account().shorting_enabled is False
    restarted.close()


@pytest.mark.parametrize(
    "body",
    [
        {"max_margin_multiplier": "3"},
        {"no_shorting": "yes"},
        {"max_options_trading_level": True},
        {"dtbp_check": "sometimes"},
        {"colour": "blue"},
        ["no_shorting"],
    ],
)
def test_bad_configuration_patch_is_422_and_changes_nothing(running_exchange, body) -> None:
    url = running_exchange.url + "/v2/account/configurations"
    before = requests.get(url, headers=HEADERS).json()
    response = requests.patch(url, json=body, headers=HEADERS)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["code"], int)
    assert requests.get(url, headers=HEADERS).json() == before


# -- watchlists -----------------------------------------------------------------------


def test_all_seven_watchlist_calls_of_alpaca_py(sim_market, tmp_path: Path) -> None:
    db = tmp_path / "exchange.sqlite"
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db)
    with start_exchange(exchange) as running:
        client = TradingClient("k", "s", paper=True, url_override=running.url)
        tech = client.create_watchlist(
            CreateWatchlistRequest(name="tech", symbols=["AAPL", "MSFT"])
        )
        assert [a.symbol for a in tech.assets] == ["AAPL", "MSFT"]
        client.create_watchlist(CreateWatchlistRequest(name="banks", symbols=["JPM"]))
        assert [w.name for w in client.get_watchlists()] == ["tech", "banks"]
        added = client.add_asset_to_watchlist_by_id(tech.id, "NVDA")
        assert [a.symbol for a in added.assets] == ["AAPL", "MSFT", "NVDA"]
        removed = client.remove_asset_from_watchlist_by_id(tech.id, "AAPL")
        assert [a.symbol for a in removed.assets] == ["MSFT", "NVDA"]
        renamed = client.update_watchlist_by_id(tech.id, UpdateWatchlistRequest(name="chips"))
        assert renamed.name == "chips" and [a.symbol for a in renamed.assets] == ["MSFT", "NVDA"]
        banks = next(w for w in client.get_watchlists() if w.name == "banks")
        assert client.delete_watchlist_by_id(banks.id) is None
        with pytest.raises(APIError) as missing:
            client.get_watchlist_by_id(banks.id)
        assert missing.value.status_code == 404
        with pytest.raises(APIError) as unknown:  # Alpaca refuses a symbol it does not list
            client.add_asset_to_watchlist_by_id(tech.id, "NOPE1")
        assert unknown.value.status_code == 422
        with pytest.raises(APIError) as duplicate:
            client.create_watchlist(CreateWatchlistRequest(name="chips", symbols=[]))
        assert duplicate.value.status_code == 422
    exchange.close()
    restarted = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db)
    with start_exchange(restarted) as running:
        client = TradingClient("k", "s", paper=True, url_override=running.url)
        (kept,) = client.get_watchlists()
        assert kept.id == tech.id and kept.name == "chips"
        assert [a.symbol for a in client.get_watchlist_by_id(tech.id).assets] == ["MSFT", "NVDA"]
    restarted.close()


# -- rate limit -----------------------------------------------------------------------


def test_rate_limit_headers_on_every_trading_answer(running_exchange) -> None:
    with requests.Session() as session:
        session.headers.update(HEADERS)
        first = session.get(running_exchange.url + "/v2/account")
        second = session.get(running_exchange.url + "/v2/orders")
    for response in (first, second):
        assert int(response.headers["X-RateLimit-Limit"]) > 0
        assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert int(second.headers["X-RateLimit-Remaining"]) == (
        int(first.headers["X-RateLimit-Remaining"]) - 1
    )


def test_opt_in_rate_limit_answers_429_with_the_headers(sim_market, manual_clock) -> None:
    exchange = Exchange(sim_market, manual_clock, rate_limit=3)
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        answers = [session.get(running.url + "/v2/clock") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert int(answers[3].headers["X-RateLimit-Reset"]) > time.time()
    assert all(a.headers["X-RateLimit-Limit"] == "3" for a in answers)


def test_serve_rate_limit_option(tmp_path: Path) -> None:
    """``python -m trading_kit serve --rate-limit 2`` rehearses throttling from the command line."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "trading_kit", "serve", "--port", str(port), "--rate-limit", "2"]
    cmd += ["--clock", "manual", "--start", "2024-03-05T15:00:00Z", "--db", str(tmp_path / "x.db")]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with requests.Session() as session:
            session.headers.update(HEADERS)
            deadline = time.monotonic() + 60
            while True:  # wait for the port; the limiter counts only answered requests
                try:
                    first = session.get(f"http://127.0.0.1:{port}/v2/clock", timeout=10)
                    break
                except requests.ConnectionError:
                    assert process.poll() is None, process.stderr.read().decode()
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
            second = session.get(f"http://127.0.0.1:{port}/v2/clock", timeout=10)
            third = session.get(f"http://127.0.0.1:{port}/v2/clock", timeout=10)
        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
        assert third.headers["X-RateLimit-Limit"] == "2"
    finally:
        process.terminate()
        process.wait(10)
