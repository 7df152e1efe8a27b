"""Back to a clean state: every transaction and what hangs off it, the journal too."""

from __future__ import annotations

from sqlite_utils import Database

from .rows import fetch_all
from .writer import SqliteDatabase


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


class ResetTables(SqliteDatabase):
    """The reset, as a named store method."""

    def wipe_transactions(self) -> None:
        """Every transaction and what hangs off it, the journal too (see `wipe_transactions`)."""
        self.run_write(wipe_transactions)
