"""PAdES: the signatures embedded in a PDF, verified by pyHanko's PDF validation.

Same pinned context and same signer judgement as detached CMS (`hanko.py`). A signature that
does not cover the whole file is refused when the revisions added after it change the
document (pyHanko's difference analysis): the act a préfecture reads is not the one signed.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import BinaryIO

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation import errors as pyhanko_errors

from ..pki.trust import TrustStore
from .detached import check_time
from .hanko import conclude, pinned_context, run_sync
from .policy import DEFAULT_SIGNATURE_POLICY, SCAN_CHUNK, SignaturePolicy, looks_signed
from .result import PADES, Failure, SignatureResult

_ACCEPTED_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)


async def async_verify_pdf_signatures(pdf: bytes | BinaryIO, *, at: datetime,
                                      trust: TrustStore | None,
                                      policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                                      judge_signer: bool = True) -> list[SignatureResult]:
    """Async form of `verify_pdf_signatures`."""
    check_time(at)
    stream = io.BytesIO(pdf) if isinstance(pdf, bytes | bytearray) else pdf
    if not looks_signed(stream):
        return []
    try:
        embedded = list(PdfFileReader(stream, strict=False).embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return [SignatureResult(PADES, Failure.PDF_UNREADABLE, detail=str(exc)[:200])]
    results = []
    for signature in embedded:
        try:
            status = await async_validate_pdf_signature(
                signature, signer_validation_context=pinned_context(trust, at, policy))
            covered = _covered_sha256(stream, signature.byte_range)
        except pyhanko_errors.SignatureValidationError as exc:
            sub = getattr(exc.ades_subindication, "name", None)
            failure = (Failure.NO_SIGNING_CERTIFICATE if sub == "NO_SIGNING_CERTIFICATE_FOUND"
                       else Failure.PDF_UNREADABLE)
            results.append(SignatureResult(PADES, failure, detail=exc.failure_message[:200],
                                           field_name=signature.field_name))
            continue
        except (PdfError, ValueError, KeyError, TypeError) as exc:
            results.append(SignatureResult(PADES, Failure.PDF_UNREADABLE,
                                           detail=str(exc)[:200], field_name=signature.field_name))
            continue
        level = status.modification_level  # None only if the difference analysis is skipped
        level_name = level.name if level is not None else "unknown"
        modified = level not in _ACCEPTED_CHANGES or not status.docmdp_ok
        results.append(conclude(
            PADES, status, signature.signed_data, at=at, trust=trust, policy=policy,
            judge_signer=judge_signer, signed_sha256=covered,
            field_name=signature.field_name,
            failure=Failure.PDF_MODIFIED if modified else None,
            detail=f"modification level {level_name}" if modified else ""))
    return results


def _covered_sha256(stream: BinaryIO, byte_range: list[int]) -> str:
    """SHA-256 of the bytes a signature covers, read a chunk at a time (the stream's position
    is put back for pyHanko's reader, which shares it)."""
    position = stream.tell()
    covered = hashlib.sha256()
    for start, length in zip(*[iter(byte_range)] * 2, strict=True):
        stream.seek(start)
        while length > 0 and (chunk := stream.read(min(length, SCAN_CHUNK))):
            covered.update(chunk)
            length -= len(chunk)
    stream.seek(position)
    return covered.hexdigest()


def verify_pdf_signatures(pdf: bytes | BinaryIO, *, at: datetime, trust: TrustStore | None,
                          policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
                          judge_signer: bool = True) -> list[SignatureResult]:
    """Every PAdES signature in `pdf` (bytes, or a seekable binary file read as needed, never
    whole), each verified at `at`; an empty list when unsigned."""
    return run_sync(async_verify_pdf_signatures(pdf, at=at, trust=trust, policy=policy,
                                                judge_signer=judge_signer))
