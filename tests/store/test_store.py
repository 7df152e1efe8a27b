import sqlite3
from datetime import datetime, timedelta

import pytest

from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from operator_sim.store import (
    DuplicateActe,
    MissingBlob,
    NewDocument,
    NewMessage,
    NewTransaction,
    NotFound,
    StatusConflict,
    TransactionFilter,
    TransitionStep,
    WalkStep,
)
from operator_sim.store.database import DATABASE_NAME

from .factories import OTHER_SIREN, SIREN, T0, message, new_acte, new_transaction, open_store

S = TransactionStatus


@pytest.fixture
def store(tmp_path):
    store = open_store(tmp_path)
    yield store
    store.close()


def _count(store, table):
    return store.run_write(lambda db: db.execute(f"select count(*) from {table}").fetchone()[0])


def test_created_act_is_read_back_with_its_documents_messages_and_creation_event(store):
    row = store.create_transaction(new_acte(store, "D1"), at=T0, actor="agent:1", message="dépôt")
    assert store.get(row.id) == row
    assert (row.type, row.status, row.siren, row.numero_interne) == (
        TransactionType.ACTE, S.POSTE, SIREN, "D1")
    assert row.nature is NatureActe.DE and row.decision_date == T0.date() and row.created_at == T0
    (msg,) = store.messages(row.id)
    assert (msg.code, msg.direction) == ("1-1", Sender.CL)
    assert store.blobs.read(msg.xml_sha256).startswith(b"<1-1")
    (doc,) = store.documents(row.id)
    assert doc.role == "main" and doc.mimetype == "application/pdf"
    (event,) = store.journal(row.id)
    assert (event.from_status, event.to_status, event.actor, event.message, event.message_id) == (
        None, S.POSTE, "agent:1", "dépôt", msg.id)


def test_journal_refuses_update_and_delete(store, tmp_path):
    row = store.create_transaction(new_acte(store, "J1"), at=T0, actor="a")
    with sqlite3.connect(tmp_path / DATABASE_NAME) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("update journal set to_status = 5 where transaction_id = ?", [row.id])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("delete from journal where transaction_id = ?", [row.id])
    assert [e.to_status for e in store.journal(row.id)] == [S.POSTE]


def test_a_failure_midway_through_a_write_leaves_nothing(store):
    pdf = store.blobs.put(b"%PDF")
    # Same (role, position) twice: the second document insert fails after the transaction
    # row and its message were written in the same SQLite transaction.
    twice = tuple(NewDocument("annexe", 1, f"a{i}.pdf", pdf, "application/pdf", 4) for i in range(2))
    with pytest.raises(sqlite3.IntegrityError):
        store.create_transaction(new_acte(store, "X1", documents=twice), at=T0, actor="a")
    assert {t: _count(store, t) for t in ("transactions", "messages", "documents", "journal")} == {
        "transactions": 0, "messages": 0, "documents": 0, "journal": 0}

    def half_then_fail(db):
        db["collectivites"].insert({"siren": "111111111", "departement": "034",
                                    "arrondissement": "1", "nature": "31", "nom": "Fantôme"})
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        store.run_write(half_then_fail)
    assert store.get_collectivite("111111111") is None
    # The number is free again: nothing of the failed act was kept.
    assert store.create_transaction(new_acte(store, "X1"), at=T0, actor="a").numero_interne == "X1"


def test_recording_a_blob_that_was_not_put_first_is_refused(store):
    ghost = NewMessage("1-1", Sender.CL, "ghost.xml", "ab" * 32)
    with pytest.raises(MissingBlob):
        store.create_transaction(NewTransaction(TransactionType.ANNULATION, S.POSTE, SIREN,
                                                messages=(ghost,)), at=T0, actor="a")
    assert _count(store, "transactions") == 0


def test_unknown_siren_or_related_transaction_is_not_found(store):
    with pytest.raises(NotFound):
        store.create_transaction(new_acte(store, "U1", siren="999999999"), at=T0, actor="a")
    courrier = new_transaction(store, TransactionType.COURRIER_SIMPLE, S.DOCUMENT_RECU_PAS_D_AR, related=42)
    with pytest.raises(NotFound):
        store.create_transaction(courrier, at=T0, actor="a")
    with pytest.raises(NotFound):
        store.get(42)


def test_a_second_live_act_with_the_same_number_is_refused_until_the_first_fails(store):
    first = store.create_transaction(new_acte(store, "DUP"), at=T0, actor="a")
    with pytest.raises(DuplicateActe):
        store.create_transaction(new_acte(store, "DUP"), at=T0, actor="a")
    other = store.create_transaction(new_acte(store, "DUP", siren=OTHER_SIREN), at=T0, actor="a")
    assert other.siren == OTHER_SIREN
    store.transition(first.id, S.ERREUR, at=T0, actor="tdt", expected_from=S.POSTE)
    again = store.create_transaction(new_acte(store, "DUP"), at=T0, actor="a")
    assert store.find_live_acte(SIREN, "DUP") == again


def test_transition_is_a_compare_and_set_on_the_status(store):
    row = store.create_transaction(new_acte(store, "C1"), at=T0, actor="a")
    later = T0 + timedelta(minutes=5)
    moved = store.transition(row.id, S.EN_ATTENTE_DE_TRANSMISSION, at=later, actor="tdt",
                             expected_from=S.POSTE, message="validation OK")
    assert moved.status == S.EN_ATTENTE_DE_TRANSMISSION and moved.updated_at == later
    with pytest.raises(StatusConflict) as lost:
        store.transition(row.id, S.ERREUR, at=later, actor="tdt", expected_from=S.POSTE)
    assert lost.value.actual == S.EN_ATTENTE_DE_TRANSMISSION
    assert [e.to_status for e in store.journal(row.id)] == [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION]
    with pytest.raises(NotFound):
        store.transition(999, S.ERREUR, at=later, actor="tdt", expected_from=S.POSTE)


def test_the_ar_records_its_message_and_gives_the_act_its_id_acte(store):
    row = store.create_transaction(new_acte(store, "AR1", status=S.POSTE), at=T0, actor="a")
    ar = message(store, "1-2", Sender.PREF, "034-491011698-20250310-AR1-DE-1-2_1.xml")
    store.transition(row.id, S.TRANSMIS, at=T0, actor="tdt", expected_from=S.POSTE)
    acked = store.transition(row.id, S.ACQUITTEMENT_RECU, at=T0, actor="pref", expected_from=S.TRANSMIS,
                             attach=ar, id_acte="034-491011698-20250310-AR1-DE", message="Reçu par le MI")
    assert acked.id_acte == "034-491011698-20250310-AR1-DE"
    assert store.find_by_id_acte("034-491011698-20250310-AR1-DE") == acked
    last = store.journal(row.id)[-1]
    assert last.message_id == store.messages(row.id)[-1].id
    assert [m.code for m in store.messages(row.id)] == ["1-1", "1-2"]


def test_a_status_walk_returns_each_step_and_journals_it_without_reading_rows_back(store):
    """1 → 2 → 3 → 4 in one `transition_many`: one UPDATE moves the row (the counter triggers
    run once), a row per step with that step's status and the IDActe the walk leaves, the
    journal in step order with the answer on the last event, written by one INSERT; no row
    re-read."""
    row = store.create_transaction(new_acte(store, "W1"), at=T0, actor="a")
    ar = message(store, "1-2", Sender.PREF, "034-491011698-20250310-W1-DE-1-2_1.xml")
    later = T0 + timedelta(minutes=1)
    steps = [TransitionStep(row.id, S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, "validation OK"),
             TransitionStep(row.id, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, "transmis"),
             TransitionStep(row.id, S.TRANSMIS, S.ACQUITTEMENT_RECU, "reçu", ar,
                            "034-491011698-20250310-W1-DE")]
    statements: list[str] = []
    store.run_write(lambda db: db.conn.set_trace_callback(statements.append))
    try:
        walked = store.transition_many(steps, at=later, actor="pref")
    finally:
        store.run_write(lambda db: db.conn.set_trace_callback(None))
    id_acte = "034-491011698-20250310-W1-DE"
    assert [(r.status, r.id_acte, r.updated_at) for r in walked] == [
        (S.EN_ATTENTE_DE_TRANSMISSION, id_acte, later), (S.TRANSMIS, id_acte, later),
        (S.ACQUITTEMENT_RECU, id_acte, later)]
    assert walked[-1] == store.get(row.id)
    events = store.journal(row.id)[1:]
    assert [(e.from_status, e.to_status, e.message, e.actor) for e in events] == [
        (S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, "validation OK", "pref"),
        (S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, "transmis", "pref"),
        (S.TRANSMIS, S.ACQUITTEMENT_RECU, "reçu", "pref")]
    assert [e.message_id for e in events] == [None, None, store.messages(row.id)[-1].id]
    assert not any(s.lower().startswith("select * from transactions") for s in statements)
    assert len({s for s in statements if s.lower().startswith("insert into journal")}) == 1
    assert len({s for s in statements if s.lower().startswith("update transactions")}) == 1
    counts = store.run_read(lambda db: db.execute(
        "select status, n from transaction_counts where siren = ? and n != 0",
        [row.siren]).fetchall())
    assert counts == [(int(S.ACQUITTEMENT_RECU), 1)]


def test_a_transaction_created_with_its_walk_is_inserted_in_the_last_status(store):
    """`create_transaction(walk=...)`: one INSERT in the walk's last status and no UPDATE (the
    counter triggers run once), the journal row of every step in order with its message, the
    walk's actor on its rows; a second act naming the same IDActe is refused, nothing kept."""
    ar = message(store, "1-2", Sender.PREF, "034-491011698-20250310-W2-DE-1-2_1.xml")
    id_acte = "034-491011698-20250310-W2-DE"
    walk = [WalkStep(S.EN_ATTENTE_DE_TRANSMISSION, "validation OK"),
            WalkStep(S.TRANSMIS, "transmis"), WalkStep(S.ACQUITTEMENT_RECU, "reçu", ar, id_acte)]
    statements: list[str] = []
    store.run_write(lambda db: db.conn.set_trace_callback(statements.append))
    try:
        row = store.create_transaction(new_acte(store, "W2"), at=T0, actor="agent", walk=walk,
                                       walk_by="pref")
    finally:
        store.run_write(lambda db: db.conn.set_trace_callback(None))
    assert (row.status, row.id_acte) == (S.ACQUITTEMENT_RECU, id_acte)
    assert row == store.get(row.id)
    events = store.journal(row.id)
    assert [(e.from_status, e.to_status, e.message, e.actor) for e in events] == [
        (None, S.POSTE, "", "agent"),
        (S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, "validation OK", "pref"),
        (S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, "transmis", "pref"),
        (S.TRANSMIS, S.ACQUITTEMENT_RECU, "reçu", "pref")]
    assert events[-1].message_id == store.messages(row.id)[-1].id
    assert not any(s.lower().startswith("update transactions") for s in statements)
    counts = store.run_read(lambda db: db.execute(
        "select status, n from transaction_counts where siren = ? and n != 0",
        [row.siren]).fetchall())
    assert counts == [(int(S.ACQUITTEMENT_RECU), 1)]
    with pytest.raises(DuplicateActe, match=id_acte):
        store.create_transaction(new_acte(store, "W3"), at=T0, actor="agent", walk=walk)
    assert [r.numero_interne for r in store.list().items] == ["W2"]


def test_transitions_applied_together_win_or_lose_together(store):
    acte = store.create_transaction(new_acte(store, "AN1"), at=T0, actor="a")
    store.transition(acte.id, S.TRANSMIS, at=T0, actor="t", expected_from=S.POSTE)
    annulation = store.create_transaction(
        new_transaction(store, TransactionType.ANNULATION, S.POSTE), at=T0, actor="a")
    steps = [TransitionStep(annulation.id, S.POSTE, S.ACQUITTEMENT_RECU),
             TransitionStep(acte.id, S.ACQUITTEMENT_RECU, S.ANNULE)]  # the act is 3, not 4
    with pytest.raises(StatusConflict):
        store.transition_many(steps, at=T0, actor="pref")
    assert store.get(annulation.id).status == S.POSTE
    assert len(store.journal(annulation.id)) == 1


def test_list_filters_by_siren_status_type_nature_and_date_and_pages(store):
    ids = []
    for i in range(7):
        siren = SIREN if i % 2 == 0 else OTHER_SIREN
        ids.append(store.create_transaction(new_acte(store, f"L{i}", siren=siren),
                                            at=T0 + timedelta(days=i), actor="a").id)
    store.transition(ids[0], S.ERREUR, at=T0, actor="t", expected_from=S.POSTE)
    page = store.list(TransactionFilter(siren=SIREN), limit=2, offset=0)
    assert page.total == 4 and [r.id for r in page.items] == [ids[6], ids[4]]
    second = store.list(TransactionFilter(siren=SIREN), limit=2, offset=2)
    assert [r.id for r in second.items] == [ids[2], ids[0]]
    assert [r.id for r in store.list(TransactionFilter(status=S.ERREUR)).items] == [ids[0]]
    window = TransactionFilter(created_from=T0 + timedelta(days=2), created_to=T0 + timedelta(days=4))
    assert [r.id for r in store.list(window).items] == [ids[3], ids[2]]
    assert store.list(TransactionFilter(type=TransactionType.ACTE, nature=NatureActe.DE)).total == 7
    assert store.list(TransactionFilter(nature=NatureActe.BF)).total == 0
    assert store.list(TransactionFilter(sirens=frozenset({OTHER_SIREN}))).total == 3


def test_serials_count_up_per_name_and_survive_a_restart(tmp_path):
    store = open_store(tmp_path)
    assert [store.next_serial("tsa") for _ in range(3)] == [1, 2, 3]
    assert store.next_serial("ar") == 1
    store.close()
    store = open_store(tmp_path)
    assert store.next_serial("tsa") == 4
    store.close()


def test_naive_times_are_refused(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create_transaction(new_acte(store, "N1"), at=datetime(2025, 1, 1), actor="a")


def test_a_shared_certificate_maps_to_several_accounts_told_apart_by_login(store):
    store.add_agent(certificate_fingerprint="ab" * 32, name="Alice", roles=["submit"], sirens=[SIREN],
                    login="alice", password_hash="scrypt$1")
    store.add_agent(certificate_fingerprint="ab" * 32, name="Bob", roles=["read"],
                    sirens=[SIREN, OTHER_SIREN], login="bob", password_hash="scrypt$2")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_agent(certificate_fingerprint="ab" * 32, name="Bob again", roles=[], sirens=[],
                        login="bob", password_hash="scrypt$3")
    alice, bob = store.agents_for_certificate("ab" * 32)
    assert (alice.login, alice.roles, alice.sirens) == ("alice", frozenset({"submit"}), frozenset({SIREN}))
    assert bob.sirens == frozenset({SIREN, OTHER_SIREN})
    assert store.agents_for_certificate("cd" * 32) == ()
