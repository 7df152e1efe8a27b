"""The identity tables: enrolment is one transaction, migration 0006 keeps existing agents."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from operator_sim.store import IdentityConflict, NewAgent, NewCertificate, SqliteStore, schema

from .factories import OTHER_SIREN, SIREN, T0

A, B = "ab" * 32, "cd" * 32


def agent(name: str, *sirens: str, login: str | None = None) -> NewAgent:
    return NewAgent(name, frozenset({"read"}), frozenset(sirens or {SIREN}), login,
                    "scrypt$x" if login else None)


def test_enrolment_is_one_transaction_and_refuses_contradictions(tmp_path):
    with SqliteStore.open(tmp_path) as store:
        good = NewCertificate(A, SIREN, (agent("Alice"),), "1F", "CN=Alice")
        other_siren = NewCertificate(B, SIREN, (agent("Bob"),))
        store.enrol([other_siren], at=T0)
        with pytest.raises(IdentityConflict, match="bound to SIREN"):
            store.enrol([good, NewCertificate(B, OTHER_SIREN, (agent("Carol"),))], at=T0)
        assert store.agent_certificate(A) is None  # the first one rolled back with the second
        with pytest.raises(IdentityConflict, match="login on each"):
            store.enrol([NewCertificate(B, SIREN, (agent("Dan", login="dan"),))], at=T0)
        assert [a.name for a in store.agent_certificate(B).agents] == ["Bob"]

        (alice,) = store.enrol([good], at=T0)
        assert (alice.siren, alice.serial, alice.subject, alice.enrolled_at) == (
            SIREN, "1F", "CN=Alice", T0)
        assert alice.agents[0].sirens == {SIREN} and alice.agents[0].roles == {"read"}
        (kept,) = store.enrol([NewCertificate(A, OTHER_SIREN, (agent("Eve"),))], at=T0,
                              keep_existing=True)
        assert kept == alice  # an import leaves a bound certificate as it is


def test_migration_0006_keeps_agents_and_unhooks_their_sirens_from_collectivites(tmp_path):
    path = tmp_path / "operator-sim.sqlite3"
    db = Database(path)
    db.execute("PRAGMA foreign_keys = ON")
    schema.migrations.apply(db, stop_before="0006_agent_certificates")
    db["collectivites"].insert({"siren": SIREN, "departement": "034", "arrondissement": "1",
                                "nature": "31", "nom": "Commune"})
    db["agents"].insert({"id": 7, "certificate_fingerprint": A, "name": "Alice", "roles": "[]"})
    db["agent_sirens"].insert({"agent_id": 7, "siren": SIREN})
    with pytest.raises(sqlite3.IntegrityError):  # before: a SIREN had to be a collectivité
        db["agent_sirens"].insert({"agent_id": 7, "siren": OTHER_SIREN})
    db.close()

    with SqliteStore.open(tmp_path) as store:
        store.enrol([NewCertificate(B, OTHER_SIREN, (agent("Bob", OTHER_SIREN),))], at=T0)
        assert store.agents_for_certificate(A)[0].sirens == {SIREN}
        assert store.agent_certificate(B).agents[0].sirens == {OTHER_SIREN}
        indexes = store.run_read(lambda db: {i.name for i in db["agent_sirens"].indexes})
        assert "agent_sirens_siren" in indexes
