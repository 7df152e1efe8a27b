"""Our signatures against the real `openssl cms -verify`, and the ministry's detached
signature of outgoing messages (which stay schema-valid, untouched)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from pathlib import Path

from operator_sim.pki import PkiStore, TrustStore
from operator_sim.protocol.messages import ARActe, parse_message
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.signature import (
    Failure,
    ministere_signer,
    sign_detached,
    sign_outgoing,
    verify_detached,
    verify_pdf_signatures,
)
from operator_sim.testing.corpus import build
from operator_sim.validation.registry import default_registry

from .conftest import DOCUMENT, SignerFiles, openssl_sign, openssl_verify, signed_request


def test_our_signature_is_verified_by_openssl(pki: PkiStore, agent: SignerFiles,
                                              tmp_path: Path) -> None:
    signature = sign_detached(DOCUMENT, agent.certificate(), agent.private_key(),
                              agent.chain_certificates())
    # Agent certificates carry EKU clientAuth (RGS authentication profile): OpenSSL's default
    # S/MIME purpose would refuse them, hence -purpose any for *agent* signatures.
    done = openssl_verify(DOCUMENT, signature, pki.roots_path, tmp_path, "-purpose", "any")
    assert done.returncode == 0, done.stderr
    tampered = openssl_verify(DOCUMENT + b" ", signature, pki.roots_path, tmp_path,
                              "-purpose", "any")
    assert tampered.returncode != 0


def test_openssl_signature_is_accepted_with_its_details(
        agent: SignerFiles, trust: TrustStore, reference_time: datetime, tmp_path: Path) -> None:
    result = verify_detached(DOCUMENT, openssl_sign(DOCUMENT, agent, tmp_path),
                             at=reference_time, trust=trust)
    assert result.ok and result.indication == "TOTAL_PASSED" and result.sub_indication is None
    assert result.signer == agent.certificate()
    assert result.digest_algorithm == "sha256"
    assert result.signing_time is not None
    assert result.verdict is not None and result.verdict.accepted


def test_signer_is_judged_at_the_time_given_not_the_wall_clock(
        agent: SignerFiles, trust: TrustStore, reference_time: datetime, tmp_path: Path) -> None:
    signature = openssl_sign(DOCUMENT, agent, tmp_path)
    later = reference_time + dt.timedelta(days=3 * 365)
    result = verify_detached(DOCUMENT, signature, at=later, trust=trust)
    assert (result.indication, result.sub_indication) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")


def test_unsigned_pdf_has_no_pades_signature(trust: TrustStore,
                                             reference_time: datetime) -> None:
    assert verify_pdf_signatures(DOCUMENT, at=reference_time, trust=trust) == []


def test_empty_signature_is_a_format_failure(trust: TrustStore, reference_time: datetime) -> None:
    result = verify_detached(DOCUMENT, b"", at=reference_time, trust=trust)
    assert result.failure is Failure.EMPTY and not result.ok


def _ar_acte() -> bytes:
    acte = build(signed_request(None)).acte
    return ARActe("034-491011698-20240312-DELIB2024_012-DE", dt.date(2024, 3, 14), acte,
                  dt.date(2019, 3, 1)).to_xml()


def test_outgoing_ar_acte_signature_verifies_with_openssl_default_purpose(
        pki: PkiStore, tmp_path: Path) -> None:
    xml = _ar_acte()
    signature = sign_outgoing(xml, pki)
    # The ministère certificate carries EKU emailProtection + nonRepudiation: OpenSSL's default
    # purpose (smimesign) accepts it, so no -purpose flag is needed.
    done = openssl_verify(xml, signature, pki.roots_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert openssl_verify(xml.replace(b"2024-03-14", b"2024-03-15"), signature,
                          pki.roots_path, tmp_path).returncode != 0


def test_outgoing_message_is_left_schema_valid_and_unchanged(pki: PkiStore) -> None:
    xml = _ar_acte()
    sign_outgoing(xml, pki)
    assert default_registry().actes.is_valid(parse_xml(xml, name="ar.xml"))
    assert isinstance(parse_message(xml), ARActe)


def test_outgoing_signature_names_the_ministere(pki: PkiStore, trust: TrustStore,
                                                reference_time: datetime) -> None:
    xml = _ar_acte()
    result = verify_detached(xml, sign_outgoing(xml, pki), at=reference_time, trust=None)
    certificate, _, _ = ministere_signer(pki)
    assert result.intact and result.signer == certificate
