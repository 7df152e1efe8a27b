"""Signing: turns a `CertSpec` into a certificate, and revocations into a CRL.

All cryptography goes through `cryptography`'s builders; this module never touches ASN.1
and never reads the clock (every time is an argument).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .profiles import CertSpec, PrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key: what an issuer needs to sign further."""

    certificate: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class SignerMaterial:
    """A signer's certificate, key (PKCS#8 DER, unencrypted: it stays on this machine) and
    chain as bytes: what pickles to a worker process, which loads it once (`load`)."""

    certificate: bytes
    key: bytes
    chain: tuple[bytes, ...]

    @classmethod
    def of(cls, certificate: x509.Certificate, key: PrivateKey,
           chain: Iterable[x509.Certificate] = ()) -> SignerMaterial:
        der = serialization.Encoding.DER
        return cls(certificate.public_bytes(der),
                   key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
                   tuple(c.public_bytes(der) for c in chain))

    def load(self) -> tuple[x509.Certificate, PrivateKey, tuple[x509.Certificate, ...]]:
        key = serialization.load_der_private_key(self.key, None)
        return (x509.load_der_x509_certificate(self.certificate), key,  # type: ignore[return-value]
                tuple(x509.load_der_x509_certificate(c) for c in self.chain))


def sign(spec: CertSpec, issuer_name: x509.Name, issuer_key: PrivateKey) -> x509.Certificate:
    """Sign `spec` with `issuer_key`; `issuer_name` is the issuer's subject."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(issuer_name)
        .public_key(spec.public_key)
        .serial_number(spec.serial_number)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    for value, critical in spec.extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(issuer_key, spec.hash_algorithm)


def issue(spec: CertSpec, key: PrivateKey, issuer: Issued | None) -> Issued:
    """Sign `spec` (whose public key belongs to `key`) by `issuer`, or self-sign it."""
    if issuer is None:
        return Issued(sign(spec, spec.subject, key), key)
    return Issued(sign(spec, issuer.certificate.subject, issuer.key), key)


class RevocationReason(Enum):
    """CRL reason codes (RFC 5280 §5.3.1) offered by the CLI, in their RFC spelling."""

    unspecified = x509.ReasonFlags.unspecified
    keyCompromise = x509.ReasonFlags.key_compromise
    cACompromise = x509.ReasonFlags.ca_compromise
    affiliationChanged = x509.ReasonFlags.affiliation_changed
    superseded = x509.ReasonFlags.superseded
    cessationOfOperation = x509.ReasonFlags.cessation_of_operation
    certificateHold = x509.ReasonFlags.certificate_hold
    privilegeWithdrawn = x509.ReasonFlags.privilege_withdrawn


@dataclass(frozen=True)
class Revocation:
    serial_number: int
    revoked_at: datetime
    reason: RevocationReason = RevocationReason.unspecified


def build_crl(issuer: Issued, revocations: Iterable[Revocation], *, now: datetime,
              validity: timedelta, number: int) -> x509.CertificateRevocationList:
    """A CRL signed by `issuer`, valid from `now` for `validity`, numbered `number`."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
    )
    for revocation in revocations:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(revocation.serial_number)
            .revocation_date(revocation.revoked_at)
        )
        if revocation.reason is not RevocationReason.unspecified:
            entry = entry.add_extension(x509.CRLReason(revocation.reason.value), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer.key, hashes.SHA256())
