"""Validate one @ctes envelope archive: names, safety, schemas, profiles and business rules.

The order follows what operators do (archive name → safe unpacking → envelope → messages →
names and typologies → formats → business documents) and the validator keeps going after an
error wherever the later checks still make sense, so one run reports everything it can.
It never raises for bad input: every problem becomes a Finding.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from ..pki.trust import TrustStore
from ..protocol.archive import ArchiveLimits, ArchiveMember, EnvelopeArchive, read_archive
from ..protocol.classification import Classification, bundled_classifications
from ..protocol.codes import NS_ACTES, NS_INSEE, Sender
from ..protocol.errors import InvalidName, ProtocolError, UnsafeArchive, UnsafeXML
from ..protocol.messages import (
    Acte,
    AnomalieEnveloppe,
    EnveloppeCLMISILL,
    EnveloppeMISILLCL,
    FichierSigne,
    message_from_element,
)
from ..protocol.names import (
    ArchiveName,
    EnveloppeName,
    MessageFileName,
    ascii_digits,
    is_departement,
    is_numero_interne,
    is_strict_numero_interne,
    is_upper_numero_interne,
)
from ..protocol.xmlsafe import parse_xml
from ..signature.policy import (
    DEFAULT_SIGNATURE_POLICY,
    SignatureMode,
    SignaturePolicy,
    looks_signed,
)
from ..signature.result import Failure, SignatureResult
from .documents import (
    compute_scellement,
    format_from_extension,
    pdf_structure_problem,
    sniff_format,
)
from .profiles import MatiereProfile, PlatformProfile, XmlMainRule, matiere_key
from .registry import CompiledSchema, SchemaRegistry, default_registry
from .report import ANOMALIE_BY_CODE, Severity, ValidationReport

_MAX_SCHEMA_FINDINGS = 10
_BYTES_PER_SECOND = 10 * 1024 * 1024
"""Time granted per inflated byte on top of `max_seconds`: reading, hashing and checking
big documents is linear work a large archive legitimately needs."""


class _Stop(Exception):
    """The validation spent its budget (findings or time): what was found is the report."""


@dataclass(frozen=True)
class ValidationPolicy:
    """What the validator checks against: the day it is, the known classifications, limits."""

    today: dt.date
    classifications: Mapping[dt.date, Classification] = field(
        default_factory=bundled_classifications)
    current_classification: dt.date | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    signatures: SignaturePolicy = DEFAULT_SIGNATURE_POLICY
    """How signatures carried by the act are checked (mode, signer rules, S²LOW exception)."""
    trust: TrustStore | None = None
    """The test PKI the signers must chain to; None: signatures are checked for form and
    integrity only (signers not judged), and `required` still refuses unsigned acts."""
    received_at: dt.datetime | None = None
    """The instant signers are judged at (receipt time on the simulator clock); default:
    the last second of `today`, UTC."""
    max_findings: int = 100
    """Findings one archive may get; the next one ends its validation (FINDINGS_LIMIT)."""
    max_seconds: float = 5.0
    """Time one archive's validation may take, plus a second per 10 MiB of its inflated
    members; past it the validation ends (VALIDATION_TIMEOUT). Every step is bounded and
    linear, so this is a backstop, not the expected cost."""
    profile: PlatformProfile = PlatformProfile.STRICT
    """`lenient`: the findings named in `LENIENCIES` are warnings, not errors."""

    @property
    def current(self) -> Classification:
        key = self.current_classification or max(self.classifications)
        return self.classifications[key]

    @property
    def signature_time(self) -> dt.datetime:
        if self.received_at is not None:
            return self.received_at
        return dt.datetime.combine(self.today, dt.time(23, 59, 59), dt.UTC)

    def __reduce__(self) -> tuple:
        # Worker processes receive the policy by pickling; X.509 objects do not pickle, so
        # the trust store travels as DER/PEM bytes and is rebuilt on arrival.
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "trust"}
        return _rebuild_policy, (values, _trust_bytes(self.trust))


_TrustBytes = tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]


def _trust_bytes(trust: TrustStore | None) -> _TrustBytes | None:
    if trust is None:
        return None
    from cryptography.hazmat.primitives import serialization  # only with a trust store

    der = serialization.Encoding.DER
    return (tuple(c.public_bytes(der) for c in trust.anchors),
            tuple(c.public_bytes(der) for c in trust.intermediates),
            tuple(c.public_bytes(der) for c in trust.crls))


def _rebuild_policy(values: dict, trust: _TrustBytes | None) -> ValidationPolicy:
    store = None
    if trust is not None:
        from cryptography import x509

        anchors, intermediates, crls = trust
        store = TrustStore(tuple(x509.load_der_x509_certificate(c) for c in anchors),
                           tuple(x509.load_der_x509_certificate(c) for c in intermediates),
                           tuple(x509.load_der_x509_crl(c) for c in crls))
    return ValidationPolicy(**values, trust=store)


def validate_archive(source: str | os.PathLike | BinaryIO, policy: ValidationPolicy, *,
                     name: str | None = None,
                     registry: SchemaRegistry | None = None) -> ValidationReport:
    """Validate one envelope archive (a path or an open binary file) and report every finding."""
    return _checked(source, policy, name, registry).report


@dataclass(frozen=True)
class ArchiveReading:
    """What validating an archive read on the way, for a caller that needs it too: the intake
    would otherwise unpack and parse the archive a second time."""

    members: tuple[tuple[str, int, str], ...]
    """(name, size, sha256) of every member, in archive order."""
    archive_sha256: str
    enveloppe: tuple[str, EnveloppeCLMISILL] | None
    """The envelope's member name and content, when it passed its schema."""
    actes: tuple[tuple[str, Acte], ...]
    """(member name, act) of each Acte (1-1) the envelope lists that could be read."""
    contents: dict[str, bytes] = field(default_factory=dict)
    """The bytes of the members `inspect_archive` was asked to keep."""


def inspect_archive(source: str | os.PathLike | BinaryIO, policy: ValidationPolicy, *,
                    name: str | None = None, registry: SchemaRegistry | None = None,
                    keep: Callable[[EnvelopeArchive], Iterable[str]] | None = None,
                    ) -> tuple[ValidationReport, ArchiveReading | None]:
    """`validate_archive`, with what it read (None when the archive could not be read); the
    bytes of the members `keep` names once the archive is checked, before it is closed."""
    check = _checked(source, policy, name, registry, keep)
    archive = check.archive
    if archive is None:
        return check.report, None
    enveloppe = None
    if check.envelope_root is not None:
        try:
            parsed = message_from_element(check.envelope_root)
        except ProtocolError:
            parsed = None
        if isinstance(parsed, EnveloppeCLMISILL):
            enveloppe = (check.envelope_file, parsed)
    reading = ArchiveReading(tuple((m.name, m.size, m.sha256) for m in archive), archive.sha256,
                             enveloppe, tuple(check.actes), check.contents)
    return check.report, reading


def _checked(source: str | os.PathLike | BinaryIO, policy: ValidationPolicy, name: str | None,
             registry: SchemaRegistry | None,
             keep: Callable[[EnvelopeArchive], Iterable[str]] | None = None) -> _ArchiveCheck:
    if isinstance(source, str | os.PathLike):
        label = os.fspath(source)
    else:
        label = str(getattr(source, "name", None) or name or "archive.tar.gz")
    check = _ArchiveCheck(label, name or os.path.basename(label), policy,
                          registry or default_registry(), keep)
    check.run(source)
    if policy.profile is PlatformProfile.LENIENT:
        check.report.relax()
    return check


class _ArchiveCheck:
    def __init__(self, label: str, name: str, policy: ValidationPolicy,
                 registry: SchemaRegistry,
                 keep: Callable[[EnvelopeArchive], Iterable[str]] | None = None) -> None:
        self.name = name
        self.policy = policy
        self.registry = registry
        self.report = ValidationReport(source=label)
        self.referenced: set[str] = set()
        self.siren: str | None = None
        self.departement: str | None = None
        # Set when a message could not be read: what it references is then unknown, so
        # reporting its files as unreferenced would only add noise.
        self.references_unknown = False
        self.envelope_file = name
        # What was read on the way (see `inspect_archive`); the archive is closed after `run`.
        self.archive: EnvelopeArchive | None = None
        self.envelope_root: etree._Element | None = None
        self.actes: list[tuple[str, Acte]] = []
        self.keep = keep  # the members whose bytes to keep (`inspect_archive`)
        self.contents: dict[str, bytes] = {}
        self.deadline = time.monotonic() + policy.max_seconds

    # -- plumbing ---------------------------------------------------------------------------

    def add(self, code: str, fr: str, en: str, *, severity: Severity = Severity.ERROR,
            file: str | None = None, element: _Where = None,
            xpath: str | None = None, line: int | None = None) -> None:
        if isinstance(element, _At):
            element = element.resolve()
        if element is not None:
            xpath = xpath or _xpath(element)
            line = line or element.sourceline
        self.report.add(code, fr, en, severity=severity, file=file, xpath=xpath, line=line)
        limit = self.policy.max_findings
        if len(self.report.findings) >= limit:
            self.report.add("FINDINGS_LIMIT",
                            f"validation arrêtée après {limit} constats",
                            f"validation stopped after {limit} findings", file=file)
            raise _Stop
        self.tick()

    def tick(self) -> None:
        """End the validation once its time is spent (see ValidationPolicy.max_seconds)."""
        if time.monotonic() > self.deadline:
            seconds = self.policy.max_seconds
            self.report.add("VALIDATION_TIMEOUT",
                            f"validation arrêtée : plus de {seconds:g} s (plus 1 s par 10 Mio) "
                            "pour cette archive",
                            f"validation stopped: more than {seconds:g} s (plus 1 s per 10 MiB) "
                            "for this archive", file=self.name)
            raise _Stop

    def add_error(self, exc: ProtocolError, *, file: str | None = None,
                  fallback: str = "MESSAGE_INVALID") -> None:
        code = exc.code if exc.code in ANOMALIE_BY_CODE else fallback
        self.add(code, exc.message_fr, exc.message_en, file=file,
                 xpath=None if not exc.field else exc.field)

    def parse_member(self, member: ArchiveMember) -> etree._Element | None:
        try:
            return parse_xml(member.read(), name=member.name)
        except UnsafeXML as exc:
            self.add_error(exc, file=member.name, fallback="XML_MALFORMED")
            return None

    def schema_check(self, schema: CompiledSchema, root: etree._Element, file: str,
                     code: str = "SCHEMA_INVALID") -> bool:
        check = schema.check(root, limit=_MAX_SCHEMA_FINDINGS)
        for err in check.errors:
            self.add(code, f"non conforme au schéma : {err.message}",
                     f"does not conform to the schema: {err.message}",
                     file=file, xpath=err.xpath, line=err.line)
        if check.total > len(check.errors):
            more = check.total - len(check.errors)
            self.add(code, f"et {more} autre(s) erreur(s) de schéma non détaillée(s)",
                     f"and {more} more schema error(s) not listed", file=file)
        return check.valid

    def message_schema_check(self, root: etree._Element, nom: str) -> bool:
        """actes.xsd; an Acte whose only fault is a missing DocumentPapier (required by the
        ministry schema) gets DOCUMENT_PAPIER_MISSING instead, and the checks go on."""
        if root.tag == f"{{{NS_ACTES}}}Acte" and _find(root, "DocumentPapier") is None \
                and self.registry.actes_without_papier.is_valid(root):
            self.add("DOCUMENT_PAPIER_MISSING",
                     "Acte/DocumentPapier manquant : le schéma du ministère l'exige (O ou N)",
                     "Acte/DocumentPapier missing: the ministry schema requires it (O or N)",
                     file=nom, element=root)
            return True
        return self.schema_check(self.registry.actes, root, nom)

    # -- the archive ------------------------------------------------------------------------

    def run(self, source: str | os.PathLike | BinaryIO) -> None:
        with contextlib.suppress(_Stop):  # the budget is spent: the report says so
            self.check_archive(source)

    def check_archive(self, source: str | os.PathLike | BinaryIO) -> None:
        archive_name = self.check_archive_name()
        try:
            archive = read_archive(source, self.policy.limits)
        except UnsafeArchive as exc:
            self.add_error(exc, file=exc.field or self.name, fallback="ARCHIVE_UNREADABLE")
            return
        except OSError as exc:
            self.add("ARCHIVE_UNREADABLE", f"archive illisible : {exc.strerror or exc}",
                     f"cannot read the archive: {exc.strerror or exc}", file=self.name)
            return
        self.archive = archive
        self.deadline += archive.total_size / _BYTES_PER_SECOND
        with archive:
            try:
                self.check_members(archive, archive_name)
            finally:
                if self.keep is not None:
                    self.contents = {n: archive[n].read() for n in self.keep(archive)}

    def check_members(self, archive: EnvelopeArchive, archive_name: ArchiveName | None) -> None:
        self.tick()
        envelope = self.find_envelope(archive, archive_name)
        if envelope is None:
            return
        self.referenced.add(envelope.name)
        self.envelope_file = envelope.name
        formulaires = self.check_envelope(envelope, archive_name)
        for nom in formulaires:
            self.check_message(archive, nom)
        if self.references_unknown:
            return
        for member in archive:
            self.tick()
            if member.name not in self.referenced:
                self.add("FILE_UNREFERENCED",
                         f"le fichier {member.name} n'est référencé par aucun message",
                         f"file {member.name} is not referenced by any message",
                         file=member.name)

    def check_archive_name(self) -> ArchiveName | None:
        try:
            return ArchiveName.parse(self.name)
        except InvalidName as exc:
            self.add("NAME_ARCHIVE", f"nom d'archive non conforme : {exc.message_fr}",
                     f"archive name does not follow the rules: {exc.message_en}",
                     file=self.name, xpath=exc.field)
            return None

    def find_envelope(self, archive: EnvelopeArchive,
                      archive_name: ArchiveName | None) -> ArchiveMember | None:
        if archive_name is not None:
            expected = archive_name.enveloppe_file
            if expected in archive:
                return archive[expected]
        candidates = []
        for member in archive:
            try:
                EnveloppeName.parse(member.name)
            except InvalidName:
                continue
            candidates.append(member)
        if archive_name is not None and candidates:
            self.add("NAME_MISMATCH",
                     f"l'enveloppe {candidates[0].name} ne correspond pas au nom de l'archive "
                     f"(attendu {archive_name.enveloppe_file})",
                     f"envelope {candidates[0].name} does not match the archive name "
                     f"(expected {archive_name.enveloppe_file})", file=candidates[0].name)
        if len(candidates) == 1:
            return candidates[0]
        expected_txt = archive_name.enveloppe_file if archive_name else "EACT--SIREN--AAAAMMJJ-N.xml"
        self.add("ENVELOPE_MISSING",
                 f"aucune enveloppe {expected_txt} dans l'archive" if not candidates
                 else "plusieurs fichiers se présentent comme l'enveloppe",
                 f"no envelope {expected_txt} in the archive" if not candidates
                 else "several files look like the envelope", file=self.name)
        return None

    # -- the envelope -----------------------------------------------------------------------

    def check_envelope(self, member: ArchiveMember,
                       archive_name: ArchiveName | None) -> list[str]:
        env_name: EnveloppeName | None = None
        if archive_name is not None and member.name == archive_name.enveloppe_file:
            env_name = archive_name.enveloppe  # already parsed with the archive name
        else:
            try:
                env_name = EnveloppeName.parse(member.name)
            except InvalidName as exc:
                self.add("NAME_ENVELOPE", exc.message_fr, exc.message_en, file=member.name,
                         xpath=exc.field)
        root = self.parse_member(member)
        if root is None:
            self.references_unknown = True
            return []
        if root.tag != f"{{{NS_ACTES}}}EnveloppeCLMISILL":
            self.references_unknown = True
            self.add("MESSAGE_WRONG_DIRECTION" if str(root.tag).startswith(f"{{{NS_ACTES}}}")
                     else "MESSAGE_UNKNOWN_ROOT",
                     f"l'enveloppe doit être un EnveloppeCLMISILL, pas {etree.QName(root).localname}",
                     f"the envelope must be an EnveloppeCLMISILL, not {etree.QName(root).localname}",
                     file=member.name, element=root)
            return []
        if not self.schema_check(self.registry.actes, root, member.name):
            self.references_unknown = True
            return []
        self.envelope_root = root
        idcl = _find(root, "Emetteur/IDCL")
        assert idcl is not None  # required by the schema just checked
        self.siren = idcl.get(f"{{{NS_INSEE}}}SIREN")
        self.departement = idcl.get(f"{{{NS_ACTES}}}Departement")
        if not is_departement(self.departement or ""):
            self.add("DEPARTEMENT_UNKNOWN",
                     f"le département {self.departement} n'existe pas (001 à 095 sauf 020, 02A, "
                     "02B, 971 à 976 ; le motif du schéma du ministère est plus large, à tort)",
                     f"département {self.departement} does not exist (001 to 095 but 020, 02A, "
                     "02B, 971 to 976; the ministry schema's pattern is wrongly wider)",
                     file=member.name, element=idcl,
                     xpath="/actes:EnveloppeCLMISILL/actes:Emetteur/actes:IDCL/@actes:Departement")
        if env_name is not None:
            if env_name.direction != "CL":
                self.add("MESSAGE_WRONG_DIRECTION",
                         "une enveloppe venant d'une collectivité doit être nommée EACT--SIREN--…",
                         "an envelope from a collectivité must be named EACT--SIREN--…",
                         file=member.name)
            elif env_name.siren != self.siren:
                self.add("EMETTEUR_MISMATCH",
                         f"le SIREN du nom de l'enveloppe ({env_name.siren}) diffère de celui "
                         f"de l'émetteur ({self.siren})",
                         f"the SIREN in the envelope name ({env_name.siren}) differs from the "
                         f"sender's ({self.siren})", file=member.name, element=idcl)
            if env_name.date > self.policy.today:
                self.add("DATE_FUTURE", f"l'enveloppe est datée du futur ({env_name.date})",
                         f"the envelope is dated in the future ({env_name.date})",
                         file=member.name)
        noms = []
        for nom in _find_all(root, "FormulairesEnvoyes/Formulaire/NomFichier"):
            noms.append((nom.text or "").strip())
        return noms

    # -- messages ---------------------------------------------------------------------------

    def reference(self, archive: EnvelopeArchive, nom: str, by: str,
                  element: _Where = None) -> ArchiveMember | None:
        if nom in self.referenced:
            self.add("FILE_REFERENCED_TWICE", f"le fichier {nom} est référencé deux fois",
                     f"file {nom} is referenced twice", file=by, element=element)
            return None
        self.referenced.add(nom)
        if nom not in archive:
            self.add("FILE_MISSING", f"le fichier {nom} est introuvable dans l'archive",
                     f"file {nom} is not in the archive", file=by, element=element)
            return None
        return archive[nom]

    def check_file_name(self, nom: str, code: str, by: str,
                        element: _Where) -> MessageFileName | None:
        try:
            parsed = MessageFileName.parse(nom)
        except InvalidName as exc:
            self.add(code, f"{nom} : {exc.message_fr}", f"{nom}: {exc.message_en}",
                     file=by, element=element)
            return None
        if self.siren and (parsed.siren != self.siren or parsed.departement != self.departement):
            self.add("EMETTEUR_MISMATCH",
                     f"{nom} : département/SIREN différents de l'émetteur "
                     f"({self.departement}/{self.siren})",
                     f"{nom}: département/SIREN differ from the sender's "
                     f"({self.departement}/{self.siren})", file=by, element=element)
        return parsed

    def check_message(self, archive: EnvelopeArchive, nom: str) -> None:
        self.tick()
        member = self.reference(archive, nom, by=self.envelope_file)
        file_name = self.check_file_name(nom, "NAME_MESSAGE", nom, None)
        if member is None:
            return
        root = self.parse_member(member)
        if root is None or not self.message_schema_check(root, nom) \
                or self.too_many_files(root, nom):
            self.references_unknown = True
            return
        try:
            message = message_from_element(root)
        except ProtocolError as exc:
            self.add_error(exc, file=nom)
            self.references_unknown = True
            return
        if isinstance(message, EnveloppeCLMISILL | EnveloppeMISILLCL | AnomalieEnveloppe
                      | Classification):  # roots the actes schema accepts too
            self.references_unknown = True
            self.add("MESSAGE_WRONG_DIRECTION",
                     f"{nom} doit être un message métier, pas {etree.QName(root).localname}",
                     f"{nom} must be a message métier, not {etree.QName(root).localname}",
                     file=nom, element=root)
            return
        kind = message.message_type
        self.report.messages.append(kind.code)
        if kind.sender is not Sender.CL:
            self.add("MESSAGE_WRONG_DIRECTION",
                     f"{kind.root} ({kind.code}) est envoyé par la préfecture, pas par une collectivité",
                     f"{kind.root} ({kind.code}) is sent by the préfecture, not by a collectivité",
                     file=nom, element=root)
        if file_name is not None and file_name.code != kind.code:
            self.add("MESSAGE_NAME_MISMATCH",
                     f"le nom annonce un message {file_name.code}, le contenu est "
                     f"{kind.root} ({kind.code})",
                     f"the name announces a {file_name.code} message, the content is "
                     f"{kind.root} ({kind.code})",
                     file=nom, element=root)
        if isinstance(message, Acte):
            self.actes.append((nom, message))
            _ActeCheck(self, archive, nom, root, message, file_name).run()
        else:
            for el in root.iter(f"{{{NS_ACTES}}}NomFichier"):
                doc = self.reference(archive, (el.text or "").strip(), by=nom, element=el)
                if doc is not None:
                    self.check_content(doc, {"pdf", "png", "jpg", "xml"}, by=nom, element=el)

    def too_many_files(self, root: etree._Element, nom: str) -> bool:
        """A message naming more files than an archive may hold can only be wrong: say so
        before reading its 100,000 Annexe elements one by one (counted by libxml2)."""
        limit = self.policy.limits.max_members
        named = int(root.xpath("count(.//actes:NomFichier)", namespaces={"actes": NS_ACTES}))
        if named <= limit:
            return False
        self.add("FILES_TOO_MANY",
                 f"le message nomme {named} fichiers, plus que les {limit} qu'une archive "
                 "peut contenir",
                 f"the message names {named} files, more than the {limit} an archive may hold",
                 file=nom)
        return True

    def check_content(self, doc: ArchiveMember, allowed: set[str] | frozenset[str], *, by: str,
                      element: _Where) -> str | None:
        """Check a document's real format against its name and the allowed set; return it."""
        claimed = format_from_extension(doc.name)
        actual = sniff_format(doc.head(1024))
        if actual is None:
            self.add("DOCUMENT_FORMAT", f"{doc.name} : format de fichier non reconnu",
                     f"{doc.name}: unrecognised file format", file=by, element=element)
            return None
        if claimed != actual:
            self.add("DOCUMENT_CONTENT_MISMATCH",
                     f"{doc.name} : le contenu est du {actual.upper()}, pas du {str(claimed).upper()}",
                     f"{doc.name}: the content is {actual.upper()}, not {str(claimed).upper()}",
                     file=by, element=element)
        if actual not in allowed:
            self.add("DOCUMENT_FORMAT",
                     f"{doc.name} : format {actual.upper()} non autorisé ici "
                     f"(autorisés : {', '.join(sorted(allowed))})",
                     f"{doc.name}: {actual.upper()} is not allowed here "
                     f"(allowed: {', '.join(sorted(allowed))})", file=by, element=element)
        if actual == "pdf":
            with doc.open() as stream:
                problem = pdf_structure_problem(stream, doc.size)
            if problem:
                self.add("DOCUMENT_FORMAT", f"{doc.name} : PDF invalide ({problem})",
                         f"{doc.name}: invalid PDF ({problem})", file=by, element=element)
        return actual


class _ActeCheck:
    """The rules of an Acte (1-1): names, classification, profile, documents."""

    def __init__(self, check: _ArchiveCheck, archive: EnvelopeArchive, nom: str,
                 root: etree._Element, acte: Acte, file_name: MessageFileName | None) -> None:
        self.c = check
        self.archive = archive
        self.nom = nom
        self.root = root
        self.acte = acte
        self.file_name = file_name
        # The platform accepts a gap (levels 1, 2, 3, 5): rules apply to the unbroken prefix.
        self.codes: tuple[int, ...] = ()
        for code in acte.codes_matiere:
            if code is None:
                break
            self.codes += (code,)
        self.has_gap = len(self.codes) != len(acte.codes_matiere)
        self.found: dict[str, list[etree._Element]] = {}  # path → elements, for findings

    def el(self, path: str, index: int = 0) -> _At:
        return _At(self.root, path, index, self.found)

    def run(self) -> None:
        profile = self.c.registry.profile_for(self.codes)
        self.c.report.profile = profile.name
        self.check_identity()
        self.check_classification()
        if self.acte.nature not in profile.natures:
            self.c.add("NATURE_MATIERE_FORBIDDEN",
                       f"la nature {self.acte.nature.abrege} n'est pas admise en matière "
                       f"{matiere_key(self.codes)} (profil {profile.name})",
                       f"nature {self.acte.nature.abrege} is not allowed for matière "
                       f"{matiere_key(self.codes)} (profile {profile.name})",
                       file=self.nom, element=self.root)
        self.check_documents(profile)

    def check_identity(self) -> None:
        acte, fn = self.acte, self.file_name
        if acte.date > self.c.policy.today:
            self.c.add("DATE_FUTURE", f"la date de décision {acte.date} est dans le futur",
                       f"the decision date {acte.date} is in the future",
                       file=self.nom, element=self.root, xpath="/actes:Acte/@actes:Date")
        if not is_numero_interne(acte.numero_interne):
            self.c.add("NUMERO_INTERNE_INVALID",
                       f"numéro interne {acte.numero_interne!r} : 1 à 15 lettres, chiffres ou _ "
                       "(il entre dans l'IDActe)",
                       f"internal number {acte.numero_interne!r}: 1 to 15 letters, digits or _ "
                       "(it is part of the IDActe)", file=self.nom,
                       element=self.root, xpath="/actes:Acte/@actes:NumeroInterne")
        elif not is_upper_numero_interne(acte.numero_interne):
            self.c.add("NUMERO_INTERNE_LOWERCASE",
                       f"numéro interne {acte.numero_interne!r} : majuscules, chiffres et _ "
                       "seulement ([A-Z0-9_]{1,15})",
                       f"internal number {acte.numero_interne!r}: upper case, digits and _ only "
                       "([A-Z0-9_]{1,15})", file=self.nom,
                       element=self.root, xpath="/actes:Acte/@actes:NumeroInterne")
        elif not is_strict_numero_interne(acte.numero_interne):
            self.c.add("NUMERO_INTERNE_NOT_STRICT",
                       f"numéro interne {acte.numero_interne!r} : préférer majuscules, chiffres "
                       "et _ (ni en tête ni en fin)",
                       f"internal number {acte.numero_interne!r}: prefer upper case, digits and _ "
                       "(not first or last)", severity=Severity.WARNING, file=self.nom,
                       element=self.root, xpath="/actes:Acte/@actes:NumeroInterne")
        if fn is None:
            return
        if fn.numero_interne != acte.numero_interne or fn.nature != acte.nature:
            self.c.add("NAME_MISMATCH",
                       f"le nom {self.nom} ne correspond pas à l'acte "
                       f"({acte.numero_interne}, {acte.nature.abrege})",
                       f"name {self.nom} does not match the act "
                       f"({acte.numero_interne}, {acte.nature.abrege})", file=self.nom)
        elif fn.date != acte.date:
            self.c.add("DATE_NAME_MISMATCH",
                       f"le nom porte la date {fn.date}, l'acte est daté du {acte.date} "
                       "(l'IDActe prendra la date de décision)",
                       f"the name carries date {fn.date}, the act is dated {acte.date} "
                       "(the IDActe will use the decision date)",
                       severity=Severity.WARNING, file=self.nom)

    def check_classification(self) -> None:
        policy = self.c.policy
        version = self.acte.classification_date_version
        declared = policy.classifications.get(version)
        where = self.el("ClassificationDateVersion")
        if declared is None:
            known = ", ".join(str(d) for d in sorted(policy.classifications))
            self.c.add("CLASSIFICATION_VERSION_UNKNOWN",
                       f"classification du {version} inconnue (connues : {known})",
                       f"unknown classification version {version} (known: {known})",
                       file=self.nom, element=where)
            declared = policy.current
        elif declared.date < policy.current.date:
            self.c.add("CLASSIFICATION_OUTDATED",
                       f"ODT-VERIF-01 : l'acte utilise la classification du {version}, "
                       f"la classification en vigueur date du {policy.current.date}",
                       f"ODT-VERIF-01: the act uses the {version} classification, the current "
                       f"one is dated {policy.current.date}", file=self.nom, element=where)
        if self.has_gap:
            self.c.add("CLASSIFICATION_GAP",
                       f"niveaux de classification non contigus ; seuls {matiere_key(self.codes)} "
                       "sont vérifiés",
                       f"classification levels are not contiguous; only {matiere_key(self.codes)} "
                       "is checked", severity=Severity.WARNING, file=self.nom, element=self.root)
        if declared.lookup(self.codes) is None:
            self.c.add("CLASSIFICATION_UNKNOWN_CODE",
                       f"matière {matiere_key(self.codes)} absente de la classification du "
                       f"{declared.date}",
                       f"matière {matiere_key(self.codes)} is not in the {declared.date} "
                       "classification", file=self.nom, element=self.el("CodeMatiere1"))
        self.classification = declared

    def check_piece_name(self, nom: str, profile: MatiereProfile,
                         element: _Where) -> None:
        parsed = self.c.check_file_name(nom, "NAME_DOCUMENT", self.nom, element)
        typologie = parsed.typologie if parsed is not None else None
        if typologie is None:
            return
        nature = self.acte.nature
        if self.classification.typologies_for(nature) and \
                not self.classification.is_typologie_allowed(nature, typologie):
            self.c.add("TYPOLOGIE_NOT_ALLOWED",
                       f"la typologie {typologie} n'est pas permise pour la nature "
                       f"{nature.abrege} (fichier {nom})",
                       f"typology {typologie} is not allowed for nature {nature.abrege} "
                       f"(file {nom})", file=self.nom, element=element)
        elif not profile.typologie_fits(typologie):
            self.c.add("TYPOLOGIE_MATIERE",
                       f"la typologie {typologie} relève d'une autre matière que "
                       f"{matiere_key(self.codes)} (fichier {nom})",
                       f"typology {typologie} belongs to another matière than "
                       f"{matiere_key(self.codes)} (file {nom})",
                       severity=Severity.WARNING, file=self.nom, element=element)

    def check_documents(self, profile: MatiereProfile) -> None:
        acte = self.acte
        doc_el = self.el("Document/NomFichier")
        main_format = None
        main = self.c.reference(self.archive, acte.document.nom_fichier, self.nom, doc_el)
        self.check_piece_name(acte.document.nom_fichier, profile, doc_el)
        xml_rule = profile.xml_main
        if main is not None:
            main_format = self.c.check_content(main, profile.main_formats, by=self.nom,
                                               element=doc_el)
            if main_format == "pdf" and xml_rule is not None \
                    and xml_rule.applies(acte.nature, self.codes):
                self.c.add("BUDGET_NOT_XML",
                           f"un acte budgétaire ({acte.nature.abrege} en "
                           f"{matiere_key(self.codes)}) se transmet en XML TOTEM, pas en PDF",
                           f"a budget act ({acte.nature.abrege} in {matiere_key(self.codes)}) "
                           "is sent as TOTEM XML, not PDF", file=self.nom, element=doc_el)
            if main_format == "xml":
                if xml_rule is None or not xml_rule.applies(acte.nature, self.codes):
                    self.c.add("DOCUMENT_FORMAT",
                               "un acte au format XML n'est admis que pour la nature BF en "
                               "matière 7.1",
                               "an XML act is only allowed for nature BF in matière 7.1",
                               file=self.nom, element=doc_el)
                else:
                    self.check_business_xml(main, xml_rule)
        self.check_signatures(acte.document, main, main_format, doc_el, profile, is_main=True)
        annex_formats = profile.annex_formats
        if main_format == "xml" and xml_rule is not None:
            annex_formats = xml_rule.annex_formats
        # nombre_annexes is None when Annexes/@Nombre equals the count: nothing to look at then.
        annexes_el = _find(self.root, "Annexes") if acte.nombre_annexes is not None else None
        declared = annexes_el.get(f"{{{NS_ACTES}}}Nombre") if annexes_el is not None else None
        if declared is not None and ascii_digits(declared) and len(declared) <= 9 \
                and int(declared) != len(acte.annexes):
            self.c.add("ANNEXES_COUNT",
                       f"Annexes/@Nombre vaut {declared} mais {len(acte.annexes)} annexe(s) "
                       "sont listées",
                       f"Annexes/@Nombre says {declared} but {len(acte.annexes)} annex(es) "
                       "are listed", file=self.nom, element=annexes_el)
        for i, annexe in enumerate(acte.annexes):
            self.c.tick()
            el = self.el("Annexes/Annexe/NomFichier", i)
            self.check_piece_name(annexe.nom_fichier, profile, el)
            member = self.c.reference(self.archive, annexe.nom_fichier, self.nom, el)
            annex_format = None
            if member is not None:
                annex_format = self.c.check_content(member, annex_formats, by=self.nom,
                                                    element=el)
            self.check_signatures(annexe, member, annex_format, el, profile, is_main=False)

    def check_signatures(self, fichier: FichierSigne, member: ArchiveMember | None,
                         fmt: str | None, element: _Where,
                         profile: MatiereProfile, *, is_main: bool) -> None:
        """Verify the file's detached CMS (actes:Signature) and, for a PDF, its PAdES ones."""
        policy = self.c.policy
        mode = policy.signatures.effective_mode(profile.signatures)
        if mode is SignatureMode.OFF:
            return
        nom = fichier.nom_fichier
        # Read through a file object, a chunk at a time, never whole: an act may be 100 MB.
        with member.open() if member is not None else contextlib.nullcontext() as data:
            results = self.verify_signatures(fichier, data, fmt)
        for result in results:
            self.report_signature(result, nom, element)
        if is_main and mode is SignatureMode.REQUIRED and fichier.signature is None \
                and not results:
            self.c.add("SIGNATURE_MISSING",
                       f"{nom} : l'acte doit être signé (signature détachée dans "
                       "actes:Signature ou signature PAdES du PDF)",
                       f"{nom}: the act must be signed (detached signature in actes:Signature "
                       "or a PAdES signature in the PDF)", file=self.nom, element=element)

    def verify_signatures(self, fichier: FichierSigne, data: BinaryIO | None,
                          fmt: str | None) -> list[SignatureResult]:
        """Every signature the file carries, verified (most files carry none)."""
        policy = self.c.policy
        pades = data is not None and fmt == "pdf" and policy.signatures.verify_pades \
            and looks_signed(data)
        if fichier.signature is None and not pades:
            return []
        exempt = policy.signatures.signer_exempt(self.acte.nature.abrege, self.codes)
        results: list[SignatureResult] = []
        if fichier.signature is not None:
            if data is None:
                results.append(SignatureResult("CMS", Failure.SIGNED_DATA_NOT_FOUND,
                                               detail=fichier.nom_fichier))
            else:
                from ..signature.cms import verify_detached  # pyHanko: only when needed

                results.append(verify_detached(
                    data, fichier.signature, at=policy.signature_time, trust=policy.trust,
                    policy=policy.signatures, judge_signer=not exempt))
        if pades and data is not None:
            from ..signature.pades import verify_pdf_signatures  # pyHanko: only when needed

            results.extend(verify_pdf_signatures(
                data, at=policy.signature_time, trust=policy.trust,
                policy=policy.signatures, judge_signer=not exempt))
        return results

    def report_signature(self, result: SignatureResult, nom: str,
                         element: _Where) -> None:
        """One finding per refused signature, its DSS indication/sub-indication in the text."""
        where = nom + (f" [{result.field_name}]" if result.field_name else "")
        reason = result.verdict.reason if result.verdict is not None else None
        if result.signer_exempt and reason is not None and result.failure is None:
            status = f"{reason.indication}/{reason.sub_indication}"
            self.c.add("SIGNATURE_SIGNER_UNTRUSTED",
                       f"{where} : certificat du signataire non jugé (exception S²LOW, contrat "
                       f"en matière 1.1) ; il serait refusé ({status}) : {reason.message_fr}",
                       f"{where}: signer certificate not judged (S²LOW exception, contract in "
                       f"matière 1.1); it would be refused ({status}): {reason.message_en}",
                       severity=Severity.WARNING, file=self.nom, element=element)
            return
        if result.ok:
            return
        if result.failure is None:
            code = "SIGNATURE_SIGNER_UNTRUSTED"
        elif result.failure.sub_indication == "FORMAT_FAILURE" and result.kind == "CMS":
            code = "SIGNATURE_FORMAT"  # the actes:Signature content itself is unusable
        else:
            code = "SIGNATURE_INVALID"
        status = f"{result.indication}/{result.sub_indication}"
        self.c.add(code,
                   f"{where} : signature {result.kind} refusée ({status}) : {result.message_fr}",
                   f"{where}: {result.kind} signature refused ({status}): {result.message_en}",
                   file=self.nom, element=element)

    def check_business_xml(self, member: ArchiveMember, rule: XmlMainRule) -> None:
        root = self.c.parse_member(member)
        if root is None:
            return
        if root.tag != rule.root:
            self.c.add("BUDGET_INVALID",
                       f"{member.name} : racine {etree.QName(root).localname} au lieu de "
                       f"{etree.QName(rule.root).localname}",
                       f"{member.name}: root {etree.QName(root).localname} instead of "
                       f"{etree.QName(rule.root).localname}", file=member.name, element=root)
            return
        if not self.c.schema_check(self.c.registry.schema_at(rule.schema), root, member.name,
                                   code="BUDGET_INVALID"):
            return
        if rule.siret_xpath and self.c.siren:
            found = root.xpath(rule.siret_xpath, namespaces=rule.namespaces)
            siret = str(found[0]) if found else ""
            if not siret.startswith(self.c.siren):
                self.c.add("BUDGET_SIRET_MISMATCH",
                           f"{member.name} : le SIRET {siret} n'appartient pas au SIREN "
                           f"{self.c.siren} de l'émetteur",
                           f"{member.name}: SIRET {siret} does not belong to the sender's SIREN "
                           f"{self.c.siren}", file=member.name, xpath=rule.siret_xpath)
        seal = root.find("{*}Scellement")
        if seal is not None:
            md5, sha1 = compute_scellement(root)
            if seal.get("md5") != md5 or seal.get("sha1") != sha1:
                self.c.add("BUDGET_SCELLEMENT",
                           f"{member.name} : le scellement ne correspond pas au contenu "
                           "(document modifié après scellement ?)",
                           f"{member.name}: the seal does not match the content "
                           "(document changed after sealing?)", file=member.name, element=seal)


class _At:
    """Where a finding points, looked up only when one is reported (a valid act needs none)."""

    __slots__ = ("found", "index", "path", "root")

    def __init__(self, root: etree._Element, path: str, index: int = 0,
                 found: dict[str, list[etree._Element]] | None = None) -> None:
        self.root = root
        self.path = path
        self.index = index
        self.found = found  # elements already looked up by path: one walk per path, not per finding

    def resolve(self) -> etree._Element | None:
        if self.found is None:
            found = _find_all(self.root, self.path)
        elif (cached := self.found.get(self.path)) is not None:
            found = cached
        else:
            found = self.found[self.path] = _find_all(self.root, self.path)
        return found[self.index] if self.index < len(found) else None


_Where = etree._Element | _At | None


def _find_all(element: etree._Element, path: str) -> list[etree._Element]:
    """The elements at `path` ("A/B": actes:B children of actes:A children) in document order:
    ElementPath's `actes:A/actes:B`, without parsing the path on every call."""
    found = [element]
    for step in path.split("/"):
        tag = f"{{{NS_ACTES}}}{step}"
        found = [child for parent in found for child in parent.iterchildren(tag)]
    return found


def _find(element: etree._Element, path: str) -> etree._Element | None:
    found = _find_all(element, path)
    return found[0] if found else None


def _xpath(element: etree._Element) -> str:
    """A readable XPath with the protocol's prefixes: /actes:Acte/actes:Annexes/actes:Annexe[2]."""
    prefixes = {NS_ACTES: "actes", NS_INSEE: "insee"}
    steps = []
    node: etree._Element | None = element
    while node is not None:
        qname = etree.QName(node)
        prefix = prefixes.get(qname.namespace or "")
        step = f"{prefix}:{qname.localname}" if prefix else qname.localname
        parent = node.getparent()
        if parent is not None:
            # Counted by libxml2: an element may have 100,000 siblings.
            before, after = (int(node.xpath(f"count({axis}::*[namespace-uri() = $ns and "
                                            "local-name() = $name])",
                                            ns=qname.namespace or "", name=qname.localname))
                             for axis in ("preceding-sibling", "following-sibling"))
            if before or after:
                step += f"[{before + 1}]"
        steps.append(step)
        node = parent
    return "/" + "/".join(reversed(steps))


def validate_file(path: str | os.PathLike, policy: ValidationPolicy) -> ValidationReport:
    """Module-level entry for worker processes: validate the archive at `path`."""
    return validate_archive(path if isinstance(path, Path) else Path(path), policy)
