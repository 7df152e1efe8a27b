"""Envelopes made the way an outside integration would, with lxml and tarfile only (not the
project's builder): each named variation changes one thing of a valid délibération."""

from __future__ import annotations

import gzip
import io
import tarfile

from lxml import etree

NS = "http://www.interieur.gouv.fr/ACTES#v1.1-20040216"
INSEE = "http://xml.insee.fr/schema"
SIREN = "491011698"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
       b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
       b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n")


def _a(name: str) -> str:
    return f"{{{NS}}}{name}"


def holdout(*, departement: str = "034", numero: str = "DELIB24_1", papier: str | None = "N",
            nature: str = "1", abrege: str = "DE", matiere: tuple[int, ...] = (5, 2),
            document: tuple[bytes, str] = (PDF, "pdf"), typologie: str = "99_DE",
            objet: str = "Règlement intérieur", day: str = "20240312",
            sent: str = "20240314") -> tuple[str, bytes]:
    """(archive name, .tar.gz bytes) of one act sent by SIREN 491011698."""
    iso = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    base = f"{departement}-{SIREN}-{day}-{numero}-{abrege}-1-1"
    message_name, document_name = f"{base}_0.xml", f"{typologie}-{base}_1.{document[1]}"
    nsmap = {"actes": NS, "insee": INSEE}
    acte = etree.Element(_a("Acte"), nsmap=nsmap)
    acte.set(_a("Date"), iso)
    acte.set(_a("NumeroInterne"), numero)
    acte.set(_a("CodeNatureActe"), nature)
    for level, code in enumerate(matiere, start=1):
        etree.SubElement(acte, _a(f"CodeMatiere{level}")).set(_a("CodeMatiere"), str(code))
    etree.SubElement(acte, _a("Objet")).text = objet
    etree.SubElement(acte, _a("ClassificationDateVersion")).text = "2019-03-01"
    etree.SubElement(etree.SubElement(acte, _a("Document")), _a("NomFichier")).text = document_name
    etree.SubElement(acte, _a("Annexes")).set(_a("Nombre"), "0")
    if papier is not None:
        etree.SubElement(acte, _a("DocumentPapier")).text = papier
    envelope = etree.Element(_a("EnveloppeCLMISILL"), nsmap=nsmap)
    idcl = etree.SubElement(etree.SubElement(envelope, _a("Emetteur")), _a("IDCL"))
    idcl.set(f"{{{INSEE}}}SIREN", SIREN)
    idcl.set(_a("Departement"), departement)
    idcl.set(_a("Arrondissement"), "3")
    idcl.set(_a("Nature"), "31")
    etree.SubElement(etree.SubElement(envelope, _a("AdressesRetour")), _a("Email")).text = \
        "actes@mairie.example.org"
    formulaire = etree.SubElement(etree.SubElement(envelope, _a("FormulairesEnvoyes")),
                                  _a("Formulaire"))
    etree.SubElement(formulaire, _a("NomFichier")).text = message_name
    envelope_name = f"EACT--{SIREN}--{sent}-1.xml"
    members = [(envelope_name, _xml(envelope)), (message_name, _xml(acte)),
               (document_name, document[0])]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return f"SLO-{envelope_name[:-4]}.tar.gz", gzip.compress(raw.getvalue(), mtime=0)


def _xml(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="ISO-8859-1")


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}
