"""The signed-act corpus: each bad case refused through the validator, on a real archive, with
the expected DSS indication / sub-indication and finding code; valid ones accepted."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from operator_sim.pki import CatalogueEntry, PkiStore, TrustStore
from operator_sim.protocol.envelope import ActeRequest

from .conftest import (
    ANNEXE,
    DOCUMENT,
    SignerFiles,
    catalogue_signer,
    openssl_sign,
    policy_for,
    signed_request,
    validate,
    write_act,
)


@dataclass(frozen=True)
class Env:
    pki: PkiStore
    trust: TrustStore
    catalogue: dict[str, CatalogueEntry]
    agent: SignerFiles
    tmp: Path

    def sign(self, data: bytes, *options: str, signer: SignerFiles | None = None) -> bytes:
        return openssl_sign(data, signer or self.agent, self.tmp, *options)

    def bad_signer(self, name: str) -> SignerFiles:
        return catalogue_signer(self.pki, self.catalogue[name])


def pades_sign(pdf: bytes, signer: SignerFiles) -> bytes:
    """A PAdES signature made by pyHanko's signer (the same library we verify with)."""
    chain = signer.chain or ()
    pyhanko_signer = signers.SimpleSigner.load(str(signer.key), str(signer.cert),
                                               ca_chain_files=tuple(str(p) for p in chain))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="SignatureMaire"),
                            signer=pyhanko_signer).getvalue()


def altered_pdf(signed: bytes) -> bytes:
    """One byte of the page content changed inside the signed byte range."""
    at = signed.index(b"72 720 Td")
    return signed[:at] + b"73" + signed[at + 2:]


def pdf_with_revision_after_signing(signed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def flip_last_byte(data: bytes) -> bytes:
    """The last byte of a SignedData is inside the signature value (no unsigned attributes)."""
    return data[:-1] + bytes([data[-1] ^ 0x01])


def certificate_bundle(env: Env) -> bytes:
    out = env.tmp / "bundle.p7b"
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(env.agent.cert),
                    "-outform", "DER", "-out", str(out)], check=True, capture_output=True)
    return out.read_bytes()


@dataclass(frozen=True)
class BadCase:
    name: str
    make: Callable[[Env], ActeRequest]
    indication: str
    sub_indication: str
    code: str


def _signer_case(name: str, catalogue_name: str, indication: str, sub: str) -> BadCase:
    return BadCase(name, lambda e: signed_request(
        e.sign(DOCUMENT, signer=e.bad_signer(catalogue_name))), indication, sub,
        "SIGNATURE_SIGNER_UNTRUSTED")


FAILED, INDET = "TOTAL_FAILED", "INDETERMINATE"
BAD_CASES = [
    BadCase("file_altered_after_signing",
            lambda e: signed_request(e.sign(DOCUMENT), document=DOCUMENT.replace(b"2024", b"2025")),
            FAILED, "HASH_FAILURE", "SIGNATURE_INVALID"),
    BadCase("signature_bytes_altered",
            lambda e: signed_request(flip_last_byte(e.sign(DOCUMENT))),
            FAILED, "SIG_CRYPTO_FAILURE", "SIGNATURE_INVALID"),
    BadCase("signature_over_another_file",
            lambda e: signed_request(e.sign(ANNEXE)), FAILED, "HASH_FAILURE", "SIGNATURE_INVALID"),
    BadCase("annex_signature_over_the_document",
            lambda e: signed_request(e.sign(DOCUMENT), e.sign(DOCUMENT)),
            FAILED, "HASH_FAILURE", "SIGNATURE_INVALID"),
    _signer_case("signer_revoked", "revoked", FAILED, "REVOKED"),
    _signer_case("signer_expired", "expired", INDET, "OUT_OF_BOUNDS_NO_POE"),
    _signer_case("signer_not_yet_valid", "not_yet_valid", INDET, "NOT_YET_VALID"),
    _signer_case("signer_under_unknown_ca", "unknown_ca", INDET, "NO_CERTIFICATE_CHAIN_FOUND"),
    _signer_case("signer_self_signed", "self_signed_leaf", INDET, "NO_CERTIFICATE_CHAIN_FOUND"),
    _signer_case("signer_wrong_eku", "wrong_eku", INDET, "CHAIN_CONSTRAINTS_FAILURE"),
    _signer_case("signer_key_usage_without_digital_signature",
                 "key_usage_without_digital_signature", INDET, "CHAIN_CONSTRAINTS_FAILURE"),
    _signer_case("signer_certificate_signed_with_sha1", "sha1_signature", INDET,
                 "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"),
    _signer_case("signer_rsa_1024", "weak_rsa_1024", INDET, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"),
    BadCase("signature_digest_sha1",
            lambda e: signed_request(e.sign(DOCUMENT, "-md", "sha1")),
            INDET, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE", "SIGNATURE_INVALID"),
    BadCase("empty_signature_element", lambda e: signed_request(b""),
            FAILED, "FORMAT_FAILURE", "SIGNATURE_FORMAT"),
    BadCase("non_cms_signature_element",
            lambda e: signed_request("signé électroniquement".encode()),
            FAILED, "FORMAT_FAILURE", "SIGNATURE_FORMAT"),
    BadCase("certificate_bundle_instead_of_signature",
            lambda e: signed_request(certificate_bundle(e)),
            FAILED, "FORMAT_FAILURE", "SIGNATURE_FORMAT"),
    BadCase("signature_not_detached",
            lambda e: signed_request(e.sign(DOCUMENT, "-nodetach")),
            FAILED, "FORMAT_FAILURE", "SIGNATURE_FORMAT"),
    BadCase("signer_certificate_not_included",
            lambda e: signed_request(e.sign(DOCUMENT, "-nocerts")),
            INDET, "NO_SIGNING_CERTIFICATE_FOUND", "SIGNATURE_INVALID"),
    BadCase("pades_pdf_modified_after_signing",
            lambda e: signed_request(None, document=altered_pdf(pades_sign(DOCUMENT, e.agent))),
            FAILED, "HASH_FAILURE", "SIGNATURE_INVALID"),
    BadCase("pades_pdf_revision_added_after_signing",
            lambda e: signed_request(None, document=pdf_with_revision_after_signing(
                pades_sign(DOCUMENT, e.agent))),
            FAILED, "FORMAT_FAILURE", "SIGNATURE_INVALID"),
    BadCase("pades_signer_revoked",
            lambda e: signed_request(None, document=pades_sign(DOCUMENT, e.bad_signer("revoked"))),
            FAILED, "REVOKED", "SIGNATURE_SIGNER_UNTRUSTED"),
]


@pytest.fixture
def env(pki: PkiStore, trust: TrustStore, catalogue: dict[str, CatalogueEntry],
        agent: SignerFiles, tmp_path: Path) -> Env:
    return Env(pki, trust, catalogue, agent, tmp_path)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_signed_act_is_refused_with_its_indication(case: BadCase, env: Env,
                                                        reference_time: datetime) -> None:
    path = write_act(case.make(env), env.tmp / "out")
    report = validate(path, policy_for(reference_time, env.trust))
    signature_errors = [f for f in report.errors if f.code.startswith("SIGNATURE_")]
    assert [f.code for f in signature_errors] == [case.code], report.findings
    finding = signature_errors[0]
    assert f"({case.indication}/{case.sub_indication})" in finding.message_fr
    assert f"({case.indication}/{case.sub_indication})" in finding.message_en
    assert report.anomalie()[0].value == "012"


def test_the_corpus_has_at_least_fifteen_bad_cases() -> None:
    assert len(BAD_CASES) >= 15


def test_act_signed_by_openssl_is_accepted(env: Env, reference_time: datetime) -> None:
    request = signed_request(env.sign(DOCUMENT), env.sign(ANNEXE))
    report = validate(write_act(request, env.tmp), policy_for(reference_time, env.trust))
    assert report.valid, report.findings


def test_act_signed_by_an_rsa_agent_with_pem_signature_is_accepted(
        env: Env, reference_time: datetime) -> None:
    signer = env.bad_signer("valid_rgs3_rsa2048_signing")
    pem = openssl_sign(DOCUMENT, signer, env.tmp, outform="PEM")
    report = validate(write_act(signed_request(pem), env.tmp),
                      policy_for(reference_time, env.trust))
    assert report.valid, report.findings


def test_pades_signed_pdf_is_accepted(env: Env, reference_time: datetime) -> None:
    request = signed_request(None, document=pades_sign(DOCUMENT, env.agent))
    report = validate(write_act(request, env.tmp), policy_for(reference_time, env.trust))
    assert report.valid, report.findings
