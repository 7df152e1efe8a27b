"""pyHanko's verification: PAdES signatures, and detached CMS when `detached.py` declines one.

pyHanko checks digest, signature value, signed attributes and timestamp tokens with a
validation context pinned to the test PKI's anchors — never the system store — at the time
passed in; the signer's chain is then judged by `pki.judge`, the very decision the TLS door
makes. `verify_detached_pyhanko` is also the reference the fast check is tested against.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO, TypeVar

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.validation import errors as pyhanko_errors
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

from ..pki.trust import TrustStore, judge
from .detached import (
    UNREADABLE,
    check_time,
    digests,
    from_asn1,
    parse_signed_data,
    signer_chain,
    to_asn1,
    unreadable_certificate,
    weak_algorithm,
)
from .policy import DEFAULT_SIGNATURE_POLICY, SignaturePolicy
from .result import CMS, Established, Failure, SignatureResult

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


class _FromStart:
    """Signed content read from a file for pyHanko, which digests it once per algorithm it
    needs (the signer's, a content timestamp's): each pass starts again at the first byte."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        stream.seek(0)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        # typing.BinaryIO leaves out readinto, which every binary file object has.
        count = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        if not count:
            self._stream.seek(0)
        return count


async def async_verify_detached_pyhanko(
        data: bytes | BinaryIO, signature: bytes, *, at: datetime, trust: TrustStore | None,
        policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
        judge_signer: bool = True) -> SignatureResult:
    """`cms.verify_detached` done by pyHanko's `validate_detached_cms` throughout."""
    check_time(at)
    signed_sha256 = digests(data, {"sha256"})["sha256"].hex()
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
    return conclude(CMS, status, signed, at=at, trust=trust, policy=policy,
                    judge_signer=judge_signer, signed_sha256=signed_sha256)


def verify_detached_pyhanko(data: bytes | BinaryIO, signature: bytes, *, at: datetime,
                            trust: TrustStore | None,
                            policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                            judge_signer: bool = True) -> SignatureResult:
    """Sync form of `async_verify_detached_pyhanko`."""
    return run_sync(async_verify_detached_pyhanko(data, signature, at=at, trust=trust,
                                                  policy=policy, judge_signer=judge_signer))


def conclude(kind: str, status: Any, signed: cms.SignedData, *, at: datetime,
             trust: TrustStore | None, policy: SignaturePolicy, judge_signer: bool,
             signed_sha256: str, field_name: str | None = None,
             failure: Failure | None = None, detail: str = "") -> SignatureResult:
    """Turn pyHanko's integrity status into our result, then judge the signer ourselves."""
    signer = status.signing_cert
    try:
        loaded = from_asn1(signer)
    except UNREADABLE as exc:  # asn1crypto read it, `cryptography` cannot
        return SignatureResult(kind, Failure.STRUCTURE, detail=str(exc)[:200],
                               signed_sha256=signed_sha256, field_name=field_name)
    common = Established(signer=loaded, digest_algorithm=status.md_algorithm,
                         signature_algorithm=status.pkcs7_signature_mechanism,
                         signing_time=status.signer_reported_dt, signed_sha256=signed_sha256,
                         field_name=field_name)
    if not status.intact:
        return SignatureResult(kind, Failure.HASH_FAILURE, **common)
    if not status.valid:
        return SignatureResult(kind, Failure.SIG_CRYPTO_FAILURE, **common)
    weak = weak_algorithm(policy, status.md_algorithm, status.pkcs7_signature_mechanism)
    if weak:
        return SignatureResult(kind, Failure.WEAK_ALGORITHM, detail=weak, **common)
    if failure is not None:
        return SignatureResult(kind, failure, detail=detail, **common)
    if trust is None:
        return SignatureResult(kind, None, **common)
    try:
        verdict = judge(signer_chain(signed, signer), at=at, store=trust,
                        policy=policy.trust_policy)
    except UNREADABLE as exc:
        return unreadable_certificate(kind, exc, common)
    return SignatureResult(kind, None, verdict, signer_exempt=not judge_signer, **common)
