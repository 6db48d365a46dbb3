"""Orders in submission order, so that a page of ``GET /v2/orders`` costs its page.

Alpaca lists orders by submission time (ties by id), newest first unless asked. Filtering
and sorting every order the account ever had for each request made a replay's
``close_position`` (which reads a symbol's newest orders) slower with every order before
it. An order's submission time never changes, so the timeline keeps orders sorted as
they are added, and a request walks it from the end it asks for, between ``after`` and
``until``, until its page is full.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from .matching import ns
from .orders import Order

_LAST_ID = "\U0010ffff"  # sorts after every order id: (t, _LAST_ID) follows every order at t


def submitted_key(order: Order) -> tuple[int, str]:
    """The listing order: submission time (creation time before submission), then id."""
    return ns(order.submitted_at or order.created_at), order.id


class Timeline:
    """Orders sorted by :func:`submitted_key`."""

    def __init__(self) -> None:
        self._keys: list[tuple[int, str]] = []
        self._orders: list[Order] = []

    def __len__(self) -> int:
        return len(self._orders)

    def add(self, order: Order) -> None:
        key = submitted_key(order)
        i = bisect.bisect(self._keys, key)  # usually the end: orders come in time order
        self._keys.insert(i, key)
        self._orders.insert(i, order)

    def walk(
        self, after: int | None = None, until: int | None = None, newest_first: bool = True
    ) -> Iterator[Order]:
        """Orders submitted strictly after ``after`` and before ``until`` (UTC ns)."""
        lo = 0 if after is None else bisect.bisect(self._keys, (after, _LAST_ID))
        hi = len(self._keys) if until is None else bisect.bisect_left(self._keys, (until, ""))
        positions = range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi)
        orders = self._orders
        for i in positions:
            yield orders[i]
