"""Callback registrations, their deliveries and each delivery's attempts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from .interface import Callback, Delivery
from .rows import fetch_all, fetch_one, inserted_id, time_from_text, time_to_text
from .writer import SqliteDatabase


def _callback(row: dict[str, Any]) -> Callback:
    return Callback(row["id"], row["siren"], row["url"], row["secret"], row["owner_fingerprint"],
                    row["owner_name"], row["since_event"], time_from_text(row["created_at"]),
                    None if row["deleted_at"] is None else time_from_text(row["deleted_at"]))


def add_callback(db: Database, *, siren: str, url: str, secret: str, owner_fingerprint: str,
                 owner_name: str, created_at: datetime) -> Callback:
    cursor = db.execute(
        "insert into callbacks (siren, url, secret, owner_fingerprint, owner_name, since_event,"
        " created_at) values (?, ?, ?, ?, ?, ?, ?)",
        [siren, url, secret, owner_fingerprint, owner_name, last_journal_id(db), time_to_text(created_at)])
    found = get_callback(db, inserted_id(cursor.lastrowid))
    assert found is not None
    return found


def get_callback(db: Database, callback_id: int) -> Callback | None:
    row = fetch_one(db, "select * from callbacks where id = ?", [callback_id])
    return None if row is None else _callback(row)


def callbacks(db: Database, *, sirens: Iterable[str] | None = None,
              include_deleted: bool = False) -> list[Callback]:
    clauses, params = [], []
    if not include_deleted:
        clauses.append("deleted_at is null")
    if sirens is not None:
        wanted = sorted(sirens)
        clauses.append(f"siren in ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    where = f" where {' and '.join(clauses)}" if clauses else ""
    return [_callback(r) for r in fetch_all(db, f"select * from callbacks{where} order by id", params)]


def delete_callback(db: Database, callback_id: int, at: datetime) -> None:
    """Retire a registration: nothing more is sent to it, its journal stays."""
    db.execute("update callbacks set deleted_at = ? where id = ? and deleted_at is null",
               [time_to_text(at), callback_id])
    db.execute("update callback_deliveries set state = 'cancelled', next_attempt_at = null"
               " where callback_id = ? and state = 'pending'", [callback_id])


def journal_after(db: Database, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Journal events past the outbox cursor with what a notification tells of them."""
    return fetch_all(db, """
        select j.id as event_id, j.transaction_id, j.at, j.from_status, j.to_status, j.actor,
               j.message, t.type, t.siren, t.id_acte, t.related_transaction_id,
               m.code as message_code, m.direction as message_direction, m.file_name
        from journal j join transactions t on t.id = j.transaction_id
        left join messages m on m.id = j.message_id
        where j.id > ? order by j.id limit ?""", [after_id, limit])


def last_journal_id(db: Database) -> int:
    row = fetch_one(db, "select seq from sqlite_sequence where name = 'journal'", [])
    return 0 if row is None else int(row["seq"])


def add_delivery(db: Database, *, callback_id: int, event_id: int, transaction_id: int,
                 payload: dict[str, Any], created_at: datetime) -> None:
    db.execute("insert or ignore into callback_deliveries (callback_id, event_id, transaction_id,"
               " payload, state, next_attempt_at, created_at) values (?, ?, ?, ?, 'pending', ?, ?)",
               [callback_id, event_id, transaction_id, json.dumps(payload, ensure_ascii=False),
                time_to_text(created_at), time_to_text(created_at)])


def due_deliveries(db: Database, now: datetime, *, per_callback: int,
                   skip: Iterable[int] = ()) -> list[Delivery]:
    """Pending deliveries due by `now` (simulator clock), oldest due first: at most
    `per_callback` of each live registration, each read through its own index range, so a
    pass costs what the registrations are, not the backlog. `skip`: ids being delivered."""
    skipped = sorted(skip)
    rows = fetch_all(db, f"""
        select d.id, d.callback_id, c.siren, c.url, c.secret, d.event_id, d.payload, d.attempts
        from callbacks c join callback_deliveries d on d.id in (
            select x.id from callback_deliveries x
            where x.callback_id = c.id and x.state = 'pending' and x.next_attempt_at <= ?
              and x.id not in ({', '.join('?' * len(skipped))})
            order by x.next_attempt_at, x.id limit ?)
        where c.deleted_at is null order by d.next_attempt_at, d.id""",
                     [time_to_text(now), *skipped, per_callback])
    return [Delivery(**r) for r in rows]


def rewind_deliveries(db: Database, now: datetime) -> int:
    """A clock set back: pending deliveries due later than `now` become due at `now` (what
    happened stays told; a retry's wait does not grow by the jump)."""
    return db.execute("update callback_deliveries set next_attempt_at = ?"
                      " where state = 'pending' and next_attempt_at > ?",
                      [time_to_text(now), time_to_text(now)]).rowcount


def record_attempt(db: Database, delivery_id: int, *, at: datetime, real_at: datetime,
                   status: int | None, error: str | None, duration_ms: int, state: str,
                   next_attempt_at: datetime | None) -> None:
    """One POST and its result, at `at` on the simulator's clock and `real_at` in real time;
    the delivery moves on (delivered, failed, or retried later)."""
    cursor = db.execute(
        "update callback_deliveries set attempts = attempts + 1, state = ?, next_attempt_at = ?"
        " where id = ? and state = 'pending'",
        [state, None if next_attempt_at is None else time_to_text(next_attempt_at), delivery_id])
    if cursor.rowcount != 1:  # cancelled or wiped meanwhile: nothing to record against
        return
    attempt = fetch_one(db, "select attempts from callback_deliveries where id = ?", [delivery_id])
    assert attempt is not None
    db.execute("insert into callback_attempts (delivery_id, attempt, at, real_at, status, error,"
               " duration_ms) values (?, ?, ?, ?, ?, ?, ?)",
               [delivery_id, attempt["attempts"], time_to_text(at), time_to_text(real_at), status,
                error, duration_ms])


def deliveries(db: Database, *, callback_id: int | None = None, transaction_id: int | None = None,
               state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries newest first, each with its attempts in order."""
    clauses, params = [], []
    for column, value in (("d.callback_id", callback_id), ("d.transaction_id", transaction_id),
                          ("d.state", state)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" where {' and '.join(clauses)}" if clauses else ""
    found = fetch_all(db, f"""
        select d.*, c.url, c.siren from callback_deliveries d join callbacks c on c.id = d.callback_id
        {where} order by d.id desc limit ?""", [*params, limit])
    attempts: dict[int, list[dict[str, Any]]] = {}
    if found:
        ids = [d["id"] for d in found]
        for a in fetch_all(db, f"select * from callback_attempts where delivery_id in"
                               f" ({', '.join('?' * len(ids))}) order by id", ids):
            attempts.setdefault(a["delivery_id"], []).append(
                {"attempt": a["attempt"], "at": a["at"], "real_at": a["real_at"],
                 "status": a["status"], "error": a["error"], "duration_ms": a["duration_ms"]})
    return [{"id": d["id"], "callback_id": d["callback_id"], "url": d["url"], "siren": d["siren"],
             "event_id": d["event_id"], "transaction_id": d["transaction_id"],
             "payload": json.loads(d["payload"]), "state": d["state"], "attempts": d["attempts"],
             "next_attempt_at": d["next_attempt_at"], "created_at": d["created_at"],
             "history": attempts.get(d["id"], [])} for d in found]


def clear_callbacks(db: Database) -> None:
    """Every registration and its deliveries (a reset for a test suite)."""
    for table in ("callback_attempts", "callback_deliveries", "callbacks"):
        db.execute(f"delete from {table}")


class CallbackTables(SqliteDatabase):
    """`callbacks`, `callback_deliveries` and `callback_attempts`, as named store methods."""

    def add_callback(self, *, siren: str, url: str, secret: str, owner_fingerprint: str,
                     owner_name: str, created_at: datetime) -> Callback:
        """Register a URL; it is told of journal events from now on."""
        return self.run_write(lambda db: add_callback(
            db, siren=siren, url=url, secret=secret, owner_fingerprint=owner_fingerprint,
            owner_name=owner_name, created_at=created_at))

    def get_callback(self, callback_id: int) -> Callback | None:
        return self.run_read(lambda db: get_callback(db, callback_id))

    def callbacks(self, *, sirens: Iterable[str] | None = None,
                  include_deleted: bool = False) -> list[Callback]:
        return self.run_read(lambda db: callbacks(db, sirens=sirens,
                                                    include_deleted=include_deleted))

    def delete_callback(self, callback_id: int, at: datetime) -> None:
        """Retire a registration: nothing more is sent to it, its journal stays."""
        self.run_write(lambda db: delete_callback(db, callback_id, at))

    def journal_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Journal events past the outbox cursor with what a notification tells of them."""
        return self.run_read(lambda db: journal_after(db, after_id, limit))

    def last_journal_id(self) -> int:
        return self.run_read(last_journal_id)

    def add_delivery(self, *, callback_id: int, event_id: int, transaction_id: int,
                     payload: dict[str, Any], created_at: datetime) -> None:
        """A notification to POST (once per registration and event)."""
        self.run_write(lambda db: add_delivery(
            db, callback_id=callback_id, event_id=event_id, transaction_id=transaction_id,
            payload=payload, created_at=created_at))

    def due_deliveries(self, now: datetime, *, per_callback: int,
                       skip: Iterable[int] = ()) -> list[Delivery]:
        """Pending deliveries due by `now`, at most `per_callback` per live registration."""
        return self.run_read(lambda db: due_deliveries(db, now, per_callback=per_callback,
                                                         skip=skip))

    def rewind_deliveries(self, now: datetime) -> int:
        """A clock set back: pending deliveries due later than `now` become due at `now`."""
        return self.run_write(lambda db: rewind_deliveries(db, now))

    def record_attempt(self, delivery_id: int, *, at: datetime, real_at: datetime,
                       status: int | None, error: str | None, duration_ms: int, state: str,
                       next_attempt_at: datetime | None) -> None:
        """One POST and its result; the delivery moves on."""
        self.run_write(lambda db: record_attempt(
            db, delivery_id, at=at, real_at=real_at, status=status, error=error,
            duration_ms=duration_ms, state=state, next_attempt_at=next_attempt_at))

    def deliveries(self, *, callback_id: int | None = None, transaction_id: int | None = None,
                   state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries newest first, each with its attempts in order."""
        return self.run_read(lambda db: deliveries(db, callback_id=callback_id,
                                                     transaction_id=transaction_id, state=state,
                                                     limit=limit))

    def clear_callbacks(self) -> None:
        """Every registration and its deliveries (a reset for a test suite)."""
        self.run_write(clear_callbacks)
