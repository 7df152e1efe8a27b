"""Named store methods that the engine and the web layer call instead of shipping SQL."""

import datetime as dt

import pytest

from operator_sim.protocol.codes import TransactionStatus, TransactionType
from operator_sim.store import NewConvention, NotFound, StoredRule

from .factories import OTHER_SIREN, SIREN, T0, new_acte, new_transaction, open_store

S = TransactionStatus


def test_a_numero_interne_is_taken_by_any_act_of_the_siren_whatever_its_status(tmp_path):
    with open_store(tmp_path) as store:
        store.create_transaction(new_acte(store, "LIVE"), at=T0, actor="t")
        store.create_transaction(new_acte(store, "REFUSED", status=S.ERREUR), at=T0, actor="t")
        cancelled = store.create_transaction(new_acte(store, "GONE"), at=T0, actor="t")
        store.transition(cancelled.id, S.ANNULE, at=T0, actor="t", expected_from=S.POSTE)
        store.create_transaction(new_transaction(store, TransactionType.COURRIER_SIMPLE,
                                                 S.DOCUMENT_RECU, numero="LETTER"), at=T0, actor="t")

        assert store.numero_interne_taken(SIREN, "LIVE")
        assert store.numero_interne_taken(SIREN, "REFUSED")
        assert store.numero_interne_taken(SIREN, "GONE")
        assert not store.numero_interne_taken(SIREN, "NEVER")
        assert not store.numero_interne_taken(OTHER_SIREN, "LIVE")  # numbers are per SIREN


def test_atomic_commits_every_named_write_together_or_none(tmp_path):
    with open_store(tmp_path) as store:
        def both() -> None:
            store.set_state("a", "1")
            store.schedule_event(due_at=T0, kind="answer", transaction_id=None, payload={},
                                 created_at=T0)

        store.atomic(both)
        assert store.state("a") == "1" and store.pending_summary() == (1, T0)

        def fails() -> None:
            store.set_state("a", "2")
            store.replace_scenario_rules([StoredRule("r", "admin", {"id": "r"}, 0)])
            raise RuntimeError("refused halfway")

        with pytest.raises(RuntimeError):
            store.atomic(fails)
        assert store.state("a") == "1"
        assert store.scenario_rules() == []

        def nested() -> int:  # an atomic step inside another joins it; reads see its writes
            store.atomic(lambda: store.set_state("b", "x"))
            return len(store.scenario_rules()) + int(store.state("b") == "x")

        assert store.atomic(nested) == 1


def test_get_convention_finds_one_by_id(tmp_path):
    with open_store(tmp_path) as store:
        saved = store.add_convention(NewConvention(SIREN, dt.date(2020, 1, 1), "SLO"))
        assert store.get_convention(saved.id) == saved
        assert store.get_convention(saved.id + 1) is None
        with pytest.raises(NotFound):
            store.terminate_convention(saved.id + 1, dt.date(2021, 1, 1))


def test_a_deferred_request_is_journaled_with_the_next_commit(tmp_path):
    with open_store(tmp_path) as store:
        entry = {"at": T0, "method": "GET", "path": "/api/v1/actes", "query": "", "status": 200,
                 "duration_ms": 3, "verdict": "PASSED", "identity": {"name": "agent"}}
        store.defer_request(entry)
        assert store.requests() == []  # waits for a commit
        store.record_request({**entry, "path": "/api/v1/actes/1"})
        assert [(r["path"], r["identity"]) for r in store.requests()] == [
            ("/api/v1/actes/1", {"name": "agent"}), ("/api/v1/actes", {"name": "agent"})]
        assert [r["path"] for r in store.requests(path="/api/v1/actes/")] == ["/api/v1/actes/1"]


def test_rules_and_their_hits(tmp_path):
    with open_store(tmp_path) as store:
        acte = store.create_transaction(new_acte(store, "R1"), at=T0, actor="t")
        store.replace_scenario_rules([StoredRule("once", "admin", {"id": "once"}, 0)])
        assert store.take_rule_hit("once", 1)
        assert not store.take_rule_hit("once", 1)  # used up
        assert store.scenario_rules() == [StoredRule("once", "admin", {"id": "once"}, 1)]
        store.record_application(acte.id, "once", {"rule": "once"}, corrupt_return=True)
        assert store.application(acte.id) == {"rule_id": "once", "decision": {"rule": "once"},
                                               "corrupt_return": True}
        assert store.corrupts_return([acte.id]) and not store.corrupts_return([acte.id + 1])
