"""Bars on disk: a Hive-partitioned Parquet tree, its manifest, and the one-writer lock.

::

    <root>/_trading_kit.json      parameters, layout, what each symbol's files cover, unfinished work
    <root>/_trading_kit.lock      held by the one process writing
    <root>/symbol=AAPL/year=2024/part-20240102T090000Z-20240105T205900Z.parquet   (by symbol)
    <root>/year=2024/part-20240102T090000Z-20240105T205900Z-3f9a1c2e.parquet      (by fetch)

Files hold the columns of ``get_bars`` (``timestamp`` in UTC, ``open high low close volume
trade_count vwap``) and the parameters (timeframe, adjustment, feed) in their key-value
metadata, and are named by their first and last bar. Two layouts, recorded in the
manifest:

- ``by_symbol`` (a downloaded dataset): one symbol's bars of one UTC year per file, the
  symbol and year in the path, as Hive readers expect;
- ``by_fetch`` (the decoded history cache): the bars of all the symbols of one fetch,
  per UTC year, in one file with a ``symbol`` column (sorted by symbol and time; the
  name ends with a digest of the symbols), so reading 500 symbols fetched together opens
  one file, not 500.

Polars, DuckDB, Dask, Spark and pandas read either tree as it is (files starting with
``_`` or ``.`` are not data to any of them; Polars and DuckDB are given
``<root>/**/*.parquet``).

The bulk download (``bulk.py``) and the decoded history cache (``history_cache.py``)
both write through this store, so both survive a SIGKILL at any instant:

1. a page's rows are written to ``_staging/`` under temporary names (``….tmp``);
2. the manifest is replaced atomically (``os.replace``), recording the page as done
   (the next page token, the counts) together with the list of files just staged;
3. the staged files are renamed to their final names.

Opening the store for writing redoes step 3 for whatever the manifest lists and empties
``_staging/``. A page is thus in the manifest and on disk, or in neither;
and since a file's name follows from its content, writing a page again overwrites
instead of duplicating.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from ..errors import DatasetError
from . import frames

FORMAT = 1  # of the files' key-value metadata
BY_SYMBOL, BY_FETCH = "by_symbol", "by_fetch"
#: the manifest's format per layout: a version that knows only 1 refuses a by_fetch store
FORMATS = {BY_SYMBOL: 1, BY_FETCH: 2}
MANIFEST = "_trading_kit.json"
LOCK = "_trading_kit.lock"
STAGING = "_staging"  # a leading "_": not data to any Parquet reader
METADATA_KEY = b"trading_kit"
PRICE_COLUMNS = [name for _, name, _ in frames.BAR_FIELDS]
SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        *(
            (name, pa.int64() if dtype == "int64" else pa.float64())
            for _, name, dtype in frames.BAR_FIELDS
        ),
    ]
)
SYMBOL_FIELD = pa.field("symbol", pa.string())
PARTITIONING = pads.partitioning(pa.schema([SYMBOL_FIELD, ("year", pa.int32())]), flavor="hive")
MICROSECOND = 1_000  # ns: the wire's precision, so the step between adjacent ranges
Interval = tuple[int, int]  # inclusive, UTC nanoseconds


@dataclass(frozen=True)
class DatasetParams:
    """What kind of bars a store holds; one store holds one kind."""

    timeframe: str
    adjustment: str = "raw"
    feed: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.timeframe} bars, adjustment={self.adjustment}, "
            f"feed={self.feed or '(the account default)'}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"timeframe": self.timeframe, "adjustment": self.adjustment, "feed": self.feed}


# -- intervals ----------------------------------------------------------------------------
def missing(ranges: Iterable[Interval], lo: int, hi: int) -> list[Interval]:
    """The parts of [lo, hi] that ``ranges`` (sorted, disjoint) do not cover."""
    gaps, cursor = [], lo
    for a, b in ranges:
        if b < cursor:
            continue
        if a > hi:
            break
        if a > cursor:
            gaps.append((cursor, a - MICROSECOND))
        cursor = max(cursor, b + MICROSECOND)
    if cursor <= hi:
        gaps.append((cursor, hi))
    return gaps


def merged(ranges: Iterable[Interval], lo: int, hi: int) -> list[Interval]:
    """``ranges`` with [lo, hi] added; adjacent or overlapping ranges become one."""
    out: list[list[int]] = []
    for a, b in sorted([*ranges, (lo, hi)]):
        if out and a <= out[-1][1] + MICROSECOND:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


# -- the manifest -------------------------------------------------------------------------
@dataclass
class Chain:
    """One paginated walk: some symbols over one time range, resumable by its page token.

    ``history`` says the range ended before today's session, so once done it covers its
    whole range; otherwise it covers each symbol up to the last bar it returned (the live
    edge is asked again next time, whatever the server's clock said).
    """

    id: str
    symbols: list[str]
    start: int
    end: int
    history: bool
    token: str | None = None
    pages: int = 0
    rows: int = 0
    last: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class SymbolState:
    ranges: list[Interval] = field(default_factory=list)
    rows: int = 0
    fetched_at: int | None = None  # when its oldest stored bars were fetched (UTC ns)


@dataclass
class Manifest:
    params: DatasetParams
    symbols: dict[str, SymbolState] = field(default_factory=dict)
    chains: dict[str, Chain] = field(default_factory=dict)
    staged: list[tuple[str, str]] = field(default_factory=list)
    layout: str = BY_SYMBOL

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": FORMATS[self.layout],
                "layout": self.layout,
                "params": self.params.as_dict(),
                "symbols": {
                    s: {
                        "ranges": [[_iso(a), _iso(b)] for a, b in v.ranges],
                        "rows": v.rows,
                        "fetched_at": _iso(v.fetched_at) if v.fetched_at is not None else None,
                    }
                    for s, v in sorted(self.symbols.items())
                },
                "chains": {
                    c.id: {
                        "symbols": c.symbols,
                        "start": _iso(c.start),
                        "end": _iso(c.end),
                        "history": c.history,
                        "token": c.token,
                        "pages": c.pages,
                        "rows": c.rows,
                        "last": {s: _iso(t) for s, t in c.last.items()},
                        "counts": c.counts,
                    }
                    for c in self.chains.values()
                },
                "staged": self.staged,
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = orjson.loads(raw)
        layout = data.get("layout", BY_SYMBOL)  # stores written before layouts were named
        if FORMATS.get(layout) != data.get("format"):
            raise ValueError(f"unknown format {data.get('format')!r} (layout {layout!r})")
        return cls(
            layout=layout,
            params=DatasetParams(**data["params"]),
            symbols={
                s: SymbolState(
                    ranges=[(_ns(a), _ns(b)) for a, b in v["ranges"]],
                    rows=v["rows"],
                    fetched_at=_ns(v["fetched_at"]) if v.get("fetched_at") else None,
                )
                for s, v in data["symbols"].items()
            },
            chains={
                cid: Chain(
                    id=cid,
                    symbols=c["symbols"],
                    start=_ns(c["start"]),
                    end=_ns(c["end"]),
                    history=c["history"],
                    token=c["token"],
                    pages=c["pages"],
                    rows=c["rows"],
                    last={s: _ns(t) for s, t in c["last"].items()},
                    counts=c["counts"],
                )
                for cid, c in data["chains"].items()
            },
            staged=[(a, b) for a, b in data.get("staged", [])],
        )


@dataclass(frozen=True)
class Staged:
    """A file written in ``_staging/``, waiting for the manifest to name it."""

    temporary: Path
    final: Path


# -- the store ----------------------------------------------------------------------------
class BarStore:
    """A directory of bars of one kind (``DatasetParams``), written crash-safely.

    Readers need nothing but the files. Writers go through ``writing()``, which holds
    the lock file (one writing process at a time), finishes what a killed writer left,
    and lets any number of threads ``stage`` pages and ``commit`` them. ``layout`` is
    that of a new store; an existing one keeps the layout its manifest records.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        params: DatasetParams | None = None,
        layout: str = BY_SYMBOL,
    ) -> None:
        self.root = Path(root).expanduser()
        self._new_layout = layout
        self._lock = threading.RLock()
        self._pending: set[tuple[str, str]] = set()
        self._made: set[Path] = set()  # directories known to exist (mkdir is a system call)
        self.manifest = self._load(params)

    def __repr__(self) -> str:
        return f"BarStore({str(self.root)!r}, {self.manifest.params})"

    @property
    def params(self) -> DatasetParams:
        return self.manifest.params

    @property
    def layout(self) -> str:
        return self.manifest.layout

    # -- opening -------------------------------------------------------------------------
    def _load(self, params: DatasetParams | None) -> Manifest:
        path = self.root / MANIFEST
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(
                f"{self.root} is a file, not a dataset directory; choose another path."
            )
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        except OSError as problem:
            raise DatasetError(
                f"Cannot use {self.root} as a dataset: {_reason(problem)}. Choose another path."
            ) from None
        if raw is None:
            if params is None:
                raise DatasetError(
                    f"{self.root} is not a trading_kit dataset (no {MANIFEST}); "
                    "download into it first with MarketData.download(...)."
                )
            ours = {LOCK, f".{MANIFEST}.tmp", STAGING}
            if self.root.exists() and any(p.name not in ours for p in self.root.iterdir()):
                raise DatasetError(
                    f"{self.root} already holds other files and no {MANIFEST}; "
                    "download into a new or empty directory."
                )
            return Manifest(params, layout=self._new_layout)
        try:
            manifest = Manifest.from_json(raw)
        except (ValueError, KeyError, TypeError) as problem:
            raise DatasetError(
                f"The manifest {path} cannot be read ({problem}); it was not written by this "
                "version of trading_kit, or it was edited by hand."
            ) from None
        if params is not None and params != manifest.params:
            raise DatasetError(
                f"{self.root} holds {manifest.params}; this download asks for {params}. "
                "A dataset holds one kind of bars: use another path, or the same timeframe, "
                "adjustment and feed."
            )
        return manifest

    @contextmanager
    def writing(self, wait: bool = False) -> Iterator[BarStore]:
        """Hold the lock file, finish what a killed writer left behind, then write."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.root / LOCK, timeout=-1 if wait else 0)
            lock.acquire()
        except Timeout:
            raise DatasetError(
                f"Another process is writing to {self.root} (it holds {LOCK}); "
                "wait for it to finish, or download into another path."
            ) from None
        except OSError as problem:
            raise DatasetError(
                f"Cannot write to {self.root}: {_reason(problem)}. Choose a writable path."
            ) from None
        try:
            with self._lock:
                self._made = set()  # another writer may have been here, and emptied it
                self.manifest = self._load(self.manifest.params)
                self._recover()
                if not (self.root / MANIFEST).exists():
                    self._write_manifest()
            yield self
            with self._lock:
                if self.manifest.staged and not self._pending:  # all visible now: tidy up
                    self.manifest.staged = []
                    self._write_manifest()
        finally:
            lock.release()

    def _recover(self) -> None:
        for temporary, final in self.manifest.staged:  # recorded, so made visible
            if (self.root / temporary).exists():
                os.replace(self.root / temporary, self.root / final)
        staging = self.root / STAGING
        if staging.exists():  # never recorded: gone
            for entry in os.scandir(staging):
                os.unlink(entry.path)
        if self.manifest.staged:
            self.manifest.staged = []
            self._write_manifest()

    # -- writing -------------------------------------------------------------------------
    def stage(self, columns: Mapping[str, Mapping[str, np.ndarray]]) -> list[Staged]:
        """Write one page's rows (decoded columns per symbol) as hidden temporary files."""
        staged: list[Staged] = []
        try:
            for final, table in self._tables(columns):
                flat = "-".join(final.relative_to(self.root).parts)
                temporary = self.root / STAGING / f"{flat}.tmp"
                staged.append(Staged(temporary, final))
                for directory in (temporary.parent, final.parent):
                    if directory not in self._made:
                        directory.mkdir(parents=True, exist_ok=True)
                        self._made.add(directory)
                pq.write_table(table, temporary, compression="zstd")
        except OSError as problem:
            self.discard(staged)
            raise self.write_error(problem) from None
        return staged

    def _tables(
        self, columns: Mapping[str, Mapping[str, np.ndarray]]
    ) -> Iterator[tuple[Path, pa.Table]]:
        """The files a page becomes in this store's layout: (final path, rows)."""
        symbols = [s for s in sorted(columns) if len(columns[s]["timestamp"])]
        if self.layout == BY_SYMBOL:
            for symbol in symbols:
                for year, rows, first, last in _by_year(columns[symbol]["timestamp"]):
                    table = self._table(columns[symbol], rows)
                    yield self._file(f"symbol={symbol}", year, first, last), table
            return
        if not symbols:
            return
        joined = {
            name: np.concatenate([columns[s][name] for s in symbols]) for name in SCHEMA.names
        }
        counts = [len(columns[s]["timestamp"]) for s in symbols]
        codes = np.repeat(np.arange(len(symbols), dtype=np.int32), counts)
        names = np.asarray(symbols, dtype=object)
        for year, rows, first, last in _by_year(joined["timestamp"]):
            held = names[np.unique(codes[rows])]
            symbol = pa.DictionaryArray.from_arrays(codes[rows], names).dictionary_decode()
            digest = hashlib.blake2b(",".join(held).encode(), digest_size=4).hexdigest()
            final = self._file("", year, first, last, digest)
            yield final, self._table(joined, rows, symbol)

    def _table(
        self,
        columns: Mapping[str, np.ndarray],
        rows: slice | np.ndarray,
        symbol: pa.Array | None = None,
    ) -> pa.Table:
        """Rows of decoded columns as a table of the file schema (and a symbol column)."""
        arrays = [
            pa.array(
                columns["timestamp"][rows].astype("datetime64[us]"),
                type=SCHEMA.field("timestamp").type,
            ),
            *(
                pa.array(frames.typed(columns[name][rows], dtype), type=SCHEMA.field(name).type)
                for _, name, dtype in frames.BAR_FIELDS
            ),
        ]
        schema = self._schema
        if symbol is not None:
            arrays.insert(0, symbol)
            schema = schema.insert(0, SYMBOL_FIELD)
        return pa.Table.from_arrays(arrays, schema=schema)

    def commit(self, staged: list[Staged], change: Callable[[Manifest], None]) -> None:
        """Record ``change`` and the staged files in the manifest, then make them visible."""
        pairs = [(self._relative(s.temporary), self._relative(s.final)) for s in staged]
        with self._lock:
            change(self.manifest)
            self._pending.update(pairs)
            self.manifest.staged = sorted(self._pending)
            try:
                self._write_manifest()
            except OSError as problem:
                self._pending.difference_update(pairs)
                self.manifest = self._reload()  # the manifest on disk is the truth
                self.discard(staged)
                raise self.write_error(problem) from None
        for item in staged:
            os.replace(item.temporary, item.final)
        with self._lock:
            self._pending.difference_update(pairs)

    def discard(self, staged: Iterable[Staged]) -> None:
        for item in staged:
            item.temporary.unlink(missing_ok=True)

    def write_error(self, problem: OSError) -> DatasetError:
        what = "the disk is full" if problem.errno == errno.ENOSPC else _reason(problem)
        return DatasetError(
            f"Cannot write to {self.root}: {what}. Everything recorded before this page is "
            "intact; make room (or fix the path) and run the same download again to continue."
        )

    def _write_manifest(self) -> None:
        path = self.root / MANIFEST
        temporary = path.with_name(f".{MANIFEST}.tmp")
        try:
            temporary.write_bytes(self.manifest.to_json())
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise

    def _reload(self) -> Manifest:
        return Manifest.from_json((self.root / MANIFEST).read_bytes())

    @property
    def _schema(self) -> pa.Schema:
        meta = orjson.dumps({"format": FORMAT, **self.params.as_dict()})
        return SCHEMA.with_metadata({METADATA_KEY: meta})

    def _file(
        self, directory: str, year: int, first: np.datetime64, last: np.datetime64, tag: str = ""
    ) -> Path:
        name = f"part-{_stamp(first)}-{_stamp(last)}{f'-{tag}' if tag else ''}.parquet"
        return self.root / directory / f"year={year}" / name

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    # -- reading -------------------------------------------------------------------------
    def files(self, symbols: Iterable[str], lo: int, hi: int) -> list[Path]:
        """The files that may hold bars of ``symbols`` in [lo, hi] (as their names say),
        per symbol (by_symbol) and oldest first; by_fetch files may hold other symbols."""
        folders = (
            [f"symbol={s}" for s in sorted(set(symbols))] if self.layout == BY_SYMBOL else [""]
        )
        found = []
        for folder in folders:
            overlapping = []
            for year in range(_year(lo), _year(hi) + 1):
                directory = self.root / folder / f"year={year}"
                try:
                    names = os.listdir(directory)
                except FileNotFoundError:
                    continue
                for name in names:
                    if not (name.startswith("part-") and name.endswith(".parquet")):
                        continue
                    first, last = _range_of(name)
                    if first <= hi and last >= lo:
                        overlapping.append((first, last, directory / name))
            found.extend(sorted(overlapping))
        return [path for _, _, path in found]

    def read_pages(self, symbols: Iterable[str], lo: int, hi: int) -> list[frames.Page]:
        """Bars of ``symbols`` in [lo, hi] as pages of columns per symbol (a symbol's
        pages never overlap; ``series_frame`` joins them).

        Only the files whose names overlap [lo, hi] are opened. by_symbol files are read
        in one multi-threaded dataset scan, the symbol taken from the directory names as
        any Hive reader takes it; by_fetch files directly, one page each (views of what
        was read, not copies), only the row groups whose statistics may hold the symbols
        and times asked, the symbols read as codes."""
        wanted = sorted(set(symbols))
        paths = self.files(wanted, lo, hi)
        lo -= lo % MICROSECOND  # the files' precision
        if self.layout == BY_FETCH:
            tables = _read_by_fetch(paths, wanted, lo, hi)
            return [_within(table_page(table), wanted, lo, hi) for table in tables]
        if not paths:
            return []
        stamp = SCHEMA.field("timestamp").type
        table = pads.dataset(
            [str(p) for p in paths],
            format="parquet",
            partitioning=PARTITIONING,
            partition_base_dir=str(self.root),
        ).to_table(
            columns=["symbol", *SCHEMA.names],
            filter=(pc.field("timestamp") >= pa.scalar(lo // MICROSECOND, stamp))
            & (pc.field("timestamp") <= pa.scalar(hi // MICROSECOND, stamp)),
        )
        return [_within(table_page(table), wanted, lo, hi)]


def _read_by_fetch(paths: list[Path], wanted: list[str], lo: int, hi: int) -> list[pa.Table]:
    """The row groups of by_fetch files that may hold bars of ``wanted`` in [lo, hi],
    a table per file."""
    tables = []
    for path in paths:
        file = pq.ParquetFile(path, read_dictionary=["symbol"])
        groups = [
            i
            for i in range(file.metadata.num_row_groups)
            if _may_hold(file.metadata.row_group(i), wanted, lo, hi)
        ]
        if groups:
            tables.append(file.read_row_groups(groups, columns=["symbol", *SCHEMA.names]))
    return tables


def _may_hold(group: pq.RowGroupMetaData, wanted: list[str], lo: int, hi: int) -> bool:
    """Whether a row group's statistics (symbol: column 0, timestamp: column 1, as
    by_fetch files are written) leave room for a bar of ``wanted`` (sorted) in [lo, hi]."""
    symbol, stamp = group.column(0).statistics, group.column(1).statistics
    if symbol is None or stamp is None or not (symbol.has_min_max and stamp.has_min_max):
        return True
    if stamp.max_raw < lo // MICROSECOND or stamp.min_raw > hi // MICROSECOND:
        return False
    first = bisect.bisect_left(wanted, symbol.min_raw.decode())
    return first < len(wanted) and wanted[first] <= symbol.max_raw.decode()


def table_page(table: pa.Table) -> frames.Page:
    """An Arrow table of bars with a ``symbol`` column (strings or dictionary codes) as
    columns per symbol, sorted by symbol and time (checked on the codes; sorted only if
    it is not). Each symbol's columns are views of one array per column."""
    encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    stamps = table.column("timestamp").to_numpy().astype("datetime64[ns]")
    columns = {"timestamp": stamps} | {
        name: table.column(name).to_numpy() for name in PRICE_COLUMNS
    }
    starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1] if len(codes) else codes
    firsts = names[codes[starts]]
    same = codes[1:] == codes[:-1]
    if not ((firsts[1:] > firsts[:-1]).all() and (stamps[1:] > stamps[:-1])[same].all()):
        rank = np.argsort(np.argsort(names))  # code -> position of its name in sorted order
        order = np.lexsort((stamps, rank[codes]))
        codes = codes[order]
        columns = {name: column[order] for name, column in columns.items()}
        starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1]
    bounds = [*starts.tolist(), len(codes)]
    return frames.Page(
        {
            str(names[codes[a]]): {name: column[a:b] for name, column in columns.items()}
            for a, b in itertools.pairwise(bounds)
        },
        None,
        len(codes),
    )


def _within(page: frames.Page, symbols: Iterable[str], lo: int, hi: int) -> frames.Page:
    """The rows of ``symbols`` in [lo, hi] of a page sorted by time per symbol (views)."""
    first, last = np.datetime64(lo, "ns"), np.datetime64(hi, "ns")
    columns = {}
    for symbol in symbols:
        held = page.columns.get(symbol)
        if held is None:
            continue
        stamps = held["timestamp"]
        a, b = np.searchsorted(stamps, first, "left"), np.searchsorted(stamps, last, "right")
        if b > a:
            whole = a == 0 and b == len(stamps)
            columns[symbol] = held if whole else {n: c[a:b] for n, c in held.items()}
    return frames.Page(columns, None, sum(len(c["timestamp"]) for c in columns.values()))


def _by_year(stamps: np.ndarray) -> Iterator[tuple[int, slice | np.ndarray, Any, Any]]:
    """The rows of each UTC year: (year, rows, first bar, last bar). Usually one year,
    all the rows (a slice: no copy)."""
    years = stamps.astype("datetime64[Y]").astype(np.int64) + 1970
    if (years == years[0]).all():
        yield int(years[0]), slice(None), stamps.min(), stamps.max()
        return
    for year in np.unique(years):
        rows = np.flatnonzero(years == year)
        yield int(year), rows, stamps[rows].min(), stamps[rows].max()


def _stamp(value: np.datetime64) -> str:
    return str(np.datetime_as_string(value, unit="s")).replace("-", "").replace(":", "") + "Z"


def _range_of(name: str) -> tuple[int, int]:
    """First and last bar (UTC ns) from ``part-20240102T090000Z-20240105T205900Z.parquet``
    (by_fetch names end with ``-<digest>``); the last is widened to the end of its second."""
    first, last = name[len("part-") : -len(".parquet")].split("-")[:2]
    to_ns = lambda text: pd.Timestamp(text).value  # noqa: E731
    return to_ns(first), to_ns(last) + 999_999_999


def _year(ns: int) -> int:
    return int(np.datetime64(ns, "ns").astype("datetime64[Y]").astype(np.int64)) + 1970


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat().replace("+00:00", "Z")


def _ns(text: str) -> int:
    stamp = pd.Timestamp(text)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value)


def _reason(problem: OSError) -> str:
    return problem.strerror or str(problem) or type(problem).__name__
