"""Identity resolution and the one authorisation rule, without HTTP."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from cryptography import x509

from operator_sim.errors import Kind
from operator_sim.pki import (
    Account,
    BadCredentials,
    CertificateBinding,
    CredentialsRequired,
    Forbidden,
    MissingRole,
    UnknownCertificate,
    authorize,
    fingerprint,
    hash_password,
    resolve,
)
from operator_sim.store import IdentityConflict, SqliteStore
from operator_sim.store.identities import StoreDirectory

from .conftest import SHARED_PASSWORDS


def leaf(pki, name="valid_rgs2_ecdsa") -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki.catalogue_dir / name / "cert.pem").read_bytes())


def test_single_account_certificate_needs_no_password(pki, directory):
    identity = resolve(directory, leaf(pki))
    assert identity.can_act_for("491011698") and not identity.can_act_for("253400014")
    assert identity.login is None


def test_shared_certificate_resolves_each_login_to_its_own_sirens(directory, shared_agent):
    certificate = x509.load_pem_x509_certificate(shared_agent.certificate.read_bytes())
    with pytest.raises(CredentialsRequired):
        resolve(directory, certificate)
    with pytest.raises(BadCredentials):
        resolve(directory, certificate, credentials=("alice", SHARED_PASSWORDS["bob"]))
    bob = resolve(directory, certificate, credentials=("bob", SHARED_PASSWORDS["bob"]))
    assert bob.sirens == frozenset({"253400014"})


def test_foreign_siren_and_missing_role_are_forbidden(pki, directory):
    identity = resolve(directory, leaf(pki))
    authorize(identity, "491011698", "submit")
    with pytest.raises(Forbidden) as refused:
        authorize(identity, "253400014", "read")
    assert refused.value.kind is Kind.FORBIDDEN and refused.value.code == "FORBIDDEN_SIREN"
    with pytest.raises(MissingRole):
        authorize(identity, "491011698", "admin")


def test_unbound_certificate_is_unknown(pki, directory, unbound_agent):
    certificate = x509.load_pem_x509_certificate(unbound_agent.certificate.read_bytes())
    with pytest.raises(UnknownCertificate):
        resolve(directory, certificate)
    assert directory.cached(unbound_agent.fingerprint) is None  # a miss is asked again next time


def test_passwords_are_stored_as_salted_scrypt_never_in_clear(tmp_path, pki):
    now = datetime.now(UTC)
    print_ = fingerprint(leaf(pki))
    with SqliteStore.open(tmp_path) as store:
        directory = StoreDirectory(store)
        for login in ("a", "b"):
            directory.bind(CertificateBinding(print_, "491011698", (Account(
                name=login, sirens=frozenset({"491011698"}), login=login,
                password_hash=hash_password("pw")),)), at=now)
        with pytest.raises(IdentityConflict, match="needs a login on each"):
            directory.bind(CertificateBinding(print_, "491011698", (Account(
                name="c", sirens=frozenset({"491011698"})),)), at=now)
        assert [a.name for a in directory.binding(print_).accounts] == ["a", "b"]
    with sqlite3.connect(tmp_path / "operator-sim.sqlite3") as db:
        hashes = [h for (h,) in db.execute("select password_hash from agents order by id")]
    assert all(h.startswith("scrypt$") for h in hashes) and hashes[0] != hashes[1]
