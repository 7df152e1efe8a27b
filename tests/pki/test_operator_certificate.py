"""The operator's signing certificate: made with the PKI, added to folders made before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cryptography import x509

from operator_sim.pki import PkiStore
from operator_sim.pki.profiles import EC_P256
from operator_sim.pki.provision import ensure_pki
from operator_sim.pki.trust import judge

NOW = datetime.now(UTC).replace(microsecond=0)


def small_pki(folder) -> PkiStore:
    store = PkiStore(folder)
    store.initialise(now=NOW, ca_key=EC_P256, intermediate_key=EC_P256)
    return store


def test_a_new_pki_has_an_operator_certificate_trusted_for_signing(tmp_path):
    store = small_pki(tmp_path / "certs")
    (record,) = [r for r in store.records() if r.kind == "operator"]
    certificate = store.certificate(record)
    verdict = judge([certificate], at=NOW, store=store.trust_store())
    assert verdict.accepted, verdict.detail
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert store.ensure_operator(now=NOW) == record


def test_a_folder_made_before_the_operator_door_gets_one_on_start(tmp_path):
    store = small_pki(tmp_path / "certs")
    index = json.loads(store.index_path.read_text())
    index["certificates"] = [c for c in index["certificates"] if c["kind"] != "operator"]
    store.index_path.write_text(json.dumps(index))
    assert not [r for r in store.records() if r.kind == "operator"]

    report = ensure_pki(store.directory, now=NOW)
    assert report.already_initialised
    (record,) = [r for r in store.records() if r.kind == "operator"]
    assert (store.directory / record.key).stat().st_mode & 0o077 == 0


def test_a_revoked_or_expired_operator_certificate_is_replaced(tmp_path):
    store = small_pki(tmp_path / "certs")
    first = store.ensure_operator(now=NOW)
    store.revoke(first.serial, now=NOW)
    second = store.ensure_operator(now=NOW)
    assert second.serial != first.serial and not second.revoked
    later = NOW + timedelta(days=3 * 365)
    third = store.ensure_operator(now=later)
    assert third.serial != second.serial
    assert datetime.fromisoformat(third.not_before) == later
