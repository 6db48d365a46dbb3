"""The exchange's notion of "now": the wall clock, or a manual clock that tests step.

Everything time-dependent in the exchange (fills, expiries, which bars exist) asks a
``Clock``; swapping in a ``ManualClock`` makes a whole session reproducible.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

import pandas as pd

from trading_kit.exchange.calendar import to_utc


class Clock(Protocol):
    def now(self) -> pd.Timestamp:
        """Tz-aware UTC, truncated to the microsecond."""
        ...


class RealtimeClock:
    """The wall clock."""

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC").floor("us")

    def __repr__(self) -> str:
        return "RealtimeClock()"


class ManualClock:
    """Time moves only when told, and never backwards (orders and fills must stay causal)."""

    def __init__(self, start: pd.Timestamp | dt.datetime | str) -> None:
        self._now = to_utc(start).floor("us")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"

    def now(self) -> pd.Timestamp:
        with self._lock:
            return self._now

    def set(self, t: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
        """Jump to ``t``; raises ValueError if ``t`` is before the current time."""
        target = _whole_microseconds(t)
        with self._lock:
            if target < self._now:
                raise ValueError(f"clock cannot move backwards: {target} < {self._now}")
            self._now = target
            return target

    def advance(self, delta: dt.timedelta | pd.Timedelta | str) -> pd.Timestamp:
        """Move forward by ``delta`` (a timedelta or a string such as "5min", "1h")."""
        step = pd.Timedelta(delta)
        if step < pd.Timedelta(0):
            raise ValueError(f"clock cannot move backwards: advance({delta!r})")
        with self._lock:
            self._now = (self._now + step).floor("us")
            return self._now


def _whole_microseconds(t: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
    """``t`` in UTC, truncated to the microsecond (a replay steps the clock a million
    times with times already so: they are taken as they are)."""
    if isinstance(t, pd.Timestamp) and t.tzinfo is dt.timezone.utc and t.value % 1000 == 0:
        return t
    return to_utc(t).floor("us")
