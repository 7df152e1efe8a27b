"""The request journal: every request the simulator answered, what it saw and decided."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from .rows import fetch_all, inserted_id, time_to_text
from .writer import SqliteDatabase

REQUEST_COLUMNS = ("at", "method", "path", "query", "status", "duration_ms", "remote", "subject",
                   "issuer", "serial", "fingerprint", "verdict", "indication", "sub_indication",
                   "identity", "transaction_id", "error_code", "scenario", "note")


_INSERT_REQUEST = (f"insert into requests ({', '.join(REQUEST_COLUMNS)}) values"
                   f" ({', '.join('?' * len(REQUEST_COLUMNS))})")
_AT, _IDENTITY = REQUEST_COLUMNS.index("at"), REQUEST_COLUMNS.index("identity")


def record_request(db: Database, entry: dict[str, Any]) -> int:
    values = [entry.get(c) for c in REQUEST_COLUMNS]
    values[_AT] = time_to_text(entry["at"])
    if values[_IDENTITY] is not None:
        values[_IDENTITY] = json.dumps(values[_IDENTITY], ensure_ascii=False)
    return inserted_id(db.conn.execute(_INSERT_REQUEST, values).lastrowid)


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


class RequestTables(SqliteDatabase):
    """`requests`, as named store methods."""

    def record_request(self, entry: dict[str, Any]) -> int:
        """Journal one request now, in its own commit."""
        return self.run_write(lambda db: record_request(db, entry))

    def defer_request(self, entry: dict[str, Any]) -> None:
        """Journal one request with the next commit, whoever makes it (`defer_write`)."""
        self.defer_write(lambda db: record_request(db, entry))

    def requests(self, *, fingerprint: str | None = None, status: int | None = None,
                 path: str | None = None, verdict: str | None = None,
                 since: datetime | None = None, after: int | None = None,
                 transaction_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Journaled requests newest first; `path` is a prefix, `since` an instant on the clock."""
        return self.run_read(lambda db: requests(
            db, fingerprint=fingerprint, status=status, path=path, verdict=verdict, since=since,
            after=after, transaction_id=transaction_id, limit=limit))
