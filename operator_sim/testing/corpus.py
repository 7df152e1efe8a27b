"""A generated corpus of envelope archives, each with the verdict and finding it must produce.

Everything is made by code (PDF, PNG, JPEG and budget material included), deterministically,
so the committed `fixtures/` can be checked against a fresh generation, the benchmark can make
thousands of envelopes, and users can get a hostile corpus for their own tools.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import struct
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from ..protocol.archive import write_archive
from ..protocol.codes import NatureActe
from ..protocol.envelope import ActeRequest, BuiltEnvelope, Collectivite, Piece, build_acte_envelope
from ..protocol.messages import ARActe
from ..validation.documents import compute_scellement
from ..validation.profiles import PlatformProfile

NS_BUDGET = "http://www.minefi.gouv.fr/cp/demat/docbudgetaire"
CLASSIFICATION_2019 = dt.date(2019, 3, 1)
ACT_DATE = dt.date(2024, 3, 12)
SENT_DATE = dt.date(2024, 3, 14)
COMMUNE = Collectivite(siren="491011698", departement="034", arrondissement=3,
                       adresses_retour=("actes@mairie.example.org",))
"""The corpus's sender: `operator-sim serve`'s demo commune (`simulator.DEMO_COMMUNE`)."""


# -- material -----------------------------------------------------------------------------------

def minimal_pdf(text: str) -> bytes:
    """A small, structurally complete one-page PDF (header, objects, xref, trailer, %%EOF)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def minimal_png(width: int = 4, height: int = 4) -> bytes:
    """A valid grey PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def minimal_jpeg() -> bytes:
    """JPEG markers (SOI, JFIF APP0, EOI): enough for content sniffing, not for a viewer."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def budget_document(siret: str, *, exercice: int = 2024, sealed: bool = True,
                    lines: int = 3) -> bytes:
    """A TOTEM DocumentBudgetaire (budget primitif) valid against the budget profile schema."""
    root = etree.Element(f"{{{NS_BUDGET}}}DocumentBudgetaire", nsmap={None: NS_BUDGET})

    def v(parent: etree._Element, tag: str, value: str) -> etree._Element:
        el = etree.SubElement(parent, f"{{{NS_BUDGET}}}{tag}")
        el.set("V", value)
        return el

    v(root, "VersionSchema", "92")
    head = etree.SubElement(root, f"{{{NS_BUDGET}}}EnTeteDocBudgetaire")
    v(head, "DteStr", f"{exercice}-01-15")
    v(head, "LibellePoste", "Trésorerie de Montpellier")
    v(head, "IdPost", "034001")
    v(head, "LibelleColl", "Commune de Saint-Exemple")
    v(head, "IdColl", siret)
    v(head, "NatCEPL", "Commune")
    v(head, "Departement", "034")
    budget = etree.SubElement(root, f"{{{NS_BUDGET}}}Budget")
    eb = etree.SubElement(budget, f"{{{NS_BUDGET}}}EnTeteBudget")
    v(eb, "LibelleEtab", "Budget principal")
    v(eb, "IdEtab", siret)
    v(eb, "CodInseeColl", "34999")
    v(eb, "Nomenclature", "M57")
    bloc = etree.SubElement(budget, f"{{{NS_BUDGET}}}BlocBudget")
    v(bloc, "Exer", str(exercice))
    v(bloc, "NatDec", "01")
    v(bloc, "NatFonc", "2")
    for i in range(lines):
        line = etree.SubElement(budget, f"{{{NS_BUDGET}}}LigneBudget")
        v(line, "CodRD", "D" if i % 2 == 0 else "R")
        v(line, "Nature", f"60{i + 1}1")
        v(line, "Fonction", "020")
        v(line, "LibCpte", f"Compte {i + 1}")
        v(line, "MtPropNouv", f"{1000 * (i + 1)}.00")
    # Seal the document as it will be read: indentation is part of the canonical form.
    root = etree.fromstring(etree.tostring(root, pretty_print=True))
    if sealed:
        md5, sha1 = compute_scellement(root)
        seal = etree.Element(f"{{{NS_BUDGET}}}Scellement", md5=md5, sha1=sha1,
                             date=f"{exercice}-01-15T10:00:00")
        seal.tail = root[0].tail
        root.insert(1, seal)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- base envelopes ---------------------------------------------------------------------------

def base_request(**changes: Any) -> ActeRequest:
    """A valid délibération (5.2 Fonctionnement des assemblées) with one PDF annex."""
    request = ActeRequest(
        date=ACT_DATE, numero_interne="DELIB2024_012", nature=NatureActe.DE, codes_matiere=(5, 2),
        objet="Approbation du règlement intérieur du conseil municipal",
        classification_date_version=CLASSIFICATION_2019,
        document=Piece(minimal_pdf("Deliberation 2024-012"), "pdf", "99_DE"),
        annexes=(Piece(minimal_pdf("Reglement interieur"), "pdf", "99_DE"),),
    )
    return replace(request, **changes)


def build(request: ActeRequest | None = None, collectivite: Collectivite = COMMUNE,
          numero: int = 1) -> BuiltEnvelope:
    return build_acte_envelope(request or base_request(), collectivite,
                               envelope_date=SENT_DATE, envelope_numero=numero)


def budget_request(siren: str = COMMUNE.siren, **doc_options: Any) -> ActeRequest:
    return base_request(
        numero_interne="BP2024", nature=NatureActe.BF, codes_matiere=(7, 1, 1),
        objet="Budget primitif 2024 du budget principal",
        document=Piece(budget_document(siren + "00013", **doc_options), "xml", "99_BU"),
        annexes=(Piece(minimal_pdf("Deliberation budget primitif"), "pdf", "70_DE"),))


# -- cases --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One corpus entry: how to make it and what the validator must say."""

    slug: str
    description: str
    valid: bool
    code: str | None
    """The verdict and first error code under the strict profile (the default)."""
    make: Callable[[], tuple[str, bytes]]
    leniency: str | None = None
    """A finding the lenient profile only warns about: the case is valid under `lenient`."""

    def verdict(self, profile: PlatformProfile = PlatformProfile.STRICT) -> tuple[bool, str | None]:
        """(valid, first error code) under `profile`."""
        if profile is PlatformProfile.LENIENT and self.leniency is not None:
            return True, None
        return self.valid, self.code


def _pack(built: BuiltEnvelope) -> tuple[str, bytes]:
    buf = io.BytesIO()
    write_archive(buf, built.members.items())
    return built.name, buf.getvalue()


def _edit(built: BuiltEnvelope, name: str, change: Callable[[bytes], bytes]) -> BuiltEnvelope:
    built.members[name] = change(built.members[name])
    return built


def _raw_tar(name: str,
             members: Sequence[tarfile.TarInfo | tuple[str, bytes]]) -> tuple[str, bytes]:
    """A hostile archive crafted with tarfile directly (links, traversal, duplicates...)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for item in members:
            if isinstance(item, tarfile.TarInfo):
                tar.addfile(item)
            else:
                info = tarfile.TarInfo(item[0])
                info.size = len(item[1])
                tar.addfile(info, io.BytesIO(item[1]))
    return name, gzip.compress(raw.getvalue(), mtime=0)


def _members(built: BuiltEnvelope) -> list[tuple[str, bytes]]:
    return list(built.members.items())


def _message_text(built: BuiltEnvelope, old: bytes, new: bytes) -> BuiltEnvelope:
    return _edit(built, built.message_name, lambda b: b.replace(old, new, 1))


def _cases() -> Iterator[Case]:
    def valid(slug: str, description: str, make: Callable[[], BuiltEnvelope]) -> Case:
        return Case(slug, description, True, None, lambda: _pack(make()))

    def invalid(slug: str, description: str, code: str,
                make: Callable[[], tuple[str, bytes]]) -> Case:
        return Case(slug, description, False, code, make)

    pdf, png = minimal_pdf("Annexe"), minimal_png()

    # Valid envelopes, one per profile and the tricky-but-legal names.
    yield valid("valid-default-deliberation", "DE 5.2 with one PDF annex", build)
    yield valid("valid-commande-publique-contrat", "CC 1.1.2 marché with typed pieces",
                lambda: build(base_request(
                    numero_interne="MP2024_07", nature=NatureActe.CC, codes_matiere=(1, 1, 2),
                    objet="Marché de travaux de voirie, lot 1",
                    document=Piece(minimal_pdf("Acte d'engagement"), "pdf", "11_AE"),
                    annexes=(Piece(pdf, "pdf", "11_TP"), Piece(pdf, "pdf", "11_AP")))))
    yield valid("valid-urbanisme-permis-png", "AI 2.2.3 permis de démolir with a PNG plan",
                lambda: build(base_request(
                    numero_interne="PD03424001", nature=NatureActe.AI, codes_matiere=(2, 2, 3),
                    objet="Permis de démolir 034 999 24 00001",
                    document=Piece(minimal_pdf("Arrete PD"), "pdf", "99_AI"),
                    annexes=(Piece(png, "png", "22_PN"), Piece(minimal_jpeg(), "jpg", "22_DP")))))
    yield valid("valid-fonction-publique-nomination", "AI 4.1.2 nomination",
                lambda: build(base_request(
                    numero_interne="AR2024_155", nature=NatureActe.AI, codes_matiere=(4, 1, 2),
                    objet="Nomination stagiaire adjoint technique",
                    document=Piece(minimal_pdf("Arrete nomination"), "pdf", "99_AI"),
                    annexes=())))
    yield valid("valid-budget-xml", "BF 7.1.1 budget primitif as sealed TOTEM XML + PDF",
                lambda: build(budget_request()))
    yield valid("valid-corse-du-sud", "collectivité in département 02A",
                lambda: build(collectivite=replace(COMMUNE, siren="212000046", departement="02A",
                                                   arrondissement=1)))
    yield valid("valid-reunion", "overseas département 974, no annex",
                lambda: build(base_request(annexes=()),
                              replace(COMMUNE, siren="219740115", departement="974")))
    yield valid("valid-unsealed-budget", "BF 7.1 XML budget without Scellement",
                lambda: build(budget_request(sealed=False)))

    # Refused under strict, a warning under lenient (validation.profiles.LENIENCIES).
    def strict(slug: str, description: str, code: str, make: Callable[[], BuiltEnvelope]) -> Case:
        return Case(slug, description, False, code, lambda: _pack(make()), leniency=code)

    yield strict("strict-budget-pdf", "BF 7.1 budget as PDF instead of TOTEM XML",
                 "BUDGET_NOT_XML",
                 lambda: build(base_request(
                     numero_interne="BP2024PDF", nature=NatureActe.BF, codes_matiere=(7, 1),
                     objet="Budget primitif 2024",
                     document=Piece(minimal_pdf("Budget"), "pdf", "99_BU"), annexes=())))
    yield strict("strict-numero-lowercase", "lower-case NumeroInterne", "NUMERO_INTERNE_LOWERCASE",
                 lambda: build(base_request(numero_interne="delib12")))
    yield strict("strict-document-papier-missing", "Acte without DocumentPapier",
                 "DOCUMENT_PAPIER_MISSING",
                 lambda: _message_text(build(), b"  <actes:DocumentPapier>N</actes:DocumentPapier>\n",
                                       b""))
    yield strict("strict-departement-unknown", "IDCL département 096, which does not exist",
                 "DEPARTEMENT_UNKNOWN",
                 lambda: build(collectivite=replace(COMMUNE, siren="213000018", departement="096")))

    # The archive itself.
    good = build()
    yield invalid("archive-truncated-gzip", "gzip stream cut in the middle", "ARCHIVE_TRUNCATED",
                  lambda: (good.name, _pack(good)[1][:-200]))
    yield invalid("archive-not-gzip", "plain text named .tar.gz", "ARCHIVE_NOT_GZIP",
                  lambda: (good.name, b"this is not an archive\n" * 10))
    yield invalid("archive-symlink", "symlink member pointing outside", "ARCHIVE_LINK",
                  lambda: _raw_tar(good.name, [*_members(good), _symlink("lien.pdf", "/etc/passwd")]))
    yield invalid("archive-traversal", "member named ../evil.pdf", "ARCHIVE_TRAVERSAL",
                  lambda: _raw_tar(good.name, [*_members(good), ("../evil.pdf", pdf)]))
    yield invalid("archive-duplicate-member", "same member twice", "ARCHIVE_DUPLICATE_MEMBER",
                  lambda: _raw_tar(good.name, [*_members(good), _members(good)[1]]))
    yield invalid("archive-bomb", "32 MiB of zeros compressed a thousandfold", "ARCHIVE_BOMB",
                  lambda: _raw_tar(good.name, [*_members(good), ("bombe.pdf", bytes(32 << 20))]))
    yield invalid("archive-name-lowercase-itc", "archive named slo-EACT-…", "NAME_ARCHIVE",
                  lambda: ("slo" + good.name[3:], _pack(good)[1]))
    yield invalid("envelope-missing", "no EACT envelope inside", "ENVELOPE_MISSING",
                  lambda: _raw_tar(good.name, _members(good)[1:]))

    # Hostile XML.
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
    yield invalid("xml-xxe-envelope", "external entity in the envelope", "XML_DTD_FORBIDDEN",
                  lambda: _pack(_edit(b := build(), b.archive_name.enveloppe_file,
                                      lambda x: xxe + x.split(b"?>", 1)[1])))
    laughs = (b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;&l;">'
              b'<!ENTITY l3 "&l2;&l2;&l2;&l2;">]>\n')
    yield invalid("xml-billion-laughs-message", "entity expansion in the Acte", "XML_DTD_FORBIDDEN",
                  lambda: _pack(_edit(b := build(), b.message_name,
                                      lambda x: laughs + x.split(b"?>", 1)[1])))
    yield invalid("xml-malformed-message", "unclosed element in the Acte", "XML_MALFORMED",
                  lambda: _pack(_edit(b := build(), b.message_name, lambda x: x[:-30])))

    # Schema.
    yield invalid("schema-objet-too-long", "Objet of 501 characters", "SCHEMA_INVALID",
                  lambda: _pack(build(base_request(objet="x" * 501))))
    yield invalid("schema-codematiere2-missing", "only one classification level",
                  "SCHEMA_INVALID",
                  lambda: _pack(_message_text(build(), b"<actes:CodeMatiere2", b"<actes:Ignore")))
    yield invalid("message-wrong-direction", "an ARActe sent by a collectivité",
                  "MESSAGE_WRONG_DIRECTION", lambda: _pack(_ar_acte_inside()))

    # Files and names.
    yield invalid("file-missing", "annex referenced but absent", "FILE_MISSING",
                  lambda: _raw_tar(good.name, _members(good)[:-1]))
    yield invalid("file-unreferenced", "extra member nobody references", "FILE_UNREFERENCED",
                  lambda: _raw_tar(good.name, [*_members(good), ("notes.pdf", pdf)]))
    yield invalid("annexes-count", "Annexes/@Nombre says 2 for one annex", "ANNEXES_COUNT",
                  lambda: _pack(_message_text(build(), b'actes:Nombre="1"', b'actes:Nombre="2"')))
    yield invalid("name-message-bad-departement", "message named with département 2C",
                  "NAME_MESSAGE", lambda: _renamed_message())
    yield invalid("numero-interne-hyphen", "NumeroInterne DEL-12, which no IDActe can carry",
                  "NUMERO_INTERNE_INVALID",
                  lambda: _pack(_message_text(build(), b'NumeroInterne="DELIB2024_012"',
                                              b'NumeroInterne="DEL-12"')))
    yield invalid("emetteur-siren-mismatch", "documents named for another SIREN",
                  "EMETTEUR_MISMATCH", lambda: _pack(_other_siren_in_envelope()))

    # Document formats.
    yield invalid("pdf-not-a-pdf", "text file named .pdf", "DOCUMENT_FORMAT",
                  lambda: _pack(build(base_request(document=Piece(b"Bonjour", "pdf", "99_DE")))))
    yield invalid("pdf-is-png", "PNG bytes named .pdf", "DOCUMENT_CONTENT_MISMATCH",
                  lambda: _pack(build(base_request(document=Piece(png, "pdf", "99_DE")))))
    yield invalid("pdf-truncated", "PDF cut before its trailer", "DOCUMENT_FORMAT",
                  lambda: _pack(build(base_request(
                      document=Piece(minimal_pdf("Coupe")[:300], "pdf", "99_DE")))))
    yield invalid("xml-act-outside-budget", "XML main document for a DE", "DOCUMENT_FORMAT",
                  lambda: _pack(build(base_request(
                      codes_matiere=(7, 1), document=Piece(budget_document("49101169800013"),
                                                           "xml", "99_DE")))))
    yield invalid("budget-annex-png", "PNG annex with an XML budget", "DOCUMENT_FORMAT",
                  lambda: _pack(build(replace(budget_request(),
                                              annexes=(Piece(png, "png", "70_DE"),)))))

    # Budget business document.
    yield invalid("budget-schema-invalid", "DocumentBudgetaire without IdColl", "BUDGET_INVALID",
                  lambda: _pack(_edit(b := build(budget_request(sealed=False)),
                                      _document_name(b), _drop_idcoll)))
    yield invalid("budget-siret-mismatch", "budget of another collectivité",
                  "BUDGET_SIRET_MISMATCH",
                  lambda: _pack(build(replace(budget_request(), document=Piece(
                      budget_document("21340172200019"), "xml", "99_BU")))))
    yield invalid("budget-seal-tampered", "amount changed after sealing", "BUDGET_SCELLEMENT",
                  lambda: _pack(_edit(b := build(budget_request()), _document_name(b),
                                      lambda x: x.replace(b'V="1000.00"', b'V="9000.00"', 1))))

    # Classification, nature, typology, dates.
    yield invalid("classification-unknown-code", "matière 9.9 does not exist",
                  "CLASSIFICATION_UNKNOWN_CODE",
                  lambda: _pack(build(base_request(codes_matiere=(9, 9)))))
    yield invalid("classification-outdated", "act declares the 2004 classification",
                  "CLASSIFICATION_OUTDATED",
                  lambda: _pack(build(base_request(
                      classification_date_version=dt.date(2004, 4, 1)))))
    yield invalid("classification-version-unknown", "classification dated 2018-01-01",
                  "CLASSIFICATION_VERSION_UNKNOWN",
                  lambda: _pack(build(base_request(
                      classification_date_version=dt.date(2018, 1, 1)))))
    yield invalid("nature-matiere-forbidden", "BF budget document in urbanisme 2.1",
                  "NATURE_MATIERE_FORBIDDEN",
                  lambda: _pack(build(base_request(
                      nature=NatureActe.BF, codes_matiere=(2, 1),
                      document=Piece(minimal_pdf("BF"), "pdf", "99_BU"), annexes=()))))
    yield invalid("typologie-not-allowed", "99_BU typology on a délibération",
                  "TYPOLOGIE_NOT_ALLOWED",
                  lambda: _pack(build(base_request(
                      document=Piece(minimal_pdf("DE"), "pdf", "99_BU")))))
    yield invalid("date-future", "decision dated 2099", "DATE_FUTURE",
                  lambda: _pack(build(base_request(date=dt.date(2099, 1, 1)))))


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _document_name(built: BuiltEnvelope) -> str:
    return built.acte.document.nom_fichier


def _drop_idcoll(data: bytes) -> bytes:
    root = etree.fromstring(data)
    for el in root.iter(f"{{{NS_BUDGET}}}IdColl"):
        parent = el.getparent()
        assert parent is not None  # IdColl is never the root
        parent.remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _ar_acte_inside() -> BuiltEnvelope:
    built = build()
    ar = ARActe(id_acte="034-491011698-20240312-DELIB2024_012-DE", date_reception=SENT_DATE,
                acte_recu=built.acte, classification_date_version_en_cours=CLASSIFICATION_2019)
    built.members[built.message_name] = ar.to_xml()
    return built


def _renamed_message() -> tuple[str, bytes]:
    built = build()
    old = built.message_name
    new = "02C" + old[3:]
    members = [(new if n == old else n, b) for n, b in built.members.items()]
    env_name = members[0][0]
    members[0] = (env_name, members[0][1].replace(old.encode(), new.encode()))
    buf = io.BytesIO()
    write_archive(buf, members)
    return built.name, buf.getvalue()


def _other_siren_in_envelope() -> BuiltEnvelope:
    """Files named for SIREN 491011698, envelope sent by another collectivité (same name)."""
    built = build()
    env_name = next(iter(built.members))
    built.members[env_name] = built.members[env_name].replace(
        b'insee:SIREN="491011698"', b'insee:SIREN="213401722"')
    return built


CASES: tuple[Case, ...] = tuple(_cases())


def write_corpus(folder: str | os.PathLike) -> Path:
    """Write every case as `<slug>/<archive name>` plus `manifest.json`; return the manifest."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    manifest = []
    for case in CASES:
        name, data = case.make()
        target = root / case.slug
        target.mkdir(exist_ok=True)
        for old in target.iterdir():
            old.unlink()
        (target / name).write_bytes(data)
        lenient_valid, lenient_code = case.verdict(PlatformProfile.LENIENT)
        manifest.append({"slug": case.slug, "archive": f"{case.slug}/{name}",
                         "description": case.description, "valid": case.valid,
                         "code": case.code,
                         "lenient": {"valid": lenient_valid, "code": lenient_code},
                         "sha256": hashlib.sha256(data).hexdigest()})
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_material(folder: str | os.PathLike) -> list[Path]:
    """The act material users can build their own envelopes from."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "deliberation.pdf": minimal_pdf("Deliberation 2024-012"),
        "annexe.pdf": minimal_pdf("Annexe"),
        "plan.png": minimal_png(),
        "budget-primitif.xml": budget_document(COMMUNE.siren + "00013"),
    }
    written = []
    for name, data in files.items():
        (root / name).write_bytes(data)
        written.append(root / name)
    return written
