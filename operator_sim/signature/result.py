"""The outcome of one signature check, in ETSI EN 319 102-1 / DSS vocabulary.

`Failure` names every way a signature itself fails (the signer's certificate failing is a
`pki.Reason`, reused as is); `SignatureResult` carries what was verified so callers never
have to trust unverified bytes or re-derive the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from ..pki.trust import Indicated, Reason, Verdict

if TYPE_CHECKING:
    from cryptography import x509

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"


class Failure(Indicated):
    """Why a signature (not its signer) is refused: DSS indication, sub-indication, messages."""

    EMPTY = (TOTAL_FAILED, "FORMAT_FAILURE", "L'élément Signature est vide.",
             "The Signature element is empty.")
    NOT_CMS = (TOTAL_FAILED, "FORMAT_FAILURE",
               "Le contenu de l'élément Signature n'est pas une signature CMS/PKCS#7 (DER ou PEM).",
               "The Signature element does not hold a CMS/PKCS#7 signature (DER or PEM).")
    NOT_SIGNED_DATA = (TOTAL_FAILED, "FORMAT_FAILURE",
                       "La structure CMS n'est pas de type SignedData.",
                       "The CMS structure is not a SignedData.")
    NO_SIGNER = (TOTAL_FAILED, "FORMAT_FAILURE",
                 "La structure PKCS#7 ne contient aucun signataire (simple paquet de certificats ?).",
                 "The PKCS#7 structure holds no signer (a mere certificate bundle?).")
    SEVERAL_SIGNERS = (TOTAL_FAILED, "FORMAT_FAILURE",
                       "Plusieurs signataires dans une même signature : non pris en charge.",
                       "Several signers in one signature: not supported.")
    NOT_DETACHED = (TOTAL_FAILED, "FORMAT_FAILURE",
                    "La signature encapsule un contenu au lieu d'être détachée.",
                    "The signature encapsulates content instead of being detached.")
    STRUCTURE = (TOTAL_FAILED, "FORMAT_FAILURE", "Structure de signature non conforme.",
                 "Non-conformant signature structure.")
    NO_SIGNING_CERTIFICATE = (INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND",
                              "Le certificat du signataire n'est pas inclus dans la signature.",
                              "The signer's certificate is not included in the signature.")
    SIGNED_DATA_NOT_FOUND = (INDETERMINATE, "SIGNED_DATA_NOT_FOUND",
                             "Les données signées sont introuvables.",
                             "The signed data cannot be found.")
    HASH_FAILURE = (TOTAL_FAILED, "HASH_FAILURE",
                    "L'empreinte du fichier ne correspond pas à celle qui a été signée "
                    "(fichier modifié après signature, ou signature d'un autre fichier).",
                    "The file's digest does not match the signed one (file changed after "
                    "signing, or signature of another file).")
    SIG_CRYPTO_FAILURE = (TOTAL_FAILED, "SIG_CRYPTO_FAILURE",
                          "La valeur de signature ne se vérifie pas avec la clé du signataire.",
                          "The signature value does not verify with the signer's key.")
    WEAK_ALGORITHM = (INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                      "Algorithme de signature ou d'empreinte trop faible (SHA-1, MD5, RSA < 2048).",
                      "Signature or digest algorithm too weak (SHA-1, MD5, RSA < 2048).")
    PDF_MODIFIED = (TOTAL_FAILED, "FORMAT_FAILURE",
                    "Le PDF a été modifié après la signature (révision ajoutée non autorisée).",
                    "The PDF was modified after signing (disallowed added revision).")
    PDF_UNREADABLE = (TOTAL_FAILED, "FORMAT_FAILURE",
                      "Signature PAdES illisible dans le PDF.",
                      "Unreadable PAdES signature in the PDF.")


CMS, PADES = "CMS", "PAdES"


class Established(TypedDict, total=False):
    """What a verifier learnt of a signature, shared by every result it may then return."""

    signer: x509.Certificate | None
    digest_algorithm: str | None
    signature_algorithm: str | None
    signing_time: datetime | None
    signed_sha256: str | None
    field_name: str | None


@dataclass(frozen=True)
class SignatureResult:
    """One verified (or refused) signature and exactly what was established about it."""

    kind: str
    """`CMS` (detached, from actes:Signature) or `PAdES` (inside a PDF)."""
    failure: Failure | None = None
    """What is wrong with the signature itself; None when it is intact and verifies."""
    verdict: Verdict | None = None
    """The trust decision on the signer's chain (`pki.judge`), None when not judged."""
    signer_exempt: bool = False
    """The signer was judged but, by policy (S²LOW CC + 1.1), its verdict does not count."""
    detail: str = ""
    signer: x509.Certificate | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    signing_time: datetime | None = None
    """The signer's claimed signingTime attribute, if any (self-reported, not a timestamp)."""
    signed_sha256: str | None = None
    """SHA-256 of the bytes the signature was verified against (the file, or the PDF's
    signed byte ranges for PAdES)."""
    field_name: str | None = None
    """PAdES: the signature field's name."""

    @property
    def intact(self) -> bool:
        """The signature verifies over the data (whatever the signer's standing)."""
        return self.failure is None

    @property
    def signer_reason(self) -> Reason | None:
        if self.verdict is None or self.signer_exempt:
            return None
        return self.verdict.reason

    @property
    def ok(self) -> bool:
        return self.failure is None and self.signer_reason is None

    @property
    def indication(self) -> str:
        if self.failure is not None:
            return self.failure.indication
        reason = self.signer_reason
        if reason is not None:
            return reason.indication
        return TOTAL_PASSED

    @property
    def sub_indication(self) -> str | None:
        if self.failure is not None:
            return self.failure.sub_indication
        reason = self.signer_reason
        return None if reason is None else reason.sub_indication

    @property
    def code(self) -> str:
        """Stable code: PASSED, a `Failure` name, or SIGNER_ + the `pki.Reason` name."""
        if self.failure is not None:
            return self.failure.name
        reason = self.signer_reason
        return "PASSED" if reason is None else f"SIGNER_{reason.name}"

    @property
    def signer_subject(self) -> str | None:
        return None if self.signer is None else self.signer.subject.rfc4514_string()

    @property
    def signer_fingerprint(self) -> str | None:
        if self.signer is None:
            return None
        from ..pki.store import fingerprint  # cryptography: kept off the validator's start

        return fingerprint(self.signer)

    @property
    def message_fr(self) -> str:
        return self._message(fr=True)

    @property
    def message_en(self) -> str:
        return self._message(fr=False)

    def _message(self, *, fr: bool) -> str:
        if self.failure is not None:
            text = self.failure.message_fr if fr else self.failure.message_en
        elif self.signer_reason is not None:
            reason = self.signer_reason
            prefix = "Certificat du signataire refusé : " if fr else "Signer certificate refused: "
            text = prefix + (reason.message_fr if fr else reason.message_en)
            if self.verdict is not None and self.verdict.detail:
                text += f" ({self.verdict.detail})"
        else:
            text = "Signature valide." if fr else "Valid signature."
        if self.detail and self.failure is not None:
            text += f" ({self.detail})"
        return text
