"""Row ↔ record conversions and the small query helpers every table module shares.

Times are stored as UTC ISO-8601 text; rows come back as the frozen records of `interface`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.utils import dedupe_keys

from ..protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from .interface import DocumentRow, JournalEvent, MessageRow, TransactionRow


def time_to_text(at: datetime) -> str:
    """UTC ISO-8601 with microseconds: sortable as text, and naive times refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("store times must be timezone-aware (take them from the clock)")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def time_from_text(text: str) -> datetime:
    """A time stored by `time_to_text`, back as an aware datetime."""
    return datetime.fromisoformat(text)


def transaction_row(row: dict[str, Any]) -> TransactionRow:
    return TransactionRow(
        id=row["id"],
        type=TransactionType(row["type"]),
        status=TransactionStatus(row["status"]),
        siren=row["siren"],
        related_transaction_id=row["related_transaction_id"],
        id_acte=row["id_acte"],
        numero_interne=row["numero_interne"],
        nature=None if row["nature"] is None else NatureActe(row["nature"]),
        matiere=row["matiere"],
        objet=row["objet"],
        decision_date=None if row["decision_date"] is None else date.fromisoformat(row["decision_date"]),
        archive_name=row["archive_name"],
        archive_sha256=row["archive_sha256"],
        agent_id=row["agent_id"],
        created_at=time_from_text(row["created_at"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def message_row(row: dict[str, Any]) -> MessageRow:
    return MessageRow(
        id=row["id"], transaction_id=row["transaction_id"], code=row["code"],
        direction=Sender[row["direction"]], file_name=row["file_name"],
        xml_sha256=row["xml_sha256"], signature_sha256=row["signature_sha256"],
        timestamp_token_sha256=row["timestamp_token_sha256"], created_at=time_from_text(row["created_at"]),
    )


def document_row(row: dict[str, Any]) -> DocumentRow:
    return DocumentRow(**row)


def journal_event(row: dict[str, Any]) -> JournalEvent:
    return JournalEvent(
        id=row["id"], transaction_id=row["transaction_id"], at=time_from_text(row["at"]),
        from_status=None if row["from_status"] is None else TransactionStatus(row["from_status"]),
        to_status=TransactionStatus(row["to_status"]), actor=row["actor"],
        message=row["message"], message_id=row["message_id"],
    )


def fetch_all(db: Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Fetch everything now: a half-read cursor would pin an old WAL snapshot on its connection.

    For SELECTs only. On the connection directly: `Database.query` wraps every statement in
    a savepoint (two more statements) in case it is a write, which the submission path pays
    a dozen times."""
    cursor = db.conn.execute(sql, params)
    if cursor.description is None:
        raise ValueError("fetch_all needs SQL that returns rows")
    keys = dedupe_keys(d[0] for d in cursor.description)
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def inserted_id(rowid: int | None) -> int:
    """The id an INSERT just gave its row (`lastrowid`, `last_pk`: None only before any INSERT,
    which is why sqlite3 and sqlite-utils type them Optional)."""
    if rowid is None:
        raise RuntimeError("no row was inserted")
    return rowid


def insert_row(db: Database, table: str, row: dict[str, Any]) -> int:
    """INSERT one row, return its id: plain SQL, as `Table.insert` re-reads the schema on
    every call and costs more than the insert on the submission path. On the connection
    directly: every write runs in the writer's transaction, so `Database.execute`'s checks for
    an implicit one to commit are only overhead."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return inserted_id(db.conn.execute(f"insert into {table} ({columns}) values ({marks})",
                                       list(row.values())).lastrowid)


def fetch_one(db: Database, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
    """The first row of a query, or None."""
    rows = fetch_all(db, sql, params)
    return rows[0] if rows else None

