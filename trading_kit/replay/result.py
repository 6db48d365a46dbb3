"""``ReplayResult``: what a replay did, as frames, and its tear sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..rules import NEW_YORK

if TYPE_CHECKING:  # plotly and empyrical load only when a tear sheet is asked for
    from ..analytics import TearSheet
    from ..kit import Kit


@dataclass(eq=False, repr=False)
class ReplayResult:
    """The record of one replay, read from the exchange's books.

    ``equity``: the account's value at the end of each step (UTC: its bars' close,
    that step's fills included). ``positions``: signed quantity held per symbol at
    the end of each step. ``fills``: every execution, oldest first (``time symbol side
    qty price order_id``). ``orders``: the order journal (``orders.history()``: status,
    fill, quote at submission, slippage), read when first asked. ``bars``: the bars
    replayed. ``kit`` and ``exchange`` stay usable to look further (``kit.chart``,
    ``kit.orders.get_orders``). ``interrupted``: Ctrl-C stopped the run after ``steps``
    of ``total_steps``; ``elapsed`` is the run's wall time in seconds.
    """

    equity: pd.Series
    positions: pd.DataFrame
    fills: pd.DataFrame
    bars: pd.DataFrame
    kit: Kit
    exchange: Any
    steps: int
    total_steps: int
    elapsed: float
    interrupted: bool
    _orders: pd.DataFrame | None = field(default=None, init=False)

    @property
    def orders(self) -> pd.DataFrame:
        """The journal of the run's orders, with each one's quote at submission."""
        if self._orders is None:
            self._orders = self.kit.orders.history()
        return self._orders

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.elapsed if self.elapsed > 0 else float("nan")

    def tearsheet(self, **options: Any) -> TearSheet:
        """A :class:`~trading_kit.analytics.TearSheet` of the run: performance against
        buy-and-hold of the replayed symbols, round trips, and execution quality from
        the journal. ``options`` go to :func:`trading_kit.analytics.tearsheet`
        (``benchmark=``, ``market=``, ``periods_per_year=``)."""
        from ..analytics import tearsheet

        return tearsheet(
            self.equity, fills=self.fills, prices=self.bars, journal=self.orders, **options
        )

    def __repr__(self) -> str:
        if self.equity.empty:
            return f"<ReplayResult: no step completed of {self.total_steps:,}>"
        first, last = (t.tz_convert(NEW_YORK) for t in self.equity.index[[0, -1]])
        change = self.equity.iloc[-1] - self.equity.iloc[0]
        stopped = " (interrupted)" if self.interrupted else ""
        return (
            f"<ReplayResult{stopped}: {self.steps:,} of {self.total_steps:,} steps, "
            f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} New York; {len(self.fills):,} "
            f"fills; equity {self.equity.iloc[0]:,.2f} → {self.equity.iloc[-1]:,.2f} "
            f"({change:+,.2f}); {self.steps_per_second:,.0f} steps/s>"
        )
