"""The detached-CMS check of signed acts, without pyHanko: asn1crypto parses, `cryptography`
verifies the signed attributes and the signature value, `pki.judge` judges the signer.

It reaches the verdicts pyHanko's `validate_detached_cms` (kept in `hanko.py` as the reference
and for PAdES) reaches, in its order; what it does not handle (timestamp tokens, CAdES signer
attributes, attribute certificates, DSA or ML-DSA) it declines by returning None. Attribute
types are matched by OID, never by the names pyHanko registers in asn1crypto when imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import BinaryIO, TypeVar

from asn1crypto import algos, cms, core, pem, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..pki.trust import TrustStore, judge
from .policy import DEFAULT_SIGNATURE_POLICY, SCAN_CHUNK, SignaturePolicy
from .result import CMS, Established, Failure, SignatureResult

T = TypeVar("T")

CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_TIME = "1.2.840.113549.1.9.5"
ALGORITHM_PROTECTION = "1.2.840.113549.1.9.52"
SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
CONTENT_TIME_STAMP = "1.2.840.113549.1.9.16.2.20"
SIGNER_ATTRIBUTES_V2 = "0.4.0.19122.1.1"

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "md5": hashes.MD5, "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512, "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256, "sha3_224": hashes.SHA3_224, "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384, "sha3_512": hashes.SHA3_512,
    "shake256": lambda: hashes.SHAKE256(64), "shake256_len": lambda: hashes.SHAKE256(64),
}
"""Digest names (asn1crypto's) → `cryptography` algorithms: those pyHanko can compute."""

_MECHANISMS = frozenset({"rsassa_pkcs1v15", "rsassa_pss", "ecdsa", "ed25519", "ed448"})


class _Refused(Exception):
    """A signature refused before its value is checked (the `Failure` and a detail)."""

    def __init__(self, failure: Failure, detail: str = "") -> None:
        super().__init__(detail)
        self.failure, self.detail = failure, detail


# What asn1crypto raises on malformed DER reached lazily, and `cryptography` on a certificate,
# key or parameter it cannot read: always a refusal of the structure, never a crash.
UNREADABLE = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)
MALFORMED = (*UNREADABLE, KeyError, IndexError, OverflowError)


def check_time(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware (the simulator clock's UTC time)")


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


MEMO_LIMIT = 16 * 1024
"""Largest DER kept parsed between signatures (certificates, certificate sets, keys): real
ones are 1–2 kB; anything a sender inflates is parsed again each time, never hoarded."""
MEMO_ENTRIES = 64


def _memo(function: Callable[[bytes], T]) -> Callable[[bytes], T]:
    """`function` of DER bytes, remembered for the last MEMO_ENTRIES inputs of a sane size."""
    remembered = lru_cache(maxsize=MEMO_ENTRIES)(function)
    return lambda der: remembered(der) if len(der) <= MEMO_LIMIT else function(der)


_load_certificate = _memo(x509.load_der_x509_certificate)
_public_key = _memo(serialization.load_der_public_key)


def from_asn1(certificate: asn1_x509.Certificate) -> x509.Certificate:
    """The `cryptography` certificate; the same signers recur, so parsed ones are kept."""
    return _load_certificate(certificate.dump())


def parse_signed_data(signature: bytes) -> tuple[cms.SignedData | None, Failure | None, str]:
    """DER or PEM CMS → SignedData with exactly one signer, or the format failure."""
    if not signature.strip():
        return None, Failure.EMPTY, ""
    raw = signature  # never strip DER: its last bytes may well be whitespace values
    try:
        if pem.detect(raw):
            _, _, raw = pem.unarmor(raw.strip())
        info = cms.ContentInfo.load(raw, strict=True)
        content_type = info["content_type"].native
    except (ValueError, TypeError, KeyError) as exc:
        return None, Failure.NOT_CMS, str(exc)[:200]
    if content_type != "signed_data":
        return None, Failure.NOT_SIGNED_DATA, str(content_type)
    try:
        signed = info["content"]
        signer_count = len(signed["signer_infos"])
        encapsulated = signed["encap_content_info"]["content"].native
    except (ValueError, TypeError, KeyError) as exc:
        return None, Failure.STRUCTURE, str(exc)[:200]
    if signer_count == 0:
        return None, Failure.NO_SIGNER, ""
    if signer_count > 1:
        return None, Failure.SEVERAL_SIGNERS, f"{signer_count} signers"
    if encapsulated is not None:
        return None, Failure.NOT_DETACHED, ""
    return signed, None, ""


def weak_algorithm(policy: SignaturePolicy, digest: str | None, mechanism: str | None
                   ) -> str | None:
    weak = policy.trust_policy.weak_hashes
    if digest in weak:
        return f"digest {digest}"
    if mechanism and mechanism.split("_")[0] in weak:
        return f"signature {mechanism}"
    return None


def signer_chain(signed: cms.SignedData, signer: asn1_x509.Certificate) -> list[x509.Certificate]:
    """The signer first, then every other certificate the signature carries (judge's pool)."""
    others = [c.chosen for c in signed["certificates"] or ()
              if c.name == "certificate" and c.chosen.dump() != signer.dump()]
    return [from_asn1(signer), *(from_asn1(c) for c in others)]


def digests(data: bytes | BinaryIO, names: set[str]) -> dict[str, bytes]:
    """Each named digest of `data` (bytes, or a seekable file read from its first byte a chunk
    at a time), in one pass: the file is never held whole, nor read twice."""
    running = {name: hashes.Hash(_HASHES[name]()) for name in names}
    if isinstance(data, bytes | bytearray):
        for digest in running.values():
            digest.update(data)
    else:
        data.seek(0)
        buffer = bytearray(SCAN_CHUNK)
        view = memoryview(buffer)
        # typing.BinaryIO leaves out readinto, which every binary file object has.
        while count := data.readinto(buffer):  # type: ignore[attr-defined]
            for digest in running.values():
                digest.update(view[:count])
    return {name: digest.finalize() for name, digest in running.items()}


class _Attributes:
    """A SignerInfo's attributes indexed by type OID in one pass (asn1crypto parses lazily and
    slowly: each attribute is read once, whatever the checks ask of it)."""

    def __init__(self, attributes: cms.CMSAttributes | core.Void) -> None:
        self._by_type: dict[str, list[cms.CMSAttribute]] = {}
        for attribute in attributes or ():
            self._by_type.setdefault(attribute["type"].dotted, []).append(attribute)

    def __contains__(self, oid: str) -> bool:
        return oid in self._by_type

    def values(self, oid: str) -> list[core.Asn1Value]:
        """Every value of every attribute of type `oid` (CMS allows neither repeats nor sets)."""
        return [value for attribute in self._by_type.get(oid, ()) for value in attribute["values"]]

    def unique(self, oid: str, what: str) -> core.Asn1Value:
        found = self.values(oid)
        if len(found) != 1:
            raise _Refused(Failure.STRUCTURE, f"{len(found)} {what} attribute values, 1 expected")
        return found[0]


class _Carried:
    """A certificate as signatures carry it, parsed once per distinct DER: the same agents and
    CAs sign act after act."""

    def __init__(self, der: bytes) -> None:
        self.der = der
        self.asn1 = asn1_x509.Certificate.load(der)

    @cached_property
    def serial_number(self) -> core.Integer:
        return self.asn1["tbs_certificate"]["serial_number"]

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


_carried = _memo(_Carried)


@dataclass(frozen=True)
class _CertificateSet:
    """The SignedData's certificates, (choice name, DER) in order, and the signer each signer
    identifier names among them. A signer sends the same set with each act: it is read once."""

    choices: tuple[tuple[str, bytes], ...]
    signers: dict[bytes, _Carried | None] = field(default_factory=dict)

    @property
    def carried(self) -> list[_Carried]:
        return [_carried(der) for name, der in self.choices if name == "certificate"]


_certificate_sets: dict[bytes, _CertificateSet] = {}


def _certificates(signed: cms.SignedData) -> _CertificateSet:
    """The set of `signed`, by the bytes of its certificates field (bounded memo)."""
    certificates = signed["certificates"]
    if isinstance(certificates, core.Void):
        return _CertificateSet(())
    key = certificates.contents
    found = _certificate_sets.get(key)
    if found is None:
        found = _CertificateSet(tuple((choice.name, choice.chosen.dump())
                                      for choice in certificates))
        if len(key) <= MEMO_LIMIT:
            if len(_certificate_sets) >= MEMO_ENTRIES:
                _certificate_sets.clear()
            _certificate_sets[key] = found
    return found


def _declined(signer_info: cms.SignerInfo, signed_attrs: _Attributes,
              certificates: _CertificateSet) -> bool:
    """Features only pyHanko checks: timestamp tokens, CAdES signer attributes, attribute
    certificates, DSA and ML-DSA signatures."""
    if SIGNATURE_TIME_STAMP in _Attributes(signer_info["unsigned_attrs"]):
        return True
    if CONTENT_TIME_STAMP in signed_attrs or SIGNER_ATTRIBUTES_V2 in signed_attrs:
        return True
    if any(name != "certificate" for name, _ in certificates.choices):
        return True
    return _mechanism_family(signer_info["signature_algorithm"]) not in _MECHANISMS


def _mechanism_family(algorithm: algos.SignedDigestAlgorithm) -> str:
    try:
        return algorithm.signature_algo
    except ValueError:
        return str(algorithm["algorithm"].native)


def _matches_sid(sid: cms.SignerIdentifier, carried: _Carried) -> bool:
    if sid.name == "subject_key_identifier":
        return carried.asn1.key_identifier == sid.chosen.native
    return _issuer_serial_matches(sid.chosen, carried)


def _issuer_serial_matches(expected: cms.IssuerAndSerialNumber | tsp.IssuerSerial,
                           carried: _Carried) -> bool:
    """pyHanko's rule: issuer (DER bytes, else name comparison; unreadable: no match), then
    serial number, read only when the issuers match."""
    serial_number = carried.serial_number
    issuer = expected["issuer"]
    if isinstance(issuer, asn1_x509.GeneralNames):  # ESSCertID: one directoryName only
        if len(issuer) != 1 or issuer[0].name != "directory_name":
            return False
        issuer = issuer[0].chosen
    try:
        same_bytes = issuer.dump() == carried.asn1.issuer.dump()
    except ValueError:
        return False
    if not same_bytes:
        try:  # the serial first: comparing names by their stringprep form costs milliseconds
            if expected["serial_number"] != serial_number:
                return False
        except ValueError:
            pass  # unreadable: decided below, where pyHanko reads it
        try:
            if issuer != carried.asn1.issuer:
                return False
        except ValueError:
            return False
    return expected["serial_number"] == serial_number


def _signing_certificate(signer_info: cms.SignerInfo, signed_attrs: _Attributes,
                         certificates: _CertificateSet) -> _Carried:
    """The certificate the signer identifier names (the last one, if several do)."""
    sid = signer_info["sid"]
    key = sid.dump()
    if key in certificates.signers:
        found = certificates.signers[key]
    else:
        found = None
        for carried in certificates.carried:
            if _matches_sid(sid, carried):
                found = carried
        if len(certificates.signers) < 8:  # one signer, a few identifier forms at most
            certificates.signers[key] = found
    if found is None:
        raise _Refused(Failure.NO_SIGNING_CERTIFICATE,
                       "signer certificate not included in signature")
    _check_ess_certificate(found, signed_attrs)
    return found


def _check_ess_certificate(carried: _Carried, signed_attrs: _Attributes) -> None:
    """The signingCertificate(V2) attribute, when present, must name this certificate."""
    for oid, kind in ((SIGNING_CERTIFICATE_V2, tsp.SigningCertificateV2),
                      (SIGNING_CERTIFICATE, tsp.SigningCertificate)):
        found = signed_attrs.values(oid)
        if not found:
            continue
        if len(found) > 1:
            raise _Refused(Failure.NO_SIGNING_CERTIFICATE,
                           "wrong cardinality for signing certificate attribute")
        certs = kind.load(found[0].dump())["certs"]
        if not len(certs):
            raise _Refused(Failure.NO_SIGNING_CERTIFICATE, "empty signing certificate attribute")
        cert_id = certs[0]
        name = ("sha1" if isinstance(cert_id, tsp.ESSCertID)
                else cert_id["hash_algorithm"]["algorithm"].native)
        if name not in _HASHES:
            raise _Refused(Failure.STRUCTURE, f"unsupported hash {name} in signing certificate")
        digest = hashes.Hash(_HASHES[name]())
        digest.update(carried.der)
        issuer_serial = cert_id["issuer_serial"]
        if digest.finalize() != cert_id["cert_hash"].native or (
                issuer_serial and not _issuer_serial_matches(issuer_serial, carried)):
            raise _Refused(Failure.NO_SIGNING_CERTIFICATE,
                           "signing certificate attribute does not match the signer")
        return


@dataclass(frozen=True)
class _Parsed:
    """What the check needs of a SignedData, read once."""

    signer_info: cms.SignerInfo
    signed_attrs: _Attributes
    certificates: _CertificateSet
    signer: _Carried
    digest_algorithm: str
    mechanism: str
    signing_time: datetime | None
    content_type: str
    """The encapsulated content's type, dotted (the content itself is absent: detached)."""


def _parse(signed: cms.SignedData) -> _Parsed | None:
    """The signer, its algorithms and claimed signing time, in pyHanko's order of checks;
    None for a signature left to pyHanko, or one this check could not even classify."""
    signer_info = signed["signer_infos"][0]
    digest_algorithm = signer_info["digest_algorithm"]["algorithm"].native
    if digest_algorithm not in _HASHES:
        raise _Refused(Failure.STRUCTURE, f"unsupported digest algorithm {digest_algorithm}")
    try:
        signed_attrs = _Attributes(signer_info["signed_attrs"])
        certificates = _certificates(signed)
        declined = _declined(signer_info, signed_attrs, certificates)
    except MALFORMED:
        # pyHanko reads these parts later, after checks that may fail first: it decides.
        return None
    if declined:
        return None
    times = signed_attrs.values(SIGNING_TIME)
    signing_time = times[0].native if len(times) == 1 else None
    signer = _signing_certificate(signer_info, signed_attrs, certificates)
    mechanism = signer_info["signature_algorithm"]["algorithm"].native
    content_type = signed["encap_content_info"]["content_type"].dotted
    return _Parsed(signer_info, signed_attrs, certificates, signer, digest_algorithm, mechanism,
                   signing_time, content_type)


def _signed_attributes(parsed: _Parsed) -> tuple[bytes, bytes]:
    """The DER the signature covers (the signed attributes as a SET OF, bytes as received)
    and the message digest they claim, after the attribute checks CMS requires."""
    signer_info, attributes = parsed.signer_info, parsed.signed_attrs
    protections = attributes.values(ALGORITHM_PROTECTION)
    if len(protections) > 1:
        raise _Refused(Failure.STRUCTURE, "several CMS algorithm protection attributes")
    if protections:
        protection = protections[0]
        if protection["digest_algorithm"].native != signer_info["digest_algorithm"].native:
            raise _Refused(Failure.STRUCTURE,
                           "digest algorithm does not match the CMS algorithm protection")
        protected = protection["signature_algorithm"].native
        if protected is None or protected != signer_info["signature_algorithm"].native:
            raise _Refused(Failure.STRUCTURE,
                           "signature algorithm does not match the CMS algorithm protection")
    content_type = attributes.unique(CONTENT_TYPE, "content-type").dotted
    if content_type != parsed.content_type:
        raise _Refused(Failure.STRUCTURE, f"content type {content_type} does not match "
                                          f"{parsed.content_type}")
    message_digest = attributes.unique(MESSAGE_DIGEST, "message-digest").native
    return signer_info["signed_attrs"].untag().dump(), message_digest


def _signature_valid(signer_info: cms.SignerInfo, signer: _Carried,
                     signed_bytes: bytes, prehashed: bool, digest_algorithm: str) -> bool:
    """Does the signature value verify with the signer's key? (RSA PKCS#1 v1.5 / PSS, ECDSA,
    EdDSA; a key of another type than the mechanism's never verifies)."""
    algorithm = signer_info["signature_algorithm"]
    family = _mechanism_family(algorithm)
    key_info = signer.asn1.public_key
    if key_info.algorithm == "rsassa_pss":  # a PSS-only key: its parameters must agree
        key_parameters = key_info["algorithm"]["parameters"].native
        if family != "rsassa_pss" or (key_parameters is not None
                                      and key_parameters != algorithm["parameters"].native):
            return False
        key_info = key_info.copy()
        key_info["algorithm"] = {"algorithm": "rsa"}
    key = _public_key(key_info.dump())
    signature = signer_info["signature"].native
    try:
        hash_name = algorithm.hash_algo
    except ValueError:
        hash_name = digest_algorithm

    def hash_for_signing(name: str) -> hashes.HashAlgorithm | Prehashed:
        if name not in _HASHES:
            raise _Refused(Failure.STRUCTURE, f"unsupported hash {name} in signature algorithm")
        return Prehashed(_HASHES[name]()) if prehashed else _HASHES[name]()

    try:
        if family == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_for_signing(hash_name))
        elif family == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            parameters = algorithm["parameters"]
            mask = parameters["mask_gen_algorithm"]
            if mask["algorithm"].native != "mgf1":
                raise _Refused(Failure.STRUCTURE, "only MGF1 is supported for RSASSA-PSS")
            mgf_hash = mask["parameters"]["algorithm"].native
            if mgf_hash not in _HASHES:
                raise _Refused(Failure.STRUCTURE, f"unsupported MGF1 hash {mgf_hash}")
            pss = padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()),
                              salt_length=parameters["salt_length"].native)
            key.verify(signature, signed_bytes, pss,
                       hash_for_signing(parameters["hash_algorithm"]["algorithm"].native))
        elif family == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(hash_for_signing(hash_name)))
        elif (family == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey)) \
                or (family == "ed448" and isinstance(key, ed448.Ed448PublicKey)):
            key.verify(signature, signed_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def check_detached(data: bytes | BinaryIO, signature: bytes, *, at: datetime,
                   trust: TrustStore | None,
                   policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                   judge_signer: bool = True) -> SignatureResult | None:
    """Verify a detached CMS `signature` of `data` at `at`, as `cms.verify_detached` promises;
    None when the signature uses a feature left to pyHanko (see the module's docstring)."""
    check_time(at)
    signed, failure, detail = parse_signed_data(signature)
    if signed is None:
        return SignatureResult(CMS, failure, detail=detail,
                               signed_sha256=digests(data, {"sha256"})["sha256"].hex())
    try:
        parsed = _parse(signed)
    except _Refused as refused:
        parsed, failure, detail = None, refused.failure, refused.detail
    except MALFORMED as exc:
        parsed, failure, detail = None, Failure.STRUCTURE, str(exc)[:200]
    else:
        if parsed is None:
            return None
    digest = digests(data, {"sha256", parsed.digest_algorithm} if parsed else {"sha256"})
    signed_sha256 = digest["sha256"].hex()
    if parsed is None:
        return SignatureResult(CMS, failure, detail=detail, signed_sha256=signed_sha256)
    content_digest = digest[parsed.digest_algorithm]
    try:
        if not isinstance(parsed.signer_info["signed_attrs"], core.Void):
            signed_bytes, claimed = _signed_attributes(parsed)
            valid = _signature_valid(parsed.signer_info, parsed.signer, signed_bytes, False,
                                     parsed.digest_algorithm)
            intact = claimed == content_digest
        else:
            valid = _signature_valid(parsed.signer_info, parsed.signer, content_digest, True,
                                     parsed.digest_algorithm)
            intact = valid
        signer = parsed.signer.certificate
    except _Refused as refused:
        return SignatureResult(CMS, refused.failure, detail=refused.detail,
                               signed_sha256=signed_sha256)
    except MALFORMED as exc:
        return SignatureResult(CMS, Failure.STRUCTURE, detail=str(exc)[:200],
                               signed_sha256=signed_sha256)
    common = Established(signer=signer, digest_algorithm=parsed.digest_algorithm,
                         signature_algorithm=parsed.mechanism, signing_time=parsed.signing_time,
                         signed_sha256=signed_sha256)
    if not intact:
        return SignatureResult(CMS, Failure.HASH_FAILURE, **common)
    if not valid:
        return SignatureResult(CMS, Failure.SIG_CRYPTO_FAILURE, **common)
    weak = weak_algorithm(policy, parsed.digest_algorithm, parsed.mechanism)
    if weak:
        return SignatureResult(CMS, Failure.WEAK_ALGORITHM, detail=weak, **common)
    if trust is None:
        return SignatureResult(CMS, None, **common)
    try:
        verdict = judge(
            [signer, *(carried.certificate for carried in parsed.certificates.carried
                       if carried.der != parsed.signer.der)],
            at=at, store=trust, policy=policy.trust_policy)
    except UNREADABLE as exc:
        return unreadable_certificate(CMS, exc, common)
    return SignatureResult(CMS, None, verdict, signer_exempt=not judge_signer, **common)


def unreadable_certificate(kind: str, exc: Exception, common: Established) -> SignatureResult:
    """A carried certificate `cryptography` loads but cannot read a field or an algorithm of
    when judging (its fields are parsed lazily): a malformed signature, not a crash."""
    return SignatureResult(kind, Failure.STRUCTURE,
                           detail=f"unreadable certificate: {exc}"[:200], **common)
