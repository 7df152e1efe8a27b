"""Scheduled events: what the simulation does later on its clock (a préfecture answer, a step)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from .interface import ScheduledEvent
from .rows import fetch_all, fetch_one, inserted_id, time_from_text, time_to_text
from .writer import SqliteDatabase


def _event(row: dict[str, Any]) -> ScheduledEvent:
    return ScheduledEvent(row["id"], time_from_text(row["due_at"]), row["kind"], row["transaction_id"],
                          json.loads(row["payload"]), time_from_text(row["created_at"]),
                          None if row["fired_at"] is None else time_from_text(row["fired_at"]),
                          row["outcome"], row["result"])


def schedule_event(db: Database, *, due_at: datetime, kind: str, transaction_id: int | None,
                   payload: dict[str, Any], created_at: datetime) -> int:
    cursor = db.execute(
        "insert into scheduled_events (due_at, kind, transaction_id, payload, created_at)"
        " values (?, ?, ?, ?, ?)",
        [time_to_text(due_at), kind, transaction_id, json.dumps(payload, ensure_ascii=False),
         time_to_text(created_at)])
    return inserted_id(cursor.lastrowid)


def next_due_event(db: Database, until: datetime) -> ScheduledEvent | None:
    """The earliest pending event due at or before `until` (ties: the first scheduled)."""
    row = fetch_one(db, "select * from scheduled_events where fired_at is null and due_at <= ?"
                        " order by due_at, id limit 1", [time_to_text(until)])
    return None if row is None else _event(row)


def pending_summary(db: Database) -> tuple[int, datetime | None]:
    """How many events wait, and when the first is due."""
    row = fetch_one(db, "select count(*) as n, min(due_at) as due from scheduled_events"
                        " where fired_at is null", [])
    assert row is not None
    return row["n"], None if row["due"] is None else time_from_text(row["due"])


def claim_event(db: Database, event_id: int, at: datetime) -> bool:
    """Mark an event fired; False when someone else already did (it must not fire twice)."""
    cursor = db.execute("update scheduled_events set fired_at = ? where id = ? and fired_at is null",
                        [time_to_text(at), event_id])
    return cursor.rowcount == 1


def finish_event(db: Database, event_id: int, outcome: str, result: str) -> None:
    db.execute("update scheduled_events set outcome = ?, result = ? where id = ?",
               [outcome, result, event_id])


def events(db: Database, *, state: str | None = None, transaction_id: int | None = None,
           limit: int = 100) -> list[ScheduledEvent]:
    """Events in due order; `state` pending or fired narrows them."""
    clauses, params = [], []
    if state == "pending":
        clauses.append("fired_at is null")
    elif state == "fired":
        clauses.append("fired_at is not null")
    if transaction_id is not None:
        clauses.append("transaction_id = ?")
        params.append(transaction_id)
    where = f" where {' and '.join(clauses)}" if clauses else ""
    return [_event(r) for r in fetch_all(db, f"select * from scheduled_events{where}"
                                             " order by due_at, id limit ?", [*params, limit])]


def clear_events(db: Database) -> int:
    return db.execute("delete from scheduled_events").rowcount


class ScheduleTables(SqliteDatabase):
    """`scheduled_events`, as named store methods."""

    def schedule_event(self, *, due_at: datetime, kind: str, transaction_id: int | None,
                       payload: dict[str, Any], created_at: datetime) -> int:
        return self.run_write(lambda db: schedule_event(
            db, due_at=due_at, kind=kind, transaction_id=transaction_id, payload=payload,
            created_at=created_at))

    def next_due_event(self, until: datetime) -> ScheduledEvent | None:
        """The earliest pending event due at or before `until` (ties: the first scheduled)."""
        return self.run_read(lambda db: next_due_event(db, until))

    def pending_summary(self) -> tuple[int, datetime | None]:
        """How many events wait, and when the first is due."""
        return self.run_read(pending_summary)

    def claim_event(self, event_id: int, at: datetime) -> bool:
        """Mark an event fired; False when someone else already did (it must not fire twice)."""
        return self.run_write(lambda db: claim_event(db, event_id, at))

    def finish_event(self, event_id: int, outcome: str, result: str) -> None:
        self.run_write(lambda db: finish_event(db, event_id, outcome, result))

    def events(self, *, state: str | None = None, transaction_id: int | None = None,
               limit: int = 100) -> list[ScheduledEvent]:
        """Events in due order; `state` pending or fired narrows them."""
        return self.run_read(lambda db: events(db, state=state, transaction_id=transaction_id,
                                                 limit=limit))

    def clear_events(self) -> int:
        """Drop every scheduled event; how many there were."""
        return self.run_write(clear_events)
