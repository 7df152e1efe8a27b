"""Signatures: CMS/PAdES verification of signed acts; detached signatures of outgoing messages.

Public surface (everything else is internal):
- policy: `SignatureMode` (off / verify-if-present / required), `SignaturePolicy`,
  `DEFAULT_SIGNATURE_POLICY`
- results: `SignatureResult`, `Failure`, `TOTAL_PASSED`, `TOTAL_FAILED`, `INDETERMINATE`
- verification: `verify_detached`, `async_verify_detached`, `verify_pdf_signatures`,
  `async_verify_pdf_signatures`
- signing: `sign_detached` (collectivité side), `sign_outgoing` (ministère side),
  `ministere_signer`; `Signer`, `sign_archive`, `sign_envelope` add signatures to a 1-1
"""

from .archive import SignedArchive, Signer, sign_archive, sign_envelope
from .cms import (
    async_verify_detached,
    ministere_signer,
    sign_detached,
    sign_outgoing,
    verify_detached,
)
from .pades import async_verify_pdf_signatures, verify_pdf_signatures
from .policy import DEFAULT_SIGNATURE_POLICY, SignatureMode, SignaturePolicy
from .result import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, Failure, SignatureResult

__all__ = [
    "DEFAULT_SIGNATURE_POLICY", "INDETERMINATE", "TOTAL_FAILED", "TOTAL_PASSED", "Failure",
    "SignatureMode", "SignaturePolicy", "SignatureResult", "SignedArchive", "Signer",
    "async_verify_detached", "async_verify_pdf_signatures", "ministere_signer",
    "sign_archive", "sign_detached", "sign_envelope", "sign_outgoing", "verify_detached",
    "verify_pdf_signatures",
]
