"""Execution quality from the order journal: slippage against the arrival mid, and how
limit orders fare (fill ratio, time to fill).

The journal (``orders.history()``) already prices each order's fill against the mid
quote at submission (``arrival_price``, ``slippage``, ``slippage_bps``: positive when
the fill was worse for the trader). This module only groups and summarises it: by
symbol, side, order type and New York hour of submission, each group weighted both
per order and by traded value, so one large order is not drowned by many small ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..rules import NEW_YORK
from .inputs import journal_frame

#: The dimensions slippage is broken down by (``hour``: New York hour of submission).
SLIPPAGE_BY = ("symbol", "side", "type", "hour")
SLIPPAGE_COLUMNS = (
    "orders",
    "filled_qty",
    "traded_value",
    "mean_bps",
    "median_bps",
    "weighted_bps",
    "cost",
)
LIMIT_STATS = (
    "orders",
    "filled",
    "partially_filled",
    "unfilled",
    "still_open",
    "fill_ratio",
    "fill_rate",
    "median_time_to_fill",
    "mean_time_to_fill",
    "p90_time_to_fill",
)
#: Final statuses a limit order's fill ratio is measured at (``replaced``: its
#: quantity lives on in the replacement, which is a row of its own).
FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "done_for_day", "rejected"})


def slipped_orders(journal: Any) -> pd.DataFrame:
    """Journal rows that filled and had a quote at submission, with ``hour`` (New York
    hour of submission, ``"09:00"``; ``"unknown"`` without a submission time),
    ``traded_value`` and ``cost`` (dollars lost to slippage) added."""
    history = journal_frame(journal)
    rows = history[(history["filled_qty"] > 0) & history["arrival_price"].notna()].copy()
    submitted = pd.DatetimeIndex(rows["submitted_at"]).tz_convert(NEW_YORK)
    rows["hour"] = pd.array(
        [f"{int(h):02d}:00" if h == h else "unknown" for h in submitted.hour], dtype="str"
    )
    rows["traded_value"] = rows["filled_qty"] * rows["filled_avg_price"]
    rows["cost"] = rows["slippage"] * rows["filled_qty"]
    return rows


def slippage_table(journal: Any) -> pd.DataFrame:
    """Slippage in basis points of the arrival mid, overall and by each of ``SLIPPAGE_BY``.

    Indexed by (``by``, ``group``): ``("all", "all")`` first, then e.g.
    ``("side", "buy")``. ``weighted_bps`` weights orders by traded value; ``cost`` is
    the dollars paid to slippage (negative: saved).
    """
    rows = slipped_orders(journal)
    rows["all"] = pd.array(["all"] * len(rows), dtype="str")
    return pd.concat([_summary(rows, by) for by in ("all", *SLIPPAGE_BY)])


def limit_order_stats(journal: Any) -> pd.Series:
    """How limit orders fared (``LIMIT_STATS``), over those in a final state.

    ``fill_ratio`` is shares filled over shares asked; ``fill_rate`` the share of
    orders that filled completely; times to fill run from submission to the last fill
    of the orders that filled completely.
    """
    orders = limit_orders(journal)
    final = orders[orders["status"].isin(list(FINAL_STATUSES))]
    filled = final[final["status"] == "filled"]
    waits = filled["time_to_fill"]
    asked = float(final["qty"].sum())
    values: dict[str, Any] = {
        "orders": len(final),
        "filled": len(filled),
        "partially_filled": int(((final["filled_qty"] > 0) & (final["status"] != "filled")).sum()),
        "unfilled": int((final["filled_qty"].fillna(0) == 0).sum()),
        "still_open": int((~orders["status"].isin([*FINAL_STATUSES, "replaced"])).sum()),
        "fill_ratio": float(final["filled_qty"].fillna(0).sum()) / asked if asked else np.nan,
        "fill_rate": len(filled) / len(final) if len(final) else np.nan,
        "median_time_to_fill": waits.median() if len(waits) else pd.NaT,
        "mean_time_to_fill": waits.mean() if len(waits) else pd.NaT,
        "p90_time_to_fill": waits.quantile(0.9) if len(waits) else pd.NaT,
    }
    return pd.Series(values, index=list(LIMIT_STATS), name="limit_orders", dtype=object)


def limit_orders(journal: Any) -> pd.DataFrame:
    """The journal's limit orders with ``fill_ratio`` and ``time_to_fill`` per order."""
    history = journal_frame(journal)
    orders = history[history["type"] == "limit"].copy()
    orders["fill_ratio"] = orders["filled_qty"].fillna(0) / orders["qty"]
    orders["time_to_fill"] = (orders["filled_at"] - orders["submitted_at"]).where(
        orders["status"] == "filled"
    )
    return orders


def _summary(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    grouped = rows.groupby(by, sort=True, observed=True)
    bps = grouped["slippage_bps"]
    value = grouped["traded_value"].sum()
    weighted = (rows["slippage_bps"] * rows["traded_value"]).groupby(rows[by]).sum() / value
    table = pd.DataFrame(
        {
            "orders": grouped.size().astype("int64"),
            "filled_qty": grouped["filled_qty"].sum(),
            "traded_value": value,
            "mean_bps": bps.mean(),
            "median_bps": bps.median(),
            "weighted_bps": weighted,
            "cost": grouped["cost"].sum(),
        },
        columns=list(SLIPPAGE_COLUMNS),
    )
    table.index = pd.MultiIndex.from_arrays(
        [pd.array([by] * len(table), dtype="str"), table.index.astype("str")],
        names=["by", "group"],
    )
    return table
