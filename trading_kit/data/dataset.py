"""Reading a bar dataset written by ``MarketData.download``: lazily with Polars, or as pandas.

``open_dataset(path)`` gives a ``BarDataset``. ``scan()`` is a Polars ``LazyFrame`` over
``<path>/**/*.parquet`` with the Hive columns ``symbol`` and ``year``; a symbol filter
prunes whole directories, a time filter prunes years and, through the Parquet
statistics, row groups, so only the bars asked for are read. (The decoded history cache
is a dataset too, in the ``by_fetch`` layout: ``year`` from the path, ``symbol`` a column
of the files; the same calls read it.) ``to_pandas()`` returns
the frame ``get_bars`` would have: indexed by (``symbol``, ``timestamp``), UTC, the
same columns and dtypes. Any other Parquet reader can read the same files::

    pl.scan_parquet(f"{path}/**/*.parquet", hive_partitioning=True)
    duckdb.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning=true)")
    dask.dataframe.read_parquet(path)          # also pandas.read_parquet(path), Spark
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import DatasetError
from ..rules import ticker, to_utc
from . import frames
from .bar_store import BY_SYMBOL, BarStore, DatasetParams, table_page

if TYPE_CHECKING:
    import polars as pl


class BarDataset:
    """A downloaded bar dataset: its parameters, its symbols, and lazy or eager reads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = BarStore(path).root  # a DatasetError now if there is no dataset

    @property
    def _manifest(self):  # read afresh: a download may have run since
        return BarStore(self.path).manifest

    def __repr__(self) -> str:
        return f"<BarDataset {self.path}: {len(self.symbols)} symbols of {self.params}>"

    @property
    def params(self) -> DatasetParams:
        """Timeframe, adjustment and feed: the same for every bar in the dataset."""
        return self._manifest.params

    @property
    def _by_symbol(self) -> bool:
        return self._manifest.layout == BY_SYMBOL

    @property
    def symbols(self) -> list[str]:
        """Symbols with at least one stored bar (their ``symbol=`` directories, or what
        the manifest counts for a by_fetch store)."""
        if not self._by_symbol:
            return sorted(s for s, state in self._manifest.symbols.items() if state.rows)
        folders = self.path.glob("symbol=*")
        return sorted(f.name.removeprefix("symbol=") for f in folders if any(f.glob("*/*.parquet")))

    @property
    def glob(self) -> str:
        """The pattern Polars and DuckDB are given: every data file, none of the bookkeeping."""
        return str(self.path / "**" / "*.parquet")

    def coverage(self) -> pd.DataFrame:
        """Per symbol: the time ranges downloaded (complete) and the bars stored."""
        rows = [
            {
                "symbol": symbol,
                "start": pd.Timestamp(a, tz="UTC"),
                "end": pd.Timestamp(b, tz="UTC"),
                "bars": state.rows,
            }
            for symbol, state in sorted(self._manifest.symbols.items())
            for a, b in state.ranges
        ]
        return pd.DataFrame(rows, columns=["symbol", "start", "end", "bars"]).set_index("symbol")

    def scan(
        self,
        symbols: str | Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
    ) -> pl.LazyFrame:
        """A Polars ``LazyFrame`` of the bars, filtered by symbol and time (both inclusive).

        Columns: ``timestamp`` (UTC), ``open high low close volume trade_count vwap``,
        ``symbol`` and ``year`` (from the directory names).
        """
        import polars as pl

        by_symbol = self._by_symbol
        if not any(self.path.glob(f"{'symbol=*/' if by_symbol else ''}year=*/*.parquet")):
            return pl.LazyFrame(schema=_polars_schema())
        frame = pl.scan_parquet(
            self.glob,
            hive_partitioning=True,
            hive_schema={"symbol": pl.String, "year": pl.Int32}
            if by_symbol
            else {"year": pl.Int32},
        ).select(list(_polars_schema()))
        names = _names(symbols)
        if names is not None:
            frame = frame.filter(pl.col("symbol").is_in(names))
        for bound, keep in ((_time(start, "start"), "ge"), (_time(end, "end"), "le")):
            if bound is None:
                continue
            year = pl.col("year") >= bound.year if keep == "ge" else pl.col("year") <= bound.year
            stamp = pl.col("timestamp") >= bound if keep == "ge" else pl.col("timestamp") <= bound
            frame = frame.filter(year, stamp)
        return frame

    def to_pandas(
        self,
        symbols: str | Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
    ) -> pd.DataFrame:
        """The bars as ``get_bars`` returns them: indexed by (``symbol``, ``timestamp``)."""
        return bars_frame(self.scan(symbols, start, end).collect())


def open_dataset(path: str | os.PathLike[str]) -> BarDataset:
    """Open a dataset written by ``MarketData.download`` (``DatasetError`` if there is none)."""
    return BarDataset(path)


def bars_frame(table: Any) -> pd.DataFrame:
    """A Polars frame (or an Arrow table) of bars in ``get_bars``'s layout."""
    arrow = table.to_arrow() if hasattr(table, "to_arrow") else table
    return frames.series_frame("bars", [table_page(arrow)])


def _polars_schema() -> dict:
    import polars as pl

    schema: dict = {"timestamp": pl.Datetime("us", "UTC")}
    for _, name, dtype in frames.BAR_FIELDS:
        schema[name] = pl.Int64 if dtype == "int64" else pl.Float64
    return schema | {"symbol": pl.String, "year": pl.Int32}


def _names(symbols: str | Iterable[str] | None) -> list[str] | None:
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    names = [ticker(item) for item in items]
    bad = [item for item, name in zip(items, names, strict=True) if name is None]
    if bad:
        raise DatasetError(f"Invalid symbol(s) {bad!r}; use tickers such as 'AAPL' or 'BRK.B'.")
    return [n for n in names if n]


def _time(value: Any, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return to_utc(value)
    except (ValueError, TypeError):
        raise DatasetError(
            f"{name}={value!r} is not a date or time; use e.g. '2024-01-02' or a Timestamp."
        ) from None
