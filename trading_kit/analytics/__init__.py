"""Tear sheet, round trips and execution analytics: pure functions of plain inputs.

Everything here takes pandas objects a researcher already has (an equity series, fills,
bars, the order journal) and returns frames, series and plotly figures, with no
request and no state, so a replay's result and a paper account (``Orders.tearsheet()``)
share one implementation:

    inputs       check and normalise the inputs once (AnalyticsError otherwise)
    periods      bars per year for annualising: the bar length and the market's hours
    performance  returns, risk ratios (empyrical), drawdowns, exposure, turnover,
                 buy-and-hold of the same symbols
    round_trips  fills matched FIFO into round trips; win rate, profit factor …
    execution    slippage vs the arrival mid by symbol, side, type and hour;
                 limit orders' fill ratio and time to fill
    figures      equity over drawdown, monthly returns, trades on the price, slippage
    tearsheet    ``tearsheet()`` and the ``TearSheet`` that holds all of it
"""

from .execution import limit_order_stats, limit_orders, slippage_table
from .performance import buy_and_hold, drawdown, drawdown_periods, performance, returns_of
from .periods import BarFrequency, bar_frequency
from .round_trips import open_lots, round_trips, trade_stats
from .tearsheet import TearSheet, tearsheet

__all__ = [
    "BarFrequency",
    "TearSheet",
    "bar_frequency",
    "buy_and_hold",
    "drawdown",
    "drawdown_periods",
    "limit_order_stats",
    "limit_orders",
    "open_lots",
    "performance",
    "returns_of",
    "round_trips",
    "slippage_table",
    "tearsheet",
    "trade_stats",
]
