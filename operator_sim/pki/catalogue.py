"""The bad-certificate catalogue: one agent certificate per way a strict operator refuses.

Each class is issued into `catalogue/<name>/` beside a manifest giving the time to judge it
at, the expected verdict and reason code, the expected TLS outcome against the simulator
and whether `openssl verify` can judge it. Every leaf names the account it is bound to
(`catalogue_bindings`, enrolled by the service on start) so that only the intended fault
shows. Signature tampering (one flipped byte) lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from .identity import Account, CertificateBinding
from .issue import Issued, RevocationReason, issue, sign
from .profiles import (
    EC_P256,
    RSA_2048,
    UNKNOWN_CRITICAL_EXTENSION_OID,
    AgentSubject,
    CertSpec,
    KeySpec,
    PrivateKey,
    RgsLevel,
    agent_spec,
    intermediate_spec,
    key_usage,
    root_spec,
)
from .store import AGENTS_CA, CRL_VALIDITY, ROOT, PkiStore, fingerprint, write_atomic
from .trust import Reason

CATALOGUE_SIREN = "491011698"
OTHER_SIREN = "253400014"
CLASSES = (
    "valid_rgs2_ecdsa",
    "valid_rgs3_rsa2048_signing",
    "valid_rgs1_ecdsa",
    "expired",
    "not_yet_valid",
    "expired_by_one_second",
    "valid_last_second",
    "not_yet_valid_by_one_second",
    "valid_first_second",
    "unknown_ca",
    "self_signed_leaf",
    "missing_intermediate",
    "wrong_eku",
    "no_eku",
    "key_usage_without_digital_signature",
    "ca_as_client",
    "leaf_key_cert_sign",
    "revoked",
    "stale_crl",
    "unknown_critical_extension",
    "bad_signature_leaf",
    "bad_signature_intermediate",
    "weak_rsa_1024",
    "sha1_signature",
    "missing_rgs_policy",
    "siren_mismatch",
    "path_length_violation",
)
"""Every catalogue class, in manifest order (tests parametrize over it)."""
HANDSHAKE_REFUSED, HTTP_200, HTTP_401, HTTP_403 = (
    "handshake_refused", "http_200", "http_401", "http_403")


@dataclass(frozen=True)
class CatalogueEntry:
    """One catalogue class as written to `manifest.json` (paths relative to the PKI folder)."""

    name: str
    description: str
    chain: tuple[str, ...]  # leaf first, then the intermediates the client presents
    key: str
    at: str  # ISO time to judge at (the simulator clock during a TLS test)
    expected_code: str  # "ACCEPTED", a trust.Reason name, or an identity error code
    stage: str  # "trust" or "identity": which layer refuses
    indication: str | None
    sub_indication: str | None
    tls_outcome: str  # handshake_refused | http_200 | http_401 | http_403
    account_siren: str
    openssl_judgeable: bool
    openssl_note: str = ""


@dataclass(frozen=True)
class _Case:
    name: str
    description: str
    code: str
    tls: str
    openssl: bool = True
    note: str = ""
    stage: str = "trust"
    at_offset: timedelta = timedelta(0)
    account_siren: str = CATALOGUE_SIREN


def load_manifest(path: str | Path) -> list[CatalogueEntry]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return [CatalogueEntry(**{**e, "chain": tuple(e["chain"])}) for e in raw["entries"]]


def catalogue_bindings(store: PkiStore) -> list[CertificateBinding]:
    """Each catalogue leaf bound to its class's account (none when there is no catalogue)."""
    path = store.catalogue_dir / "manifest.json"
    if not path.exists():
        return []
    bindings = []
    for entry in load_manifest(path):
        leaf = x509.load_pem_x509_certificate((store.directory / entry.chain[0]).read_bytes())
        bindings.append(CertificateBinding(
            fingerprint(leaf), entry.account_siren,
            (Account(name=f"catalogue {entry.name}", sirens=frozenset({entry.account_siren})),),
            f"{leaf.serial_number:X}", leaf.subject.rfc4514_string()))
    return bindings


def tamper_signature(certificate: x509.Certificate) -> x509.Certificate:
    """Flip the last byte of the DER — inside the signature value — leaving the TBS intact."""
    der = bytearray(certificate.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def resign_with_sha1(certificate: x509.Certificate, issuer_key: PrivateKey) -> x509.Certificate:
    """The same TBS re-signed with SHA-1, which `cryptography` (rightly) no longer issues.

    asn1crypto re-encodes the structure; `cryptography` makes the signature.
    """
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    parsed = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    is_ec = isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    algorithm = asn1_x509.SignedDigestAlgorithm(
        {"algorithm": "sha1_ecdsa" if is_ec else "sha1_rsa"})
    tbs = parsed["tbs_certificate"]
    tbs["signature"] = algorithm
    tbs_der = tbs.dump(force=True)
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs_der, ec.ECDSA(hashes.SHA1()))
    else:
        signature = issuer_key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())
    resigned = asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm,
                                      "signature_value": signature})
    return x509.load_der_x509_certificate(resigned.dump())


def build_catalogue(store: PkiStore, *, now: datetime) -> Path:
    """Issue every class into `catalogue/` and write the manifest."""
    return _Builder(store, now).build()


class _Builder:
    def __init__(self, store: PkiStore, now: datetime) -> None:
        self.store, self.now = store, now
        self.root, self.agents = store.ca(ROOT), store.ca(AGENTS_CA)
        self.entries: list[CatalogueEntry] = []

    # -- helpers ------------------------------------------------------------------------
    def subject(self, name: str, siren: str = CATALOGUE_SIREN) -> AgentSubject:
        return AgentSubject("Commune du Catalogue", siren, f"Agent {name}",
                            email=f"{name.replace('_', '.')}@catalogue.operator-sim.test")

    def spec(self, name: str, key: PrivateKey, issuer: Issued, *, siren: str = CATALOGUE_SIREN,
             level: RgsLevel = RgsLevel.TWO) -> CertSpec:
        return agent_spec(self.subject(name, siren), key.public_key(), issuer.key.public_key(),
                          now=self.now - timedelta(days=30), issuer_id=AGENTS_CA, level=level)

    def write(self, case: _Case, leaf: x509.Certificate, key: PrivateKey,
              presented: tuple[x509.Certificate, ...] = (), *, recorded_by: str = "") -> None:
        folder = self.store.catalogue_dir / case.name
        pem = serialization.Encoding.PEM
        write_atomic(folder / "cert.pem", leaf.public_bytes(pem))
        write_atomic(folder / "key.pem", key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), mode=0o600)
        chain_files = [folder / "cert.pem"]
        for position, certificate in enumerate(presented, start=1):
            chain_files.append(folder / f"intermediate-{position}.pem")
            write_atomic(chain_files[-1], certificate.public_bytes(pem))
        write_atomic(folder / "chain.pem", b"".join(c.public_bytes(pem)
                                                    for c in (leaf, *presented)))
        if recorded_by:
            self.store._record_external(leaf, recorded_by, folder / "cert.pem",
                                        folder / "key.pem")
        reason = Reason[case.code] if case.code in Reason.__members__ else None
        indication = reason.indication if reason else ("PASSED" if case.code == "ACCEPTED"
                                                       else None)
        self.entries.append(CatalogueEntry(
            name=case.name, description=case.description,
            chain=tuple(p.relative_to(self.store.directory).as_posix() for p in chain_files),
            key=(folder / "key.pem").relative_to(self.store.directory).as_posix(),
            at=(self.now + case.at_offset).isoformat(), expected_code=case.code,
            stage=case.stage, indication=indication,
            sub_indication=reason.sub_indication if reason else None, tls_outcome=case.tls,
            account_siren=case.account_siren, openssl_judgeable=case.openssl,
            openssl_note=case.note))

    def leaf(self, case: _Case, change: Callable[[CertSpec], CertSpec] = lambda s: s, *,
             key_spec: KeySpec = EC_P256, issuer: Issued | None = None,
             siren: str = CATALOGUE_SIREN,
             presented: tuple[x509.Certificate, ...] = (), level: RgsLevel = RgsLevel.TWO,
             tamper: bool = False, sha1: bool = False) -> x509.Certificate:
        issuer = issuer or self.agents
        key = key_spec.generate()
        spec = change(self.spec(case.name, key, issuer, siren=siren, level=level))
        certificate = sign(spec, issuer.certificate.subject, issuer.key)
        if sha1:
            certificate = resign_with_sha1(certificate, issuer.key)
        if tamper:
            certificate = tamper_signature(certificate)
        recorded_by = ""
        if not tamper and issuer is self.agents:
            recorded_by = AGENTS_CA
        self.write(case, certificate, key, presented, recorded_by=recorded_by)
        return certificate

    def ca(self, common_name: str, parent: Issued | None, *, path_length: int | None = 0
           ) -> Issued:
        key = EC_P256.generate()
        if parent is None:
            return issue(root_spec(common_name, key.public_key(), now=self.now - timedelta(days=60)),
                         key, None)
        spec = intermediate_spec(common_name, key.public_key(), parent.key.public_key(),
                                 now=self.now - timedelta(days=60), issuer_id=ROOT,
                                 path_length=path_length)
        return issue(spec, key, parent)

    # -- the classes --------------------------------------------------------------------
    def build(self) -> Path:
        n = self.now
        ok = "accepted by every layer"

        def window(start: datetime, end: datetime) -> Callable[[CertSpec], CertSpec]:
            return lambda s: dataclasses.replace(s, not_before=start, not_after=end)

        self.leaf(_Case("valid_rgs2_ecdsa", f"RGS ** ECDSA P-256 agent, {ok}", "ACCEPTED",
                        HTTP_200))
        self.leaf(_Case("valid_rgs3_rsa2048_signing",
                        f"RGS *** RSA-2048 agent with nonRepudiation, {ok}", "ACCEPTED", HTTP_200),
                  lambda s: s.with_extension(key_usage(signing=True), critical=True),
                  key_spec=RSA_2048, level=RgsLevel.THREE)
        self.leaf(_Case("valid_rgs1_ecdsa", f"RGS * agent (lowest level), {ok}", "ACCEPTED",
                        HTTP_200), level=RgsLevel.ONE)
        year = timedelta(days=365)
        self.leaf(_Case("expired", "expired 30 days before the judging time", "CERT_EXPIRED",
                        HTTP_401), window(n - year, n - timedelta(days=30)))
        self.leaf(_Case("not_yet_valid", "valid only from 30 days after the judging time",
                        "CERT_NOT_YET_VALID", HTTP_401), window(n + timedelta(days=30), n + year))
        self.leaf(_Case("expired_by_one_second", "notAfter one second before the judging time",
                        "CERT_EXPIRED", HTTP_401), window(n - year, n - timedelta(seconds=1)))
        self.leaf(_Case("valid_last_second", "judged exactly at notAfter (RFC 5280: inclusive)",
                        "ACCEPTED", HTTP_200, openssl=False,
                        note="OpenSSL treats notAfter as exclusive: at that very second it "
                             "reports 'certificate has expired'"),
                  window(n - year, n))
        self.leaf(_Case("not_yet_valid_by_one_second", "notBefore one second after the judging time",
                        "CERT_NOT_YET_VALID", HTTP_401), window(n + timedelta(seconds=1), n + year))
        self.leaf(_Case("valid_first_second", "judged exactly at notBefore", "ACCEPTED",
                        HTTP_200), window(n, n + year))

        unknown_root = self.ca("AC Racine inconnue", None)
        unknown_ca = self.ca("AC Agents inconnue", unknown_root)
        self.leaf(_Case("unknown_ca", "issued by a CA under a root the operator does not trust",
                        "NO_CERTIFICATE_CHAIN_FOUND", HANDSHAKE_REFUSED),
                  issuer=unknown_ca, presented=(unknown_ca.certificate,))
        self_key = EC_P256.generate()
        self_spec = agent_spec(self.subject("self_signed_leaf"), self_key.public_key(),
                               self_key.public_key(), now=n - timedelta(days=30),
                               issuer_id=AGENTS_CA)
        self.write(_Case("self_signed_leaf", "self-signed agent certificate",
                         "SELF_SIGNED_LEAF", HANDSHAKE_REFUSED),
                   issue(self_spec, self_key, None).certificate, self_key)
        hidden = self.ca("AC Agents non publiée", self.root)
        self.leaf(_Case("missing_intermediate",
                        "issued by an intermediate under the test root that the client does not "
                        "send and the operator does not know", "NO_CERTIFICATE_CHAIN_FOUND",
                        HANDSHAKE_REFUSED), issuer=hidden)
        self.leaf(_Case("wrong_eku", "EKU serverAuth only", "EKU_NOT_CLIENT_AUTH",
                        HANDSHAKE_REFUSED),
                  lambda s: s.with_extension(
                      x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        self.leaf(_Case("no_eku", "no extended key usage at all", "EKU_MISSING", HTTP_401,
                        openssl=False, note="OpenSSL accepts any purpose when EKU is absent"),
                  lambda s: s.without(x509.ExtendedKeyUsage))
        no_ds = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
        self.leaf(_Case("key_usage_without_digital_signature", "keyUsage keyEncipherment only",
                        "KEY_USAGE_INVALID", HANDSHAKE_REFUSED),
                  lambda s: s.with_extension(no_ds, critical=True))
        ca_client = self.ca("AC utilisée comme client", self.root)
        self.write(_Case("ca_as_client", "a CA certificate (cA=TRUE) presented as client",
                         "CA_CERT_AS_CLIENT", HANDSHAKE_REFUSED),
                   ca_client.certificate, ca_client.key)
        signing_leaf = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
        self.leaf(_Case("leaf_key_cert_sign", "end-entity asserting keyCertSign",
                        "LEAF_CAN_SIGN_CERTIFICATES", HTTP_401,
                        note="needs -x509_strict in openssl verify"),
                  lambda s: s.with_extension(signing_leaf, critical=True))
        revoked = self.leaf(_Case("revoked", "revoked for keyCompromise before the judging time",
                                  "CERT_REVOKED", HTTP_401))
        self.leaf(_Case("stale_crl", "judged after the agents CA's CRL nextUpdate", "CRL_STALE",
                        HTTP_401, at_offset=CRL_VALIDITY[AGENTS_CA] + timedelta(days=1)))
        self.leaf(_Case("unknown_critical_extension", "a critical extension nobody knows",
                        "UNKNOWN_CRITICAL_EXTENSION", HANDSHAKE_REFUSED),
                  lambda s: s.with_extension(x509.UnrecognizedExtension(
                      UNKNOWN_CRITICAL_EXTENSION_OID, b"\x05\x00"), critical=True))
        self.leaf(_Case("bad_signature_leaf", "leaf signature altered (one byte)",
                        "LEAF_SIGNATURE_INVALID", HANDSHAKE_REFUSED), tamper=True)
        tampered_ca = self.ca("AC Agents altérée", self.root)
        tampered = Issued(tamper_signature(tampered_ca.certificate), tampered_ca.key)
        self.leaf(_Case("bad_signature_intermediate",
                        "intermediate (sent by the client) whose signature was altered",
                        "CA_SIGNATURE_INVALID", HANDSHAKE_REFUSED),
                  issuer=tampered, presented=(tampered.certificate,))
        self.leaf(_Case("weak_rsa_1024", "RSA-1024 agent key", "KEY_TOO_WEAK",
                        HANDSHAKE_REFUSED, note="needs -auth_level 2 in openssl verify"),
                  key_spec=KeySpec("rsa", size=1024))
        self.leaf(_Case("sha1_signature", "signed with SHA-1 by the agents CA",
                        "SIGNATURE_ALGORITHM_WEAK", HANDSHAKE_REFUSED,
                        note="needs -auth_level 2 in openssl verify"),
                  sha1=True)
        self.leaf(_Case("missing_rgs_policy", "no certificatePolicies extension",
                        "RGS_POLICY_MISSING", HTTP_401,
                        note="judged with -policy <each RGS OID> -explicit_policy"),
                  lambda s: s.without(x509.CertificatePolicies))
        self.leaf(_Case("siren_mismatch", "valid certificate naming SIREN "
                        f"{OTHER_SIREN}, bound to the account of SIREN {CATALOGUE_SIREN}",
                        "SIREN_MISMATCH", HTTP_403, openssl=False, stage="identity",
                        note="identity rule of the operator, not X.509"), siren=OTHER_SIREN)
        rogue = self._rogue_sub_ca()
        self.leaf(_Case("path_length_violation",
                        "issued by a sub-CA the agents CA (pathLen 0) should never have issued",
                        "PATH_LENGTH_EXCEEDED", HANDSHAKE_REFUSED),
                  issuer=rogue, presented=(rogue.certificate,))

        if tuple(e.name for e in self.entries) != CLASSES:
            raise RuntimeError("catalogue classes and CLASSES disagree")
        self.store.revoke(f"{revoked.serial_number:X}", now=n,
                          reason=RevocationReason.keyCompromise)
        manifest = self.store.catalogue_dir / "manifest.json"
        payload = {"version": 1, "generated_at": n.isoformat(),
                   "entries": [asdict(e) for e in self.entries]}
        write_atomic(manifest, json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n")
        return manifest

    def _rogue_sub_ca(self) -> Issued:
        key = EC_P256.generate()
        spec = intermediate_spec("AC Sous-agents illégitime", key.public_key(),
                                 self.agents.key.public_key(), now=self.now - timedelta(days=60),
                                 issuer_id=AGENTS_CA, path_length=0)
        rogue = issue(spec, key, self.agents)
        folder = self.store.catalogue_dir / "_authorities"
        write_atomic(folder / "rogue-sub-ca.pem",
                     rogue.certificate.public_bytes(serialization.Encoding.PEM))
        self.store._record_external(rogue.certificate, AGENTS_CA, folder / "rogue-sub-ca.pem",
                                    None)
        return rogue
