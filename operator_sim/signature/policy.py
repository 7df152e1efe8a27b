"""What a deployment (or a matière profile) demands of the signatures an act carries.

One frozen object per check, like `pki.TrustPolicy`, which it embeds: the signer of a document
is judged by exactly the rules that judge a TLS client. Never reads a clock or a store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

from ..pki.trust import DEFAULT_POLICY as DEFAULT_TRUST_POLICY
from ..pki.trust import TrustPolicy


class SignatureMode(StrEnum):
    """How much the operator cares about signatures on an act."""

    OFF = "off"
    """Signatures are not looked at (a broken one passes unnoticed)."""
    VERIFY_IF_PRESENT = "verify-if-present"
    """Every signature present must verify; unsigned acts pass (S²LOW's behaviour)."""
    REQUIRED = "required"
    """As above, and the act's main document must carry a signature (CMS or PAdES)."""

    @classmethod
    def parse(cls, text: str) -> SignatureMode:
        try:
            return cls(text.strip().lower().replace("_", "-"))
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown signature mode {text!r} (known: {known})") from None


@dataclass(frozen=True)
class SignaturePolicy:
    """Every expectation of the signature check, in one frozen object."""

    mode: SignatureMode = SignatureMode.VERIFY_IF_PRESENT
    """Deployment-wide mode; a matière profile may override it unless it is `off`."""
    trust_policy: TrustPolicy = DEFAULT_TRUST_POLICY
    """Rules for the signer's certificate (the same object the TLS door uses); its weak hashes
    and minimum RSA size also apply to the signature's own algorithms."""
    s2low_signer_exception: bool = True
    """S²LOW does not judge the signer certificate's validity for contracts (nature CC)
    classified 1.1 (marchés publics): tenderers sign with whatever certificate they own. The
    signature must still be intact; a signer that fails the trust decision is only a warning."""
    exempt_matieres: tuple[str, ...] = ("1.1",)
    exempt_natures: frozenset[str] = field(default_factory=lambda: frozenset({"CC"}))
    verify_pades: bool = True
    """Also verify PAdES signatures found in PDF documents."""

    def effective_mode(self, profile_mode: SignatureMode | None) -> SignatureMode:
        """The mode for one act: the profile's, unless this deployment switched checks off."""
        if self.mode is SignatureMode.OFF or profile_mode is None:
            return self.mode
        return profile_mode

    def signer_exempt(self, nature_abrege: str, codes: Sequence[int]) -> bool:
        """True when the signer's certificate validity must not be judged (S²LOW CC + 1.1)."""
        if not self.s2low_signer_exception or nature_abrege not in self.exempt_natures:
            return False
        key = ".".join(str(c) for c in codes)
        return any(key == m or key.startswith(m + ".") for m in self.exempt_matieres)


DEFAULT_SIGNATURE_POLICY = SignaturePolicy()


SIGNATURE_MARKER = b"/ByteRange"
SCAN_CHUNK = 256 * 1024


def looks_signed(pdf: bytes | BinaryIO, *, chunk: int = SCAN_CHUNK) -> bool:
    """Cheap pre-check before opening a PDF: every signature dictionary has a /ByteRange.

    A file object is scanned from its start `chunk` bytes at a time (a 100 MB act is never
    held whole); the bytes just before each chunk are searched with its first ones, so a
    marker split across reads is still found.
    """
    if isinstance(pdf, bytes | bytearray):
        return SIGNATURE_MARKER in pdf
    keep = len(SIGNATURE_MARKER) - 1
    pdf.seek(0)
    tail = b""  # the last bytes read, where a marker may begin
    while data := pdf.read(max(chunk, 1)):
        if SIGNATURE_MARKER in tail + data[:keep] or SIGNATURE_MARKER in data:
            return True
        tail = (tail + data[-keep:])[-keep:]
    return False
