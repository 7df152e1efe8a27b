"""Certificate profiles modelled on RGS practice, as data: names, key specs, extensions.

A profile only *describes* a certificate (`CertSpec`); signing happens in `issue.py`. Every
OID minted here lives under a test-only UUID arc so no simulator certificate can ever be
mistaken for a real RGS one.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .levels import TEST_ARC, RgsLevel

CRL_BASE_URL = "http://pki.operator-sim.test/crl"  # .test is reserved (RFC 2606): never resolves
MAX_AGENT_LIFETIME = timedelta(days=3 * 365)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
SigningHash = (hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512
               | hashes.SHA3_224 | hashes.SHA3_256 | hashes.SHA3_384 | hashes.SHA3_512)
"""The digests `cryptography` signs certificates with (weaker ones: `catalogue.resign_with_sha1`)."""
UNKNOWN_CRITICAL_EXTENSION_OID = ObjectIdentifier(f"{TEST_ARC}.9.1")


@dataclass(frozen=True)
class KeySpec:
    """How to generate a key pair: RSA with a size, or ECDSA on a named curve."""

    kind: str  # "rsa" | "ec"
    size: int = 0  # RSA modulus bits
    curve: str = ""  # "secp256r1", "secp384r1"

    def generate(self) -> PrivateKey:
        if self.kind == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=self.size)
        return ec.generate_private_key(_CURVES[self.curve]())

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        """`ec`, `ec-p256`, `ec-p384`, `rsa`, `rsa-2048`, `rsa-3072`, `rsa-4096`."""
        text = text.lower()
        if text in ("ec", "ec-p256", "p256"):
            return EC_P256
        if text in ("ec-p384", "p384"):
            return EC_P384
        if text == "rsa":
            return RSA_2048
        if text.startswith("rsa-") and text[4:].isdigit():
            return cls("rsa", size=int(text[4:]))
        raise ValueError(f"unknown key spec {text!r}")


_CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}
EC_P256 = KeySpec("ec", curve="secp256r1")
EC_P384 = KeySpec("ec", curve="secp384r1")
RSA_2048 = KeySpec("rsa", size=2048)
RSA_3072 = KeySpec("rsa", size=3072)
RSA_4096 = KeySpec("rsa", size=4096)


@dataclass(frozen=True)
class AgentSubject:
    """Who an agent certificate names: the collectivité (SIREN/SIRET) and the person."""

    collectivite: str
    siren: str
    common_name: str
    siret: str | None = None
    serial_number: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if not (len(self.siren) == 9 and self.siren.isdigit()):
            raise ValueError(f"SIREN must be 9 digits, got {self.siren!r}")
        if self.siret is not None and not (
            len(self.siret) == 14 and self.siret.isdigit() and self.siret.startswith(self.siren)
        ):
            raise ValueError(f"SIRET must be 14 digits starting with the SIREN, got {self.siret!r}")

    def to_name(self) -> x509.Name:
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.collectivite),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"0002 {self.siret or self.siren}"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRFR-{self.siren}"),
            x509.NameAttribute(NameOID.COMMON_NAME, self.common_name),
        ]
        if self.serial_number:
            attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, self.serial_number))
        return x509.Name(attributes)


def siren_of(name: x509.Name) -> str | None:
    """The SIREN a subject names: organizationIdentifier NTRFR-<SIREN>, else OU "0002 <SIREN…>"."""
    for attr in name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER):
        value = str(attr.value)
        if value.startswith("NTRFR-") and value[6:15].isdigit():
            return value[6:15]
    for attr in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        value = str(attr.value)
        if value.startswith("0002 ") and value[5:14].isdigit():
            return value[5:14]
    return None


Extension = tuple[x509.ExtensionType, bool]


@dataclass(frozen=True)
class CertSpec:
    """Everything that goes into one certificate except the issuer's signature."""

    subject: x509.Name
    public_key: PublicKey
    not_before: datetime
    not_after: datetime
    extensions: tuple[Extension, ...]
    serial_number: int = field(default_factory=x509.random_serial_number)
    hash_algorithm: SigningHash = field(default_factory=hashes.SHA256)

    def with_extension(self, value: x509.ExtensionType, *, critical: bool) -> CertSpec:
        """Replace (or add) the extension of that type."""
        kept = tuple((e, c) for e, c in self.extensions if e.oid != value.oid)
        return dataclasses.replace(self, extensions=(*kept, (value, critical)))

    def without(self, extension_type: type[x509.ExtensionType]) -> CertSpec:
        kept = tuple((e, c) for e, c in self.extensions if not isinstance(e, extension_type))
        return dataclasses.replace(self, extensions=kept)


def ca_name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "operator-sim PKI de test"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "0002 000000000"),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRFR-000000000"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False)


def key_usage(*, signing: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    """End-entity key usage: digitalSignature, plus nonRepudiation for signing profiles."""
    return x509.KeyUsage(
        digital_signature=True, content_commitment=signing, key_encipherment=key_encipherment,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


def crl_distribution_point(ca_id: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(f"{CRL_BASE_URL}/{ca_id}.crl")],
        relative_name=None, reasons=None, crl_issuer=None)])


def _policies(*oids: ObjectIdentifier) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, None) for oid in oids])


def _key_ids(public_key: PublicKey, issuer_public_key: PublicKey | None) -> tuple[Extension, ...]:
    ski = (x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    if issuer_public_key is None:
        return (ski,)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)
    return ski, (aki, False)


def root_spec(common_name: str, public_key: PublicKey, *, now: datetime,
              lifetime: timedelta = timedelta(days=20 * 365)) -> CertSpec:
    """A self-signed root: CA, no path length limit, certificate and CRL signing only."""
    return CertSpec(
        subject=ca_name(common_name), public_key=public_key,
        not_before=now, not_after=now + lifetime,
        extensions=(
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_ca_key_usage(), True),
            *_key_ids(public_key, None),
        ))


def intermediate_spec(common_name: str, public_key: PublicKey, issuer_public_key: PublicKey, *,
                      now: datetime, issuer_id: str, path_length: int | None = 0,
                      lifetime: timedelta = timedelta(days=10 * 365)) -> CertSpec:
    """An issuing CA under the root: pathLen 0, every RGS test policy, CRL of its parent."""
    return CertSpec(
        subject=ca_name(common_name), public_key=public_key,
        not_before=now, not_after=now + lifetime,
        extensions=(
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_ca_key_usage(), True),
            (_policies(*(level.policy_oid for level in RgsLevel)), False),
            (crl_distribution_point(issuer_id), False),
            *_key_ids(public_key, issuer_public_key),
        ))


def agent_spec(subject: AgentSubject, public_key: PublicKey, issuer_public_key: PublicKey, *,
               now: datetime, issuer_id: str, level: RgsLevel = RgsLevel.TWO,
               signing: bool = False, lifetime: timedelta = timedelta(days=2 * 365)) -> CertSpec:
    """An RGS-style agent authentication certificate (EKU clientAuth, one level policy)."""
    if lifetime > MAX_AGENT_LIFETIME:
        raise ValueError("RGS agent certificates are valid for at most 3 years")
    extensions: list[Extension] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage(signing=signing), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        (_policies(level.policy_oid), False),
        (crl_distribution_point(issuer_id), False),
        *_key_ids(public_key, issuer_public_key),
    ]
    if subject.email:
        extensions.append((x509.SubjectAlternativeName([x509.RFC822Name(subject.email)]), False))
    return CertSpec(subject=subject.to_name(), public_key=public_key,
                    not_before=now, not_after=now + lifetime, extensions=tuple(extensions))


def _service_name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def tls_server_spec(public_key: PublicKey, issuer_public_key: PublicKey, *, now: datetime,
                    issuer_id: str, hostnames: tuple[str, ...] = ("localhost",),
                    addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
                    lifetime: timedelta = timedelta(days=365)) -> CertSpec:
    """The simulator's HTTPS certificate: SAN localhost, 127.0.0.1, ::1; EKU serverAuth."""
    san = x509.SubjectAlternativeName(
        [x509.DNSName(h) for h in hostnames]
        + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses])
    return CertSpec(
        subject=_service_name("operator-sim", hostnames[0]), public_key=public_key,
        not_before=now, not_after=now + lifetime,
        extensions=(
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (san, False),
            (crl_distribution_point(issuer_id), False),
            *_key_ids(public_key, issuer_public_key),
        ))


def tsa_spec(public_key: PublicKey, issuer_public_key: PublicKey, *, now: datetime,
             issuer_id: str, lifetime: timedelta = timedelta(days=3 * 365)) -> CertSpec:
    """RFC 3161 TSA: EKU timeStamping, critical and alone (RFC 3161 §2.3)."""
    return CertSpec(
        subject=_service_name("operator-sim", "Horodatage de test operator-sim"),
        public_key=public_key, not_before=now, not_after=now + lifetime,
        extensions=(
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(signing=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
            (crl_distribution_point(issuer_id), False),
            *_key_ids(public_key, issuer_public_key),
        ))


def ministere_spec(public_key: PublicKey, issuer_public_key: PublicKey, *, now: datetime,
                   issuer_id: str, lifetime: timedelta = timedelta(days=3 * 365)) -> CertSpec:
    """The ministry's signing certificate for outgoing @ctes messages (non-repudiation)."""
    return CertSpec(
        subject=_service_name("Ministère de l'Intérieur (test operator-sim)",
                              "Plateforme @ctes de test - signature"),
        public_key=public_key, not_before=now, not_after=now + lifetime,
        extensions=(
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(signing=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
            (_policies(RgsLevel.TWO.policy_oid), False),
            (crl_distribution_point(issuer_id), False),
            *_key_ids(public_key, issuer_public_key),
        ))
