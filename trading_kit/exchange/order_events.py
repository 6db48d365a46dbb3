"""Trade updates derived from what each operation changed (a stand-in for engine events).

``Exchange.run`` writes the engine's ``Changes`` (the orders it touched, the fills it
booked), then hands them here: an order seen for the first time is ``new``, each fill is
``fill`` or ``partial_fill`` (with its price, qty and the position after it), and an
order reaching ``canceled``, ``expired``, ``replaced``, ``rejected`` or
``done_for_day`` is that event. Each update carries the order as ``GET /v2/orders/{id}``
renders it after the operation. The engine's own typed events (engine10) replace this.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..rules import rfc3339
from .wire import decimal_str

#: Statuses that are an event of their own when an order reaches them.
STATUS_EVENTS = frozenset({"canceled", "expired", "replaced", "rejected", "done_for_day"})
_RANK = {"replaced": 0, "new": 1, "partial_fill": 2, "fill": 2}  # within one instant


class OrderEvents:
    """Remembers each order's last status, to tell what an operation changed."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._status = {order_id: order.status for order_id, order in engine.orders.items()}

    def derive(self, orders: Iterable[Any], fills: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The trade updates (``data`` of Alpaca's messages) of one operation, in time order."""
        by_order: dict[str, list[dict[str, Any]]] = {}
        for fill in fills:
            by_order.setdefault(fill["order_id"], []).append(fill)
        after = self._positions_after(fills)
        events: list[tuple[str, int, dict[str, Any]]] = []
        for order in orders:
            rendered = self.engine.order_json(order)
            before = self._status.get(order.id)
            if before is None:
                when = rfc3339(order.submitted_at or order.created_at)
                events.append((when, _RANK["new"], _update("new", when, rendered)))
            for fill in by_order.get(order.id, []):
                update = _update(fill["type"], fill["transaction_time"], rendered)
                update.update(
                    execution_id=fill["id"].split("::")[-1],
                    price=fill["price"],
                    qty=fill["qty"],
                    position_qty=after[fill["id"]],
                )
                events.append((fill["transaction_time"], _RANK["fill"], update))
            if order.status in STATUS_EVENTS and before != order.status:
                when = rfc3339(order.updated_at or order.created_at)
                events.append(
                    (when, _RANK.get(order.status, 3), _update(order.status, when, rendered))
                )
            self._status[order.id] = order.status
        events.sort(key=lambda event: (event[0], event[1]))
        return [update for _, _, update in events]

    def _positions_after(self, fills: list[dict[str, Any]]) -> dict[str, str]:
        """Each fill's resulting position: the final one, walked back through later fills."""
        held = {symbol: position.qty for symbol, position in self.engine.positions.items()}
        after: dict[str, str] = {}
        for fill in reversed(fills):
            qty = held.get(fill["symbol"], Decimal(0))
            after[fill["id"]] = decimal_str(qty) or "0"
            signed = Decimal(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
            held[fill["symbol"]] = qty - signed
        return after


def _update(event: str, when: str | None, order: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "timestamp": when, "order": order}
