"""A small name → value state (the callback outbox cursor, the rules' seeding mark) and the
saved position of the virtual clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from .rows import fetch_one, time_from_text, time_to_text
from .writer import SqliteDatabase


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


class StateTables(SqliteDatabase):
    """`simulator_state` and `settings`, as named store methods."""

    def state(self, name: str) -> str | None:
        return self.run_read(lambda db: state_get(db, name))

    def set_state(self, name: str, value: str) -> None:
        self.run_write(lambda db: state_set(db, name, value))

    def save_virtual_clock(self, at: datetime) -> None:
        """Remember where the virtual clock stands, so a restart resumes there."""
        self.run_write(lambda db: save_virtual_clock(db, at))

    def saved_virtual_clock(self) -> datetime | None:
        return self.run_read(saved_virtual_clock)
