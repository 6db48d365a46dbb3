"""A small live table: the tail of a :class:`LiveFrame`, redrawn as messages arrive.

Redraws are throttled (at most one per ``interval``, and a last one after a burst) so a
stream of thousands of quotes a second costs a few renders a second, not one per quote.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as widgets


class LiveTable(widgets.VBox):
    """``frame.table(rows=10)``: a title line and the last ``rows`` rows as HTML."""

    def __init__(self, frame: Any, *, rows: int = 10, interval: float = 0.25) -> None:
        self.frame = frame
        self.rows = rows
        self.interval = interval
        self.title = widgets.HTML()
        self.body = widgets.HTML()
        super().__init__([self.title, self.body])
        self._last = 0.0
        self._pending: threading.Timer | None = None
        self._lock = threading.Lock()
        self.render()
        frame.listen(self._changed)

    def render(self) -> None:
        """Draw the current tail now."""
        frame = self.frame
        tail = frame.df.tail(self.rows)
        state = (
            "closed" if frame.closed else ("failed: " + str(frame.error) if frame.error else "live")
        )
        self.title.value = (
            f"<b>{frame.label}</b> {', '.join(frame.symbols)} · {state} · "
            f"{frame.received:,} received"
        )
        self.body.value = tail.to_html(float_format=lambda v: f"{v:,.4g}", border=0)
        self._last = time.monotonic()

    def _changed(self, _frame: Any) -> None:
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait <= 0:
                self.render()
            elif self._pending is None:  # draw once more after the burst
                self._pending = threading.Timer(wait, self._trailing)
                self._pending.daemon = True
                self._pending.start()

    def _trailing(self) -> None:
        with self._lock:
            self._pending = None
            self.render()
