"""The stream thread: one event loop on a daemon thread reads every websocket of the process.

A second one, ``callbacks``, runs the handlers registered where no event loop was
running (a plain script), so a slow handler never holds up the sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

from ..errors import StreamError

T = TypeVar("T")


class StreamLoop:
    """A daemon thread running an event loop, started on first use (one per name)."""

    _instances: ClassVar[dict[str, StreamLoop]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name=f"trading-kit-{name}", daemon=True
        )
        self.thread.start()

    @classmethod
    def get(cls, name: str = "streams") -> StreamLoop:
        """The loop called ``name``: ``streams`` reads sockets, ``callbacks`` runs handlers
        that were registered outside any event loop (a plain script)."""
        with cls._lock:
            if name not in cls._instances:
                cls._instances[name] = cls(name)
            return cls._instances[name]

    @property
    def here(self) -> bool:
        return threading.current_thread() is self.thread

    def run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``work`` on the stream loop and wait for it (never from the loop itself)."""
        if self.here:
            work.close()
            raise RuntimeError("StreamLoop.run() called from the stream thread; use spawn()")
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StreamError(
                f"the stream did not answer within {timeout:g} s; check that the server is "
                "reachable (nothing was left half-subscribed)."
            ) from None

    def spawn(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(work, self.loop)
