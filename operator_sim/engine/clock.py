"""The one source of time: a `Clock` is passed to whatever needs "now".

Owns the real clock and the virtual one CI drives (set/advance), and the rule that a
DateReception is a French calendar date (Europe/Paris). Nothing else may read the wall clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def paris_date(at: datetime) -> date:
    """The French calendar day of an instant: 23:30 UTC on 14 July is already the 15th in Paris."""
    if at.tzinfo is None:
        raise ValueError("an instant must be timezone-aware")
    return at.astimezone(PARIS).date()


def _aware_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("clock times must be timezone-aware")
    return at.astimezone(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """The current day in Europe/Paris (what DateReception and dates in messages carry)."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return paris_date(self.now())


class VirtualClock:
    """Time that stands still until told: `advance` only moves forward, `set` may jump anywhere.

    Thread-safe, so the admin API, the engine and background tasks may share one.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _aware_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def today(self) -> date:
        return paris_date(self.now())

    def set(self, at: datetime) -> datetime:
        """Jump to `at`, backwards included (an explicit operator decision)."""
        with self._lock:
            self._now = _aware_utc(at)
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`; a negative delta is refused (use `set` to go back)."""
        if delta < timedelta(0):
            raise ValueError("a virtual clock only advances; use set() to go back in time")
        with self._lock:
            self._now += delta
            return self._now
