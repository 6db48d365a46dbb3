"""Performance of an equity series: return, risk, drawdowns, exposure and turnover.

The return and risk ratios are empyrical's (empyrical-reloaded, the maintained fork
Quantopian's pyfolio and zipline used), annualised with the bars' own periods per
year (:mod:`.periods`), never empyrical's daily default. What empyrical does not
compute is here: the dates of each drawdown (peak, trough, recovery), the share of
time a position was held, and turnover, both from the fills.

Returns are simple returns of the equity from one bar to the next; the risk-free rate
is zero (a paper account earns no interest).
"""

from __future__ import annotations

from typing import Any

import empyrical
import numpy as np
import pandas as pd

from ..errors import AnalyticsError
from .inputs import SIDE_SIGNS, bars_by_symbol, equity_series, fills_frame
from .periods import BarFrequency, bar_frequency, spacing

#: The rows of :func:`performance`, in the order a reader meets them.
METRICS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "alpha",
    "beta",
    "exposure",
    "traded_value",
    "annual_turnover",
)
#: A position smaller than this many shares is flat (float sums of fractional fills).
FLAT = 1e-9
DRAWDOWN_COLUMNS = ("peak", "trough", "recovery", "depth", "duration")


def returns_of(equity: pd.Series) -> pd.Series:
    """Simple returns from one equity value to the next (the first time has none)."""
    return empyrical.simple_returns(equity).rename("returns")


def drawdown(equity: pd.Series) -> pd.Series:
    """How far below its running high the equity is at each time (0 at a new high)."""
    return (equity / equity.cummax() - 1.0).rename("drawdown")


def drawdown_periods(equity: pd.Series, top: int = 5) -> pd.DataFrame:
    """The ``top`` deepest drawdowns, deepest first: ``peak`` (the high before),
    ``trough``, ``recovery`` (first time back at the peak; NaT if not yet), ``depth``
    (negative fraction) and ``duration`` (peak to recovery, or to the last time)."""
    under = drawdown(equity).to_numpy()
    below = under < 0
    edges = np.diff(np.concatenate(([0], below.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    times = equity.index
    rows = []
    if len(starts):
        depths = np.minimum.reduceat(under, starts)
        for k in np.argsort(depths, kind="stable")[:top]:
            start, end = starts[k], ends[k]
            trough = start + int(np.argmin(under[start:end]))
            recovery = times[end] if end < len(times) else pd.NaT
            last = recovery if end < len(times) else times[-1]
            rows.append(
                (
                    times[start - 1],
                    times[trough],
                    recovery,
                    float(depths[k]),
                    last - times[start - 1],
                )
            )
    frame = pd.DataFrame(rows, columns=list(DRAWDOWN_COLUMNS))
    for name in ("peak", "trough", "recovery"):
        frame[name] = pd.DatetimeIndex(frame[name], dtype="datetime64[ns, UTC]")
    frame["depth"] = frame["depth"].astype("float64")
    frame["duration"] = pd.to_timedelta(frame["duration"])
    frame.index.name = "rank"
    return frame


def exposure(index: pd.DatetimeIndex, fills: pd.DataFrame) -> float:
    """Share of the bars of ``index`` during which a position was held.

    A bar (from one time of ``index`` to the next) counts when any symbol's position
    was open at its start, or a fill happened inside it (a position opened, or a round
    trip made, within the bar). A fill exactly at a bar's end belongs to the next bar.
    """
    stamps = index.as_unit("ns").asi8  # one unit for both sides of searchsorted
    starts, ends = stamps[:-1], stamps[1:]
    held = np.zeros(len(starts), dtype=bool)
    for _, part in fills.groupby("symbol", sort=False):
        times = pd.DatetimeIndex(part["time"]).as_unit("ns").asi8
        position = np.cumsum(part["qty"].to_numpy() * part["side"].map(SIDE_SIGNS).to_numpy())
        before = np.searchsorted(times, starts, side="right")  # fills at or before a start
        at_start = np.where(before > 0, position[np.maximum(before - 1, 0)], 0.0)
        inside = np.searchsorted(times, ends, side="left") - before
        held |= (np.abs(at_start) > FLAT) | (inside > 0)
    return float(held.mean()) if len(held) else float("nan")


def traded_value(index: pd.DatetimeIndex, fills: pd.DataFrame) -> float:
    """Dollars bought plus dollars sold from the first time of ``index`` to the last."""
    inside = fills["time"].between(index[0], index[-1])
    return float((fills["qty"] * fills["price"])[inside].sum())


def buy_and_hold(prices: Any, index: pd.DatetimeIndex, capital: float = 1.0) -> pd.Series:
    """Value at each time of ``index`` of ``capital`` split equally over the symbols of
    ``prices`` at the first time and held (no rebalancing, no costs).

    A bar's close is known at the bar's end (start + bar length, as ``MarketData``
    labels bars by their start), so the value at time ``t`` uses only closes known
    by ``t``.
    """
    return held_value(bars_by_symbol(prices), index, capital)


def held_value(bars: dict[str, pd.DataFrame], index: pd.DatetimeIndex, capital: float) -> pd.Series:
    """:func:`buy_and_hold` of bars already checked by :func:`.inputs.bars_by_symbol`."""
    closes = {}
    for symbol, frame in bars.items():
        length = _bar_length(frame.index)
        known = frame["close"].set_axis(frame.index + length)
        closes[symbol] = known.reindex(index, method="ffill")
        if pd.isna(closes[symbol].iloc[0]):
            raise AnalyticsError(
                f"prices for {symbol} start with the bar of {frame.index[0]}, whose close is "
                f"known only at {known.index[0]}, after the equity series starts "
                f"({index[0]}); request bars from at least {index[0] - length} so "
                "buy-and-hold has a price at the start.",
                argument="prices",
            )
    wide = pd.DataFrame(closes)
    shares = capital / len(wide.columns) / wide.iloc[0]
    return (wide * shares).sum(axis=1).rename("buy_and_hold")


def performance(
    equity: Any,
    *,
    fills: Any = None,
    benchmark: Any = None,
    market: str | None = None,
    periods_per_year: float | None = None,
) -> pd.DataFrame:
    """The tear sheet's metrics: one row per name in ``METRICS``, a ``strategy`` column
    and, given a ``benchmark`` equity series (e.g. :func:`buy_and_hold`), one for it.

    Fractions are fractions (0.05 is 5%); ``traded_value`` is in dollars; ``alpha``
    is annualised. Rows that need fills are NaN without them.
    """
    series = equity_series(equity)
    frequency = bar_frequency(series.index, market, periods_per_year)
    return metrics_table(
        series,
        frequency,
        fills_frame(fills),
        None if benchmark is None else aligned_benchmark(benchmark, series.index),
        has_fills=fills is not None,
    )


def metrics_table(
    equity: pd.Series,
    frequency: BarFrequency,
    fills: pd.DataFrame,
    benchmark: pd.Series | None,
    *,
    has_fills: bool = True,
) -> pd.DataFrame:
    """:func:`performance` on inputs already checked by :mod:`.inputs`."""
    columns = {"strategy": _ratios(equity, frequency, benchmark)}
    index = equity.index
    if has_fills:
        value = traded_value(index, fills)
        years = (len(index) - 1) / frequency.periods_per_year
        columns["strategy"] |= {
            "exposure": exposure(index, fills),
            "traded_value": value,
            "annual_turnover": value / 2 / float(equity.mean()) / years,
        }
    if benchmark is not None:
        columns[str(benchmark.name)] = _ratios(benchmark, frequency, None)
    frame = pd.DataFrame(columns, index=pd.Index(METRICS, name="metric"), dtype="float64")
    return frame


def aligned_benchmark(benchmark: Any, index: pd.DatetimeIndex) -> pd.Series:
    """A benchmark equity series read at the times of ``index`` (its last value by then)."""
    series = equity_series(benchmark, "benchmark")
    aligned = series.reindex(index, method="ffill")
    if aligned.isna().any():
        raise AnalyticsError(
            f"benchmark starts at {series.index[0]}, after the equity series "
            f"({index[0]}); give a benchmark that has a value by the equity's first time.",
            argument="benchmark",
        )
    return aligned.rename(series.name if series.name != "equity" else "benchmark")


def _ratios(
    equity: pd.Series, frequency: BarFrequency, benchmark: pd.Series | None
) -> dict[str, float]:
    returns = returns_of(equity)
    periods = frequency.periods_per_year
    values = {
        "total_return": float(equity.iloc[-1] / equity.iloc[0] - 1.0),
        "annual_return": empyrical.annual_return(returns, annualization=periods),
        "annual_volatility": empyrical.annual_volatility(returns, annualization=periods),
        "sharpe": empyrical.sharpe_ratio(returns, annualization=periods),
        "sortino": empyrical.sortino_ratio(returns, annualization=periods),
        "max_drawdown": empyrical.max_drawdown(returns),
        "calmar": empyrical.calmar_ratio(returns, annualization=periods),
    }
    if benchmark is not None:
        alpha, beta = empyrical.alpha_beta(returns, returns_of(benchmark), annualization=periods)
        values |= {"alpha": alpha, "beta": beta}
    return {name: float(value) for name, value in values.items()}


def _bar_length(index: pd.DatetimeIndex) -> pd.Timedelta:
    return spacing(index) if len(index) > 1 else pd.Timedelta(0)
