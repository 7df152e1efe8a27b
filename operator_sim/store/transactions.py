"""The transactions, their messages, documents and journal, the serial counters and the reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlite_utils import Database

from ..protocol.codes import TransactionStatus
from .interface import (
    DOCUMENT_ROLES,
    MAX_PAGE,
    SQLITE_MAX_INTEGER,
    DocumentRow,
    DuplicateActe,
    JournalEvent,
    MessageRow,
    MissingBlob,
    NewMessage,
    NewTransaction,
    NotFound,
    Page,
    StatusConflict,
    StoreError,
    TransactionFilter,
    TransactionRow,
    TransitionStep,
    WalkStep,
    reads_first,
)
from .rows import (
    document_row,
    fetch_all,
    fetch_one,
    insert_row,
    journal_event,
    message_row,
    time_from_text,
    time_to_text,
    transaction_row,
)
from .small_blobs import Blobs
from .writer import SqliteDatabase

MERGED_SIRENS = 100
"""Up to this many SIRENs, a list's page merges each SIREN's own newest rows (see `_page`)."""


class TransactionTables(SqliteDatabase):
    """`transactions` with its `messages`, `documents`, `journal`; `counters`; `transaction_reads`."""

    blobs: Blobs
    _reserved: dict[str, int]  # writer thread only: see `reserve_serial`

    def _require_blobs(self, digests: Iterable[str | None]) -> None:
        missing = self.blobs.missing(digests)
        if missing:
            raise MissingBlob(f"put these blobs before recording them: {', '.join(missing)}")

    @staticmethod
    def _require_row(db: Database, table: str, key: str, value: Any, what: str) -> None:
        if value is not None and fetch_one(db, f"select 1 from {table} where {key} = ?", [value]) is None:
            raise NotFound(f"unknown {what} {value!r}")

    @staticmethod
    def _insert_message(db: Database, transaction_id: int, message: NewMessage, at: str) -> int:
        """The message row (its blobs checked by the caller, `_message_blobs`)."""
        return insert_row(db, "messages", {
            "transaction_id": transaction_id, "code": message.code,
            "direction": message.direction.name, "file_name": message.file_name,
            "xml_sha256": message.xml_sha256, "signature_sha256": message.signature_sha256,
            "timestamp_token_sha256": message.timestamp_token_sha256, "created_at": at,
        })

    @staticmethod
    def _append_journal(db: Database, events: Sequence[tuple[Any, ...]]) -> None:
        """Journal rows (transaction_id, at, from_status, to_status, actor, message,
        message_id), in order, with one INSERT however many a status walk appends."""
        for start in range(0, len(events), _JOURNAL_ROWS_PER_INSERT):  # SQLite's 32766 parameters
            chunk = events[start:start + _JOURNAL_ROWS_PER_INSERT]
            db.conn.execute(
                "insert into journal (transaction_id, at, from_status, to_status, actor, message,"
                " message_id) values " + ", ".join([_JOURNAL_ROW] * len(chunk)),
                [value for event in chunk for value in event])

    def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                           message: str = "", walk: Sequence[WalkStep] = (),
                           walk_by: str | None = None) -> TransactionRow:
        """Transaction row, its documents, messages and creation event: one commit.

        `walk`: the statuses it then goes through in the same commit (by `walk_by`, default
        `actor`), each with its journal row and message: the row is inserted in the last one
        (the counter triggers run once, not once per status), with the last IDActe given.

        Raises `DuplicateActe` if a live act already uses (siren, numero_interne) or the
        IDActe, `NotFound` for an unknown SIREN/related transaction/agent, `MissingBlob` if a
        referenced blob was not put first.
        """
        when = time_to_text(at)
        self._require_blobs([new.archive_sha256, *(d.sha256 for d in new.documents),
                             *(d for s in walk if s.attach for d in _message_blobs(s.attach))])
        status = walk[-1].to_status if walk else new.status
        id_acte = next((s.id_acte for s in reversed(walk) if s.id_acte is not None), new.id_acte)
        for document in new.documents:
            if document.role not in DOCUMENT_ROLES:
                raise ValueError(f"document role must be one of {DOCUMENT_ROLES}")

        def write(db: Database) -> TransactionRow:
            self._require_row(db, "collectivites", "siren", new.siren, "SIREN")
            self._require_row(db, "transactions", "id", new.related_transaction_id, "transaction")
            self._require_row(db, "agents", "id", new.agent_id, "agent")
            try:
                # RETURNING: the row as stored, without reading it back (no trigger or later
                # statement here changes a transactions row).
                row = transaction_row(fetch_all(db, _INSERT_TRANSACTION, [
                    int(new.type), int(status), new.siren, new.related_transaction_id,
                    id_acte, new.numero_interne,
                    None if new.nature is None else int(new.nature), new.matiere, new.objet,
                    None if new.decision_date is None else new.decision_date.isoformat(),
                    new.archive_name, new.archive_sha256, new.agent_id, when, when])[0])
            except sqlite3.IntegrityError as error:
                raise _integrity(error, new, id_acte) from error
            message_ids = []
            for m in new.messages:
                self._require_blobs(_message_blobs(m))
                message_ids.append(self._insert_message(db, row.id, m, when))
            if new.documents:
                db.conn.executemany(_INSERT_DOCUMENT, [
                    (row.id, d.role, d.position, d.file_name, d.sha256, d.mimetype, d.size,
                     d.posted_name, d.posted_signature) for d in new.documents])
            events: list[tuple[Any, ...]] = [(row.id, when, None, int(new.status), actor,
                                              message, message_ids[0] if message_ids else None)]
            current = new.status
            for step in walk:
                events.append((row.id, when, int(current), int(step.to_status), walk_by or actor,
                               step.message, self._insert_message(db, row.id, step.attach, when)
                               if step.attach else None))
                current = step.to_status
            self._append_journal(db, events)
            return row

        return self.run_write(write)

    def transition(self, transaction_id: int, to_status: TransactionStatus, *, at: datetime,
                   actor: str, expected_from: TransactionStatus, message: str = "",
                   attach: NewMessage | None = None, id_acte: str | None = None) -> TransactionRow:
        """Compare-and-set the status; the caused message and the journal event go with it."""
        step = TransitionStep(transaction_id, expected_from, to_status, message, attach, id_acte)
        return self.transition_many([step], at=at, actor=actor)[0]

    def transition_many(self, steps: Sequence[TransitionStep], *, at: datetime,
                        actor: str) -> tuple[TransactionRow, ...]:
        """Several compare-and-sets that win or lose together (6-2: act → 0, annulation → 4).

        Consecutive steps walking one transaction on (1 → 2 → 3 → 4) are one UPDATE: each
        status change costs the counter triggers a run, and the walk's statuses in between are
        only ever seen in the journal, which keeps a row per step. A walk's rows show each
        step's status, with the IDActe the walk leaves.

        Raises `StatusConflict` when a transaction is not in its `expected_from` status
        any more (another transition won), `NotFound` for an unknown id; then nothing changed.
        """
        when = time_to_text(at)
        self._require_blobs(d for s in steps if s.attach for d in _message_blobs(s.attach))

        def write(db: Database) -> tuple[TransactionRow, ...]:
            rows, events = [], []
            for walk in _walks(steps):
                first = walk[0]
                id_acte = next((s.id_acte for s in reversed(walk) if s.id_acte is not None), None)
                try:  # RETURNING: the row as the walk leaves it, without reading it back
                    updated = fetch_all(db, _UPDATE_STATUS, [
                        int(walk[-1].to_status), when, id_acte, first.transaction_id,
                        int(first.expected_from)])
                except sqlite3.IntegrityError as error:
                    raise DuplicateActe(f"IDActe {id_acte} already names another act") from error
                if len(updated) != 1:
                    current = fetch_one(db, "select status from transactions where id = ?",
                                        [first.transaction_id])
                    if current is None:
                        raise NotFound(f"unknown transaction {first.transaction_id}")
                    raise StatusConflict(first.transaction_id, first.expected_from,
                                         TransactionStatus(current["status"]))
                left = transaction_row(updated[0])
                for step in walk:
                    message_id = (self._insert_message(db, step.transaction_id, step.attach, when)
                                  if step.attach else None)
                    events.append((step.transaction_id, when, int(step.expected_from),
                                   int(step.to_status), actor, step.message, message_id))
                    rows.append(left if step is walk[-1] else replace(left, status=step.to_status))
            # The journal rows together, in step order (no trigger reads the journal of the
            # statuses a later step sets).
            self._append_journal(db, events)
            return tuple(rows)

        return self.run_write(write)

    def add_message(self, transaction_id: int, message: NewMessage, *, at: datetime) -> MessageRow:
        """Record an exchanged XML that changes no status (e.g. a re-sent AR)."""
        when = time_to_text(at)
        self._require_blobs(_message_blobs(message))

        def write(db: Database) -> MessageRow:
            self._require_row(db, "transactions", "id", transaction_id, "transaction")
            message_id = self._insert_message(db, transaction_id, message, when)
            row = fetch_one(db, "select * from messages where id = ?", [message_id])
            assert row is not None
            return message_row(row)

        return self.run_write(write)

    def next_serial(self, name: str) -> int:
        """1, 2, 3… per name, never repeated, even across restarts (TSA serials, _N suffixes)."""
        def write(db: Database) -> int:
            cursor = db.execute(
                "insert into counters (name, value) values (?, 1) on conflict (name)"
                " do update set value = value + 1 returning value", [name])
            return int(cursor.fetchone()[0])

        return self.run_write(write)

    @reads_first  # on the writer, outside the group's transaction: it only defers a write
    def reserve_serial(self, name: str) -> int:
        """Like `next_serial`, without a commit of its own: the number is made durable by the
        next write transaction (`defer_write`), so the commit that stores what carries it
        also persists it. Never repeated while the process lives; after a crash only numbers
        no commit ever carried can come again."""
        if not self._on_writer():
            return self._writer.submit(self.reserve_serial, name).result()
        row = fetch_one(self._read_db(), "select value from counters where name = ?", [name])
        value = max(0 if row is None else int(row["value"]), self._reserved.get(name, 0)) + 1
        self._reserved[name] = value
        self.defer_write(partial(_raise_counter, name=name, value=value))
        return value

    def mark_read(self, transaction_id: int, *, at: datetime, actor: str) -> datetime:
        """Record that the collectivité's software read this transaction; the first time stays."""
        when = time_to_text(at)

        def write(db: Database) -> datetime:
            self._require_row(db, "transactions", "id", transaction_id, "transaction")
            db.execute("insert into transaction_reads (transaction_id, read_at, actor)"
                       " values (?, ?, ?) on conflict (transaction_id) do nothing",
                       [transaction_id, when, actor])
            row = fetch_one(db, "select read_at from transaction_reads where transaction_id = ?",
                            [transaction_id])
            assert row is not None
            return time_from_text(row["read_at"])

        return self.run_write(write)

    # -- transactions: reads --

    def read_at(self, transaction_id: int) -> datetime | None:
        row = fetch_one(self._read_db(), "select read_at from transaction_reads where transaction_id = ?",
                        [transaction_id])
        return None if row is None else time_from_text(row["read_at"])

    @staticmethod
    def _get(db: Database, transaction_id: int) -> TransactionRow:
        if abs(transaction_id) > SQLITE_MAX_INTEGER:
            raise NotFound(f"unknown transaction {transaction_id}")
        row = fetch_one(db, "select * from transactions where id = ?", [transaction_id])
        if row is None:
            raise NotFound(f"unknown transaction {transaction_id}")
        return transaction_row(row)

    def get(self, transaction_id: int) -> TransactionRow:
        return self._get(self._read_db(), transaction_id)

    def find_by_id_acte(self, id_acte: str) -> TransactionRow | None:
        """The type-1 transaction this IDActe was given to by its AR, if any."""
        row = fetch_one(self._read_db(), "select * from transactions where type = 1 and id_acte = ?",
                        [id_acte])
        return None if row is None else transaction_row(row)

    def find_live_acte(self, siren: str, numero_interne: str) -> TransactionRow | None:
        """The act that currently holds (siren, numero_interne) — not in error, not cancelled."""
        row = fetch_one(self._read_db(),
                        "select * from transactions where type = 1 and siren = ? and numero_interne = ?"
                        " and status not in (-1, 0)", [siren, numero_interne])
        return None if row is None else transaction_row(row)

    def numero_interne_taken(self, siren: str, numero_interne: str) -> bool:
        """Whether any act of `siren`, whatever its status, holds this NumeroInterne: the live
        one from the unique index, else those in error or cancelled from (siren, status, id)."""
        row = fetch_one(self._read_db(),
                        "select exists(select 1 from transactions where type = 1 and siren = ?"
                        " and numero_interne = ? and status not in (-1, 0))"
                        " or exists(select 1 from transactions where siren = ? and status in (-1, 0)"
                        " and type = 1 and numero_interne = ?) as taken",
                        [siren, numero_interne, siren, numero_interne])
        assert row is not None
        return bool(row["taken"])

    def list(self, filters: TransactionFilter | None = None, *, limit: int = 50,
             offset: int = 0) -> Page:
        """Newest first; `total` counts every match, in the same snapshot as the page.

        A total filtered only by SIREN, type, status and nature is summed from the counter
        tables (migration 0005), so it costs the same at 1 M rows as at 10 K; dates, relations,
        answers and reads are counted over the matching rows.
        """
        filters = filters or TransactionFilter()
        limit = max(0, min(limit, MAX_PAGE))
        offset = max(0, min(offset, SQLITE_MAX_INTEGER))
        where, params = _where(filters)
        if (filters.created_from is None and filters.created_to is None and not filters.unanswered
                and not filters.unread and filters.related_transaction_id is None):
            counters = ("transaction_totals" if filters.siren is None and filters.sirens is None
                        else "transaction_counts")
            count = f"select ifnull(sum(n), 0) as n from {counters}{where}"
        else:
            count = f"select count(*) as n from transactions{where}"
        db = self._read_db()
        own_snapshot = not db.conn.in_transaction
        if own_snapshot:
            db.conn.execute("BEGIN")
        try:
            total = fetch_all(db, count, params)[0]["n"]
            rows = fetch_all(db, *_page(filters, where, params, limit, offset))
            items = tuple(transaction_row(r) for r in rows)
        finally:
            if own_snapshot:
                db.conn.execute("COMMIT")
        return Page(items=items, total=total, limit=limit, offset=offset)

    def messages(self, transaction_id: int) -> tuple[MessageRow, ...]:
        rows = fetch_all(
            self._read_db(), "select * from messages where transaction_id = ? order by id", [transaction_id])
        return tuple(message_row(r) for r in rows)

    def documents(self, transaction_id: int) -> tuple[DocumentRow, ...]:
        rows = fetch_all(
            self._read_db(), "select * from documents where transaction_id = ? order by role = 'main' desc,"
            " role, position", [transaction_id])
        return tuple(document_row(r) for r in rows)

    def journal(self, transaction_id: int) -> tuple[JournalEvent, ...]:
        rows = fetch_all(
            self._read_db(), "select * from journal where transaction_id = ? order by id", [transaction_id])
        return tuple(journal_event(r) for r in rows)


_INSERT_TRANSACTION = (
    "insert into transactions (type, status, siren, related_transaction_id, id_acte,"
    " numero_interne, nature, matiere, objet, decision_date, archive_name, archive_sha256,"
    " agent_id, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " returning *")
_INSERT_DOCUMENT = (
    "insert into documents (transaction_id, role, position, file_name, sha256, mimetype, size,"
    " posted_name, posted_signature) values (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_UPDATE_STATUS = (
    "update transactions set status = ?, updated_at = ?, id_acte = coalesce(?, id_acte)"
    " where id = ? and status = ? returning *")
_JOURNAL_ROW = "(?, ?, ?, ?, ?, ?, ?)"
_JOURNAL_ROWS_PER_INSERT = 1000


def _walks(steps: Sequence[TransitionStep]) -> list[list[TransitionStep]]:
    """`steps` cut into walks: runs of steps on one transaction, each from where the last left."""
    walks: list[list[TransitionStep]] = []
    for step in steps:
        last = walks[-1][-1] if walks else None
        if last is not None and last.transaction_id == step.transaction_id \
                and last.to_status == step.expected_from:
            walks[-1].append(step)
        else:
            walks.append([step])
    return walks


def _message_blobs(message: NewMessage) -> tuple[str | None, ...]:
    """The blobs a message row names (they must be put before it is recorded)."""
    return message.xml_sha256, message.signature_sha256, message.timestamp_token_sha256


def _where(filters: TransactionFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a list and its parameters; the SIREN, type, status and nature tests
    name columns the counter tables share with `transactions`."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("siren", filters.siren), ("type", filters.type),
                          ("status", filters.status), ("nature", filters.nature),
                          ("related_transaction_id", filters.related_transaction_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(int(value) if isinstance(value, int) else value)
    if filters.created_from is not None:
        clauses.append("created_at >= ?")
        params.append(time_to_text(filters.created_from))
    if filters.created_to is not None:
        clauses.append("created_at < ?")
        params.append(time_to_text(filters.created_to))
    if filters.sirens is not None:
        clauses.append(f"siren in ({', '.join('?' * len(filters.sirens))})")
        params.extend(sorted(filters.sirens))
    for column, values in (("type", filters.types), ("status", filters.statuses)):
        if values is not None:
            clauses.append(f"{column} in ({', '.join('?' * len(values))})")
            params.extend(sorted(int(v) for v in values))
    if filters.unanswered:
        clauses.append("not exists (select 1 from transactions r"
                       " where r.related_transaction_id = transactions.id)")
    if filters.unread:
        clauses.append("not exists (select 1 from transaction_reads r"
                       " where r.transaction_id = transactions.id)")
    return (f" where {' and '.join(clauses)}" if clauses else ""), params


def _raise_counter(db: Database, *, name: str, value: int) -> None:
    """Make counter `name` at least `value` (reservations may commit in any order)."""
    db.execute("insert into counters (name, value) values (?, ?) on conflict (name)"
               " do update set value = max(value, excluded.value)", [name, value])


def _page(filters: TransactionFilter, where: str, params: list[Any], limit: int,
          offset: int) -> tuple[str, list[Any]]:
    """The page query. For a few SIRENs, each one's newest `offset + limit` rows are taken
    from the (siren, …, id) indexes and merged: `siren IN (…) ORDER BY id` would sort every
    row of those SIRENs, however many they have. Past `MERGED_SIRENS` (SQLite caps a
    compound SELECT at 500 terms), the plain query."""
    if (filters.siren is not None or filters.sirens is None
            or not 2 <= len(filters.sirens) <= MERGED_SIRENS):
        return (f"select * from transactions{where} order by id desc limit ? offset ?",
                [*params, limit, offset])
    parts: list[str] = []
    merged: list[Any] = []
    for siren in sorted(filters.sirens):
        one_where, one_params = _where(replace(filters, sirens=frozenset({siren})))
        parts.append(f"select * from (select id from transactions{one_where} order by id desc limit ?)")
        merged.extend([*one_params, min(offset + limit, SQLITE_MAX_INTEGER)])
    return (f"select * from transactions where id in ({' union all '.join(parts)})"
            " order by id desc limit ? offset ?", [*merged, limit, offset])


def _integrity(error: sqlite3.IntegrityError, new: NewTransaction,
               id_acte: str | None) -> StoreError:
    text = str(error)
    if "transactions.siren, transactions.numero_interne" in text:
        return DuplicateActe(f"SIREN {new.siren} already has a live act numbered {new.numero_interne}")
    if "transactions.id_acte" in text:
        return DuplicateActe(f"IDActe {id_acte} already names another act")
    return StoreError(text)

