"""What scheduled scenario events do, and the reset to a clean state without a restart.

The two event kinds scenarios schedule go through the préfecture's own functions, the ones its
dashboard and admin API use: "answer" (the delayed ARActe or AnomalieActe of a held act) and
"letter" (2-1, 3-1, 4-1 or the 5-1 déféré about an acknowledged act).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol.codes import AnomalieNature
from ..store.interface import ScheduledEvent as Event
from ..store.interface import SimulatorStore
from .kernel import RequestRefused
from .prefecture import Prefecture
from .scenarios import ScenarioBook
from .scheduler import EventSkipped, Handler, Scheduler

ACTOR = "prefecture (scénario)"


def scenario_handlers(prefecture: Prefecture) -> Mapping[str, Handler]:
    """The handlers of "answer" and "letter" events, over `prefecture`."""

    async def answer(event: Event) -> str:
        assert event.transaction_id is not None
        anomalie = event.payload.get("anomalie")
        try:
            if anomalie is None:
                outcome = await prefecture.acknowledge(event.transaction_id, actor=ACTOR)
            else:
                outcome = await prefecture.reject(event.transaction_id, AnomalieNature(anomalie[0]),
                                                  anomalie[1], actor=ACTOR)
        except RequestRefused as refused:
            raise EventSkipped(refused.message_en) from refused
        return f"{outcome.code} sent for transaction {event.transaction_id}"

    async def letter(event: Event) -> str:
        assert event.transaction_id is not None
        code = event.payload["code"]
        try:
            outcome = await prefecture.send_letter(event.transaction_id, code,
                                                   text=event.payload.get("text", ""), actor=ACTOR)
        except RequestRefused as refused:
            raise EventSkipped(refused.message_en) from refused
        return f"{code} sent as transaction {outcome.transaction.id}"

    return {"answer": answer, "letter": letter}


@dataclass(frozen=True)
class ResetReport:
    rules: int
    events_cleared: int
    transactions_cleared: bool
    callbacks_cleared: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def reset(book: ScenarioBook, scheduler: Scheduler, *, transactions: bool = True,
                callbacks: bool = True) -> ResetReport:
    """Back to a clean state: the file's rules, no scheduled event, and by default no
    transaction (with their messages, journal, deliveries and the request journal) and no
    callback registration. Collectivités, counters (TSA serials, message numbers) and ids stay:
    nothing issued before is ever issued again."""
    store = scheduler.store
    async with scheduler.paused():
        rules = await book.reset()

        def wipe(s: SimulatorStore) -> int:
            cleared = s.clear_events()
            if transactions:
                s.wipe_transactions()
            if callbacks:
                s.clear_callbacks()
            return cleared

        cleared = await store.call(lambda s: s.atomic(lambda: wipe(s)))
    return ResetReport(len(rules), cleared, transactions, callbacks)


__all__ = ["ResetReport", "reset", "scenario_handlers"]
