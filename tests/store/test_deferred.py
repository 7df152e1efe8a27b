"""Writes that join the next commit (`defer_write`) and serials reserved without a commit."""

from __future__ import annotations

import sqlite3

import pytest

from .factories import open_store


@pytest.fixture
def store(tmp_path):
    store = open_store(tmp_path)
    yield store
    store.close()


def committed(store, name: str) -> int | None:
    """Counter `name` as another connection sees it: only what was committed."""
    with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as db:
        row = db.execute("select value from counters where name = ?", [name]).fetchone()
    return None if row is None else row[0]


def set_counter(name: str, value: int):
    return lambda db: db.execute("insert into counters (name, value) values (?, ?)"
                                 " on conflict (name) do update set value = excluded.value",
                                 [name, value])


def test_a_deferred_write_waits_for_the_next_commit_and_joins_it(store):
    store.defer_write(set_counter("x", 7))
    assert store.has_deferred and committed(store, "x") is None
    store.next_serial("other")  # any write transaction carries it
    assert committed(store, "x") == 7 and not store.has_deferred


def test_a_failing_write_rolls_back_alone_and_the_deferred_writes_are_kept(store):
    """A write is a savepoint of the group commit: its failure undoes it, not what the
    transaction carries for others."""
    store.defer_write(set_counter("x", 7))

    def failing(db):
        db.execute("insert into counters (name, value) values ('y', 1)")
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        store.run_write(failing)
    assert committed(store, "y") is None
    store.flush_deferred()
    assert committed(store, "x") == 7 and committed(store, "y") is None


def test_a_failing_deferred_write_is_dropped_without_failing_the_transaction(store):
    def broken(db):
        db.execute("insert into counters (name, value) values ('z', 1)")
        db.execute("insert into no_such_table values (1)")

    store.defer_write(broken)
    store.defer_write(set_counter("x", 7))
    assert store.next_serial("other") == 1
    assert committed(store, "other") == 1 and committed(store, "x") == 7
    assert committed(store, "z") is None  # its savepoint was rolled back whole
    assert not store.has_deferred


def test_closing_commits_what_waits(tmp_path):
    store = open_store(tmp_path)
    store.defer_write(set_counter("x", 7))
    store.close()
    reopened = open_store(tmp_path)
    try:
        assert committed(reopened, "x") == 7
    finally:
        reopened.close()


def test_reserved_serials_count_up_and_are_kept_by_the_next_commit(tmp_path):
    store = open_store(tmp_path)
    assert [store.reserve_serial("ar") for _ in range(3)] == [1, 2, 3]
    assert committed(store, "ar") is None  # no commit of their own
    store.next_serial("other")
    assert committed(store, "ar") == 3
    store.close()
    store = open_store(tmp_path)
    try:
        assert store.reserve_serial("ar") == 4
        assert store.next_serial("ar") == 5  # the committed counter already holds 4
    finally:
        store.close()


def test_a_reservation_follows_a_counter_moved_by_another_writer(store):
    assert store.reserve_serial("ar") == 1
    store.run_write(set_counter("ar", 9999))
    assert store.reserve_serial("ar") == 10_000
    store.run_write(set_counter("ar", 5))  # moved back: numbers already handed out stay used
    assert store.reserve_serial("ar") == 10_001
    store.flush_deferred()
    assert committed(store, "ar") == 10_001


def test_deferred_writes_share_one_savepoint_and_a_failing_one_is_dropped_alone(store):
    """The writes deferred to a transaction run under one savepoint (not one each); when one
    fails they are replayed one by one, so those before and after it are still kept."""
    statements: list[str] = []
    store.run_write(lambda db: db.conn.set_trace_callback(statements.append))
    try:
        for n in range(5):
            store.defer_write(set_counter(f"ok{n}", n))
        statements.clear()
        store.next_serial("carrier")
        words = [s.split()[0].upper() for s in statements]
        assert words.count("SAVEPOINT") == 1, statements

        def broken(db):
            db.execute("insert into counters (name, value) values ('z', 1)")
            raise RuntimeError("refused")

        store.defer_write(set_counter("before", 1))
        store.defer_write(broken)
        store.defer_write(set_counter("after", 2))
        store.next_serial("carrier")
    finally:
        store.run_write(lambda db: db.conn.set_trace_callback(None))
    assert [committed(store, f"ok{n}") for n in range(5)] == list(range(5))
    assert committed(store, "before") == 1 and committed(store, "after") == 2
    assert committed(store, "z") is None and committed(store, "carrier") == 2
    assert not store.has_deferred
