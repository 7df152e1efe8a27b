import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from operator_sim.store import SqliteStore, schema
from operator_sim.store.database import DATABASE_NAME


def _schema(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("select type, name, sql from sqlite_master where sql is not null"))


def _applied(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("select migration_set, name from _sqlite_migrations order by id").fetchall()


def test_opening_twice_keeps_the_same_schema_and_applies_migrations_once(tmp_path):
    SqliteStore.open(tmp_path).close()
    first = _schema(tmp_path / DATABASE_NAME)
    SqliteStore.open(tmp_path).close()
    assert _schema(tmp_path / DATABASE_NAME) == first
    applied = _applied(tmp_path / DATABASE_NAME)
    assert applied[0] == (schema.MIGRATION_SET, "0001_initial")
    assert len(applied) == len({name for _, name in applied})  # each applied once
    assert [name for _, name in applied] == sorted(name for _, name in applied)
    names = {name for kind, name, _ in first if kind == "table"}
    assert {"collectivites", "agents", "agent_sirens", "transactions", "messages", "documents",
            "journal", "counters"} <= names


def test_a_later_named_migration_applies_once_and_the_store_still_opens(tmp_path):
    path = tmp_path / DATABASE_NAME
    first = Migrations(schema.MIGRATION_SET)
    first(name="0001_initial")(schema.m0001_initial)
    db = Database(path)
    first.apply(db)  # a database made by an older version, with only the first migration
    db.close()
    later = Migrations(schema.MIGRATION_SET)
    later(name="0001_initial")(schema.m0001_initial)
    calls = []

    @later(name="0002_probe")
    def add_probe(db):
        calls.append(1)
        db.execute("create table probe (id integer primary key, url text not null) strict")

    for _ in range(2):
        db = Database(path)
        later.apply(db)
        db.close()
    assert calls == [1]
    assert _applied(path) == [(schema.MIGRATION_SET, "0001_initial"),
                              (schema.MIGRATION_SET, "0002_probe")]
    with SqliteStore.open(tmp_path) as store:
        assert store.list().total == 0


def test_every_connection_is_wal_full_sync_with_foreign_keys(tmp_path):
    with SqliteStore.open(tmp_path) as store:
        def pragmas(db):
            return {name: db.execute(f"pragma {name}").fetchone()[0]
                    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout",
                                 "wal_autocheckpoint")}

        assert pragmas(store._read_db()) == pragmas_expected()
        assert store.run_write(pragmas) == pragmas_expected()


def pragmas_expected():
    return {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 10_000,
            "wal_autocheckpoint": 4000}
