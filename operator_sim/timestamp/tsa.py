"""The RFC 3161 time-stamping authority: TimeStampReq in, TimeStampResp out.

Owns every RFC 3161 decision (accepted hashes, policy, nonce, certReq, failure codes) and
the signing key. It never reads the wall clock (time comes from the injected clock), never
raises on a bad request (it answers with a rejection), and never assembles DER by hand
(`_der` does, from asn1crypto encodings).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..pki.issue import SignerMaterial
from ..pki.profiles import TEST_ARC
from ..pki.store import PkiStore
from ._der import TokenTemplate, accuracy_der
from .serials import FileSerials, SerialSource

log = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: The simulator TSA's policy: under the test PKI's own arc, so it is never a real one.
DEFAULT_POLICY_OID = f"{TEST_ARC}.3.1"

#: Imprint hashes a request may use, with their digest sizes (asn1crypto names).
ACCEPTED_HASHES: dict[str, int] = {
    "sha256": 32, "sha384": 48, "sha512": 64, "sha3_256": 32, "sha3_384": 48, "sha3_512": 64,
}
_SIGNER_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_CURVE_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


class FailureInfo(Enum):
    """PKIFailureInfo bits a rejection carries (asn1crypto names, RFC 3161 §2.4.2)."""

    BAD_ALG = "bad_alg"
    BAD_REQUEST = "bad_request"
    BAD_DATA_FORMAT = "bad_data_format"
    TIME_NOT_AVAILABLE = "time_not_available"
    UNACCEPTED_POLICY = "unaccepted_policy"
    UNACCEPTED_EXTENSION = "unaccepted_extensions"
    SYSTEM_FAILURE = "system_failure"


class TsaConfigurationError(ValueError):
    """The certificate, key or clock cannot make valid tokens: a deployment error."""


@dataclass(frozen=True)
class _Rejection(Exception):
    failure: FailureInfo
    text: str


@dataclass(frozen=True)
class _Request:
    hash_algorithm: str
    digest: bytes
    nonce: int | None
    cert_req: bool


def _accuracy(value: timedelta | None) -> bytes | None:
    if value is None:
        return None
    if value <= timedelta(0):
        raise TsaConfigurationError("accuracy must be positive (or None to omit it)")
    micros_total = value // timedelta(microseconds=1)
    seconds, rest = divmod(micros_total, 1_000_000)
    millis, micros = divmod(rest, 1000)
    return accuracy_der(seconds, millis, micros)


def _check_certificate(certificate: x509.Certificate, key: PrivateKey) -> None:
    """RFC 3161 §2.3: EKU id-kp-timeStamping, alone and critical; the key must match."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TsaConfigurationError("TSA certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TsaConfigurationError("TSA certificate EKU must be timeStamping only, critical")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
            != key.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise TsaConfigurationError("TSA key does not match its certificate")


@dataclass(frozen=True)
class TsaMaterial:
    """A TSA's signer (certificate, key and chain as bytes), policy and accuracy: what pickles
    to a worker process."""

    signer: SignerMaterial
    policy_oid: str
    accuracy: timedelta | None

    def authority(self) -> TimeStampAuthority:
        """A TSA that only makes tokens with the serial and time given (`stamp_at`)."""
        certificate, key, chain = self.signer.load()
        return TimeStampAuthority(certificate, key, chain, self.policy_oid, _no_clock,
                                  _NoSerials(), accuracy=self.accuracy)


def _no_clock() -> datetime:
    raise TsaConfigurationError("this TSA stamps only at the time given (stamp_at)")


class _NoSerials:
    def next(self) -> int:
        raise TsaConfigurationError("this TSA stamps only with the serial given (stamp_at)")


class TimeStampAuthority:
    """A TSA with one certificate, one policy and one clock.

    `respond` serves RFC 3161 requests (HTTP, CLI); `stamp_digest` makes a token directly for
    internal receipts (archive digests). Tokens carry an ESSCertIDv2 signing-certificate
    attribute, the accuracy, the TSA name, the nonce when asked and the certificates when
    `certReq` is true. ECDSA signatures are deterministic (RFC 6979).
    """

    def __init__(self, certificate: x509.Certificate, key: PrivateKey,
                 chain: Sequence[x509.Certificate], policy_oid: str,
                 clock: Callable[[], datetime], serials: SerialSource, *,
                 accuracy: timedelta | None = timedelta(seconds=1)) -> None:
        _check_certificate(certificate, key)
        self.certificate = certificate
        self.chain = tuple(chain)
        self.policy_oid = str(policy_oid)
        self._key = key
        self._clock = clock
        self._serials = serials
        if isinstance(key, rsa.RSAPrivateKey):
            digest, signature = "sha256", "rsassa_pkcs1v15"
            self._sign = lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            digest = _CURVE_HASH.get(key.curve.name, "")
            if not digest:
                raise TsaConfigurationError(f"unsupported curve {key.curve.name}")
            signature = f"{digest}_ecdsa"
            algorithm = ec.ECDSA(_SIGNER_HASHES[digest](), deterministic_signing=True)
            self._sign = lambda data: key.sign(data, algorithm)
        else:
            raise TsaConfigurationError(f"unsupported key type {type(key).__name__}")
        self._accuracy = accuracy
        der = serialization.Encoding.DER
        self._template = TokenTemplate(
            certificate.public_bytes(der), [c.public_bytes(der) for c in self.chain],
            policy=self.policy_oid, digest_algorithm=digest, signature_algorithm=signature,
            accuracy=_accuracy(accuracy))

    # -- internal use ---------------------------------------------------------------------
    def stamp_digest(self, digest: bytes, hash_alg: str = "sha256", *,
                     nonce: int | None = None, with_certificates: bool = True) -> bytes:
        """A token (ContentInfo/SignedData DER) over `digest`; raises ValueError on misuse."""
        expected = ACCEPTED_HASHES.get(hash_alg)
        if expected is None:
            raise ValueError(f"unsupported hash algorithm {hash_alg!r}")
        if len(digest) != expected:
            raise ValueError(f"a {hash_alg} digest is {expected} bytes, got {len(digest)}")
        return self._token(hash_alg, digest, nonce, with_certificates)

    def next_serial(self) -> int:
        """A serial number of this TSA's, for a token `stamp_at` makes elsewhere."""
        return self._serials.next()

    def material(self) -> TsaMaterial:
        """What another process needs to make this TSA's tokens (`TsaMaterial.authority`)."""
        return TsaMaterial(SignerMaterial.of(self.certificate, self._key, self.chain),
                           self.policy_oid, self._accuracy)

    def stamp_at(self, digest: bytes, *, serial: int, at: datetime) -> bytes:
        """`stamp_digest` of a SHA-256 `digest` with the serial and genTime given: for a
        process holding this TSA's key but neither its serials nor its clock (the
        validation workers stamp receipts; the service hands out serials and time)."""
        if len(digest) != ACCEPTED_HASHES["sha256"]:
            raise ValueError(f"a sha256 digest is 32 bytes, got {len(digest)}")
        return self._token("sha256", digest, None, True, serial=serial, at=at)

    def _token(self, hash_alg: str, digest: bytes, nonce: int | None,
               with_certificates: bool, *, serial: int | None = None,
               at: datetime | None = None) -> bytes:
        now = self._clock() if at is None else at
        if now.tzinfo is None or now.utcoffset() is None:
            raise TsaConfigurationError("the TSA clock must return timezone-aware datetimes")
        template = self._template
        tst_info = template.tst_info(template.message_imprint(hash_alg, digest),
                                     self._serials.next() if serial is None else serial, now,
                                     nonce)
        attributes = template.signed_attributes(tst_info)
        signature = self._sign(template.to_be_signed(attributes))
        return template.token(tst_info, attributes, signature,
                              with_certificates=with_certificates)

    # -- RFC 3161 -------------------------------------------------------------------------
    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for any input: granted, or a rejection with its failInfo."""
        try:
            request = self._parse(request_der)
            token = self._token(request.hash_algorithm, request.digest, request.nonce,
                                request.cert_req)
        except _Rejection as rejection:
            return rejection_response(rejection.failure, rejection.text)
        except TsaConfigurationError as exc:
            log.error("TSA cannot stamp: %s", exc)
            return rejection_response(FailureInfo.TIME_NOT_AVAILABLE, "time source unavailable")
        except Exception:
            log.exception("TSA failure")
            return rejection_response(FailureInfo.SYSTEM_FAILURE, "internal failure")
        return self._template.granted_response(token)

    def _parse(self, der: bytes) -> _Request:
        try:
            request = tsp.TimeStampReq.load(der, strict=True)
            version = request["version"].native
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]
            hash_alg = algorithm["algorithm"].native
            parameters = algorithm["parameters"]
            digest = imprint["hashed_message"].native
            policy = request["req_policy"]
            policy_oid = None if isinstance(policy, core.Void) else policy.dotted
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            extensions = request["extensions"]
            has_extensions = not isinstance(extensions, core.Void) and len(extensions) > 0
        except Exception as exc:
            raise _Rejection(FailureInfo.BAD_DATA_FORMAT, f"not a TimeStampReq: {exc}") from None
        if version != "v1":
            raise _Rejection(FailureInfo.BAD_REQUEST, f"unsupported version {version}")
        if hash_alg not in ACCEPTED_HASHES:
            raise _Rejection(FailureInfo.BAD_ALG, f"hash algorithm {hash_alg} not accepted")
        if parameters.native is not None:
            raise _Rejection(FailureInfo.BAD_ALG, "hash algorithm parameters must be absent or NULL")
        if len(digest) != ACCEPTED_HASHES[hash_alg]:
            raise _Rejection(FailureInfo.BAD_DATA_FORMAT,
                             f"a {hash_alg} imprint is {ACCEPTED_HASHES[hash_alg]} bytes, "
                             f"got {len(digest)}")
        if policy_oid is not None and policy_oid != self.policy_oid:
            raise _Rejection(FailureInfo.UNACCEPTED_POLICY, f"policy {policy_oid} not offered")
        if has_extensions:
            raise _Rejection(FailureInfo.UNACCEPTED_EXTENSION, "no request extension is supported")
        return _Request(hash_alg, digest, nonce, cert_req)


def rejection_response(failure: FailureInfo, text: str) -> bytes:
    """TimeStampResp { rejection, statusString, failInfo } without a token (RFC 3161 §2.4.2)."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text],
                                "fail_info": {failure.value}})
    return _RejectionResp({"status": status}).dump()


class _RejectionResp(tsp.TimeStampResp):
    """asn1crypto's TimeStampResp with the token optional, as RFC 3161 declares it."""

    _fields = [  # noqa: RUF012 (asn1crypto's class-level field spec)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def authority_from_pki(directory: str | os.PathLike[str], *, clock: Callable[[], datetime],
                       serials: SerialSource | None = None,
                       policy_oid: str = DEFAULT_POLICY_OID,
                       accuracy: timedelta | None = timedelta(seconds=1)) -> TimeStampAuthority:
    """The TSA of a test PKI folder: its newest unrevoked `tsa` certificate and key.

    The chain is the certificate's issuing CAs up to (not including) the root; serials default
    to `FileSerials(<folder>/tsa/serials.json)`, so they survive restarts.
    """
    store = PkiStore(directory)
    if not store.initialised:
        raise TsaConfigurationError(f"{store.directory} holds no test PKI (run `pki init`)")
    records = store.records()
    tsa_records = [r for r in records if r.kind == "tsa" and not r.revoked]
    if not tsa_records:
        raise TsaConfigurationError(f"{store.directory} has no valid TSA certificate")
    record = tsa_records[-1]
    certificate = store.certificate(record)
    by_subject = {r.subject: r for r in records if r.kind in ("intermediate", "root")}
    chain: list[x509.Certificate] = []
    issuer = by_subject.get(certificate.issuer.rfc4514_string())
    while issuer is not None and issuer.kind != "root" and len(chain) < 8:
        chain.append(store.certificate(issuer))
        issuer = by_subject.get(chain[-1].issuer.rfc4514_string())
    return TimeStampAuthority(
        certificate, store.private_key(record), chain, policy_oid, clock,
        serials or FileSerials(store.directory / "tsa" / "serials.json"), accuracy=accuracy)
