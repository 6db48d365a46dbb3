"""Replay backtests through the real paper order path, at event-driven-engine speed.

``replay(bars, strategy)`` steps a local exchange's manual clock over a DataFrame of
bars and hands the strategy each bar that closed, with a ``Kit`` whose requests go to
that exchange in this process (``transport``): no socket, same answers as over HTTP.

    runner     replay(): the step loop, the exchange's books read in process
    tape       what a strategy sees: Step, Bar and History (views, never the future)
    result     ReplayResult: equity, positions, fills, the journal, tearsheet()
    transport  ASGITransport: a requests transport that calls an ASGI app in process
"""

from .result import ReplayResult
from .runner import replay
from .tape import Bar, History, Step

__all__ = ["Bar", "History", "ReplayResult", "Step", "replay"]
