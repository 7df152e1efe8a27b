"""Scenario rules as stored, and the rule that decided each act."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from .rows import fetch_all, fetch_one


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
