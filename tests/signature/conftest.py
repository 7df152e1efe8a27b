"""One test PKI (with its bad-certificate catalogue) for the signature tests, and factories
for signed acts: signatures made by the real `openssl cms` binary or by our own signer."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from operator_sim.pki import AgentSubject, CatalogueEntry, PkiStore, TrustStore, load_manifest
from operator_sim.pki.profiles import RSA_2048, PrivateKey
from operator_sim.pki.provision import initialise_pki
from operator_sim.protocol.envelope import ActeRequest, Piece
from operator_sim.testing.corpus import base_request, build, minimal_pdf
from operator_sim.validation.report import ValidationReport
from operator_sim.validation.validator import ValidationPolicy, validate_archive


@dataclass(frozen=True)
class SignerFiles:
    """PEM paths of a signer: certificate, key, and the chain it presents (may be empty)."""

    cert: Path
    key: Path
    chain: tuple[Path, ...] = ()

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    def private_key(self) -> PrivateKey:
        return serialization.load_pem_private_key(  # type: ignore[return-value]
            self.key.read_bytes(), password=None)

    def chain_certificates(self) -> list[x509.Certificate]:
        return [x509.load_pem_x509_certificate(p.read_bytes()) for p in self.chain]


@pytest.fixture(scope="session")
def reference_time() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory, reference_time: datetime) -> PkiStore:
    """Read-only for tests (the catalogue's `revoked` entry is already revoked)."""
    store = PkiStore(tmp_path_factory.mktemp("signature-pki") / "certs")
    initialise_pki(store, now=reference_time, ca_key=RSA_2048)
    return store


@pytest.fixture(scope="session")
def trust(pki: PkiStore) -> TrustStore:
    return pki.trust_store()


@pytest.fixture(scope="session")
def catalogue(pki: PkiStore) -> dict[str, CatalogueEntry]:
    return {e.name: e for e in load_manifest(pki.catalogue_dir / "manifest.json")}


def catalogue_signer(pki: PkiStore, entry: CatalogueEntry) -> SignerFiles:
    paths = [pki.directory / p for p in entry.chain]
    return SignerFiles(paths[0], pki.directory / entry.key, tuple(paths[1:]))


@pytest.fixture(scope="session")
def agent(pki: PkiStore, reference_time: datetime) -> SignerFiles:
    """A valid RGS ** signing agent (nonRepudiation), chain = the agents CA."""
    record = pki.issue_agent(AgentSubject("Commune de test", "491011698", "Maire signataire"),
                             now=reference_time, signing=True)
    return SignerFiles(pki.directory / record.certificate, pki.directory / record.key,
                       (pki.intermediates_path,))


def openssl_sign(data: bytes, signer: SignerFiles, tmp_path: Path, *options: str,
                 outform: str = "DER") -> bytes:
    """`openssl cms -sign -binary` (detached unless told otherwise), an independent tool."""
    source, out = tmp_path / "to-sign.bin", tmp_path / "signature.p7s"
    source.write_bytes(data)
    command = ["openssl", "cms", "-sign", "-binary", "-in", str(source), "-signer",
               str(signer.cert), "-inkey", str(signer.key), "-outform", outform,
               "-out", str(out), *options]
    if signer.chain and "-nocerts" not in options:
        bundle = tmp_path / "chain.pem"
        bundle.write_bytes(b"".join(p.read_bytes() for p in signer.chain))
        command += ["-certfile", str(bundle)]
    subprocess.run(command, check=True, capture_output=True)
    return out.read_bytes()


def openssl_verify(data: bytes, signature: bytes, roots: Path, tmp_path: Path,
                   *options: str) -> subprocess.CompletedProcess[str]:
    content, sig = tmp_path / "content.bin", tmp_path / "to-verify.p7s"
    content.write_bytes(data)
    sig.write_bytes(signature)
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig),
         "-content", str(content), "-CAfile", str(roots), "-out", os.devnull, *options],
        capture_output=True, text=True)


DOCUMENT = minimal_pdf("Deliberation signee 2024-012")
ANNEXE = minimal_pdf("Annexe signee")


def signed_request(document_signature: bytes | None, annexe_signature: bytes | None = None,
                   *, document: bytes = DOCUMENT, annexe: bytes = ANNEXE,
                   **changes: object) -> ActeRequest:
    return base_request(
        document=Piece(document, "pdf", "99_DE", document_signature),
        annexes=(Piece(annexe, "pdf", "99_DE", annexe_signature),), **changes)


def write_act(request: ActeRequest, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return build(request).write(folder)


def policy_for(reference_time: datetime, trust: TrustStore | None, **changes: object
               ) -> ValidationPolicy:
    return ValidationPolicy(today=reference_time.date(), received_at=reference_time,
                            trust=trust, **changes)


def validate(path: Path, policy: ValidationPolicy, **options: object) -> ValidationReport:
    return validate_archive(path, policy, **options)

