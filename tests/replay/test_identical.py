"""The same crossover, three ways, one answer: the replay runner, a step loop through the
in-process transport, and the same loop over loopback HTTP (notebook 04's old way)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import trading_kit as tk
from tests.replay.conftest import Crossover, targets
from trading_kit.exchange import Exchange, ManualClock, ReplayMarket, start_exchange
from trading_kit.replay.runner import Books

MINUTE = pd.Timedelta("1min")
COLUMNS = ["time", "symbol", "side", "qty", "price"]


def step_loop(kit: tk.Kit, exchange: Exchange, bars: pd.DataFrame) -> float:
    """Notebook 04's loop: move the clock past each bar, trade towards the target."""
    wanted = targets(bars, "AAPL")
    held = 0
    for start, target in wanted.items():
        exchange.set_time(start + MINUTE)  # this bar has closed
        if target > held:
            kit.orders.place_order("AAPL", qty=target - held, side="buy")
        elif target < held:
            kit.orders.close_position("AAPL")
        held = target
    return kit.orders.get_account().equity


def replay_exchange(bars: pd.DataFrame) -> Exchange:
    first = bars.index.get_level_values("timestamp")[0]
    return Exchange(ReplayMarket(bars), ManualClock(first), partial_fills=False)


def test_runner_in_process_and_http_agree(two_days: pd.DataFrame, tmp_path: Path) -> None:
    runner = tk.replay(two_days, Crossover(two_days), checks=False, progress=False)

    in_process = replay_exchange(two_days)
    kit = tk.connect(exchange=in_process, checks=False, cache_path=tmp_path / "a" / "c.sqlite")
    in_process_equity = step_loop(kit, in_process, two_days)

    served = replay_exchange(two_days)
    with start_exchange(served) as running:
        http_kit = tk.connect(
            trading_url=running.url,
            data_url=running.url,
            checks=False,
            cache_path=tmp_path / "b" / "c.sqlite",
        )
        http_equity = step_loop(http_kit, served, two_days)

    fills = [
        runner.fills[COLUMNS],
        Books(in_process, ["AAPL"]).fills()[COLUMNS],
        Books(served, ["AAPL"]).fills()[COLUMNS],
    ]
    assert len(fills[0]) > 20
    pd.testing.assert_frame_equal(fills[0], fills[1])
    pd.testing.assert_frame_equal(fills[0], fills[2])
    assert runner.equity.iloc[-1] == pytest.approx(in_process_equity, abs=1e-9)
    assert runner.equity.iloc[-1] == pytest.approx(http_equity, abs=1e-9)
