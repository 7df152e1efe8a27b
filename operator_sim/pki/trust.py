"""The trust decision for a presented client certificate chain, at a given time.

`cryptography.x509.verification` alone decides whether a path to a test root exists; on top
come the RGS profile rules (policy OID, key usage, EKU, key strength) and CRL revocation.
When the library refuses, a diagnostic pass only *names* the reason; it never accepts.
Never reads the wall clock: the time to judge at is an argument. `cryptography` is imported
by the functions that judge, not with the module: the validator's command line loads these
types at every start (cryptography's X.509 modules take tens of ms to import) and only
judges when an act carries a signature.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar, cast

from .levels import RgsLevel

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
    from cryptography.x509.verification import ClientVerifier, Store

PASSED = "PASSED"
INDETERMINATE = "INDETERMINATE"
TOTAL_FAILED = "TOTAL_FAILED"


class Indicated(Enum):
    """Members valued (indication, sub-indication, message_fr, message_en), DSS-style."""

    def __init__(self, indication: str, sub_indication: str, message_fr: str,
                 message_en: str) -> None:
        self.indication = indication
        self.sub_indication = sub_indication
        self.message_fr = message_fr
        self.message_en = message_en

    @property
    def code(self) -> str:
        return self.name


class Reason(Indicated):
    """Why a certificate is refused: stable code → DSS indication / sub-indication + messages."""

    NO_CERTIFICATE = (INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND",
                      "Aucun certificat client présenté.", "No client certificate presented.")
    NO_CERTIFICATE_CHAIN_FOUND = (
        INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND",
        "Aucune chaîne de certification vers une racine de confiance.",
        "No certificate chain to a trusted root.")
    SELF_SIGNED_LEAF = (INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND",
                        "Certificat auto-signé non reconnu.", "Unknown self-signed certificate.")
    LEAF_SIGNATURE_INVALID = (
        INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE",
        "La signature du certificat par son émetteur est invalide.",
        "The certificate's signature by its issuer is invalid.")
    CA_SIGNATURE_INVALID = (
        INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE",
        "La signature d'un certificat d'autorité de la chaîne est invalide.",
        "A CA certificate in the chain has an invalid signature.")
    CERT_NOT_YET_VALID = (INDETERMINATE, "NOT_YET_VALID",
                          "Le certificat n'est pas encore valide.",
                          "The certificate is not yet valid.")
    CERT_EXPIRED = (INDETERMINATE, "OUT_OF_BOUNDS_NO_POE",
                    "Le certificat a expiré.", "The certificate has expired.")
    CA_OUT_OF_VALIDITY = (INDETERMINATE, "OUT_OF_BOUNDS_NO_POE",
                          "Un certificat d'autorité de la chaîne est hors de sa période de validité.",
                          "A CA certificate in the chain is outside its validity period.")
    ISSUER_NOT_CA = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                     "Un émetteur de la chaîne n'est pas une autorité de certification.",
                     "An issuer in the chain is not a certification authority.")
    PATH_LENGTH_EXCEEDED = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                            "Contrainte de longueur de chemin (pathLen) violée.",
                            "Path length constraint (pathLen) violated.")
    CA_CERT_AS_CLIENT = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                         "Un certificat d'autorité ne peut pas servir de certificat client.",
                         "A CA certificate cannot be used as a client certificate.")
    LEAF_CAN_SIGN_CERTIFICATES = (
        INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
        "Un certificat d'agent ne doit pas permettre de signer des certificats ou des CRL.",
        "An agent certificate must not allow signing certificates or CRLs.")
    KEY_USAGE_INVALID = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                         "Usage de clé (keyUsage) absent ou sans digitalSignature.",
                         "Key usage missing or without digitalSignature.")
    EKU_MISSING = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                   "Usage étendu de clé (EKU) absent : clientAuth requis.",
                   "Extended key usage missing: clientAuth required.")
    EKU_NOT_CLIENT_AUTH = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                           "L'usage étendu de clé n'autorise pas l'authentification client.",
                           "The extended key usage does not allow client authentication.")
    UNKNOWN_CRITICAL_EXTENSION = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                                  "Extension critique inconnue.", "Unknown critical extension.")
    RGS_POLICY_MISSING = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                          "Le certificat ne porte aucune politique de certification RGS acceptée.",
                          "The certificate carries no accepted RGS certificate policy.")
    RGS_LEVEL_TOO_LOW = (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE",
                         "Niveau RGS du certificat insuffisant.",
                         "The certificate's RGS level is too low.")
    KEY_TOO_WEAK = (INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                    "Clé trop faible (RSA < 2048 bits ou courbe non admise).",
                    "Key too weak (RSA < 2048 bits or curve not allowed).")
    SIGNATURE_ALGORITHM_WEAK = (INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                                "Algorithme de signature trop faible (SHA-1 ou MD5).",
                                "Signature algorithm too weak (SHA-1 or MD5).")
    CHAIN_INVALID = (INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE",
                     "Chaîne de certification invalide.", "Invalid certificate chain.")
    CRL_UNAVAILABLE = (INDETERMINATE, "TRY_LATER",
                       "Aucune liste de révocation (CRL) disponible pour l'émetteur.",
                       "No certificate revocation list (CRL) available for the issuer.")
    CRL_STALE = (INDETERMINATE, "TRY_LATER",
                 "La liste de révocation (CRL) de l'émetteur est périmée.",
                 "The issuer's certificate revocation list (CRL) is out of date.")
    CERT_REVOKED = (TOTAL_FAILED, "REVOKED", "Le certificat est révoqué.",
                    "The certificate is revoked.")
    CA_REVOKED = (INDETERMINATE, "REVOKED_CA_NO_POE",
                  "Un certificat d'autorité de la chaîne est révoqué.",
                  "A CA certificate in the chain is revoked.")


@dataclass(frozen=True)
class TrustPolicy:
    """What a strict operator demands of an agent certificate. One frozen object per check."""

    min_level: RgsLevel = RgsLevel.ONE
    """Lowest RGS level accepted (policy OID under the test arc)."""
    min_rsa_bits: int = 2048
    """RSA modulus size below which a key is refused, in every certificate of the chain."""
    allowed_curves: frozenset[str] = frozenset({"secp256r1", "secp384r1", "secp521r1"})
    weak_hashes: frozenset[str] = frozenset({"sha1", "md5"})
    check_revocation: bool = True
    """Require a current CRL from each issuer and refuse revoked certificates."""
    max_chain_depth: int = 4


DEFAULT_POLICY = TrustPolicy()


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors, the intermediates that complete presented chains, and the CRLs."""

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @cached_property
    def _library_store(self) -> Store:
        from cryptography.x509.verification import Store

        return Store(list(self.anchors))

    @cached_property
    def _crls_by_issuer(self) -> dict[x509.Certificate, tuple[x509.CertificateRevocationList, ...]]:
        return {}

    @cached_property
    def _verdicts(self) -> VerdictMemo:
        return VerdictMemo()

    def crls_of(self, issuer: x509.Certificate) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs `issuer` signed. Worked out once per issuer: the TLS check asks at every
        request, and comparing names and checking the signature cost more than the rest of
        the judgement. Issuers come from validated paths, so the memo stays small."""
        found = self._crls_by_issuer.get(issuer)
        if found is None:
            found = tuple(crl for crl in self.crls if crl.issuer == issuer.subject
                          and crl.is_signature_valid(
                              # issuers come from validated paths: their keys sign
                              cast("CertificateIssuerPublicKeyTypes", issuer.public_key())))
            self._crls_by_issuer[issuer] = found
        return found


@dataclass(frozen=True)
class Verdict:
    """The outcome: accepted with the validated chain, or refused with one reason."""

    leaf: x509.Certificate | None
    reason: Reason | None = None
    detail: str = ""
    chain: tuple[x509.Certificate, ...] = field(default=())
    level: RgsLevel | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @property
    def code(self) -> str:
        return "ACCEPTED" if self.reason is None else self.reason.code

    @property
    def indication(self) -> str:
        return PASSED if self.reason is None else self.reason.indication

    @property
    def sub_indication(self) -> str | None:
        return None if self.reason is None else self.reason.sub_indication


def judge(chain: Sequence[x509.Certificate], *, at: datetime, store: TrustStore,
          policy: TrustPolicy = DEFAULT_POLICY) -> Verdict:
    """Judge `chain` (leaf first, then whatever intermediates the client sent) at `at`.

    An acceptance is remembered by `store` for as long as judging again would accept the same
    way (`VerdictMemo`): the TLS door asks at every request, a signer is judged at every
    signature, and the path validation costs more than the rest of a request's work. A changed
    PKI (a CRL published, a root added) is a new `TrustStore`, with an empty memo."""
    if not chain:
        return Verdict(None, Reason.NO_CERTIFICATE)
    key = (tuple(chain), policy)
    remembered = store._verdicts.get(key, at)
    if remembered is not None:
        return remembered
    verdict = _judge(chain, at=at, store=store, policy=policy)
    if verdict.accepted:
        window = _unchanged_window(verdict.chain, at, store, policy)
        if window is not None:
            store._verdicts.put(key, verdict, window)
    return verdict


Window = tuple[datetime, datetime]
"""The instants `at` with from <= at <= to."""


class VerdictMemo:
    """Acceptances of one `TrustStore`, each with the window in which it holds (bounded)."""

    SIZE = 4096

    def __init__(self) -> None:
        self._entries: dict[object, tuple[Verdict, Window]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, at: datetime) -> Verdict | None:
        found = self._entries.get(key)
        if found is None or not found[1][0] <= at <= found[1][1]:
            return None
        return found[0]

    def put(self, key: object, verdict: Verdict, window: Window) -> None:
        with self._lock:
            if len(self._entries) >= self.SIZE:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[key] = (verdict, window)


def _unchanged_window(path: tuple[x509.Certificate, ...], at: datetime, store: TrustStore,
                      policy: TrustPolicy) -> Window | None:
    """The instants around `at` at which judging `path` again accepts it the same way: every
    certificate valid and, with revocation checked, the CRL of each issuer read at `at` still
    current (so none is stale) and no CRL of that issuer listing the certificate at all (a
    revocation dated later refuses it from then on: such a verdict is not remembered). The
    RGS profile checks do not depend on time. None when there is nothing to remember."""
    start = max(cert.not_valid_before_utc for cert in path)
    end = min(cert.not_valid_after_utc for cert in path)
    if policy.check_revocation:
        for cert, issuer in pairwise(path):
            crls = store.crls_of(issuer)
            if any(crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
                   for crl in crls):
                return None
            current = [crl for crl in crls if crl.last_update_utc <= at
                       and (crl.next_update_utc is None or at <= crl.next_update_utc)]
            if not current:
                return None
            used = max(current, key=lambda crl: crl.last_update_utc)
            start = max(start, used.last_update_utc)
            if used.next_update_utc is not None:
                end = min(end, used.next_update_utc)
    return (start, end) if start <= at <= end else None


def _judge(chain: Sequence[x509.Certificate], *, at: datetime, store: TrustStore,
           policy: TrustPolicy) -> Verdict:
    from cryptography.x509.verification import VerificationError

    leaf = chain[0]
    pool = [*chain[1:], *store.intermediates]
    try:
        verified = _library_verifier(store, policy, at).verify(leaf, pool)
    except VerificationError as error:
        reason, detail = _diagnose(leaf, pool, at, store, policy)
        return Verdict(leaf, reason, detail or str(error))
    path = tuple(verified.chain)
    problem = _profile_problem(leaf, policy)
    if problem is None and policy.check_revocation:
        problem = _revocation_problem(path, at, store)
    if problem is not None:
        return Verdict(leaf, problem[0], problem[1], path)
    return Verdict(leaf, None, "", path, _level_of(leaf))


def _library_verifier(store: TrustStore, policy: TrustPolicy, at: datetime) -> ClientVerifier:
    from cryptography import x509
    from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder

    # RGS agent certificates need no SAN; everything else stays at the library's defaults.
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    return (
        PolicyBuilder()
        .store(store._library_store)
        .time(at)
        .max_chain_depth(policy.max_chain_depth)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )


Problem = tuple[Reason, str]


def _diagnose(leaf: x509.Certificate, pool: list[x509.Certificate], at: datetime,
              store: TrustStore, policy: TrustPolicy) -> Problem:
    """Name why the library refused, checking in a fixed order; CHAIN_INVALID if unnamed."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    path, anchored = _follow_issuers(leaf, pool, store.anchors, policy.max_chain_depth)
    if not anchored:
        if len(path) == 1 and leaf.issuer == leaf.subject:
            return Reason.SELF_SIGNED_LEAF, "self-signed certificate is not a trust anchor"
        missing = path[-1].issuer.rfc4514_string()
        return Reason.NO_CERTIFICATE_CHAIN_FOUND, f"no issuer found for {missing}"
    for index, (child, parent) in enumerate(pairwise(path)):
        algorithm = child.signature_hash_algorithm
        if algorithm is not None and algorithm.name in policy.weak_hashes:
            # Checked first: the library will not even verify such a signature.
            return (Reason.SIGNATURE_ALGORITHM_WEAK,
                    f"{algorithm.name} in {child.subject.rfc4514_string()}")
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError):
            reason = Reason.LEAF_SIGNATURE_INVALID if index == 0 else Reason.CA_SIGNATURE_INVALID
            return reason, f"signature of {child.subject.rfc4514_string()} does not verify"
    for index, cert in enumerate(path):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            if index == 0:
                return _validity_problem(cert, at)
            return Reason.CA_OUT_OF_VALIDITY, cert.subject.rfc4514_string()
    problem = _profile_problem(leaf, policy)
    if problem is not None:
        return problem
    for cert in path[1:-1]:
        problem = _strength_problem(cert, policy)
        if problem is not None:
            return problem
    for below, issuer in enumerate(path[1:]):
        constraints = _extension(issuer, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            return Reason.ISSUER_NOT_CA, issuer.subject.rfc4514_string()
        if constraints.path_length is not None and below > constraints.path_length:
            return (Reason.PATH_LENGTH_EXCEEDED,
                    f"{issuer.subject.rfc4514_string()} allows {constraints.path_length} "
                    f"intermediate CA(s) below it, found {below}")
    return Reason.CHAIN_INVALID, ""


def _follow_issuers(leaf: x509.Certificate, pool: list[x509.Certificate],
                    anchors: Sequence[x509.Certificate], depth: int,
                    ) -> tuple[list[x509.Certificate], bool]:
    """Diagnostics only: follow issuer names up to an anchor, preferring verifying issuers."""
    path = [leaf]
    for _ in range(depth + 1):
        current = path[-1]
        if current in anchors:
            return path, True
        candidates = [c for c in (*anchors, *pool) if c.subject == current.issuer
                      and c not in path]
        if not candidates:
            return path, False
        path.append(next((c for c in candidates if _signed_by(current, c)), candidates[0]))
    return path, False


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _validity_problem(cert: x509.Certificate, at: datetime) -> Problem:
    if at < cert.not_valid_before_utc:
        return Reason.CERT_NOT_YET_VALID, f"valid from {cert.not_valid_before_utc.isoformat()}"
    return Reason.CERT_EXPIRED, f"expired at {cert.not_valid_after_utc.isoformat()}"


_Extension = TypeVar("_Extension", bound="x509.ExtensionType")


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _strength_problem(cert: x509.Certificate, policy: TrustPolicy) -> Problem | None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.min_rsa_bits:
            return Reason.KEY_TOO_WEAK, f"RSA {key.key_size} bits in {cert.subject.rfc4514_string()}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in policy.allowed_curves:
            return Reason.KEY_TOO_WEAK, f"curve {key.curve.name} not allowed"
    else:
        return Reason.KEY_TOO_WEAK, f"key type {type(key).__name__} not allowed"
    algorithm = cert.signature_hash_algorithm
    if algorithm is not None and algorithm.name in policy.weak_hashes:
        return Reason.SIGNATURE_ALGORITHM_WEAK, f"{algorithm.name} in {cert.subject.rfc4514_string()}"
    return None


def _profile_problem(leaf: x509.Certificate, policy: TrustPolicy) -> Problem | None:
    """The RGS agent profile, checked on the leaf whatever the path validator thought."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    constraints = _extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        return Reason.CA_CERT_AS_CLIENT, "basicConstraints cA=TRUE"
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and (usage.key_cert_sign or usage.crl_sign):
        return Reason.LEAF_CAN_SIGN_CERTIFICATES, "keyCertSign or cRLSign asserted"
    if usage is None or not usage.digital_signature:
        return Reason.KEY_USAGE_INVALID, "digitalSignature required"
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if eku is None:
        return Reason.EKU_MISSING, ""
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        return Reason.EKU_NOT_CLIENT_AUTH, ", ".join(oid.dotted_string for oid in eku)
    for extension in leaf.extensions:
        if extension.critical and isinstance(extension.value, x509.UnrecognizedExtension):
            return Reason.UNKNOWN_CRITICAL_EXTENSION, extension.oid.dotted_string
    problem = _strength_problem(leaf, policy)
    if problem is not None:
        return problem
    level = _level_of(leaf)
    if level is None:
        return Reason.RGS_POLICY_MISSING, ""
    if len(level.value) < len(policy.min_level.value):
        return Reason.RGS_LEVEL_TOO_LOW, f"RGS {level.value} < {policy.min_level.value}"
    return None


def _level_of(leaf: x509.Certificate) -> RgsLevel | None:
    from cryptography import x509

    policies = _extension(leaf, x509.CertificatePolicies)
    levels = [RgsLevel.from_policy_oid(p.policy_identifier) for p in policies or ()]
    found = [level for level in levels if level is not None]
    return max(found, key=lambda level: len(level.value)) if found else None


def _revocation_problem(path: tuple[x509.Certificate, ...], at: datetime,
                        store: TrustStore) -> Problem | None:
    """Each non-anchor certificate needs a current CRL from its issuer that does not list it."""
    from cryptography import x509

    for index, (cert, issuer) in enumerate(pairwise(path)):
        crls = store.crls_of(issuer)
        if not crls:
            return Reason.CRL_UNAVAILABLE, f"no CRL from {issuer.subject.rfc4514_string()}"
        current = [crl for crl in crls if crl.last_update_utc <= at
                   and (crl.next_update_utc is None or at <= crl.next_update_utc)]
        if not current:
            latest = max(crls, key=lambda crl: crl.last_update_utc)
            return (Reason.CRL_STALE, f"CRL of {issuer.subject.rfc4514_string()} valid "
                    f"{latest.last_update_utc.isoformat()} – {latest.next_update_utc}")
        crl = max(current, key=lambda crl: crl.last_update_utc)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None and entry.revocation_date_utc <= at:
            why = "unspecified"
            for extension in entry.extensions:
                if isinstance(extension.value, x509.CRLReason):
                    why = extension.value.reason.value
            detail = f"revoked at {entry.revocation_date_utc.isoformat()} ({why})"
            return (Reason.CERT_REVOKED if index == 0 else Reason.CA_REVOKED), detail
    return None
