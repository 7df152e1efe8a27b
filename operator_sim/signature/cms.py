"""Detached CMS/PKCS#7 signatures: verify the ones acts carry, make ours and the ministry's.

Verification is `detached.check_detached` (asn1crypto parses, `cryptography` verifies, the
signer judged by `pki.judge` with CRLs, at the time passed in, against the test PKI's anchors
only); the rare signature it declines (timestamp tokens, CAdES signer attributes, DSA) goes to
pyHanko (`hanko.py`), loaded only then. Signing is `cryptography`'s PKCS#7 builder. No ASN.1
or crypto is hand-written here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import BinaryIO, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ..pki.issue import SignerMaterial
from ..pki.profiles import PrivateKey
from ..pki.store import PkiStore
from ..pki.trust import TrustStore
from .detached import MALFORMED, check_detached, digests, from_asn1, parse_signed_data, to_asn1
from .policy import DEFAULT_SIGNATURE_POLICY, SignaturePolicy
from .result import CMS, Failure, SignatureResult

__all__ = ["async_verify_detached", "from_asn1", "ministere_material",
           "ministere_signer", "parse_signed_data", "sign_detached", "sign_outgoing", "to_asn1",
           "verify_detached"]


class _Options(TypedDict):
    """What both verifiers (ours, then pyHanko's) are given."""

    at: datetime
    trust: TrustStore | None
    policy: SignaturePolicy
    judge_signer: bool


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
    options = _Options(at=at, trust=trust, policy=policy, judge_signer=judge_signer)
    result = check_detached(data, signature, **options)
    if result is not None:
        return result
    from .hanko import verify_detached_pyhanko  # pyHanko takes half a second to import

    try:
        return verify_detached_pyhanko(data, signature, **options)
    except _PYHANKO_TRIPS as exc:
        return _tripped(data, exc)


async def async_verify_detached(data: bytes | BinaryIO, signature: bytes, *, at: datetime,
                                trust: TrustStore | None,
                                policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                                judge_signer: bool = True) -> SignatureResult:
    """Async form of `verify_detached`, for callers already inside an event loop (the check
    itself is CPU work: it does not yield, unless pyHanko takes over)."""
    options = _Options(at=at, trust=trust, policy=policy, judge_signer=judge_signer)
    result = check_detached(data, signature, **options)
    if result is not None:
        return result
    from .hanko import async_verify_detached_pyhanko  # pyHanko: only when needed

    try:
        return await async_verify_detached_pyhanko(data, signature, **options)
    except _PYHANKO_TRIPS as exc:
        return _tripped(data, exc)


# pyHanko trips on some malformed signatures (an assertion on the key type, a digest it has no
# hash class for, a certificate read lazily): refused as malformed, never raised to the caller.
_PYHANKO_TRIPS = (*MALFORMED, AttributeError, AssertionError, NotImplementedError)


def _tripped(data: bytes | BinaryIO, exc: Exception) -> SignatureResult:
    return SignatureResult(CMS, Failure.STRUCTURE, detail=f"{type(exc).__name__}: {exc}"[:200],
                           signed_sha256=digests(data, {"sha256"})["sha256"].hex())


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


def ministere_material(store: PkiStore) -> SignerMaterial:
    """`sign_outgoing`'s signer as bytes; the same object until the PKI index changes."""
    version, (certificate, key, chain) = _loaded_ministere_versioned(store)
    cached = _materials.get(str(store.directory))
    if cached is None or cached[0] != version:
        material = SignerMaterial.of(certificate, key, chain)
        cached = _materials[str(store.directory)] = (version, material)
    return cached[1]


_Ministere = tuple[x509.Certificate, PrivateKey, tuple[x509.Certificate, ...]]
_ministere: dict[str, tuple[tuple[int, int], _Ministere]] = {}
_materials: dict[str, tuple[tuple[int, int], SignerMaterial]] = {}


def _loaded_ministere(store: PkiStore) -> _Ministere:
    return _loaded_ministere_versioned(store)[1]


def _loaded_ministere_versioned(store: PkiStore) -> tuple[tuple[int, int], _Ministere]:
    index = os.stat(store.index_file)
    version = (index.st_ino, index.st_mtime_ns)  # the index is replaced whole on every change
    folder = str(store.directory)
    cached = _ministere.get(folder)
    if cached is None or cached[0] != version:
        if len(_ministere) >= 16:  # tests make many PKIs; a service has one
            _ministere.clear()
            _materials.clear()
        cached = _ministere[folder] = (version, ministere_signer(store))
    return cached
