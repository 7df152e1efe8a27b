"""Outcomes due later on the clock (a delayed AR, a letter N days after), fired in due order,
each exactly once.

Events are rows (due_at, kind, payload, fired_at): a restart loses none, and claiming one is a
compare-and-set on fired_at, so two firers never both run it. Moving a virtual clock steps
through the events it passes, the clock set to each one's due time, so what they produce is
dated when it was due. With either clock, `run()` (a background task) fires what is due.
Whoever else keeps time on the clock (the callback outbox) is told of each move (`on_moved`).
A crash between claiming an event and finishing it leaves it "running": it never fires twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from ..store.interface import AsyncSimulatorStore, ScheduledEvent
from .clock import Clock, VirtualClock

log = logging.getLogger(__name__)
Handler = Callable[[ScheduledEvent], Awaitable[str]]
"""Performs one event and says what it did; raises `EventSkipped` when it no longer applies."""
MoveListener = Callable[[dt.datetime], Awaitable[None]]
"""Told, with the time before, once a virtual clock was moved and what it passed fired."""


class EventSkipped(Exception):
    """The event's moment passed without effect (e.g. the act was answered by hand meanwhile)."""


class ClockNotVirtual(Exception):
    """Only a virtual clock can be set or advanced."""


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
"""The span a virtual clock moves within: what it dates, and events due up to a century after
(the longest scenario delay), stay within the dates Python and the store can write."""


class ClockOutOfRange(ValueError):
    """A move that would take a virtual clock outside EARLIEST–LATEST; nothing moved."""


class Scheduler:
    """Fires due events through the handler registered for their kind."""

    def __init__(self, store: AsyncSimulatorStore, clock: Clock, handlers: Mapping[str, Handler], *,
                 poll_seconds: float = 0.5) -> None:
        self.store = store
        self.clock = clock
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.on_moved: list[MoveListener] = []
        self._lock: asyncio.Lock | None = None

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    def _virtual_clock(self) -> VirtualClock:
        if not isinstance(self.clock, VirtualClock):
            raise ClockNotVirtual("the clock is real: start with clock = virtual to move it")
        return self.clock

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Nothing fires inside this block (a reset clears events under it)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            yield

    async def fire_due(self) -> list[ScheduledEvent]:
        """Fire every event due now, in due order."""
        async with self.paused():
            return await self._fire_until(self.clock.now(), step=False)

    async def advance(self, delta: dt.timedelta) -> tuple[dt.datetime, list[ScheduledEvent]]:
        """Move a virtual clock forward, firing what it passes; ValueError if `delta` < 0."""
        clock = self._virtual_clock()
        if delta < dt.timedelta(0):
            raise ValueError("a virtual clock only advances; set it to go back in time")
        if delta > LATEST - clock.now():
            raise ClockOutOfRange(f"the clock cannot go past {LATEST.isoformat()}")
        async with self.paused():
            before = clock.now()
            target = before + delta
            fired = await self._fire_until(target, step=True)
            return await self._moved(before, clock.set(max(clock.now(), target))), fired

    async def set(self, at: dt.datetime) -> tuple[dt.datetime, list[ScheduledEvent]]:
        """Set a virtual clock (backwards too), firing what becomes due on the way."""
        clock = self._virtual_clock()
        if not EARLIEST <= at <= LATEST:
            raise ClockOutOfRange(f"the clock goes from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
        async with self.paused():
            before = clock.now()
            fired = await self._fire_until(at, step=True)
            return await self._moved(before, clock.set(at)), fired

    async def _moved(self, before: dt.datetime, now: dt.datetime) -> dt.datetime:
        """Persist the virtual clock's new time (a restart resumes from it, not from the
        start), then tell the listeners before the move is answered."""
        await self.store.call(lambda s: s.save_virtual_clock(now))
        for listener in self.on_moved:
            await listener(before)
        return now

    async def _fire_until(self, until: dt.datetime, *, step: bool) -> list[ScheduledEvent]:
        fired = []
        while (event := await self.store.query(lambda s: s.next_due_event(until))) is not None:
            if step and event.due_at > self.clock.now():
                self._virtual_clock().set(event.due_at)
            done = await self._fire(event)
            if done is not None:
                fired.append(done)
        return fired

    async def _fire(self, event: ScheduledEvent) -> ScheduledEvent | None:
        at = self.clock.now()
        if not await self.store.call(lambda s: s.claim_event(event.id, at)):
            return None  # another firer took it
        handler = self.handlers.get(event.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for events of kind {event.kind!r}")
            outcome, result = "done", await handler(event)
        except EventSkipped as skipped:
            outcome, result = "skipped", str(skipped)
        except Exception as exc:
            log.exception("scheduled event %s (%s) failed", event.id, event.kind)
            outcome, result = "failed", f"{type(exc).__name__}: {exc}"
        await self.store.call(lambda s: s.finish_event(event.id, outcome, result))
        return dataclasses.replace(event, fired_at=at, outcome=outcome, result=result)

    async def run(self) -> None:
        """Fire due events until cancelled (the real clock's way; harmless with a virtual one)."""
        while True:
            try:
                await self.fire_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduler's pass failed; trying again")
            await asyncio.sleep(self.poll_seconds)


__all__ = ["ClockNotVirtual", "EventSkipped", "Handler", "MoveListener", "Scheduler"]
