"""A background timer that calls a widget's ``refresh()`` until told to stop.

The widgets keep their logic in ``refresh()`` (tests call it directly, so they are
deterministic); this thread only decides *when*. It is a daemon, sleeps on an
``Event`` so ``stop()`` takes effect at once, stops itself when ``tick`` returns
``False`` (an order reached a final status), and never lets an exception kill the
kernel's output: the error goes to ``on_error`` (the widget's message line).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Poller:
    """Call ``tick()`` every ``seconds`` on a daemon thread until it returns False or ``stop()``."""

    def __init__(
        self,
        seconds: float,
        tick: Callable[[], bool | None],
        on_error: Callable[[Exception], None] | None = None,
        *,
        name: str = "trading-kit-poller",
    ) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds!r}.")
        self.seconds = seconds
        self._tick = tick
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the timer and wait (briefly) for a tick in progress to finish."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                if self._tick() is False:
                    return
            except Exception as failure:  # shown in the widget, never silently dropped
                if self._on_error is not None:
                    self._on_error(failure)
