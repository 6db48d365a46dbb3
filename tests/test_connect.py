"""connect(): the local exchange without keys (said once, out loud), Alpaca paper with them."""

from __future__ import annotations

import logging

import pytest

import trading_kit as tk
from trading_kit import connection
from trading_kit.config import DATA_URL, PAPER_TRADING_URL


def test_without_keys_everything_runs_on_the_local_exchange(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="trading_kit"):
        kit = tk.connect()
        again = tk.connect()
        md = tk.MarketData()
    url = kit.data._stack.settings.trading_url
    assert url.startswith("http://127.0.0.1:")
    assert again.data._stack is kit.data._stack is md._stack  # one stack: one cache, one budget
    said = [r for r in caplog.records if "local paper exchange" in r.getMessage()]
    assert len(said) <= 1  # said once per process (maybe already, by an earlier test)
    # An ordinary line on stdout (a notebook shows stderr as a red block), and INFO in logs.
    assert all(r.levelno == logging.INFO for r in said)
    printed = capsys.readouterr()
    assert printed.out.count("local paper exchange at") == len(said)
    assert "local paper exchange" not in printed.err
    assert "local paper exchange" in repr(kit)
    order = kit.orders.place_order("AAPL", qty=1, side="buy", type="market", time_in_force="day")
    assert kit.orders.get_order(order.id).symbol == "AAPL"  # the order reached that exchange
    assert not kit.data.get_bars("AAPL", "1Day", limit=5).empty


def test_with_keys_in_the_environment_it_is_alpaca_paper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKENVKEY")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "ENVSECRET")
    started = connection._local_exchange
    kit = tk.connect()
    settings = kit.data._stack.settings
    assert (settings.trading_url, settings.data_url) == (PAPER_TRADING_URL, DATA_URL)
    assert connection._local_exchange is started  # nothing new was started
    assert "Alpaca paper" in repr(kit) and "ENVSECRET" not in repr(kit)


def test_live_url_is_refused_by_connect() -> None:
    with pytest.raises(tk.ConfigError, match="paper only"):
        tk.connect("id", "secret", trading_url="https://api.alpaca.markets")
