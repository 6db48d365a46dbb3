"""connect(): the local exchange without keys (said once, out loud), Alpaca paper with them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

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


KERNEL = """
import sys
import trading_kit as tk

kit = tk.connect()
print(kit.data._stack.settings.trading_url, flush=True)
print(" ".join(sorted(kit.orders.get_orders("all").index)) or "-", flush=True)
print(kit.orders.place_order(sys.argv[1], qty=1, side="buy").id, flush=True)
if sys.argv[2] == "stay":
    sys.stdin.readline()
"""


def answers(lines: list[str]) -> list[str]:
    """The kernel's printed answers, without trading_kit's notice lines."""
    return [line for line in lines if not line.startswith("trading_kit:")]


def kernel_env(tmp_path: Path, name: str) -> dict[str, str]:
    """One shared exchange state file; each kernel its own cache and journal."""
    return {
        **os.environ,
        "TRADING_KIT_EXCHANGE_DB": str(tmp_path / "local_exchange.sqlite"),
        "TRADING_KIT_CACHE": str(tmp_path / name / "cache.sqlite"),
        "TRADING_KIT_JOURNAL": str(tmp_path / name / "journal.sqlite"),
    }


def test_a_second_kernel_uses_the_exchange_the_first_one_runs(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", KERNEL, "AAPL", "stay"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kernel_env(tmp_path, "first"),
    )
    try:
        assert first.stdout is not None and first.stdin is not None
        read: list[str] = []
        while len(answers(read)) < 3 and (line := first.stdout.readline()):
            read.append(line.strip())
        url, seen_first, order_first = answers(read)
        assert url.startswith("http://127.0.0.1:"), first.stderr.read()  # type: ignore[union-attr]
        assert seen_first == "-"  # a fresh state file
        second = subprocess.run(
            [sys.executable, "-c", KERNEL, "MSFT", "leave"],
            capture_output=True,
            text=True,
            timeout=120,
            env=kernel_env(tmp_path, "second"),
        )
        assert second.returncode == 0, second.stderr
        url_second, seen_second, order_second = answers(second.stdout.splitlines())
        assert url_second == url  # the same exchange, not a second one on the same file
        assert seen_second == order_first  # and so it sees the first kernel's order
        assert f"process {first.pid} already runs" in second.stdout
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    third = subprocess.run(
        [sys.executable, "-c", KERNEL, "SPY", "leave"],
        capture_output=True,
        text=True,
        timeout=120,
        env=kernel_env(tmp_path, "third"),
    )
    assert third.returncode == 0, third.stderr
    url_third, seen_third, _ = answers(third.stdout.splitlines())
    assert url_third != url  # the first kernel is gone: this one started the exchange anew
    assert seen_third.split() == sorted([order_first, order_second])  # from the state file
