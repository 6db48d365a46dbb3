"""What the trade-update stream keeps current: the order journal and a local account.

``LiveAccount`` follows a ``Streams`` trade-update connection (``kit.stream`` wires it):

* every update lands in the journal (fills, partial fills, cancels, replaces of every
  order of the account, placed here or anywhere else), written by the journal's
  background writer, so the socket is never held up by SQLite;
* the account, positions and open orders are read over REST once when the stream starts
  listening, then kept by the updates: open orders from each update's order, a
  position from each fill's ``position_qty``. Numbers the updates do not carry (buying
  power, equity, ``qty_available``) are re-read in the background after an update
  changes them; until then the orders this kit placed since the last read count
  against them, so the pre-trade checks never spend money already committed.

While the stream is open and seeded (``trusted``), ``Orders`` reads its checks from
here and an order costs one request, the POST. Whenever it is not (starting, dropped,
failed), ``Orders`` reads over REST as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from ..errors import TradingKitError
from . import frames
from .journal import Journal

log = logging.getLogger("trading_kit")

Read = Callable[..., Any]  # (method, path, params=...) -> decoded JSON, through the HTTP stack
#: Refresh attempts while updates keep arriving during the read.
REFRESH_ATTEMPTS = 3


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


class LiveAccount:
    """The account as trade updates keep it (see the module docstring)."""

    def __init__(self, read: Read, journal: Journal) -> None:
        self._read = read
        self.journal = journal
        self.trusted = False
        self._lock = threading.Lock()
        self._account: dict[str, Any] = {}
        self._positions: dict[str, dict[str, Any]] = {}
        self._open: dict[str, dict[str, Any]] = {}
        # Orders placed here since the last account read: (placed at, cost, symbol, sell qty)
        self._placed: dict[str, tuple[float, Decimal, str, Decimal]] = {}
        self._read_started = 0.0
        self._mine: set[str] = set()  # client order ids this kit is placing or placed
        self._updates_seen = 0
        self._refresh = ThreadPoolExecutor(1, thread_name_prefix="trading-kit-account")
        self._refresh_queued = False
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each re-read of the account (widgets redraw on it)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def __repr__(self) -> str:
        state = "live" if self.trusted else "not live"
        return f"<LiveAccount {state}: {len(self._open)} open orders, {len(self._positions)} positions>"

    # -- the stream's follower hooks -----------------------------------------------------
    def started(self) -> None:
        """The stream listens: read the account once (updates from now on apply on top)."""
        self._seed()

    def gap(self, down: Any, back: Any) -> None:
        """The stream was down: re-read everything, and let the journal catch up."""
        self.trusted = False
        self._seed()

    def stopped(self, error: Exception | None = None) -> None:
        self.trusted = False

    def updates(self, updates: Iterable[Any]) -> None:
        """Apply trade updates (on the stream thread: memory only; the journal in the background).

        Only an update that moves money this account cannot compute (a fill, an order
        leaving the book, an order placed elsewhere) re-reads the account: a new order
        placed here already holds its cost locally, so it costs no request.
        """
        updates = list(updates)
        self.journal.write_later(self.journal.follow, updates)
        reread = False
        with self._lock:
            for update in updates:
                self._updates_seen += 1
                for row in frames.flatten_orders([update.order]):
                    if row.get("status") in frames.TERMINAL_STATUSES:
                        self._open.pop(row["id"], None)
                    else:
                        self._open[row["id"]] = row
                filled = update.event in ("fill", "partial_fill")
                if filled and update.position_qty == update.position_qty:  # (not NaN)
                    self._set_position(update.symbol, Decimal(str(update.position_qty)))
                ours = update.client_order_id in self._mine
                reread = (
                    reread or not ours or update.event not in ("new", "accepted", "pending_new")
                )
        if reread:
            self._refresh_soon()

    # -- what the executor asks -------------------------------------------------------------
    def placing(self, client_order_id: str) -> None:
        """An order this kit is about to send (its ``new`` update may beat the answer)."""
        with self._lock:
            self._mine.add(client_order_id)

    def placed(self, record: Mapping[str, Any], cost: Decimal | None, sell_qty: Decimal) -> None:
        """An order this kit just placed: it holds ``cost`` and ``sell_qty`` until re-read."""
        with self._lock:
            self._placed[record["id"]] = (
                time.monotonic(),
                cost or Decimal(0),
                record["symbol"],
                sell_qty,
            )
            if record.get("status") not in frames.TERMINAL_STATUSES:
                self._open.setdefault(record["id"], dict(record))

    def numbers(self, symbol: str) -> dict[str, Any]:
        """Buying power, shorting, equity, the position in ``symbol`` and open orders, now."""
        with self._lock:
            account = self._account
            position = self._positions.get(symbol) or {}
            committed = sum((cost for _, cost, _, _ in self._placed.values()), Decimal(0))
            selling = sum(
                (qty for _, _, name, qty in self._placed.values() if name == symbol), Decimal(0)
            )
            return {
                "buying_power": max(_decimal(account.get("buying_power")) - committed, Decimal(0)),
                "shorting_enabled": bool(account.get("shorting_enabled", True)),
                "equity": _decimal(account["equity"]) if account.get("equity") else None,
                "last_equity": _decimal(account["last_equity"])
                if account.get("last_equity")
                else None,
                "position_qty": _decimal(position.get("qty")),
                "qty_available": _decimal(position.get("qty_available", position.get("qty")))
                - selling,
                "open_orders": len(self._open),
            }

    # -- reads -----------------------------------------------------------------------------
    def _seed(self) -> None:
        try:
            self._read_all(with_orders=True)
        except TradingKitError as failure:
            self.trusted = False
            log.warning(
                "trading_kit: the live account could not be read (%s); using REST.", failure
            )
            return
        self.trusted = True

    def _read_all(self, *, with_orders: bool = False) -> None:
        """Account and positions (and open orders), from REST; retried if updates raced it."""
        for _ in range(REFRESH_ATTEMPTS):
            started, seen = time.monotonic(), self._updates_seen
            account = self._read("GET", "/v2/account")
            positions = self._read("GET", "/v2/positions")
            orders = (
                self._read("GET", "/v2/orders?status=open&nested=true&limit=500")
                if with_orders
                else None
            )
            with self._lock:
                if self._updates_seen != seen and _ < REFRESH_ATTEMPTS - 1:
                    continue  # an update arrived meanwhile: this read may be older than it
                self._account = account
                self._positions = {p["symbol"]: p for p in positions}
                if orders is not None:
                    self._open = {row["id"]: row for row in frames.flatten_orders(orders)}
                self._placed = {k: v for k, v in self._placed.items() if v[0] >= started}
                self._read_started = started
                return

    def _refresh_soon(self) -> None:
        """One background re-read of the numbers updates do not carry (coalesced)."""
        with self._lock:
            if self._refresh_queued:
                return
            self._refresh_queued = True
        self._refresh.submit(self._refresh_now)

    def _refresh_now(self) -> None:
        with self._lock:
            self._refresh_queued = False
        try:
            self._read_all()
        except TradingKitError as failure:
            log.warning("trading_kit: the live account was not re-read (%s)", failure)
            return
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("trading_kit: a live-account listener failed")

    def _set_position(self, symbol: str, qty: Decimal) -> None:
        if qty == 0:
            self._positions.pop(symbol, None)
            return
        position = dict(self._positions.get(symbol) or {"symbol": symbol})
        position["qty"] = str(qty)
        position["side"] = "long" if qty > 0 else "short"
        self._positions[symbol] = position

    # -- views for widgets ------------------------------------------------------------------
    def open_orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._open.values())

    def positions(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._positions.values())

    def account(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._account)
