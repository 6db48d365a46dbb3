"""Replay speed: ``tk.replay`` against backtrader and the vectorised floor, same bars, same rule.

    pip install backtrader   # not a dependency of trading_kit: benches are not run in CI
    python bench/bench_replay.py [--days 365] [--symbols 10] [--repeat 3] [--profile]

The bars: a year of NYSE regular-session one-minute bars from the simulated market
(what the local exchange serves), for one symbol, then for ten stepped together. The
rule (issue 12): long 100 shares while the 10-bar average close is above the 30-bar
one, flat in the last two minutes of every session (a market order at 16:00 would
wait for the next open), acted on when a bar has closed. The engines, one run:

* the vectorised floor: pandas over whole columns, fills where the target changes,
  priced as the replay's exchange quotes (the close, plus or minus one tick);
* backtrader 1.9 with its fastest pandas feed (``PandasDirectData``, preloaded, run
  once), market orders filled at the bar's close (``set_coc``);
* ``tk.replay``: every order through ``kit.orders`` (validation, journal, idempotent
  POST) to the exchange in this process, fills by the exchange's rules; ``checks=False``
  (the exchange still enforces every rule). Twice: with the strategy working out its
  two averages at every step (two numpy means), and with them worked out once up
  front, as backtrader works out its SMA indicators (``runonce``) before the first
  ``next``: the same orders through the same path, without the strategy's own arithmetic.

Fills are compared: the replay's against the floor's (time, side, price) and against
backtrader's (time, side). First, what the in-process transport alone saves: notebook
04's old loop (clock step, orders, ``get_account`` every minute) with its requests in
process and over loopback HTTP. Reported: CPU seconds (the median of ``--repeat`` rounds,
each round running every engine once, so that a busy moment of a shared machine falls on
all of them; each run's figure is shown too), bars per CPU second (symbol-bars for ten
symbols) and the ratio to backtrader. Targets: one symbol at least as fast as backtrader; ten
symbols at no less than a tenth of that per symbol-bar. ``--profile`` shows where the
replay's time goes (pyinstrument).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import trading_kit as tk
from trading_kit.exchange import (
    Exchange,
    ManualClock,
    MarketHours,
    ReplayMarket,
    SimulatedMarket,
    start_exchange,
)
from trading_kit.replay import ReplayResult, Step

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the rule, as the tests hold it
from tests.replay import conftest as rule
from tests.replay.conftest import FAST, SHARES, SLOW, flat_minutes

TICK = 0.01
BASKET = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "XOM"]


def regular_minutes(symbols: list[str], days: int) -> pd.DataFrame:
    """One-minute bars of the regular sessions, indexed by (symbol, timestamp)."""
    market, hours = SimulatedMarket(), MarketHours()
    start = pd.Timestamp("2023-01-03", tz="UTC")
    end = start + pd.Timedelta(days=days)
    frames = {}
    for symbol in symbols:
        bars = market.bars(symbol, "1Min", start, end)
        frames[symbol] = bars[hours.regular_mask(bars.index.asi8)]
    return pd.concat(frames, names=["symbol", "timestamp"])


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Each window's mean as numpy takes it (``values[-window:].mean()``, the replay
    strategy's arithmetic), so a near-tie of the averages is decided the same way."""
    means = np.full(len(values), np.nan)
    means[window - 1 :] = np.lib.stride_tricks.sliding_window_view(values, window).mean(axis=1)
    return means


def targets(close: pd.Series) -> pd.Series:
    """The rule over a whole column: shares wanted after each bar closes."""
    values = close.to_numpy()
    long = rolling_mean(values, FAST) > rolling_mean(values, SLOW)
    long &= ~flat_minutes(close.index)
    return pd.Series(np.where(long, SHARES, 0), index=close.index)


# -- the three engines --------------------------------------------------------------------


def vectorised(bars: pd.DataFrame) -> pd.DataFrame:
    """The floor: fills where the target changes, at the close plus or minus a tick."""
    fills = []
    for symbol, rows in bars.groupby(level="symbol"):
        close = rows["close"].droplevel("symbol")
        change = targets(close).diff().fillna(0)
        traded = change[change != 0]
        side = np.where(traded > 0, "buy", "sell")
        price = close[traded.index] + np.where(traded > 0, TICK, -TICK)
        fills.append(
            pd.DataFrame(
                {
                    "time": traded.index + pd.Timedelta("1min"),
                    "symbol": symbol,
                    "side": side,
                    "qty": traded.abs().to_numpy(float),
                    "price": price.round(2).to_numpy(),
                }
            )
        )
    return pd.concat(fills, ignore_index=True).sort_values(["time", "symbol"], kind="stable")


def backtrader_run(bars: pd.DataFrame) -> pd.DataFrame:
    import backtrader as bt

    class Crossover(bt.Strategy):
        def __init__(self) -> None:
            self.fills: list[tuple[Any, ...]] = []
            self.rules = [
                (d, bt.ind.SMA(d, period=FAST), bt.ind.SMA(d, period=SLOW), flat)
                for d, flat in zip(self.datas, FLAT, strict=True)
            ]

        def next(self) -> None:
            for data, fast, slow, flat in self.rules:
                want = SHARES if fast[0] > slow[0] and not flat[len(data) - 1] else 0
                held = self.getposition(data).size
                if want > held:
                    self.buy(data=data, size=want - held)
                elif want < held:
                    self.close(data=data)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                when = bt.num2date(order.executed.dt).replace(tzinfo=None)
                side = "buy" if order.isbuy() else "sell"
                self.fills.append((when, order.data._name, side, order.executed.price))

    cerebro = bt.Cerebro(stdstats=False)
    symbols = sorted(bars.index.unique(level="symbol"))
    FLAT = []
    for symbol in symbols:
        rows = bars.xs(symbol, level="symbol")
        frame = rows[["open", "high", "low", "close", "volume"]].copy()
        frame.index = frame.index.tz_convert(None)
        frame["openinterest"] = 0.0
        FLAT.append(flat_minutes(rows.index))
        cerebro.adddata(bt.feeds.PandasDirectData(dataname=frame), name=symbol)
    cerebro.addstrategy(Crossover)
    cerebro.broker.set_coc(True)  # a market order fills at the close of the bar it was sent on
    cerebro.broker.setcash(1e12)
    strategy = cerebro.run()[0]
    fills = pd.DataFrame(strategy.fills, columns=["time", "symbol", "side", "price"])
    fills["time"] = pd.to_datetime(fills["time"]).dt.tz_localize("UTC") + pd.Timedelta("1min")
    return fills


class Crossover(rule.Crossover):
    """The rule as a replay strategy (the tests' ``on_bar``), flat where ``flat`` says."""

    def __init__(self, flat: dict[str, np.ndarray]) -> None:
        self.flat = flat


class PrecomputedCrossover(Crossover):
    """The same rule with its two averages worked out once over the bars, as backtrader
    works out its SMA indicators before the first ``next`` (``runonce``); each step
    reads them at the bar that just closed, which depends on no later bar. The step's
    two numpy means (a few microseconds each, a second over a year of minutes) are the
    strategy's own cost, not the order path's: this row shows the replay without it."""

    def __init__(self, flat: dict[str, np.ndarray], bars: pd.DataFrame) -> None:
        super().__init__(flat)
        self.above = {}
        for symbol in flat:
            close = bars.xs(symbol, level="symbol")["close"].to_numpy()
            self.above[symbol] = rolling_mean(close, FAST) > rolling_mean(close, SLOW)

    def on_bar(self, step: Step, kit: tk.Kit) -> None:
        for symbol, bar in step.items():
            n = len(bar.history)
            want = 0
            if n >= SLOW and not self.flat[symbol][n - 1]:
                want = SHARES if self.above[symbol][n - 1] else 0
            if want > bar.position:
                kit.orders.place_order(symbol, qty=want - bar.position, side="buy")
            elif want < bar.position:
                kit.orders.close_position(symbol)


def replay_run(bars: pd.DataFrame, precomputed: bool = False) -> ReplayResult:
    flat = {s: flat_minutes(bars.xs(s, level="symbol").index) for s in bars.index.unique(0)}
    strategy = PrecomputedCrossover(flat, bars) if precomputed else Crossover(flat)
    return tk.replay(bars, strategy, cash=10_000_000, checks=False, progress=False)


# -- the comparison -------------------------------------------------------------------------


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """The result, its CPU seconds (the steadier figure on a shared machine; every engine
    here runs on one thread) and its wall seconds."""
    began, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.process_time() - cpu, time.perf_counter() - began


def agreement(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> str:
    keys = [tuple(r) for r in a[columns].itertuples(index=False)]
    others = [tuple(r) for r in b[columns].itertuples(index=False)]
    common = len(set(keys) & set(others))
    return f"{common:,} of {len(keys):,} / {len(others):,} agree on {'+'.join(columns)}"


def compare(bars: pd.DataFrame, label: str, profile: bool, repeat: int) -> float:
    """Time the engines on ``bars``, ``repeat`` rounds (each round runs every engine once,
    so a busy moment of a shared machine falls on all of them); medians are shown.
    Returns the replay's bars per CPU second (median)."""
    count = len(bars)
    engines: dict[str, Callable[[], Any]] = {
        "vectorised pandas (floor)": lambda: vectorised(bars),
        "backtrader PandasDirectData": lambda: backtrader_run(bars),
        "tk.replay (in process)": lambda: replay_run(bars),
        "tk.replay, averages up front": lambda: replay_run(bars, precomputed=True),
    }
    results: dict[str, Any] = {}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    wall: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeat):
        for name, run in engines.items():
            try:
                results[name], spent, took = timed(run)
            except ImportError:
                print("backtrader is not installed (pip install backtrader): no anchor here")
                results[name], spent, took = results[next(iter(engines))].iloc[:0], np.nan, np.nan
            cpu[name].append(spent)
            wall[name].append(took)
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        replay_run(bars)
        profiler.stop()
    floor, traded = results["vectorised pandas (floor)"], results["backtrader PandasDirectData"]
    result = results["tk.replay (in process)"]
    median = {name: float(np.median(values)) for name, values in cpu.items()}
    bt_cpu = median["backtrader PandasDirectData"]
    print(f"\n{label}: {count:,} bars ({result.steps:,} steps), median of {repeat} run(s)")
    print(
        f"{'engine':<31}{'CPU s':>7}{'wall s':>8}{'bars/CPU s':>12}{'vs backtrader':>15}"
        f"{'fills':>8}   CPU s of each run"
    )
    for name in engines:
        outcome = results[name]
        fills = len(outcome) if isinstance(outcome, pd.DataFrame) else len(outcome.fills)
        runs = " ".join(f"{value:.2f}" for value in cpu[name])
        print(
            f"{name:<31}{median[name]:>7.2f}{np.median(wall[name]):>8.2f}"
            f"{count / median[name]:>12,.0f}{bt_cpu / median[name]:>14.2f}x{fills:>8,}   {runs}"
        )
    for name in ("tk.replay (in process)", "tk.replay, averages up front"):
        outcome = results[name]
        fills = outcome.fills.assign(price=outcome.fills["price"].round(2))
        print(f"  {name}")
        print("    vs floor:      " + agreement(fills, floor, ["time", "symbol", "side", "price"]))
        print("    vs backtrader: " + agreement(fills, traded, ["time", "symbol", "side"]))
    pnl = (np.where(floor["side"] == "sell", 1, -1) * floor["price"] * floor["qty"]).sum()
    print(
        f"  P&L: replay {result.equity.iloc[-1] - result.equity.iloc[0]:+,.2f}, "
        f"floor {pnl:+,.2f} (positions flat at every close)"
    )
    if profile:
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    return count / median["tk.replay (in process)"]


def transport_speedup(days: int) -> None:
    """The same loop (notebook 04's: set the clock, trade towards the target) with its
    requests in process and over loopback HTTP: what the transport alone saves."""
    bars = regular_minutes(BASKET[:1], days)
    wanted = targets(bars["close"].droplevel("symbol"))
    first = bars.index.get_level_values("timestamp")[0]
    seconds = {}
    for how in ("in process", "loopback HTTP"):
        exchange = Exchange(ReplayMarket(bars), ManualClock(first), partial_fills=False)
        running = start_exchange(exchange) if how == "loopback HTTP" else None
        with tempfile.TemporaryDirectory() as scratch:
            where = (
                {"exchange": exchange}
                if running is None
                else {"trading_url": running.url, "data_url": running.url}
            )
            kit = tk.connect(checks=False, cache_path=Path(scratch) / "c.sqlite", **where)
            began, held = time.perf_counter(), 0
            for start, target in wanted.items():
                exchange.set_time(start + pd.Timedelta("1min"))
                if target > held:
                    kit.orders.place_order(BASKET[0], qty=target - held, side="buy")
                elif target < held:
                    kit.orders.close_position(BASKET[0])
                held = target
                kit.orders.get_account()  # notebook 04 read the equity every minute
            seconds[how] = time.perf_counter() - began
        if running is not None:
            running.stop()
    print(f"\nnotebook 04's loop, {len(bars):,} bars, get_account every minute:")
    for how, spent in seconds.items():
        print(f"  {how:<14} {len(bars) / spent:>8,.0f} bars/s")
    print(f"  in process: {seconds['loopback HTTP'] / seconds['in process']:.1f}x faster")


class WithResting(Crossover):
    """The crossover on the first symbol (or nothing, ``trading=False``) after ``count``
    good-till-canceled limit buys of the second at $1, far below its market, placed at
    the first step: they rest for the whole replay."""

    def __init__(self, flat: dict[str, np.ndarray], count: int, trading: bool) -> None:
        super().__init__(flat)
        self.count, self.trading, self.since = count, trading, 0.0

    def on_bar(self, step: Step, kit: tk.Kit) -> None:
        if not self.since:
            for _ in range(self.count):
                kit.orders.place_order(
                    BASKET[1], qty=1, side="buy", type="limit", limit_price=1, time_in_force="gtc"
                )
            self.since = time.process_time()
        elif self.trading:
            super().on_bar(step, kit)


def resting_orders_cost(counts: tuple[int, ...] = (0, 1_000, 4_000)) -> None:
    """CPU per step (nothing traded) and per order of the crossover, with 0 to 4,000
    resting orders: neither may grow with them."""
    bars = regular_minutes(BASKET[:2], 2)
    flat = {BASKET[0]: flat_minutes(bars.xs(BASKET[0], level="symbol").index)}
    flat[BASKET[1]] = np.ones(len(flat[BASKET[0]]), dtype=bool)  # never traded
    print(f"\nresting orders, {len(bars)} bars of two symbols (CPU microseconds):")
    print(f"{'resting':>9}{'per step':>11}{'per order':>11}")
    for count in counts:
        cpu = {}
        for trading in (False, True):
            strategy = WithResting(flat, count, trading)
            result = tk.replay(bars, strategy, checks=False, progress=False)
            cpu[trading] = time.process_time() - strategy.since
        per_step = cpu[False] / (result.steps - 1)
        per_order = (cpu[True] - cpu[False]) / max(len(result.fills), 1)
        print(f"{count:>9,}{per_step * 1e6:>11,.0f}{per_order * 1e6:>11,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="calendar days of bars")
    parser.add_argument("--symbols", type=int, default=10, help="the basket's size (0: skip)")
    parser.add_argument("--profile", action="store_true", help="profile the replays")
    parser.add_argument(
        "--http-days", type=int, default=5, help="days for the loopback comparison (0: skip)"
    )
    parser.add_argument("--no-resting", action="store_true", help="skip the resting-orders run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of the comparison (medians are shown)"
    )
    args = parser.parse_args()
    if args.http_days:
        transport_speedup(args.http_days)
    if not args.no_resting:
        resting_orders_cost()
    one = compare(regular_minutes(BASKET[:1], args.days), "one symbol", args.profile, args.repeat)
    if args.symbols:
        basket = regular_minutes(BASKET[: args.symbols], args.days)
        many = compare(
            basket, f"{args.symbols} symbols stepped together", args.profile, args.repeat
        )
        print(
            f"\n{args.symbols} symbols: {many:,.0f} symbol-bars per CPU second = {many / one:.2f} "
            f"of one symbol's bars per CPU second (target >= 0.10)"
        )


if __name__ == "__main__":
    main()
