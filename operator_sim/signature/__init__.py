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

from .._lazy import lazy_exports

# pyHanko takes half a second to import: the verifying and signing modules load on first use,
# so policies and results (all the validator needs up front) stay cheap to import.
_WHERE = {
    "SignedArchive": "archive", "Signer": "archive", "sign_archive": "archive",
    "sign_envelope": "archive",
    "async_verify_detached": "cms", "ministere_signer": "cms", "sign_detached": "cms",
    "sign_outgoing": "cms", "verify_detached": "cms",
    "async_verify_pdf_signatures": "pades", "verify_pdf_signatures": "pades",
    "DEFAULT_SIGNATURE_POLICY": "policy", "SignatureMode": "policy", "SignaturePolicy": "policy",
    "INDETERMINATE": "result", "TOTAL_FAILED": "result", "TOTAL_PASSED": "result",
    "Failure": "result", "SignatureResult": "result",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
