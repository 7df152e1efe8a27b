"""Modes (off / verify-if-present / required), per-profile overrides, the S²LOW CC + 1.1
exception, and the form-only check without a trust store."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime
from pathlib import Path

from operator_sim.pki import CatalogueEntry, PkiStore, TrustStore
from operator_sim.protocol.codes import NatureActe
from operator_sim.protocol.envelope import ActeRequest, Piece
from operator_sim.signature import SignatureMode, SignaturePolicy
from operator_sim.testing.corpus import base_request, minimal_pdf
from operator_sim.validation.profiles import MatiereProfile
from operator_sim.validation.registry import SchemaRegistry
from operator_sim.validation.report import ValidationReport

from .conftest import (
    DOCUMENT,
    SignerFiles,
    catalogue_signer,
    openssl_sign,
    policy_for,
    signed_request,
    validate,
    write_act,
)


def _codes(report: ValidationReport) -> list[str]:
    return [f.code for f in report.errors]


def test_required_mode_refuses_an_unsigned_act(tmp_path: Path, reference_time: datetime,
                                               trust: TrustStore) -> None:
    policy = policy_for(reference_time, trust,
                        signatures=SignaturePolicy(mode=SignatureMode.REQUIRED))
    report = validate(write_act(signed_request(None), tmp_path), policy)
    assert _codes(report) == ["SIGNATURE_MISSING"]
    assert report.anomalie()[0].value == "012"


def test_required_mode_accepts_a_signed_act(tmp_path: Path, reference_time: datetime,
                                            trust: TrustStore, agent: SignerFiles) -> None:
    policy = policy_for(reference_time, trust,
                        signatures=SignaturePolicy(mode=SignatureMode.REQUIRED))
    request = signed_request(openssl_sign(DOCUMENT, agent, tmp_path))
    assert validate(write_act(request, tmp_path), policy).valid


def test_unsigned_act_passes_by_default(tmp_path: Path, reference_time: datetime,
                                        trust: TrustStore) -> None:
    assert validate(write_act(signed_request(None), tmp_path),
                    policy_for(reference_time, trust)).valid


def test_off_mode_ignores_a_broken_signature(tmp_path: Path, reference_time: datetime,
                                             trust: TrustStore) -> None:
    broken = write_act(signed_request(b"pas une signature"), tmp_path)
    assert not validate(broken, policy_for(reference_time, trust)).valid
    policy = policy_for(reference_time, trust, signatures=SignaturePolicy(mode=SignatureMode.OFF))
    assert validate(broken, policy).valid


def test_profile_requiring_signatures_refuses_unsigned_acts_of_its_matiere(
        tmp_path: Path, reference_time: datetime, trust: TrustStore) -> None:
    registry = SchemaRegistry()
    registry.profiles = tuple(
        dataclasses.replace(p, signatures=SignatureMode.REQUIRED) if p.name == "default" else p
        for p in registry.profiles)
    report = validate(write_act(signed_request(None), tmp_path), policy_for(reference_time, trust),
                      registry=registry)
    assert _codes(report) == ["SIGNATURE_MISSING"]
    off = policy_for(reference_time, trust, signatures=SignaturePolicy(mode=SignatureMode.OFF))
    assert validate(write_act(signed_request(None), tmp_path), off, registry=registry).valid


def test_profile_toml_signatures_key_is_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "marches"
    folder.mkdir()
    (folder / "profile.toml").write_text(
        'name = "marches"\ntitle_fr = "t"\ntitle_en = "t"\nmatieres = ["1"]\n'
        'natures = ["CC"]\nmain_formats = ["pdf"]\nannex_formats = ["pdf"]\n'
        'signatures = "required"\n', encoding="utf-8")
    assert MatiereProfile.load(folder).signatures is SignatureMode.REQUIRED


def _contract(signature: bytes | None, codes: tuple[int, ...]) -> ActeRequest:
    """A contract (CC) without typologies, so that only the signature rules speak."""
    return base_request(nature=NatureActe.CC, codes_matiere=codes,
                        document=Piece(DOCUMENT, "pdf", None, signature),
                        annexes=(Piece(minimal_pdf("Annexe du marche"), "pdf"),))


def test_contract_in_marches_publics_is_accepted_with_an_expired_signer(
        tmp_path: Path, reference_time: datetime, trust: TrustStore, pki: PkiStore,
        catalogue: dict[str, CatalogueEntry]) -> None:
    expired = catalogue_signer(pki, catalogue["expired"])
    request = _contract(openssl_sign(DOCUMENT, expired, tmp_path), (1, 1))
    report = validate(write_act(request, tmp_path), policy_for(reference_time, trust))
    assert report.valid, report.findings
    assert [f.code for f in report.warnings if f.code.startswith("SIGNATURE")] == [
        "SIGNATURE_SIGNER_UNTRUSTED"]
    strict = policy_for(reference_time, trust,
                        signatures=SignaturePolicy(s2low_signer_exception=False))
    assert _codes(validate(write_act(request, tmp_path), strict)) == ["SIGNATURE_SIGNER_UNTRUSTED"]


def test_contract_exception_does_not_excuse_an_altered_file(
        tmp_path: Path, reference_time: datetime, trust: TrustStore, pki: PkiStore,
        catalogue: dict[str, CatalogueEntry]) -> None:
    expired = catalogue_signer(pki, catalogue["expired"])
    request = _contract(openssl_sign(b"autre contenu", expired, tmp_path), (1, 1))
    report = validate(write_act(request, tmp_path), policy_for(reference_time, trust))
    assert _codes(report) == ["SIGNATURE_INVALID"]


def test_expired_signer_outside_marches_publics_is_refused(
        tmp_path: Path, reference_time: datetime, trust: TrustStore, pki: PkiStore,
        catalogue: dict[str, CatalogueEntry]) -> None:
    expired = catalogue_signer(pki, catalogue["expired"])
    request = _contract(openssl_sign(DOCUMENT, expired, tmp_path), (1, 2))
    report = validate(write_act(request, tmp_path), policy_for(reference_time, trust))
    assert "SIGNATURE_SIGNER_UNTRUSTED" in _codes(report)


def test_without_trust_store_signers_are_not_judged_but_integrity_is(
        tmp_path: Path, reference_time: datetime, pki: PkiStore,
        catalogue: dict[str, CatalogueEntry]) -> None:
    unknown = catalogue_signer(pki, catalogue["unknown_ca"])
    signature = openssl_sign(DOCUMENT, unknown, tmp_path)
    policy = policy_for(reference_time, None)
    assert validate(write_act(signed_request(signature), tmp_path), policy).valid
    altered = signed_request(signature, document=DOCUMENT.replace(b"2024", b"2025"))
    assert _codes(validate(write_act(altered, tmp_path), policy)) == ["SIGNATURE_INVALID"]


def test_policy_with_trust_store_survives_pickling_for_worker_processes(
        tmp_path: Path, reference_time: datetime, trust: TrustStore, agent: SignerFiles) -> None:
    policy = policy_for(reference_time, trust)
    copy = pickle.loads(pickle.dumps(policy))
    assert copy.trust is not None and copy.trust.anchors == trust.anchors
    assert copy.trust.crls == trust.crls
    path = write_act(signed_request(openssl_sign(DOCUMENT, agent, tmp_path)), tmp_path)
    assert validate(path, copy).valid
