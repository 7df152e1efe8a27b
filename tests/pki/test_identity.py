"""Identity resolution and the one authorisation rule, without HTTP."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from operator_sim.pki import (
    Account,
    BadCredentials,
    CertificateBinding,
    CredentialsRequired,
    Forbidden,
    JsonIdentityDirectory,
    MissingRole,
    UnknownCertificate,
    authorize,
    fingerprint,
    hash_password,
    resolve,
)

from .conftest import SHARED_PASSWORDS


def leaf(pki, name="valid_rgs2_ecdsa") -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki.catalogue_dir / name / "cert.pem").read_bytes())


def test_single_account_certificate_needs_no_password(pki):
    identity = resolve(JsonIdentityDirectory(pki.identities_path), leaf(pki))
    assert identity.can_act_for("491011698") and not identity.can_act_for("253400014")
    assert identity.login is None


def test_shared_certificate_resolves_each_login_to_its_own_sirens(pki, shared_agent):
    directory = JsonIdentityDirectory(pki.identities_path)
    certificate = x509.load_pem_x509_certificate(shared_agent.certificate.read_bytes())
    with pytest.raises(CredentialsRequired):
        resolve(directory, certificate)
    with pytest.raises(BadCredentials):
        resolve(directory, certificate, credentials=("alice", SHARED_PASSWORDS["bob"]))
    bob = resolve(directory, certificate, credentials=("bob", SHARED_PASSWORDS["bob"]))
    assert bob.sirens == frozenset({"253400014"})


def test_foreign_siren_and_missing_role_are_forbidden(pki):
    identity = resolve(JsonIdentityDirectory(pki.identities_path), leaf(pki))
    authorize(identity, "491011698", "submit")
    with pytest.raises(Forbidden) as refused:
        authorize(identity, "253400014", "read")
    assert refused.value.status == 403 and refused.value.code == "FORBIDDEN_SIREN"
    with pytest.raises(MissingRole):
        authorize(identity, "491011698", "admin")


def test_unbound_certificate_is_unknown(tmp_path, pki):
    with pytest.raises(UnknownCertificate):
        resolve(JsonIdentityDirectory(tmp_path / "none.json"), leaf(pki))


def test_passwords_are_stored_as_salted_scrypt_never_in_clear(tmp_path, pki):
    directory = JsonIdentityDirectory(tmp_path / "identities.json")
    print_ = fingerprint(leaf(pki))
    directory.bind(CertificateBinding(print_, "491011698"))
    for login in ("a", "b"):
        directory.add_account(print_, Account(name=login, sirens=frozenset({"491011698"}),
                                              login=login, password_hash=hash_password("pw")))
    raw = (tmp_path / "identities.json").read_text()
    hashes = [a["password_hash"] for a in json.loads(raw)["certificates"][print_]["accounts"]]
    assert all(h.startswith("scrypt$") for h in hashes) and hashes[0] != hashes[1]
    assert '"pw"' not in raw
    with pytest.raises(ValueError):
        directory.add_account(print_, Account(name="c", sirens=frozenset({"491011698"})))
