"""Assemble a collectivité's 1-1 envelope archive exactly as an operator would.

Given the act's fields and its files, this names every file by the protocol's rules, writes
the Acte message and the EnveloppeCLMISILL, and returns the members in archive order. The
CLI's `envelope build`, the fixture generator and the service's operator door all use it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .archive import write_archive
from .codes import NatureActe
from .messages import IDCL, Acte, EnveloppeCLMISILL, FichierSigne, Referent
from .names import ArchiveName, EnveloppeName, MessageFileName, ascii_digits

DEFAULT_ITC = "SLO"
DEFAULT_APPLI = "EACT"


@dataclass(frozen=True)
class Piece:
    """One file of the act: its bytes, its format (pdf, xml, png, jpg) and optional typology."""

    content: bytes
    format: str
    typologie: str | None = None
    signature: bytes | None = None
    posted_name: str | None = None  # the name the client uploaded it under, kept for its lists


@dataclass(frozen=True)
class Collectivite:
    """Who transmits: the IDCL of the envelope and where returns should go."""

    siren: str
    departement: str
    arrondissement: int = 1
    nature: str = "31"
    adresses_retour: tuple[str, ...] = ("actes@example.org",)
    referent: Referent | None = None


@dataclass(frozen=True)
class ActeRequest:
    """The fields of a 1-1 as a collectivité's software fills them."""

    date: dt.date
    numero_interne: str
    nature: NatureActe
    codes_matiere: tuple[int, ...]
    objet: str
    classification_date_version: dt.date
    document: Piece
    annexes: tuple[Piece, ...] = ()
    document_papier: str | None = "N"


@dataclass
class BuiltEnvelope:
    """An envelope ready to write: archive name and members (name → bytes) in order."""

    archive_name: ArchiveName
    acte: Acte
    members: dict[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.archive_name)

    @property
    def message_name(self) -> str:
        return next(n for n in self.members if n.endswith("-1-1_0.xml"))

    def write(self, folder: str | os.PathLike, *, mtime: int = 0) -> Path:
        """Write the archive into `folder` and return its path."""
        path = Path(folder) / self.name
        write_archive(path, self.members.items(), mtime=mtime)
        return path


def build_acte_envelope(request: ActeRequest, collectivite: Collectivite, *,
                        envelope_date: dt.date, envelope_numero: int = 1,
                        itc: str = DEFAULT_ITC, appli: str = DEFAULT_APPLI) -> BuiltEnvelope:
    """Name, write and pack a 1-1 transmission: envelope, Acte message, document, annexes."""

    def file_name(numero: int, extension: str, typologie: str | None) -> str:
        return str(MessageFileName(
            departement=collectivite.departement, siren=collectivite.siren, date=request.date,
            numero_interne=request.numero_interne, nature=request.nature, code="1-1",
            numero=numero, extension=extension, typologie=typologie))

    pieces: list[tuple[str, Piece]] = [
        (file_name(1, request.document.format, request.document.typologie), request.document)]
    for i, annexe in enumerate(request.annexes, start=2):
        pieces.append((file_name(i, annexe.format, annexe.typologie), annexe))
    acte = Acte(
        date=request.date, numero_interne=request.numero_interne, nature=request.nature,
        codes_matiere=tuple(request.codes_matiere), objet=request.objet,
        classification_date_version=request.classification_date_version,
        document=FichierSigne(pieces[0][0], pieces[0][1].signature),
        annexes=tuple(FichierSigne(name, p.signature) for name, p in pieces[1:]),
        document_papier=request.document_papier,
    )
    message_name = file_name(0, "xml", None)
    enveloppe = EnveloppeCLMISILL(
        emetteur=IDCL(siren=collectivite.siren, departement=collectivite.departement,
                      arrondissement=collectivite.arrondissement, nature=collectivite.nature),
        adresses_retour=collectivite.adresses_retour,
        formulaires=(FichierSigne(message_name),),
        referent=collectivite.referent,
    )
    enveloppe_name = EnveloppeName.from_collectivite(collectivite.siren, envelope_date,
                                                     envelope_numero, appli=appli)
    built = BuiltEnvelope(ArchiveName(itc, enveloppe_name), acte)
    built.members[str(enveloppe_name)] = enveloppe.to_xml()
    built.members[message_name] = acte.to_xml()
    for name, piece in pieces:
        built.members[name] = piece.content
    return built


def parse_codes_matiere(text: str) -> tuple[int, ...]:
    """"7.1.2" → (7, 1, 2); the notation users type."""
    parts = text.strip().split(".")
    if not all(ascii_digits(part) and len(part) <= 9 for part in parts):
        raise ValueError(f"{text!r} is not a matière code like 7.1 or 1.1.2")
    codes = tuple(int(part) for part in parts)
    if not 2 <= len(codes) <= 5 or any(c <= 0 for c in codes):
        raise ValueError(f"{text!r}: a matière has 2 to 5 positive levels, like 7.1")
    return codes


def format_of(path: str | os.PathLike, content: bytes | None = None) -> str:
    """The piece format from a file name (pdf, xml, png, jpg)."""
    ext = Path(path).suffix.lower().lstrip(".")
    return {"jpeg": "jpg"}.get(ext, ext)


PIECE_FORMATS: Sequence[str] = ("pdf", "xml", "png", "jpg")
