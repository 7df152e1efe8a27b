"""The ministère signer is loaded once per PKI folder, and again when the PKI changes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from operator_sim.pki import PkiStore
from operator_sim.pki.profiles import RSA_2048
from operator_sim.signature.cms import ministere_signer, sign_outgoing, verify_detached

NOW = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
XML = b"<ARActe/>"


def fresh_pki(folder) -> PkiStore:
    pki = PkiStore(folder)
    pki.initialise(now=NOW, ca_key=RSA_2048)
    return pki


def signer_of(signature: bytes):
    return verify_detached(XML, signature, at=NOW, trust=None).signer


def test_the_key_is_read_once_per_pki(tmp_path):
    pki = fresh_pki(tmp_path / "certs")
    first = sign_outgoing(XML, pki)
    key = next(r for r in pki.records() if r.kind == "ministere").key
    aside = tmp_path / "key-aside.pem"
    shutil.move(pki.directory / key, aside)  # signing no longer needs the file
    try:
        assert signer_of(sign_outgoing(XML, pki)) == signer_of(first)
    finally:
        shutil.move(aside, pki.directory / key)


def test_a_regenerated_pki_signs_with_its_new_ministere_certificate(tmp_path):
    folder = tmp_path / "certs"
    before = signer_of(sign_outgoing(XML, fresh_pki(folder)))
    shutil.rmtree(folder)
    pki = fresh_pki(folder)
    after = signer_of(sign_outgoing(XML, pki))
    assert after != before and after == ministere_signer(pki)[0]
