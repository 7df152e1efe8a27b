"""Detached CMS/PKCS#7 signatures: verify the ones acts carry, make ours and the ministry's.

Verification is pyHanko's (digest, signature value, signed attributes, algorithm policy) with
a validation context pinned to the test PKI's anchors — never the system store — at the time
passed in; the signer's chain is then judged by `pki.judge`, the very decision the TLS door
makes. Signing is `cryptography`'s PKCS#7 builder. No ASN.1 or crypto is hand-written here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO, TypeVar

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pyhanko.sign.validation import errors as pyhanko_errors
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

from ..pki.profiles import PrivateKey
from ..pki.store import PkiStore
from ..pki.trust import TrustStore, judge
from .policy import DEFAULT_SIGNATURE_POLICY, SignaturePolicy
from .result import CMS, Failure, SignatureResult

# pyHanko logs every refused signature at WARNING with a traceback; our results say it better.
logging.getLogger("pyhanko").setLevel(logging.ERROR)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run pyHanko's async validation from sync code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@lru_cache(maxsize=16)
def _asn1_certificates(certificates: tuple[x509.Certificate, ...],
                       ) -> tuple[asn1_x509.Certificate, ...]:
    return tuple(to_asn1(c) for c in certificates)


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def from_asn1(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())


def pinned_context(trust: TrustStore | None, at: datetime,
                   policy: SignaturePolicy) -> ValidationContext:
    """pyHanko's context: test anchors only (an empty list when `trust` is None), time `at`.

    Revocation and the RGS profile are left to `pki.judge`; pyHanko's own path verdict is
    not used, so the two can never disagree in what we report.
    """
    anchors = _asn1_certificates(trust.anchors) if trust is not None else ()
    intermediates = _asn1_certificates(trust.intermediates) if trust is not None else ()
    algorithms = DisallowWeakAlgorithmsPolicy(
        weak_hash_algos=frozenset(policy.trust_policy.weak_hashes),
        rsa_key_size_threshold=policy.trust_policy.min_rsa_bits)
    return ValidationContext(trust_roots=list(anchors), other_certs=list(intermediates),
                             moment=at, best_signature_time=at, allow_fetching=False,
                             revocation_mode="soft-fail", algorithm_usage_policy=algorithms)


def _check_time(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware (the simulator clock's UTC time)")


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


def _weak(policy: SignaturePolicy, digest: str | None, mechanism: str | None) -> str | None:
    weak = policy.trust_policy.weak_hashes
    if digest in weak:
        return f"digest {digest}"
    if mechanism and mechanism.split("_")[0] in weak:
        return f"signature {mechanism}"
    return None


def _signer_chain(signed: cms.SignedData, signer: asn1_x509.Certificate) -> list[x509.Certificate]:
    """The signer first, then every other certificate the signature carries (judge's pool)."""
    others = [c.chosen for c in signed["certificates"] or ()
              if c.name == "certificate" and c.chosen.dump() != signer.dump()]
    return [from_asn1(signer), *(from_asn1(c) for c in others)]


class _FromStart:
    """Signed content read from a file for pyHanko, which digests it once per algorithm it
    needs (the signer's, a content timestamp's): each pass starts again at the first byte."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        stream.seek(0)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._stream.readinto(buffer)
        if not count:
            self._stream.seek(0)
        return count


def _sha256(data: bytes | BinaryIO) -> str:
    if isinstance(data, bytes | bytearray):
        return hashlib.sha256(data).hexdigest()
    data.seek(0)
    return hashlib.file_digest(data, "sha256").hexdigest()


async def async_verify_detached(data: bytes | BinaryIO, signature: bytes, *, at: datetime,
                                trust: TrustStore | None,
                                policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                                judge_signer: bool = True) -> SignatureResult:
    """Async form of `verify_detached`, for callers already inside an event loop."""
    _check_time(at)
    signed_sha256 = _sha256(data)
    signed, failure, detail = parse_signed_data(signature)
    if signed is None:
        return SignatureResult(CMS, failure, detail=detail, signed_sha256=signed_sha256)
    content = bytes(data) if isinstance(data, bytes | bytearray) else _FromStart(data)
    try:
        status = await async_validate_detached_cms(
            content, signed, signer_validation_context=pinned_context(trust, at, policy))
    except pyhanko_errors.SignatureValidationError as exc:
        sub = getattr(exc.ades_subindication, "name", None)
        failure = (Failure.NO_SIGNING_CERTIFICATE if sub == "NO_SIGNING_CERTIFICATE_FOUND"
                   else Failure.STRUCTURE)
        return SignatureResult(CMS, failure, detail=exc.failure_message[:200],
                               signed_sha256=signed_sha256)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        return SignatureResult(CMS, Failure.STRUCTURE, detail=str(exc)[:200],
                               signed_sha256=signed_sha256)
    return _conclude(CMS, status, signed, at=at, trust=trust, policy=policy,
                     judge_signer=judge_signer, signed_sha256=signed_sha256)


def _conclude(kind: str, status: Any, signed: cms.SignedData, *, at: datetime,
              trust: TrustStore | None, policy: SignaturePolicy, judge_signer: bool,
              signed_sha256: str, field_name: str | None = None,
              failure: Failure | None = None, detail: str = "") -> SignatureResult:
    """Turn pyHanko's integrity status into our result, then judge the signer ourselves."""
    signer = status.signing_cert
    common = dict(signer=from_asn1(signer), digest_algorithm=status.md_algorithm,
                  signature_algorithm=status.pkcs7_signature_mechanism,
                  signing_time=status.signer_reported_dt, signed_sha256=signed_sha256,
                  field_name=field_name)
    if not status.intact:
        return SignatureResult(kind, Failure.HASH_FAILURE, **common)
    if not status.valid:
        return SignatureResult(kind, Failure.SIG_CRYPTO_FAILURE, **common)
    weak = _weak(policy, status.md_algorithm, status.pkcs7_signature_mechanism)
    if weak:
        return SignatureResult(kind, Failure.WEAK_ALGORITHM, detail=weak, **common)
    if failure is not None:
        return SignatureResult(kind, failure, detail=detail, **common)
    if trust is None:
        return SignatureResult(kind, None, **common)
    verdict = judge(_signer_chain(signed, signer), at=at, store=trust,
                    policy=policy.trust_policy)
    return SignatureResult(kind, None, verdict, signer_exempt=not judge_signer, **common)


def verify_detached(data: bytes | BinaryIO, signature: bytes, *, at: datetime,
                    trust: TrustStore | None,
                    policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                    judge_signer: bool = True) -> SignatureResult:
    """Verify a detached CMS/PKCS#7 `signature` (DER or PEM) of `data`, at time `at`.

    `data` is the signed bytes, or a seekable binary file of them, digested a chunk at a time
    from its start (a 100 MB act is never held whole).

    With `trust` None only form and integrity are checked (the signer is not judged).
    `judge_signer=False` applies the S²LOW exception: the verdict is kept but does not count.
    """
    return run_sync(async_verify_detached(data, signature, at=at, trust=trust, policy=policy,
                                          judge_signer=judge_signer))


def sign_detached(data: bytes, certificate: x509.Certificate, key: PrivateKey,
                  chain: Sequence[x509.Certificate] = (), *,
                  hash_algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """A detached, binary CMS SignedData (DER) of `data`, with the signer's certificate and
    `chain` included so that a verifier holding only the root can build the path."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(
        certificate, key, hash_algorithm or hashes.SHA256())  # type: ignore[arg-type]
    for extra in chain:
        if extra != certificate:
            builder = builder.add_certificate(extra)
    return builder.sign(serialization.Encoding.DER,
                        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def ministere_signer(store: PkiStore) -> tuple[x509.Certificate, PrivateKey,
                                                tuple[x509.Certificate, ...]]:
    """The ministry's signing certificate, its key and its issuing CA from the PKI folder."""
    records = store.records()
    record = next(r for r in records if r.kind == "ministere")
    issuer = next(r for r in records if r.certificate == f"ca/{record.issuer}.pem")
    return store.certificate(record), store.private_key(record), (store.certificate(issuer),)


def sign_outgoing(xml: bytes, store: PkiStore) -> bytes:
    """The detached CMS (DER) that accompanies a message the simulator emits, by the
    "ministère" test certificate; the XML itself is left untouched (it still validates
    against the @ctes schema). `openssl cms -verify -binary -inform DER -content MSG.xml
    -in MSG.p7s -CAfile roots.pem` verifies it with OpenSSL's default S/MIME purpose,
    since the ministry certificate carries EKU emailProtection.

    The certificate and key are loaded once per PKI folder, and again when its index changes
    (a regenerated or re-issued PKI): reading them cost four times the signature."""
    certificate, key, chain = _loaded_ministere(store)
    return sign_detached(xml, certificate, key, chain)


_Ministere = tuple[x509.Certificate, PrivateKey, tuple[x509.Certificate, ...]]
_ministere: dict[str, tuple[tuple[int, int], _Ministere]] = {}


def _loaded_ministere(store: PkiStore) -> _Ministere:
    index = store.index_path.stat()
    version = (index.st_ino, index.st_mtime_ns)  # the index is replaced whole on every change
    folder = str(store.directory)
    cached = _ministere.get(folder)
    if cached is None or cached[0] != version:
        if len(_ministere) >= 16:  # tests make many PKIs; a service has one
            _ministere.clear()
        cached = _ministere[folder] = (version, ministere_signer(store))
    return cached[1]
