"""Scenario rules as stored, and the rule that decided each act."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from .interface import StoredRule
from .rows import fetch_all, fetch_one
from .writer import SqliteDatabase


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


class RuleTables(SqliteDatabase):
    """`scenario_rules` and `scenario_applications`, as named store methods."""

    def scenario_rules(self) -> list[StoredRule]:
        """Every rule in matching order (first match wins)."""
        return self.run_read(rules)

    def replace_scenario_rules(self, stored: Sequence[StoredRule]) -> None:
        """The whole ordered list at once."""
        self.run_write(lambda db: replace_rules(db, stored))

    def take_rule_hit(self, rule_id: str, limit: int | None) -> bool:
        """Count one use of a rule; False (nothing counted) once a limited rule is used up."""
        return self.run_write(lambda db: take_hit(db, rule_id, limit))

    def record_application(self, transaction_id: int, rule_id: str, decision: dict[str, Any],
                           corrupt_return: bool) -> None:
        """Which rule decided this transaction, and how."""
        self.run_write(lambda db: record_application(db, transaction_id, rule_id, decision,
                                                     corrupt_return))

    def corrupts_return(self, transaction_ids: Iterable[int]) -> bool:
        """Whether a rule asked to corrupt what the préfecture returns for any of these."""
        return self.run_read(lambda db: corrupts_return(db, transaction_ids))

    def application(self, transaction_id: int) -> dict[str, Any] | None:
        """The rule that decided this transaction, if one did."""
        return self.run_read(lambda db: application(db, transaction_id))
