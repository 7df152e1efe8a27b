"""Rows the simulation machinery keeps beside the transactions: scenario rules and the rule that
decided each act, scheduled events, callback registrations and their deliveries, the request
journal, and a small name → value state (the callback outbox cursor, the rules' seeding mark).

Plain functions over a sqlite-utils `Database`: writes run inside `SqliteStore.run_write` (one
transaction each), reads through `SqliteStore.run_read`. Never reads the clock: times are passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from .database import fetch_all, fetch_one, time_from_text, time_to_text

# --- name → value state ---------------------------------------------------------------------------


def state_get(db: Database, name: str) -> str | None:
    row = fetch_one(db, "select value from simulator_state where name = ?", [name])
    return None if row is None else str(row["value"])


def state_set(db: Database, name: str, value: str) -> None:
    db.execute("insert into simulator_state (name, value) values (?, ?)"
               " on conflict (name) do update set value = excluded.value", [name, value])


# --- scenario rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRule:
    """One rule as stored: its JSON body, where it came from, how often it was used."""

    id: str
    origin: str  # "config" (seeded from the file) or "admin" (added through the API)
    body: dict[str, Any]
    hits: int


def rules(db: Database) -> list[StoredRule]:
    """Every rule in matching order (first match wins)."""
    return [StoredRule(r["id"], r["origin"], json.loads(r["body"]), r["hits"])
            for r in fetch_all(db, "select * from scenario_rules order by position", [])]


def replace_rules(db: Database, stored: Sequence[StoredRule]) -> None:
    """The whole ordered list at once (rules are few; positions stay 0…n-1)."""
    db.execute("delete from scenario_rules")
    for position, rule in enumerate(stored):
        db.execute("insert into scenario_rules (position, id, origin, body, hits)"
                   " values (?, ?, ?, ?, ?)",
                   [position, rule.id, rule.origin, json.dumps(rule.body, ensure_ascii=False),
                    rule.hits])


def take_hit(db: Database, rule_id: str, limit: int | None) -> bool:
    """Count one use of a rule; False (and nothing counted) once a limited rule is used up."""
    cursor = db.execute("update scenario_rules set hits = hits + 1 where id = ?"
                        " and (? is null or hits < ?)", [rule_id, limit, limit])
    return cursor.rowcount == 1


def record_application(db: Database, transaction_id: int, rule_id: str, decision: dict[str, Any],
                       corrupt_return: bool) -> None:
    db.execute("insert into scenario_applications (transaction_id, rule_id, decision, corrupt_return)"
               " values (?, ?, ?, ?)",
               [transaction_id, rule_id, json.dumps(decision, ensure_ascii=False), int(corrupt_return)])


def corrupts_return(db: Database, transaction_ids: Iterable[int]) -> bool:
    """Whether a rule asked to corrupt what the préfecture returns for any of these transactions."""
    ids = [i for i in transaction_ids if i is not None]
    if not ids:
        return False
    row = fetch_one(db, f"select 1 from scenario_applications where corrupt_return = 1 and transaction_id"
                        f" in ({', '.join('?' * len(ids))}) limit 1", ids)
    return row is not None


def application(db: Database, transaction_id: int) -> dict[str, Any] | None:
    row = fetch_one(db, "select * from scenario_applications where transaction_id = ?", [transaction_id])
    if row is None:
        return None
    return {"rule_id": row["rule_id"], "decision": json.loads(row["decision"]),
            "corrupt_return": bool(row["corrupt_return"])}


# --- scheduled events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledEvent:
    id: int
    due_at: datetime
    kind: str
    transaction_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    fired_at: datetime | None
    outcome: str | None  # None while pending or running; done, skipped or failed
    result: str | None

    @property
    def state(self) -> str:
        if self.fired_at is None:
            return "pending"
        return self.outcome or "running"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "due_at": self.due_at.isoformat(), "kind": self.kind,
                "transaction_id": self.transaction_id, "payload": self.payload,
                "created_at": self.created_at.isoformat(),
                "fired_at": None if self.fired_at is None else self.fired_at.isoformat(),
                "state": self.state, "result": self.result}


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
    return int(cursor.lastrowid)


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


# --- callbacks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    """A URL registered by an agent for a SIREN's status changes and préfecture messages."""

    id: int
    siren: str
    url: str
    secret: str
    owner_fingerprint: str
    owner_name: str
    since_event: int
    created_at: datetime
    deleted_at: datetime | None

    def to_dict(self, *, secret: bool = False) -> dict[str, Any]:
        data = {"id": self.id, "siren": self.siren, "url": self.url,
                "owner": {"name": self.owner_name, "fingerprint": self.owner_fingerprint},
                "created_at": self.created_at.isoformat(),
                "deleted_at": None if self.deleted_at is None else self.deleted_at.isoformat()}
        if secret:
            data["secret"] = self.secret
        return data


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
    found = get_callback(db, int(cursor.lastrowid))
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


@dataclass(frozen=True)
class Delivery:
    id: int
    callback_id: int
    siren: str
    url: str
    secret: str
    event_id: int
    payload: str  # the exact JSON text that is POSTed and signed
    attempts: int


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


# --- the request journal -----------------------------------------------------------------------

REQUEST_COLUMNS = ("at", "method", "path", "query", "status", "duration_ms", "remote", "subject",
                   "issuer", "serial", "fingerprint", "verdict", "indication", "sub_indication",
                   "identity", "transaction_id", "error_code", "scenario", "note")


def record_request(db: Database, entry: dict[str, Any]) -> int:
    values = dict(entry)
    values["at"] = time_to_text(values["at"])
    if values.get("identity") is not None:
        values["identity"] = json.dumps(values["identity"], ensure_ascii=False)
    cursor = db.execute(f"insert into requests ({', '.join(REQUEST_COLUMNS)}) values"
                        f" ({', '.join('?' * len(REQUEST_COLUMNS))})",
                        [values.get(c) for c in REQUEST_COLUMNS])
    return int(cursor.lastrowid)


def requests(db: Database, *, fingerprint: str | None = None, status: int | None = None,
             path: str | None = None, verdict: str | None = None, since: datetime | None = None,
             after: int | None = None, transaction_id: int | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
    """Journaled requests newest first; `path` is a prefix, `since` an instant on the clock."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("fingerprint", fingerprint), ("status", status), ("verdict", verdict),
                          ("transaction_id", transaction_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if path is not None:
        clauses.append("substr(path, 1, ?) = ?")
        params += [len(path), path]
    if since is not None:
        clauses.append("at >= ?")
        params.append(time_to_text(since))
    if after is not None:
        clauses.append("id > ?")
        params.append(after)
    where = f" where {' and '.join(clauses)}" if clauses else ""
    found = fetch_all(db, f"select * from requests{where} order by id desc limit ?", [*params, limit])
    for row in found:
        row["identity"] = None if row["identity"] is None else json.loads(row["identity"])
    return found


# --- reset --------------------------------------------------------------------------------------


def wipe_transactions(db: Database) -> None:
    """Delete every transaction and every row that hangs off one, the append-only journal too.

    The one sanctioned way rows leave the journal: an explicit reset to a clean state. Tables
    referencing `transactions` are found from the schema (so a later table is not forgotten);
    their append-only triggers are lifted and restored inside this same transaction, and
    foreign keys are checked at commit. AUTOINCREMENT keeps ids growing, so no id is reused.
    """
    wiped = {"transactions", "requests", "scheduled_events", "scenario_applications",
             "callback_deliveries", "callback_attempts",
             "transaction_counts", "transaction_totals"}  # their triggers are lifted below
    tables = [r["name"] for r in fetch_all(db, "select name from sqlite_master where type = 'table'"
                                               " and name not like 'sqlite_%'", [])]
    grown = True
    while grown:
        grown = False
        for table in tables:
            if table in wiped:
                continue
            targets = {r["table"] for r in fetch_all(db, "select * from pragma_foreign_key_list(?)", [table])}
            if targets & wiped:
                wiped.add(table)
                grown = True
    names = sorted(wiped & set(tables))
    triggers = fetch_all(db, f"select name, sql from sqlite_master where type = 'trigger' and tbl_name in"
                             f" ({', '.join('?' * len(names))})", names)
    db.execute("PRAGMA defer_foreign_keys = ON")
    for trigger in triggers:
        db.execute(f'drop trigger "{trigger["name"]}"')
    for table in names:
        db.execute(f'delete from "{table}"')
    for trigger in triggers:
        db.execute(trigger["sql"])


def clear_callbacks(db: Database) -> None:
    """Every registration and its deliveries (a reset for a test suite)."""
    for table in ("callback_attempts", "callback_deliveries", "callbacks"):
        db.execute(f"delete from {table}")


VIRTUAL_CLOCK = "virtual_clock"


def save_virtual_clock(db: Database, at: datetime) -> None:
    """Remember where the virtual clock stands, so a restart resumes there."""
    db.execute("insert into settings (name, value) values (?, ?) on conflict (name) "
               "do update set value = excluded.value", [VIRTUAL_CLOCK, time_to_text(at)])


def saved_virtual_clock(db: Database) -> datetime | None:
    row = fetch_one(db, "select value from settings where name = ?", [VIRTUAL_CLOCK])
    return None if row is None else time_from_text(row["value"])
