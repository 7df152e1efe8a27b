"""S²LOW's files: the list of a transaction's files, their download (stamped on request), the
envelope, and the acknowledgement slip.

S²LOW numbers every file of a transaction in one table: index 0 is the message XML, 1 the act's
document, 2… the annexes. The simulator keeps messages and documents apart, so a file's id is
`transaction id × 1000 + index` — stable, unique, and enough to find it again. Stamping and the
slip are drawn by `pdf.tampon` and `pdf.bordereau` from the stored transaction's facts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from ... import pdf  # reportlab and pypdf load at the first PDF drawn (`pdf` lazy exports)
from ...engine.clock import paris_date
from ...engine.intake import Engine
from ...engine.scenarios import archive_sender, damaged
from ...protocol.archive import write_archive
from ...protocol.codes import NS_ACTES, Sender, TransactionStatus, TransactionType
from ...protocol.errors import ProtocolError
from ...protocol.messages import Acte, ARActe, message_from_element
from ...protocol.names import MessageFileName, ascii_digits
from ...protocol.xmlsafe import parse_xml
from ...store.interface import TransactionRow
from ..downloads import content_disposition, sound_file
from .common import engine_of, owned, php_int, read_blob, returned_message
from .replies import ACCES_REFUSE, OWN_FAULTS, S2lowKO, S2lowRedirect, s2low_handler

S = TransactionStatus
FILE_ID_STRIDE = 1000
M = TypeVar("M", Acte, ARActe)
NO_AR = "Pas d'acquittement recu"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class File:
    """One entry of `actes_transac_get_files_list.php`."""

    id: int
    name: str
    posted_filename: str
    mimetype: str
    size: int
    sha256: str
    sign: str
    code_pj: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "posted_filename": self.posted_filename,
                "mimetype": self.mimetype, "size": self.size, "sign": self.sign,
                "code_pj": self.code_pj}


def _code_pj(name: str) -> str:
    try:
        return MessageFileName.parse(name).typologie or ""
    except ProtocolError:  # a name the protocol does not know: S²LOW leaves code_pj empty
        return ""


def _signatures(xml: bytes) -> dict[str, str]:
    """Each file's `Signature` text in the message, by `NomFichier` (S²LOW's `sign` column)."""
    signatures = {}
    for nom in parse_xml(xml).iter(f"{{{NS_ACTES}}}NomFichier"):
        signature = nom.getnext()
        if signature is not None and signature.tag == f"{{{NS_ACTES}}}Signature":
            signatures[(nom.text or "").strip()] = (signature.text or "").strip()
    return signatures


async def files_of(engine: Engine, row: TransactionRow) -> list[File]:
    """The transaction's files in S²LOW's order: its own message (no posted name), then the
    documents: the name each was uploaded under (S²LOW's "Nom du fichier original"; the
    protocol's name for documents that came inside an archive) and its signature, if any."""
    messages = [m for m in await engine.store.messages(row.id) if m.direction is Sender.CL]
    blobs = engine.sqlite.blobs
    files: list[File] = []
    signatures: dict[str, str] = {}
    if messages:
        own = messages[0]
        # gone from the store: `BlobNotFound`, refused as such, never a 500
        size = await asyncio.to_thread(blobs.size, own.xml_sha256)
        files.append(File(row.id * FILE_ID_STRIDE, own.file_name, "", "text/xml", size,
                          own.xml_sha256, "", ""))
        signatures = _signatures(await read_blob(engine, own.xml_sha256))
    for index, document in enumerate(await engine.store.documents(row.id), start=len(files) or 1):
        files.append(File(row.id * FILE_ID_STRIDE + index, document.file_name,
                          document.posted_name or document.file_name, document.mimetype,
                          document.size, document.sha256,
                          # A door's upload: the signature posted with it; an archive's: its own.
                          (document.posted_signature or "") if document.posted_name is not None
                          else signatures.get(document.file_name, ""),
                          _code_pj(document.file_name)))
    return files


def _acknowledged(row: TransactionRow) -> bool:
    return row.type is TransactionType.ACTE and row.id_acte is not None


@s2low_handler
async def files_list(request: web.Request) -> web.Response:
    """JSON list of the files; refused until the transaction went past 1, 2 and 3."""
    engine = engine_of(request)
    row = await owned(request, php_int(request.query.get("transaction")))
    journal = await engine.store.journal(row.id)
    if all(e.to_status in (S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS) for e in journal):
        raise S2lowKO(NO_AR, escaped=False)
    return web.json_response([f.to_json() for f in await files_of(engine, row)])


def _given(data: bytes) -> Callable[[], bytes]:
    """`damaged`'s reader for bytes already read."""
    return lambda: data


async def _stored_message(engine: Engine, row: TransactionRow, sha256: str,
                             kind: type[M]) -> M:
    """A stored message the stamp or the slip is drawn from; one that no longer reads as
    what it was (altered on disk, `BlobCorrupted` aside) is a clear refusal, not a 500."""
    message: object
    try:
        message = message_from_element(parse_xml(await read_blob(engine, sha256)))
    except ProtocolError as error:
        message = error
    if not isinstance(message, kind):
        log.error("transaction %s: stored %s %s unreadable: %s", row.id, kind.__name__, sha256,
                  message)
        raise S2lowKO(f"Erreur d'envoi du fichier : le message {kind.__name__} stocké est "
                      "illisible", status=410, escaped=False)
    return message


async def tampon_for(engine: Engine, row: TransactionRow,
                     publie_le: dt.date | None = None) -> pdf.Tampon:
    """The stamp's facts: sent on the day it was transmitted, received on DateReception."""
    journal = await engine.store.journal(row.id)
    sent = next((e.at for e in journal if e.to_status is S.TRANSMIS), row.created_at)
    received = next((e.at for e in journal if e.to_status is S.ACQUITTEMENT_RECU), row.updated_at)
    recu_le = paris_date(received)
    ar = await returned_message(engine, row, S.ACQUITTEMENT_RECU)
    if ar is not None:
        message = await _stored_message(engine, row, ar.xml_sha256, ARActe)
        recu_le = message.date_reception
    assert row.id_acte is not None
    return pdf.Tampon(row.id_acte, paris_date(sent), recu_le, publie_le)


def _date_affichage(raw: str | None) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw.strip()[:10])
    except ValueError:
        raise S2lowKO(f"date_affichage « {raw} » n'est pas une date AAAA-MM-JJ",
                      escaped=False) from None


async def _stamped(engine: Engine, row: TransactionRow, file: File,
                   publie_le: dt.date | None) -> web.Response:
    tampon = await tampon_for(engine, row, publie_le)
    original = await read_blob(engine, file.sha256)
    try:
        body = await asyncio.to_thread(pdf.stamp_pdf, original, tampon)
    except pdf.TamponError as error:  # S²LOW then sends the document unstamped
        log.warning("transaction %s: %s not stamped: %s", row.id, file.name, error)
        body = original
    return web.Response(body=body, content_type="application/pdf", headers={
        "Content-Disposition": content_disposition(file.posted_filename or file.name)})


def _truthy(raw: str | None) -> bool:
    """PHP's truth of a parameter: set, and neither empty nor "0"."""
    return raw not in (None, "", "0")


@s2low_handler
async def download_file(request: web.Request) -> web.StreamResponse:
    """`file=<id>` (with `tampon=true`: stamped, for an acknowledged act's PDFs) or `env=<id>`.
    Every refusal is a redirection, as `actes_download_file.php` answers them: to the site's
    root, or to the module's index for "Accès refusé" (the message in the body here)."""
    try:
        return await _download(request)
    except S2lowKO as refused:
        if refused.status in OWN_FAULTS:  # the simulator's own fault: told, not redirected
            raise
        raise S2lowRedirect(refused.message, "/modules/actes/index.php"
                            if refused.message == ACCES_REFUSE else "/") from None


async def _download(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    query = request.query
    if ascii_digits(query.get("file", "")):
        file_id = php_int(query["file"])
        row = await owned(request, file_id // FILE_ID_STRIDE, invalid="Fichier inexistant")
        file = next((f for f in await files_of(engine, row) if f.id == file_id), None)
        if file is None:
            raise S2lowKO("Fichier inexistant", escaped=False)
        if _truthy(query.get("tampon")) and file.mimetype == "application/pdf" \
                and row.type is TransactionType.ACTE:
            if not _acknowledged(row):
                raise S2lowKO(NO_AR, escaped=False)
            return await _stamped(engine, row, file, _date_affichage(query.get("date_affichage")))
        return await sound_file(engine.sqlite.blobs, file.sha256,
                                filename=file.posted_filename or file.name, mimetype=file.mimetype)
    if ascii_digits(query.get("env", "")):
        row = await owned(request, php_int(query["env"]), invalid="Enveloppe inexistante")
        return await _envelope(engine, row)
    raise S2lowKO("Paramètre manquant.", escaped=False)


async def _envelope(engine: Engine, row: TransactionRow) -> web.StreamResponse:
    """The transaction's envelope: the archive sent (a letter's: the préfecture's return
    archive), or its messages and documents packed; what the préfecture returned is damaged
    if a scenario says so (`corrupt_return`)."""
    blobs = engine.sqlite.blobs
    if (sha := row.archive_sha256) is not None:
        name = row.archive_name or f"{engine.itc}-transaction-{row.id}.tar.gz"
        broken = await damaged(engine.scenarios, row, archive_sender(row), lambda: blobs.read(sha))
        if broken is not None:
            return web.Response(body=broken, headers={
                "Content-Type": "application/gzip", "Content-Disposition": content_disposition(name)})
        return await sound_file(blobs, sha, filename=name, mimetype="application/gzip")
    members = []
    for m in await engine.store.messages(row.id):
        stored = await read_blob(engine, m.xml_sha256)
        members.append((m.file_name, await damaged(engine.scenarios, row, m.direction,
                                                   _given(stored)) or stored))
    members += [(d.file_name, await read_blob(engine, d.sha256))
                for d in await engine.store.documents(row.id)]
    buffer = io.BytesIO()
    await asyncio.to_thread(write_archive, buffer, members)
    name = f"{engine.itc}-transaction-{row.id}.tar.gz"
    return web.Response(body=buffer.getvalue(), content_type="application/gzip", headers={
        "Content-Disposition": content_disposition(name)})


@s2low_handler
async def get_tampon(request: web.Request) -> web.Response:
    """S²LOW < 2: the act's document, stamped, by transaction id."""
    engine = engine_of(request)
    row = await owned(request, php_int(request.query.get("transaction")))
    if not _acknowledged(row):
        raise S2lowKO(NO_AR, escaped=False)
    main = next((f for f in (await files_of(engine, row))[1:] if f.mimetype == "application/pdf"),
                None)
    if main is None:
        raise S2lowKO("Le document de l'acte n'est pas un PDF", escaped=False)
    return await _stamped(engine, row, main, _date_affichage(request.query.get("date_affichage")))


async def bordereau_facts(engine: Engine, row: TransactionRow) -> pdf.BordereauFacts:
    """The slip's facts, from the stored transaction, its 1-1 and its journal."""
    journal = await engine.store.journal(row.id)
    files = await files_of(engine, row)
    acte = await _stored_message(engine, row, files[0].sha256, Acte)
    assert row.id_acte is not None
    collectivite = await engine.store.call(lambda store: store.get_collectivite(row.siren))
    codes = tuple(c for c in acte.codes_matiere if c is not None)
    try:
        matiere = engine.classification().label(codes)
    except KeyError:
        matiere = ".".join(map(str, codes))
    tampon = await tampon_for(engine, row)
    sent = next((e.at for e in journal if e.to_status is S.TRANSMIS), row.created_at)
    return pdf.BordereauFacts(
        transaction_id=row.id, type_transaction=row.type.libelle,
        collectivite=collectivite.nom if collectivite else row.siren, siren=row.siren,
        agent=journal[0].actor, id_acte=row.id_acte, numero_interne=acte.numero_interne,
        date_decision=acte.date, nature=acte.nature.libelle, matiere=matiere, objet=acte.objet,
        document_papier=acte.document_papier == "O", envoye_le=sent, recu_le=tampon.recu_le,
        fichiers=tuple(pdf.Fichier(f.name, f.posted_filename
                                   if f.posted_filename not in ("", f.name) else None,
                                   f.mimetype, f.size) for f in files),
        cycle=tuple(pdf.Etape(e.at, e.to_status.libelle, e.message) for e in journal))


@s2low_handler
async def create_pdf(request: web.Request) -> web.Response:
    """`actes_create_pdf.php?trans_id=…`: the bordereau d'acquittement (acquittement.pdf)."""
    engine = engine_of(request)
    raw = request.query.get("trans_id")
    if not raw:
        raise S2lowKO("Pas d'identifiant de transaction spécifié")
    row = await owned(request, php_int(raw), invalid="Erreur d'initialisation de la transaction.")
    if not _acknowledged(row):
        raise S2lowKO(NO_AR, escaped=False)
    facts = await bordereau_facts(engine, row)
    drawn = await asyncio.to_thread(pdf.render_bordereau, facts, generated_at=engine.clock.now())
    return web.Response(body=drawn, content_type="application/pdf", headers={
        "Content-Disposition": content_disposition("acquittement.pdf", "inline")})


__all__ = ["FILE_ID_STRIDE", "bordereau_facts", "create_pdf", "download_file", "files_list",
           "files_of", "get_tampon", "tampon_for"]
