"""``TearSheet``: what happened, in one object a notebook shows well.

:func:`tearsheet` takes the plain record of a run (an equity series, the fills, the
bars, the order journal) from wherever it came: a replay, or a paper account
(``Orders.tearsheet()``). It checks them once, computes everything eagerly (well under
a second for a year of minutes and 4,000 fills: ``bench/bench_tearsheet.py``) and keeps
the results as frames a researcher can slice; figures are built on request. Displayed
in a notebook it shows a few small tables (performance, round trips, execution);
``figures()`` has the plots.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ..errors import AnalyticsError
from ..rules import NEW_YORK, ticker
from . import figures
from .execution import limit_order_stats, slippage_table, slipped_orders
from .inputs import bars_by_symbol, equity_series, fills_frame, journal_frame
from .performance import (
    aligned_benchmark,
    drawdown_periods,
    held_value,
    metrics_table,
    returns_of,
)
from .periods import BarFrequency, bar_frequency
from .round_trips import fifo, trade_stats

#: How each metric reads: as a percentage, a ratio, dollars or a duration.
PERCENT = frozenset(
    {
        "total_return",
        "annual_return",
        "annual_volatility",
        "max_drawdown",
        "alpha",
        "exposure",
        "win_rate",
        "fill_ratio",
        "fill_rate",
    }
)
DOLLARS = frozenset(
    {
        "traded_value",
        "average_win",
        "average_loss",
        "expectancy",
        "total_pnl",
        "largest_win",
        "largest_loss",
        "cost",
    }
)
#: The slippage breakdowns the summary shows (the full table is ``TearSheet.slippage``).
SUMMARY_BY = ("all", "side", "type")


@dataclass(frozen=True, repr=False)
class TearSheet:
    """Performance, round trips and execution quality of one run; see :func:`tearsheet`.

    Frames: ``metrics`` (a row per metric; ``strategy`` and benchmark columns),
    ``drawdowns`` (the deepest, with peak, trough and recovery), ``round_trips``,
    ``open_lots``, ``trades`` (round-trip statistics), ``slippage`` and
    ``limit_orders`` (from the journal, when given). Inputs, as checked: ``equity``,
    ``benchmark``, ``fills``, ``bars`` (per symbol), ``journal``.
    """

    equity: pd.Series
    frequency: BarFrequency
    metrics: pd.DataFrame
    drawdowns: pd.DataFrame
    benchmark: pd.Series | None
    fills: pd.DataFrame
    round_trips: pd.DataFrame
    open_lots: pd.DataFrame
    trades: pd.Series
    bars: dict[str, pd.DataFrame]
    journal: pd.DataFrame | None
    slippage: pd.DataFrame | None
    limit_orders: pd.Series | None

    @property
    def returns(self) -> pd.Series:
        return returns_of(self.equity)

    # -- figures ----------------------------------------------------------------------
    def equity_figure(self) -> go.Figure:
        return figures.equity_figure(self.equity, self.benchmark)

    def monthly_returns_figure(self) -> go.Figure:
        return figures.monthly_returns_figure(self.returns)

    def trades_figure(self, symbol: str | None = None) -> go.Figure:
        """Trades on ``symbol``'s price (default: the symbol traded most)."""
        if symbol is None:
            if self.fills.empty:
                raise AnalyticsError(
                    "no fills to draw; build the tear sheet with fills=… to see trades.",
                    argument="fills",
                )
            symbol = str(self.fills["symbol"].value_counts().index[0])
        name = ticker(symbol)
        if name is None or name not in self.bars:
            raise AnalyticsError(
                f"no prices for {name or symbol!r} (the tear sheet has "
                f"{', '.join(self.bars) or 'none'}); build it with prices= bars of that symbol.",
                argument="symbol",
            )
        return figures.trades_figure(name, self.bars[name], self.fills, self.round_trips)

    def slippage_figure(self) -> go.Figure:
        if self.journal is None:
            raise AnalyticsError(
                "no order journal; build the tear sheet with journal=orders.history().",
                argument="journal",
            )
        return figures.slippage_figure(slipped_orders(self.journal))

    def figures(self) -> dict[str, go.Figure]:
        """Every figure the inputs allow, by name."""
        shown = {
            "equity": self.equity_figure(),
            "monthly_returns": self.monthly_returns_figure(),
        }
        traded = [s for s in self.fills["symbol"].unique() if s in self.bars]
        for symbol in traded:
            shown[f"trades_{symbol}"] = self.trades_figure(symbol)
        if self.journal is not None:
            shown["slippage"] = self.slippage_figure()
        return shown

    # -- display ----------------------------------------------------------------------
    def summary(self) -> dict[str, pd.DataFrame]:
        """The tables a notebook shows, as text: performance, round trips and, from the
        journal, slippage (overall, by side and by type) and limit orders."""
        tables = {"performance": _formatted(self.metrics.dropna(how="all"))}
        tables["round trips"] = _formatted(self.trades.to_frame("all"))
        if self.slippage is not None and len(self.slippage):
            shown = self.slippage[self.slippage.index.get_level_values("by").isin(SUMMARY_BY)]
            tables["slippage vs arrival mid"] = pd.DataFrame(
                {
                    "orders": [f"{n:,}" for n in shown["orders"]],
                    "weighted_bps": [f"{b:+.2f}" for b in shown["weighted_bps"]],
                    "cost": [_text("cost", c) for c in shown["cost"]],
                },
                index=[group if by == "all" else f"{by}: {group}" for by, group in shown.index],
            )
        if self.limit_orders is not None and self.limit_orders["orders"]:
            tables["limit orders"] = _formatted(self.limit_orders.to_frame("limit orders"))
        return tables

    def headline(self) -> str:
        start, end = (t.tz_convert(NEW_YORK) for t in (self.equity.index[0], self.equity.index[-1]))
        text = (
            f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} New York · {len(self.equity):,} "
            f"points of {self.frequency}"
        )
        if not self.drawdowns.empty:
            worst = self.drawdowns.iloc[0]
            recovery = (
                "not recovered"
                if pd.isna(worst["recovery"])
                else f"recovered {worst['recovery'].tz_convert(NEW_YORK):%Y-%m-%d %H:%M}"
            )
            text += (
                f" · max drawdown {worst['depth']:.2%}: peak "
                f"{worst['peak'].tz_convert(NEW_YORK):%Y-%m-%d %H:%M}, trough "
                f"{worst['trough'].tz_convert(NEW_YORK):%Y-%m-%d %H:%M}, {recovery}"
            )
        return text

    def __repr__(self) -> str:
        parts = [f"TearSheet: {self.headline()}"]
        for name, table in self.summary().items():
            parts.append(f"\n{name}\n{table.to_string()}")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<div style="margin-right:24px"><b>{html.escape(name)}</b>{table.to_html()}</div>'
            for name, table in self.summary().items()
        )
        return (
            f"<div><p>{html.escape(self.headline())}</p>"
            f'<div style="display:flex; flex-wrap:wrap; align-items:flex-start">{cells}</div></div>'
        )


def tearsheet(
    equity: Any,
    *,
    fills: Any = None,
    prices: Any = None,
    benchmark: Any = None,
    journal: Any = None,
    market: str | None = None,
    periods_per_year: float | None = None,
) -> TearSheet:
    """A :class:`TearSheet` of an equity series and, when given, what made it.

    ``equity``: account value over time (UTC index; a replay's record or
    ``Orders.get_portfolio_history()``), read as the value at the end of each bar.
    ``fills``: ``Orders.get_activities()``, ``orders.history()`` or ``symbol side qty
    price time`` rows (round trips, exposure, turnover). ``prices``: bars of the traded
    symbols (``MarketData.get_bars()``), for the trades chart and, unless a
    ``benchmark`` equity series is given (or ``benchmark=False``), buy-and-hold of those
    symbols with the same starting capital. ``journal``: ``orders.history()`` for slippage and limit-order
    fills. ``market`` (``"nyse"`` or ``"24/7"``) and ``periods_per_year`` override how
    metrics are annualised (see :mod:`trading_kit.analytics.periods`).
    """
    series = equity_series(equity)
    frequency = bar_frequency(series.index, market, periods_per_year)
    rows = fills_frame(fills)
    bars = bars_by_symbol(prices) if prices is not None else {}
    if benchmark is False:
        reference = None
    elif benchmark is not None:
        reference = aligned_benchmark(benchmark, series.index)
    elif bars:
        reference = held_value(bars, series.index, float(series.iloc[0]))
    else:
        reference = None
    trips, lots = fifo(rows)
    closed_inside = trips["exit_time"] >= series.index[0]  # within the equity's span
    trips = trips[closed_inside].reset_index(drop=True).rename_axis("round_trip")
    history = journal_frame(journal) if journal is not None else None
    return TearSheet(
        equity=series,
        frequency=frequency,
        metrics=metrics_table(series, frequency, rows, reference, has_fills=fills is not None),
        drawdowns=drawdown_periods(series),
        benchmark=reference,
        fills=rows,
        round_trips=trips,
        open_lots=lots,
        trades=trade_stats(trips),
        bars=bars,
        journal=history,
        slippage=slippage_table(history) if history is not None else None,
        limit_orders=limit_order_stats(history) if history is not None else None,
    )


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers as a reader reads them: 12.34%, $1,234.56, 1.23, 2h 05m."""
    return pd.DataFrame(
        {column: [_text(name, value) for name, value in table[column].items()] for column in table},
        index=table.index,
    )


def _text(name: str, value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, pd.Timedelta):
        return str(value.round("s"))
    if isinstance(value, int):
        return f"{value:,}"
    if name in PERCENT:
        return f"{value:.2%}"
    if name in DOLLARS:
        return f"${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"
    return f"{value:,.2f}"
