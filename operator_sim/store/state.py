"""A small name → value state (the callback outbox cursor, the rules' seeding mark) and the
saved position of the virtual clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from .rows import fetch_one, time_from_text, time_to_text


def state_get(db: Database, name: str) -> str | None:
    row = fetch_one(db, "select value from simulator_state where name = ?", [name])
    return None if row is None else str(row["value"])


def state_set(db: Database, name: str, value: str) -> None:
    db.execute("insert into simulator_state (name, value) values (?, ?)"
               " on conflict (name) do update set value = excluded.value", [name, value])


VIRTUAL_CLOCK = "virtual_clock"


def save_virtual_clock(db: Database, at: datetime) -> None:
    """Remember where the virtual clock stands, so a restart resumes there."""
    db.execute("insert into settings (name, value) values (?, ?) on conflict (name) "
               "do update set value = excluded.value", [VIRTUAL_CLOCK, time_to_text(at)])


def saved_virtual_clock(db: Database) -> datetime | None:
    row = fetch_one(db, "select value from settings where name = ?", [VIRTUAL_CLOCK])
    return None if row is None else time_from_text(row["value"])
