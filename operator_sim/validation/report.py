"""Validation findings and reports, and how they become an AnomalieActe.

A finding's `code` is the stable contract with users (CLI output, JSON, JUnit, HTTP bodies);
`ANOMALIE_BY_CODE` is the one table that turns a code into the AnomalieActe nature the
service returns, so the offline validator and the service never disagree.

Reports quote what archives hold, names undecodable as UTF-8 included (kept as lone
surrogates by `surrogateescape`): their renderings go through `utf8_text` (JSON, text) or
`xml_text` (JUnit), which spell such bytes `\\xNN`, so every output is valid UTF-8 (and XML).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ..protocol.codes import AnomalieNature
from ..protocol.xmlsafe import NOT_XML_CHAR
from .profiles import LENIENCIES, PlatformProfile


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


_A = AnomalieNature
ANOMALIE_BY_CODE: dict[str, AnomalieNature] = {
    # The archive itself
    "ARCHIVE_NOT_GZIP": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_TRUNCATED": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_CORRUPT": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_NOT_TAR": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_EMPTY": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_LINK": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_SPECIAL_MEMBER": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_DIRECTORY": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_ABSOLUTE_PATH": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_TRAVERSAL": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_NESTED_PATH": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_BAD_MEMBER_NAME": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_AMBIGUOUS_NAME": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_DUPLICATE_MEMBER": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_TOO_MANY_MEMBERS": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_MEMBER_TOO_LARGE": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_TOO_LARGE": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_BOMB": _A.ARCHIVE_ILLISIBLE,
    "ARCHIVE_UNREADABLE": _A.ARCHIVE_ILLISIBLE,
    "ENVELOPE_MISSING": _A.ARCHIVE_ILLISIBLE,
    # The validation's own bounds (ValidationPolicy.max_findings, max_seconds)
    "FINDINGS_LIMIT": _A.ARCHIVE_ILLISIBLE,
    "VALIDATION_TIMEOUT": _A.ARCHIVE_ILLISIBLE,
    # Names
    "NAME_ARCHIVE": _A.NOMMAGE,
    "NAME_ENVELOPE": _A.NOMMAGE,
    "NAME_MESSAGE": _A.NOMMAGE,
    "NAME_DOCUMENT": _A.NOMMAGE,
    "NAME_MISMATCH": _A.NOMMAGE,
    "NUMERO_INTERNE_NOT_STRICT": _A.NOMMAGE,
    "NUMERO_INTERNE_INVALID": _A.SCHEMA,
    "NUMERO_INTERNE_LOWERCASE": _A.NOMMAGE,
    "DOCUMENT_PAPIER_MISSING": _A.SCHEMA,
    # XML and schemas
    "XML_MALFORMED": _A.SCHEMA,
    "XML_DTD_FORBIDDEN": _A.SCHEMA,
    "XML_TOO_LARGE": _A.SCHEMA,
    "XML_TOO_MANY_ATTRIBUTES": _A.SCHEMA,
    "XML_TOO_MANY_NODES": _A.SCHEMA,
    "XML_ENCODING_MISMATCH": _A.SCHEMA,
    "SCHEMA_INVALID": _A.SCHEMA,
    "MESSAGE_UNKNOWN_ROOT": _A.SCHEMA,
    "MESSAGE_INVALID": _A.SCHEMA,
    "MESSAGE_WRONG_DIRECTION": _A.SCHEMA,
    "MESSAGE_NAME_MISMATCH": _A.NOMMAGE,
    "ANNEXES_COUNT": _A.SCHEMA,
    "FILES_TOO_MANY": _A.SCHEMA,
    # Files
    "FILE_MISSING": _A.FICHIER_INTROUVABLE,
    "FILE_UNREFERENCED": _A.FICHIER_NON_REFERENCE,
    "FILE_REFERENCED_TWICE": _A.FICHIER_NON_REFERENCE,
    "DOCUMENT_FORMAT": _A.FORMAT_DOCUMENT,
    "DOCUMENT_CONTENT_MISMATCH": _A.FORMAT_DOCUMENT,
    # Classification, nature and matière
    "CLASSIFICATION_VERSION_UNKNOWN": _A.CLASSIFICATION_PERIMEE,
    "CLASSIFICATION_OUTDATED": _A.CLASSIFICATION_PERIMEE,
    "CLASSIFICATION_UNKNOWN_CODE": _A.CLASSIFICATION_INCONNUE,
    "CLASSIFICATION_GAP": _A.CLASSIFICATION_INCONNUE,
    "NATURE_MATIERE_FORBIDDEN": _A.NATURE_MATIERE,
    "TYPOLOGIE_NOT_ALLOWED": _A.NATURE_MATIERE,
    "TYPOLOGIE_MATIERE": _A.NATURE_MATIERE,
    # Dates
    "DATE_FUTURE": _A.DATE,
    "DATE_NAME_MISMATCH": _A.DATE,
    # Sender
    "EMETTEUR_MISMATCH": _A.EMETTEUR,
    "DEPARTEMENT_UNKNOWN": _A.EMETTEUR,
    "SENDER_UNKNOWN": _A.EMETTEUR,
    "IDCL_MISMATCH": _A.EMETTEUR,  # answered by an AnomalieEnveloppe 005 (engine.intake)
    "CONVENTION_MATIERE": _A.EMETTEUR,
    "CONVENTION_BUDGET": _A.EMETTEUR,
    # Business documents
    "BUDGET_INVALID": _A.DOCUMENT_METIER,
    "BUDGET_SIRET_MISMATCH": _A.DOCUMENT_METIER,
    "BUDGET_SCELLEMENT": _A.DOCUMENT_METIER,
    "BUDGET_NOT_XML": _A.FORMAT_DOCUMENT,
    # Signatures of the act's files (detached CMS in actes:Signature, PAdES in PDFs)
    "SIGNATURE_FORMAT": _A.SIGNATURE,
    "SIGNATURE_INVALID": _A.SIGNATURE,
    "SIGNATURE_SIGNER_UNTRUSTED": _A.SIGNATURE,
    "SIGNATURE_MISSING": _A.SIGNATURE,
}


_UNENCODABLE = re.compile("[\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte `surrogateescape` kept: the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def utf8_text(text: str) -> str:
    """`text` as strict UTF-8 carries it: an undecodable byte kept as a lone surrogate becomes
    `\\xNN` (Python's spelling), any other lone surrogate `\\uNNNN`."""
    return _UNENCODABLE.sub(_escaped, text)


def xml_text(text: str) -> str:
    """`text` as XML 1.0 carries it: as `utf8_text`, and the control characters XML forbids
    (all below U+0020 but tab, LF, CR) spelled `\\xNN` too."""
    return NOT_XML_CHAR.sub(_escaped, text)


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or doubtful) with an envelope, located as precisely as we can."""

    code: str
    severity: Severity
    message_fr: str
    message_en: str
    file: str | None = None
    xpath: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.code not in ANOMALIE_BY_CODE:
            raise ValueError(f"finding code {self.code!r} is not in ANOMALIE_BY_CODE")

    @property
    def anomalie_nature(self) -> AnomalieNature:
        return ANOMALIE_BY_CODE[self.code]

    @property
    def location(self) -> str:
        parts = [p for p in (self.file, self.xpath) if p]
        if self.line:
            parts.append(f"ligne {self.line}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        """The fields, in order, as JSON can carry them (texts through `utf8_text`)."""
        data = {k: utf8_text(v) if isinstance(v, str) else v for k, v in self.__dict__.items()}
        data["severity"] = self.severity.value
        data["anomalie_nature"] = self.anomalie_nature.value
        return data


@dataclass
class ValidationReport:
    """Everything the validator found in one envelope archive."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    profile: str | None = None
    messages: list[str] = field(default_factory=list)
    platform_profile: str = PlatformProfile.STRICT.value
    """The platform profile judged under: `strict`, or `lenient` once `relax`ed."""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def add(self, code: str, message_fr: str, message_en: str, *,
            severity: Severity = Severity.ERROR, file: str | None = None,
            xpath: str | None = None, line: int | None = None) -> Finding:
        finding = Finding(code, severity, message_fr, message_en, file, xpath, line)
        self.findings.append(finding)
        return finding

    def relax(self) -> None:
        """Judge under the lenient profile: each finding `LENIENCIES` names becomes a warning
        (the service relaxes a report after the fact for a lenient collectivité)."""
        self.platform_profile = PlatformProfile.LENIENT.value
        self.findings = [replace(f, severity=Severity.WARNING) if f.code in LENIENCIES else f
                         for f in self.findings]

    def anomalie(self) -> tuple[AnomalieNature, str] | None:
        """The AnomalieActe (Nature, Detail) this report calls for: the first error wins."""
        first = next((f for f in self.findings if f.severity is Severity.ERROR), None)
        if first is None:
            return None
        detail = f"{first.code} : {first.message_fr}"
        if first.location:
            detail += f" ({first.location})"
        return first.anomalie_nature, detail[:1000]

    def to_dict(self) -> dict:
        anomalie = self.anomalie()
        return {
            "source": utf8_text(self.source),
            "valid": anomalie is None,
            "profile": self.profile,
            "platform_profile": self.platform_profile,
            "messages": [utf8_text(m) for m in self.messages],
            "anomalie": None if anomalie is None else {
                "nature": anomalie[0].value, "detail": utf8_text(anomalie[1])},
            "findings": [f.to_dict() for f in self.findings],
        }
