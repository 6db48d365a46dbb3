"""The newest orders in each symbol as this client's own answers have just shown them.

Closing a position creates an order the client cannot name beforehand (Alpaca's
``DELETE /v2/positions/{symbol}`` takes no client order id). So that the order can be
found after a lost answer, the executor needs the symbol's newest orders as they stood
before the call: the ids submitted at the newest time, and that time; the order that
turns up later and is none of them is the close. Reading them costs a request per
close. When this client's own answers showed the symbol's newest order a moment ago
(it placed or closed an order there within ``FRESH_SECONDS``, as a strategy in a loop
or a replay does), what they showed stands in for the read; otherwise it is read.

What the stand-in can miss is an order another client placed in the symbol during that
moment. It changes nothing unless the close's answer is then lost: the close is never
sent again either way, and a close that arrived is newer than such an order, so it is
still the one found. Only when the close never arrived could the other client's order
be taken for it, where a read just before would have said "nothing closed"; the window
for that is ``FRESH_SECONDS`` instead of one round trip, and only a market order (of the
quantity asked, when one was) is taken for a close.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..rules import rfc3339
from . import frames

#: How long an answer's view of a symbol's newest orders stands in for reading them.
FRESH_SECONDS = 1.0


class NewestOrders:
    """Per symbol: the ids submitted at the newest time this client knows, and when it
    learnt that (thread-safe; ``clock`` is injectable for tests)."""

    def __init__(
        self, fresh_seconds: float = FRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fresh_seconds = fresh_seconds
        self._clock = clock
        self._known: dict[str, tuple[set[str], pd.Timestamp, float]] = {}
        self._lock = threading.Lock()

    def recent(self, symbol: str) -> tuple[set[str], str] | None:
        """``(ids, since)`` as ``Orders._order_ids`` reads them, if known freshly enough."""
        with self._lock:
            known = self._known.get(symbol)
            if known is None or self._clock() - known[2] > self.fresh_seconds:
                return None
            ids, newest = set(known[0]), known[1]
        return ids, rfc3339(newest - pd.Timedelta(1, "us"))

    def read(self, symbol: str, records: Iterable[Mapping[str, Any]]) -> None:
        """What a read of the symbol's newest orders found (any order, newest first)."""
        with self._lock:
            self._known.pop(symbol, None)
        self.saw(records)

    def saw(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Orders an answer showed (with their legs): the newest of each symbol is kept."""
        now = self._clock()
        with self._lock:
            for record in frames.flatten_orders(records):
                symbol = record.get("symbol")
                submitted = frames.timestamp(record.get("submitted_at"))
                if not symbol:
                    continue
                if submitted is None:  # no time to order it by: read next time
                    self._known.pop(symbol, None)
                    continue
                known = self._known.get(symbol)
                if known is None or submitted > known[1]:
                    self._known[symbol] = ({record["id"]}, submitted, now)
                elif submitted == known[1]:
                    known[0].add(record["id"])
                    self._known[symbol] = (known[0], submitted, now)

    def forget(self) -> None:
        """Orders appeared that no answer showed one by one (``close_all_positions``)."""
        with self._lock:
            self._known.clear()
