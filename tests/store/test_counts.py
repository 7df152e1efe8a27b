"""List totals from the counter tables (migration 0005): always equal to COUNT(*), and flat.

The counters are kept by triggers in the writing transaction, so every path is checked against
a plain COUNT(*) over `transactions`: creations, status changes (single and all-or-nothing),
refused writes that roll back, raw SQL updates and deletes, two stores racing on one file, and
a database filled before the migration existed (backfill).
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from operator_sim.protocol.codes import NatureActe, TransactionStatus, TransactionType
from operator_sim.store import (
    DuplicateActe,
    NewTransaction,
    SqliteStore,
    StatusConflict,
    TransactionFilter,
    TransitionStep,
    schema,
)
from operator_sim.store.database import DATABASE_NAME
from operator_sim.store.reset import wipe_transactions
from operator_sim.store.transactions import MERGED_SIRENS

from .factories import OTHER_SIREN, SIREN, T0, open_store

S, T = TransactionStatus, TransactionType
SIRENS = (SIREN, OTHER_SIREN)
KEY = "siren, type, status, ifnull(nature, 0)"


def _grouped(store: SqliteStore) -> tuple[dict, dict, dict]:
    """(counter rows, COUNT(*) by the same key, totals rows), zero counters left out."""
    def read(db):
        counted = {tuple(r[:4]): r[4] for r in db.execute(
            "select siren, type, status, nature, n from transaction_counts where n > 0")}
        actual = {tuple(r[:4]): r[4] for r in db.execute(
            f"select {KEY}, count(*) from transactions group by 1, 2, 3, 4")}
        totals = {tuple(r[:3]): r[3] for r in db.execute(
            "select type, status, nature, n from transaction_totals where n > 0")}
        return counted, actual, totals
    return store.run_write(read)  # on the writer: nothing can commit in between


def assert_counters_match(store: SqliteStore) -> None:
    counted, actual, totals = _grouped(store)
    assert counted == actual
    by_kind: dict[tuple, int] = {}
    for (_siren, *kind), n in actual.items():
        by_kind[tuple(kind)] = by_kind.get(tuple(kind), 0) + n
    assert totals == by_kind


def _count_star(store: SqliteStore, filters: TransactionFilter) -> int:
    """What `list().total` must say, the slow way: every row compared in Python."""
    rows = store.run_read(lambda db: list(db.query("select * from transactions")))
    return sum(
        (filters.siren is None or r["siren"] == filters.siren)
        and (filters.sirens is None or r["siren"] in filters.sirens)
        and (filters.type is None or r["type"] == filters.type)
        and (filters.types is None or r["type"] in filters.types)
        and (filters.status is None or r["status"] == filters.status)
        and (filters.statuses is None or r["status"] in filters.statuses)
        and (filters.nature is None or r["nature"] == filters.nature)
        for r in rows)


FILTERS = (
    TransactionFilter(),
    TransactionFilter(type=T.ACTE),
    TransactionFilter(siren=SIREN),
    TransactionFilter(sirens=frozenset(SIRENS)),
    TransactionFilter(sirens=frozenset({OTHER_SIREN}), status=S.POSTE),
    TransactionFilter(siren=SIREN, sirens=frozenset({OTHER_SIREN})),  # disjoint: nothing
    TransactionFilter(type=T.ACTE, status=S.ERREUR),
    TransactionFilter(types=frozenset({T.ACTE, T.COURRIER_SIMPLE}),
                      statuses=frozenset({S.POSTE, S.TRANSMIS})),
    TransactionFilter(siren=SIREN, nature=NatureActe.DE),
    TransactionFilter(statuses=frozenset()),
)


class Blobs:
    """One archive for every act: the counters do not care, and it keeps the tests quick."""

    def __init__(self, store: SqliteStore) -> None:
        self.archive = store.blobs.put(b"archive")


def _new(blobs: Blobs, numero: str, *, siren: str = SIREN, type_: TransactionType = T.ACTE,
         status: TransactionStatus = S.POSTE, nature: NatureActe | None = NatureActe.DE) -> NewTransaction:
    return NewTransaction(type=type_, status=status, siren=siren, nature=nature,
                          numero_interne=numero, archive_sha256=blobs.archive)


class CounterMachine(RuleBasedStateMachine):
    """Random creations and status changes, successful or refused; counters == COUNT(*)."""

    @initialize()
    def open(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="counts-")
        self.store = open_store(Path(self.folder.name))
        self.blobs = Blobs(self.store)
        self.status: dict[int, TransactionStatus] = {}
        self.numero: dict[int, str] = {}
        self.serial = 0

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()
            self.folder.cleanup()

    @rule(siren=st.sampled_from(SIRENS), type_=st.sampled_from(list(T)), status=st.sampled_from(list(S)),
          nature=st.sampled_from([None, NatureActe.DE, NatureActe.AR]))
    def create(self, siren, type_, status, nature) -> None:
        self.serial += 1
        numero = f"N{self.serial}"
        row = self.store.create_transaction(_new(self.blobs, numero, siren=siren, type_=type_,
                                                 status=status, nature=nature), at=T0, actor="t")
        self.status[row.id], self.numero[row.id] = status, numero

    @precondition(lambda self: any(s not in (S.ERREUR, S.ANNULE) for s in self.status.values()))
    @rule(data=st.data())
    def refused_duplicate(self, data) -> None:
        live = sorted(i for i, s in self.status.items() if s not in (S.ERREUR, S.ANNULE))
        taken = data.draw(st.sampled_from(live))
        row = self.store.get(taken)
        if row.type is not T.ACTE:
            return
        with pytest.raises(DuplicateActe):
            self.store.create_transaction(_new(self.blobs, self.numero[taken], siren=row.siren),
                                          at=T0, actor="t")

    @precondition(lambda self: self.status)
    @rule(data=st.data(), to=st.sampled_from(list(S)))
    def transition(self, data, to) -> None:
        tid = data.draw(st.sampled_from(sorted(self.status)))
        try:
            self.store.transition(tid, to, at=T0, actor="t", expected_from=self.status[tid])
        except DuplicateActe:  # back to live while another act holds the number: refused
            return
        self.status[tid] = to

    @precondition(lambda self: len(self.status) >= 2)
    @rule(data=st.data(), to=st.sampled_from(list(S)))
    def refused_transition_many(self, data, to) -> None:
        """The first step succeeds on its own, the second conflicts: neither stays."""
        first, second = data.draw(st.lists(st.sampled_from(sorted(self.status)), min_size=2,
                                           max_size=2, unique=True))
        wrong = S.DETRUITE if self.status[second] is not S.DETRUITE else S.VALIDE
        steps = [TransitionStep(first, self.status[first], to), TransitionStep(second, wrong, to)]
        with pytest.raises((StatusConflict, DuplicateActe)):
            self.store.transition_many(steps, at=T0, actor="t")

    @invariant()
    def counters_equal_count_star(self) -> None:
        if hasattr(self, "store"):
            assert_counters_match(self.store)
            for filters in FILTERS:
                assert self.store.list(filters, limit=0).total == _count_star(self.store, filters)


CounterMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_counters_follow_random_writes = pytest.mark.slow(CounterMachine.TestCase)  # stateful, on a real store


@pytest.fixture
def store(tmp_path):
    store = open_store(tmp_path)
    yield store
    store.close()


def test_totals_of_every_filter_shape_equal_count_star_and_pages_stay_newest_first(store):
    blobs = Blobs(store)

    def fill(_db):
        for i in range(120):
            store.create_transaction(
                _new(blobs, f"F{i}", siren=SIRENS[i % 2], type_=(T.ACTE, T.COURRIER_SIMPLE)[i % 3 == 0],
                     status=(S.POSTE, S.TRANSMIS, S.ERREUR)[i % 3 if i % 5 else 0],
                     nature=(NatureActe.DE, None)[i % 7 == 0]),
                at=T0 + timedelta(minutes=i), actor="t")

    store.run_write(fill)
    for filters in FILTERS:
        page = store.list(filters, limit=7, offset=3)
        assert page.total == _count_star(store, filters)
        everything = store.list(filters, limit=500).items
        assert [r.id for r in page.items] == [r.id for r in everything][3:10]
        assert [r.id for r in everything] == sorted((r.id for r in everything), reverse=True)
    for size in (MERGED_SIRENS, MERGED_SIRENS + 1):  # the most SIRENs merged, then the plain query
        many = frozenset([*SIRENS, *(f"{n:09d}" for n in range(size - 2))])
        assert [r.id for r in store.list(TransactionFilter(sirens=many), limit=9, offset=4).items] == [
            r.id for r in store.list(limit=500).items][4:13]
    # Filters the counters do not hold are still counted exactly, over the rows.
    window = TransactionFilter(siren=SIREN, created_from=T0 + timedelta(minutes=10),
                               created_to=T0 + timedelta(minutes=30))
    assert store.list(window).total == 10


def test_raw_sql_updates_and_deletes_keep_the_counters(store):
    blobs = Blobs(store)
    rows = [store.create_transaction(_new(blobs, f"R{i}"), at=T0, actor="t") for i in range(4)]
    store.run_write(lambda db: db.execute(
        "update transactions set siren = ?, type = 2, nature = null where id = ?", [OTHER_SIREN, rows[0].id]))
    store.run_write(lambda db: db.execute(  # status named but unchanged: nothing moves
        "update transactions set status = status, updated_at = created_at where id = ?", [rows[1].id]))
    bare = store.run_write(lambda db: db.execute(
        "insert into transactions (type, status, siren, created_at, updated_at)"
        " values (2, 7, ?, ?, ?)", [SIREN, T0.isoformat(), T0.isoformat()]).lastrowid)
    assert_counters_match(store)
    store.run_write(lambda db: db.execute("delete from transactions where id = ?", [bare]))
    assert_counters_match(store)
    assert store.list(TransactionFilter(siren=OTHER_SIREN, type=T.COURRIER_SIMPLE)).total == 1
    assert store.list().total == 4


def test_two_stores_writing_the_same_file_at_once_keep_exact_counters(tmp_path):
    """Two processes' worth of writers (two stores, two write connections) racing."""
    first = open_store(tmp_path)
    second = SqliteStore.open(tmp_path)
    blobs = Blobs(first)
    Blobs(second)  # a small blob is committed by the store that put it: each puts its own
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(store: SqliteStore, n: int) -> None:
        try:
            start.wait()
            for i in range(30):
                row = store.create_transaction(_new(blobs, f"C{n}_{i}", siren=SIRENS[i % 2]), at=T0,
                                               actor=f"w{n}")
                if i % 3:
                    store.transition(row.id, S.TRANSMIS, at=T0, actor=f"w{n}", expected_from=S.POSTE)
        except BaseException as error:  # reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(s, n)) for n, s in enumerate([first, second] * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert_counters_match(first)
        assert first.list().total == second.list().total == 120
        assert second.list(TransactionFilter(siren=SIREN, status=S.TRANSMIS)).total == 40
    finally:
        second.close()
        first.close()


def test_migration_backfills_counters_on_a_database_filled_before_it(tmp_path):
    path = tmp_path / DATABASE_NAME
    older = Migrations(schema.MIGRATION_SET)
    for name, fn in (("0001_initial", schema.m0001_initial),
                     ("0002_transaction_reads", schema.m0002_transaction_reads),
                     ("0003_scenarios_schedule_callbacks_requests",
                      schema.m0003_scenarios_schedule_callbacks_requests),
                     ("0004_settings", schema.m0004_settings)):
        older(name=name)(fn)
    db = Database(path)
    older.apply(db)
    assert "transaction_counts" not in db.table_names()
    for siren in SIRENS:
        db["collectivites"].insert({"siren": siren, "departement": "034", "arrondissement": "1",
                                    "nature": "31", "nom": siren})
    db["transactions"].insert_all(
        {"type": (1, 1, 2, 6)[i % 4], "status": (4, -1, 7, 4, 1)[i % 5], "siren": SIRENS[i % 3 == 0],
         "numero_interne": f"M{i}", "nature": (1, 2, None)[i % 3], "created_at": "2025-01-01",
         "updated_at": "2025-01-01"} for i in range(500))
    db.conn.commit()
    db.close()

    with SqliteStore.open(tmp_path) as store:
        assert_counters_match(store)
        for filters in FILTERS:
            assert store.list(filters, limit=0).total == _count_star(store, filters)
        tid = store.list(TransactionFilter(type=T.ACTE, status=S.ACQUITTEMENT_RECU), limit=1).items[0].id
        store.transition(tid, S.VALIDE, at=T0, actor="t", expected_from=S.ACQUITTEMENT_RECU)
        store.create_transaction(_new(Blobs(store), "after"), at=T0, actor="t")
        assert_counters_match(store)
        assert store.list().total == 501
    with sqlite3.connect(path) as conn:  # applied once, recorded by name
        names = [r[0] for r in conn.execute("select name from _sqlite_migrations")]
    assert names.count("0005_transaction_counts") == 1


def _steps(store: SqliteStore, filters: TransactionFilter | None) -> int:
    """SQLite virtual-machine steps (in thousands) one `list` takes on this thread's connection:
    a measure of work that, unlike a clock, other jobs on the machine do not disturb."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store.run_read(lambda db: db.conn.set_progress_handler(count, 1000))
    try:
        store.list(filters, limit=50)
    finally:
        store.run_read(lambda db: db.conn.set_progress_handler(None, 1000))
    return steps[0]


def test_the_admin_list_and_a_busy_sirens_list_cost_the_same_at_10x_the_rows(store):
    """What grows with the table (the total of everything, of one busy SIREN, of a status)
    must not grow the work: measured in SQLite VM steps at 400 rows, then at 4,000."""
    blobs = Blobs(store)
    shapes = {"admin": None, "acts": TransactionFilter(type=T.ACTE),
              "busy SIREN": TransactionFilter(sirens=frozenset({SIREN})),
              "two busy SIRENs": TransactionFilter(sirens=frozenset(SIRENS)),
              "two SIRENs, one status": TransactionFilter(sirens=frozenset(SIRENS), status=S.ERREUR),
              "SIREN + status": TransactionFilter(siren=SIREN, status=S.ERREUR),
              "acts in error": TransactionFilter(type=T.ACTE, status=S.ERREUR)}

    def fill(start: int, stop: int) -> None:
        def write(_db):
            for i in range(start, stop):
                store.create_transaction(
                    _new(blobs, f"G{i}", siren=SIRENS[i % 2],
                         status=(S.ACQUITTEMENT_RECU, S.ERREUR)[i % 20 == 7]),
                    at=T0 + timedelta(seconds=i), actor="t")
        store.run_write(write)

    fill(0, 400)
    small = {name: _steps(store, f) for name, f in shapes.items()}
    fill(400, 4000)
    large = {name: _steps(store, f) for name, f in shapes.items()}
    assert store.list().total == 4000
    for name in shapes:
        assert large[name] <= 1.5 * small[name] + 2, (name, small[name], large[name])


@pytest.mark.parametrize("filters", [
    None,  # the admin's everything
    TransactionFilter(type=T.ACTE),  # the admin list and the dashboard, by default
    TransactionFilter(type=T.ACTE, siren=SIREN, status=S.POSTE, nature=NatureActe.DE),  # all their filters
    TransactionFilter(sirens=frozenset({SIREN})),  # an agent's list (REST API)
    TransactionFilter(siren=SIREN, sirens=frozenset(SIRENS), status=S.POSTE, type=T.ACTE),
], ids=["all", "acts", "admin filters", "agent", "agent filters"])
def test_the_web_lists_totals_are_read_from_the_counters(store, filters):
    """Proof that the fast path is taken (a COUNT(*) without WHERE costs few VM steps, so the
    test above cannot tell): a counter bumped behind the store's back shows in the total."""
    store.create_transaction(_new(Blobs(store), "W1"), at=T0, actor="t")
    assert store.list(filters).total == 1
    store.run_write(lambda db: (db.execute("update transaction_counts set n = n + 40"),
                                db.execute("update transaction_totals set n = n + 40")))
    assert store.list(filters).total == 41


def test_the_simulator_reset_empties_the_counters_with_the_transactions(store):
    """The reset lifts every trigger on the tables it wipes, the counting ones too."""
    blobs = Blobs(store)
    for i in range(3):
        store.create_transaction(_new(blobs, f"Z{i}"), at=T0, actor="t")
    store.run_write(wipe_transactions)
    assert store.list().total == store.list(TransactionFilter(siren=SIREN)).total == 0
    store.create_transaction(_new(blobs, "Z9"), at=T0, actor="t")  # the triggers are back
    assert_counters_match(store)
    assert store.list(TransactionFilter(siren=SIREN, type=T.ACTE)).total == 1
