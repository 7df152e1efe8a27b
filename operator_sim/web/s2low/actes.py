"""S²LOW's act transactions: create, status, post-confirm, cancel, import, classification.

`actes_transac_create.php` refuses a connection whose TLS certificate is not RGS (unless
`must_signed`: the act then stays at 18, "en attente d'être signé"), then checks
the fields as S²LOW does (number, decision date, duplicate number, typologies, file types,
size) and answers its exact `KO` texts; the act itself is built, signed and taken by the
engine's operator door (`Engine.submit_acte`), stored at 17 ("en attente d'être postée") when
the client asks `en_attente` or its account lacks the right to post (`post`, S²LOW's "TT"),
until `actes_transac_post_confirm_api.php` posts it.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

from aiohttp import web
from yarl import URL

from ...engine.clock import paris_date
from ...engine.intake import IntakeRefused
from ...engine.scenarios import damaged
from ...errors import Kind
from ...protocol.classification import Classification
from ...protocol.codes import NatureActe, TransactionStatus, TransactionType
from ...protocol.envelope import ActeRequest, Piece
from ...protocol.names import ascii_digits
from ...store import TransactionFilter
from ...validation.documents import sniff_format
from ...validation.report import ANOMALIE_BY_CODE
from ..http import show_scenario
from ..keys import IDENTITY
from .common import (
    engine_of,
    owned,
    php_int,
    read_blob,
    requested,
    returned_message,
)
from .form import Form, Upload, read_form
from .replies import (
    ACCES_REFUSE,
    CHARSET,
    S2lowKO,
    S2lowRedirect,
    authority,
    connexion,
    ok,
    redirect,
    s2low_handler,
    text,
)

S = TransactionStatus
NUMBER = re.compile(r"^([A-Z0-9][A-Z0-9_]{0,13})?[A-Z0-9]$")  # S²LOW's NUMBER_REGEXP
CODE_PJ = re.compile(r"^[A-Z0-9_]{5}$")
BAD_CODE_PJ = "Le code de la PJ doit faire 5 caractères"
MAX_SUBJECT = 499
MIMETYPES = {"pdf": "application/pdf", "xml": "application/xml", "png": "image/png",
             "jpg": "image/jpeg"}
REFUSED_BY_S2LOW = frozenset(
    {code for code in ANOMALIE_BY_CODE
     if code.startswith(("ARCHIVE_", "NAME_", "XML_", "MESSAGE_", "SIGNATURE_"))}
    - {"SIGNATURE_MISSING"}
    | {"ENVELOPE_MISSING", "SCHEMA_INVALID", "ANNEXES_COUNT", "FILE_MISSING", "FILE_UNREFERENCED",
       "FILE_REFERENCED_TWICE", "DOCUMENT_FORMAT", "DOCUMENT_CONTENT_MISMATCH",
       "TYPOLOGIE_NOT_ALLOWED", "EMETTEUR_MISMATCH",
       # the analysis itself given up on (the simulator's bounds on findings, time, files)
       "FINDINGS_LIMIT", "VALIDATION_TIMEOUT", "FILES_TOO_MANY"})
"""Findings S²LOW's own analysis of the file to send (`ActesAnalyseFichierAEnvoyerWorker`)
catches before the ministry sees anything: the archive and its names, XSD validity, files
present and referenced, MIME types, the typology allowed for the act's nature, PDF and PAdES
signatures, the IDCL of an imported archive. They end at -1 "Enveloppe invalide : …" with no
ministry XML. Everything else (classification, nature and matière, dates, budget documents,
duplicates, a required signature missing) is the ministry's: an AnomalieActe (1-3)."""
RGS_REQUIRED = "La télétransmission nécessite un certificat RGS<br/>Erreur : {}"
SAVE_FAILED = "Erreur lors de l'enregistrement de la transaction :\n"
DUPLICATE = ("Un acte portant le même numéro interne existe déjà dans la base de données.\n"
             "Il faut peut-être ajouter un suffixe au numéro.")


# -- actes_transac_create.php --------------------------------------------------------------------


def mimetype_of(content: bytes) -> str:
    """What PHP's `mime_content_type` would say, for the formats that matter here."""
    sniffed = sniff_format(content[:1024])
    if sniffed in MIMETYPES:
        return MIMETYPES[sniffed]
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain" if content else "application/x-empty"


def _piece(upload: Upload, typologie: str, signature: Upload | None) -> Piece:
    content = upload.read()
    return Piece(content, sniff_format(content[:1024]) or "pdf", typologie,
                 signature.read().rstrip() if signature else None, posted_name=upload.filename)


def _check_acte_file(upload: Upload, content_format: str | None, nature: int,
                     codes: tuple[int, ...]) -> str | None:
    """S²LOW's `addFile` rules for the act's own file; the error text, or None."""
    mimetype = mimetype_of(upload.read())
    if content_format not in ("pdf", "xml"):
        return (f'Le fichier de l\'acte " {upload.filename} " est de type " {mimetype} ". '
                "Fichier PDF ou XML requis.")
    if content_format == "xml":
        if nature != NatureActe.BF:
            return "Seuls les documents budgétaires et financiers peuvent être au format XML."
        if codes[:2] != (7, 1):
            return "Seule la classification 7.1 est autorisée pour la transmission au format XML"
    return None


def _check_annexe_file(upload: Upload, content_format: str | None, acte_xml: bool) -> str | None:
    mimetype = mimetype_of(upload.read())
    if content_format not in MIMETYPES:
        return (f'Le fichier attaché " {upload.filename} " est de type " {mimetype} ". '
                "Fichier PDF, XML, PNG ou JPEG requis.")
    if acte_xml and content_format != "pdf":
        return "Les pièces jointes doivent être au format PDF avec un acte au format XML"
    return None


def _truthy(raw: str | None) -> bool:
    """PHP's truth of a posted value (`empty()` false): set, and neither "" nor "0"."""
    return (raw or "").strip() not in ("", "0")


def _present(uploads: list[Upload]) -> list[Upload]:
    """PHP skips file inputs left empty."""
    return [u for u in uploads if u.filename or u.size]


def _decision_date(form: Form, today: dt.date) -> dt.date:
    raw = (form.value("decision_date") or "").strip()
    try:
        date = dt.date.fromisoformat(raw)
    except ValueError:
        raise S2lowKO(f"{SAVE_FAILED}Date de la décision : « {raw} » n'est pas une date "
                      "AAAA-MM-JJ") from None
    if date > today:
        raise S2lowKO("La date de décision est une date dans le futur")
    return date


def _classification(form: Form) -> tuple[int, ...]:
    codes: list[int] = []
    for i in range(1, 6):
        raw = (form.value(f"classif{i}") or "").strip()
        if not ascii_digits(raw) or len(raw) > 9 or int(raw) == 0:
            break
        codes.append(int(raw))
    if len(codes) < 2:
        raise S2lowKO(f"{SAVE_FAILED}Les deux premiers niveaux de classification sont "
                      "obligatoires.")
    return tuple(codes)


async def _number_taken(request: web.Request, siren: str, number: str) -> bool:
    """S²LOW's `isUnique`: any act of the authority, whatever its status, holds its number."""
    return await engine_of(request).store.query(
        lambda s: s.numero_interne_taken(siren, number))


async def _acte_request(request: web.Request, form: Form, siren: str) -> ActeRequest:
    """The act the form describes, refused with S²LOW's texts in S²LOW's order."""
    engine = engine_of(request)
    number = (form.value("number") or "").strip()
    if not NUMBER.match(number):
        raise S2lowKO("Le numéro n'est pas correct")
    decision_date = _decision_date(form, paris_date(engine.clock.now()))
    if await _number_taken(request, siren, number):
        raise S2lowKO(DUPLICATE)
    actes = _present(form.files.get("acte_pdf_file", []))
    if not actes:
        raise S2lowKO("Aucun fichier acte n'a été posté ")
    try:
        nature = NatureActe(php_int(form.value("nature_code")))
    except ValueError:
        raise S2lowKO(f"{SAVE_FAILED}Nature de l'acte : « {form.value('nature_code')} » n'est "
                      "pas une nature (1 à 6)") from None
    codes = _classification(form)
    errors = ""
    acte = actes[0]
    type_acte = (form.value("type_acte") or "").strip()
    if not type_acte:
        raise S2lowKO(f"Erreur lors de la réception du fichier {acte.filename} : typologie absente")
    acte_format = sniff_format(acte.read()[:1024])
    problem = _check_acte_file(acte, acte_format, nature, codes)
    if problem is None and not CODE_PJ.match(type_acte):
        problem = BAD_CODE_PJ
    if problem:
        errors += f"Erreur de validation du fichier de l'acte :\n{problem}\n"
    annexes = _present(form.files.get("acte_attachments", []))
    annex_signatures = form.files.get("acte_attachments_sign", [])
    type_pj = form.values("type_pj")
    pieces = []
    for i, annexe in enumerate(annexes):
        typologie = type_pj[i].strip() if i < len(type_pj) else ""
        if not typologie:
            raise S2lowKO(f"Erreur lors de la réception du fichier annexe {annexe.filename} : "
                          "typologie absente")
        content_format = sniff_format(annexe.read()[:1024])
        problem = _check_annexe_file(annexe, content_format, acte_format == "xml")
        if problem is None and not CODE_PJ.match(typologie):
            problem = BAD_CODE_PJ
        if problem:
            errors += f"Erreur de validation d'un fichier de pièce jointe :\n{problem}\n"
            continue
        signature = annex_signatures[i] if i < len(annex_signatures) else None
        pieces.append(_piece(annexe, typologie, signature if signature and signature.size else None))
    if errors:
        raise S2lowKO(errors.rstrip("\n"))
    subject = (form.value("subject") or "").strip()
    if not subject or len(subject) > MAX_SUBJECT:
        raise S2lowKO(f"{SAVE_FAILED}Objet de l'acte : obligatoire, {MAX_SUBJECT} caractères "
                      "au plus")
    signature = form.file("acte_pdf_file_sign")
    papier = (form.value("document_papier") or "").strip() not in ("", "0")
    return ActeRequest(
        date=decision_date, numero_interne=number, nature=nature, codes_matiere=codes,
        objet=subject, classification_date_version=engine.classification().date,
        document=_piece(acte, type_acte, signature if signature and signature.size else None),
        annexes=tuple(pieces), document_papier="O" if papier else "N")


@s2low_handler
async def create(request: web.Request) -> web.Response:
    """Create an act: `OK\\n<transaction id>`; at 17 if asked or without the right to post,
    at 18 with `must_signed`. As in S²LOW, an act to be signed needs no RGS connection: it
    is not transmitted, and only S²LOW's web UI signs or posts it (no API moves it on)."""
    engine = engine_of(request)
    identity = request[IDENTITY]
    siren = authority(identity)
    form = await read_form(request)
    try:
        must_signed = _truthy(form.value("must_signed"))
        state = connexion(request)
        if not must_signed and not state.rgs:  # S²LOW checks it before any field
            raise S2lowKO(RGS_REQUIRED.format(state.reason))
        acte = await _acte_request(request, form, siren)
    finally:
        form.cleanup()
    collectivite = await engine.known_collectivite(identity, siren)
    # S²LOW: an account with the "CS" right only (no "post" here) leaves every act at 17
    waiting = _truthy(form.value("en_attente")) or not identity.has_role("post")
    outcome = await engine.submit_acte(identity, acte, collectivite, await_posting=waiting,
                                       await_signature=must_signed, headers=request.headers,
                                       operator_refuses=REFUSED_BY_S2LOW)
    show_scenario(request, outcome)
    return ok(f"{outcome.transaction.id}\n")


# -- actes_transac_get_status.php ----------------------------------------------------------------


@s2low_handler
async def get_status(request: web.Request) -> web.Response:
    """`OK\\n<status>\\n` + the XML that brought it there (ARActe at 4) + the error at -1;
    the préfecture's XML damaged if a scenario says so (`corrupt_return`)."""
    engine = engine_of(request)
    row = await requested(request, "transaction")
    body = f"OK\n{int(row.status)}\n".encode(CHARSET)
    message = await returned_message(engine, row, row.status)
    if message is not None:
        stored = await read_blob(engine, message.xml_sha256)
        body += await damaged(engine.scenarios, row, message.direction, lambda: stored) or stored
    if row.status is S.ERREUR:
        journal = await engine.store.journal(row.id)
        body += journal[-1].message.encode(CHARSET, "replace")
    return web.Response(body=body, content_type="text/plain", charset=CHARSET)


# -- actes_transac_get_ARActe.php ----------------------------------------------------------------


@s2low_handler
async def get_aracte(request: web.Request) -> web.StreamResponse:
    """The ARActe of transaction `id`, raw (`application/xml`). S²LOW redirects (its message
    in the session) when the transaction is unknown or not the caller's; without an AR yet it
    sets `Location: index.php` and goes on, so the answer is a 302 with an empty body."""
    engine = engine_of(request)
    try:
        row = await owned(request, php_int(request.query.get("id")))
    except S2lowKO as refused:
        raise S2lowRedirect(refused.message if refused.message == ACCES_REFUSE else
                            "Erreur d'initialisation de la transaction.",
                            "/modules/actes/index.php") from None
    message = await returned_message(engine, row, S.ACQUITTEMENT_RECU)
    if message is None:
        return web.Response(status=302, headers={"Location": "index.php",
                                                 "Content-Type": "application/xml"})
    return web.Response(body=await read_blob(engine, message.xml_sha256),
                        headers={"Content-Type": "application/xml"})


# -- actes_transac_post_confirm_api.php (and _multi) ----------------------------------------------


def _return_to(url_return: str, error: bool, message: str) -> web.StreamResponse:
    """S²LOW's `header("Location:  $url_return")`, `%%ERROR%%` → 1 or 0 and `%%MESSAGE%%` →
    the message as is (S²LOW does not URL-encode it), then what a header cannot carry
    (spaces, accents, controls) percent-encoded, as a browser following it would."""
    location = url_return.replace("%%ERROR%%", "1" if error else "0").replace(
        "%%MESSAGE%%", message)
    try:
        target = str(URL(location)) if location else ""
    except ValueError:  # no URL can be made of it (`http://[::1`): sent encoded as a path
        target = quote(location, safe="/:?&=%#")
    # Returned, not raised: the scenario's faults (`show_faults`) apply to answers only.
    return redirect(target, message)


def _check_posting(request: web.Request) -> None:
    """What both post-confirm scripts check first: the right to post (S²LOW's "TT"), then
    a TLS certificate that is RGS."""
    if not request[IDENTITY].has_role("post"):
        raise S2lowKO(ACCES_REFUSE)
    state = connexion(request)
    if not state.rgs:
        raise S2lowKO(RGS_REQUIRED.format(state.reason))


async def _post(request: web.Request, transaction_id: int) -> None:
    row = await owned(request, transaction_id, invalid="Erreur d'initialisation de la transaction.",
                      escaped=True)
    if row.status is not S.EN_ATTENTE_D_ETRE_POSTEE:
        raise S2lowKO("La transaction n'est pas dans le statut « En attente d'être posté»")
    try:
        outcome = await engine_of(request).post_acte(request[IDENTITY], row.id,
                                                     headers=request.headers,
                                                     operator_refuses=REFUSED_BY_S2LOW)
    except IntakeRefused as refused:
        if refused.kind is Kind.UNAVAILABLE:  # a scenario's outage: the whole answer is a 503, no redirect
            raise
        raise S2lowKO(refused.message_fr) from None
    show_scenario(request, outcome)


@s2low_handler
async def post_confirm(request: web.Request) -> web.StreamResponse:
    """17 → 1 by an RGS connection; always answered by a redirection to `url_return`."""
    url_return = request.query.get("url_return", "")
    try:
        _check_posting(request)
        raw = request.query.get("id", "")
        if raw in ("", "0"):  # PHP's empty()
            raise S2lowKO("Pas d'identifiant de transaction spécifié")
        await _post(request, php_int(raw))
    except S2lowKO as refused:
        return _return_to(url_return, True, refused.message)
    return _return_to(url_return, False, "")


@s2low_handler
async def post_confirm_multi(request: web.Request) -> web.StreamResponse:
    """The batch variant: `id[]=…&id[]=…` (or one `id`); transactions it may not post are
    skipped. Answered by a redirection to `url_return` as given (no placeholders here), or
    to the site's root on a refusal without one. A scenario's 503 stops the batch there."""
    url_return = request.query.get("url_return", "")
    try:
        _check_posting(request)
    except S2lowKO as refused:
        return redirect(url_return or "/", refused.message)
    ids = request.query.getall("id[]", []) or request.query.getall("id", [])
    if not [i for i in ids if i not in ("", "0")]:
        return redirect(url_return or "/", "Pas d'identifiant de transaction spécifié")
    for raw in ids:
        try:
            await _post(request, php_int(raw))
        except S2lowKO:
            continue
    return redirect(url_return)


# -- actes_transac_cancel.php --------------------------------------------------------------------


@s2low_handler
async def cancel(request: web.Request) -> web.Response:
    """Cancel an acknowledged act: `OK\\n<id of the 6-1 transaction>`."""
    form = await read_form(request)
    form.cleanup()
    raw = (form.value("id") or "").strip()
    if not raw:
        raise S2lowKO("Pas d'identifiant de transaction à annuler spécifié.")
    row = await owned(request, php_int(raw), invalid="Erreur d'initialisation de la transaction.",
                      escaped=True)
    if row.type is not TransactionType.ACTE:
        raise S2lowKO("Ce type de transaction ne peut pas être annulé.")
    engine = engine_of(request)
    pending = await engine.store.list(TransactionFilter(related_transaction_id=row.id,
                                                        type=TransactionType.ANNULATION))
    if any(S.POSTE <= t.status < S.ACQUITTEMENT_RECU for t in pending.items):
        raise S2lowKO("Une demande d'annulation est déjà en cours pour cette transaction.")
    if row.status is not S.ACQUITTEMENT_RECU:
        raise S2lowKO("Impossible d'annuler une transaction qui n'est pas en état "
                      "« Acquittement reçu ».")
    outcome = await engine.cancel(request[IDENTITY], row.id)
    return ok(f"{outcome.transaction.id}\n")


# -- actes_transac_import.php / actes_transac_submit.php -----------------------------------------


@s2low_handler
async def import_archive(request: web.Request) -> web.Response:
    """A complete envelope archive (`enveloppe`): `OK\\n<count>\\n<id>…`. RGS required."""
    form = await read_form(request)
    try:
        archive = form.file("enveloppe")
        if archive is None or not archive.size:
            raise S2lowKO("Pas de fichier archive spécifié.")
        state = connexion(request)
        if not state.rgs:
            raise S2lowKO(RGS_REQUIRED.format(state.reason))
        if not re.match(r"^[A-Za-z]{3}-[A-Za-z]{4}-", archive.filename):
            raise S2lowKO(f"L'archive n'a pas un nom valide : {archive.filename}")
        try:
            outcome = await engine_of(request).submit_archive(
                request[IDENTITY], archive.filename, archive.path, headers=request.headers,
                operator_refuses=REFUSED_BY_S2LOW)
        except IntakeRefused as refused:
            if refused.kind is Kind.UNAVAILABLE:  # a scenario's outage
                raise
            raise S2lowKO(f"Erreur d'importation de l'enveloppe :\n{refused.message_fr}") from None
    finally:
        form.cleanup()
    show_scenario(request, outcome)
    return ok(f"1\n{outcome.transaction.id}\n")


# -- classification ------------------------------------------------------------------------------


async def _held_classification(request: web.Request, siren: str) -> bytes | None:
    """The last RetourClassification (7-2) the authority received, raw."""
    engine = engine_of(request)
    page = await engine.store.list(TransactionFilter(siren=siren, type=TransactionType.CLASSIFICATION,
                                                     status=S.ACQUITTEMENT_RECU), limit=500)
    for row in page.items:  # newest first
        message = await returned_message(engine, row, S.ACQUITTEMENT_RECU)
        if message is not None and message.code == "7-2":
            return await read_blob(engine, message.xml_sha256)
    return None


@s2low_handler
async def classification_request(request: web.Request) -> web.Response:
    """Ask the préfecture for the classification (7-1): `OK\\n<transaction id>`."""
    siren = authority(request[IDENTITY])
    held = await _held_classification(request, siren)
    date = None if held is None else Classification.from_xml(held).date
    outcome = await engine_of(request).request_classification(request[IDENTITY], siren, date)
    return ok(str(outcome.transaction.id))


@s2low_handler
async def classification_fetch(request: web.Request) -> web.Response:
    """The last classification received (7-2), raw and followed by `\\r\\n`, as
    `ActesClassification::pushXMLData` sends it; `KO` until the authority received one (ask
    with the request route first)."""
    siren = authority(request[IDENTITY])
    xml = await _held_classification(request, siren)
    if xml is None:
        raise S2lowKO("Erreur de récupération de la dernière classification.")
    return web.Response(body=xml + b"\r\n", content_type="text/xml", charset=CHARSET, headers={
        "Content-Disposition": 'attachment; filename="classification.xml"'})


# -- actes_transac_get_document.php --------------------------------------------------------------


@s2low_handler
async def get_document(request: web.Request) -> web.StreamResponse:
    """For an act: `<type>-<status>-<id>` per related message; else its envelope (redirect)."""
    engine = engine_of(request)
    row = await requested(request, "id")
    if row.type is not TransactionType.ACTE:
        raise web.HTTPFound(f"actes_download_file.php?env={row.id}")
    lines = []
    related = await engine.store.list(TransactionFilter(related_transaction_id=row.id), limit=500)
    for message in reversed(related.items):  # oldest first, as S²LOW's query returns them
        replies = await engine.store.list(TransactionFilter(related_transaction_id=message.id),
                                          limit=500)
        answers = [r for r in replies.items if r.type is not TransactionType.ANNULATION]
        shown = answers[0] if answers else message
        lines.append(f"{int(message.type)}-{int(shown.status)}-{shown.id}\n")
    return text("".join(lines))


__all__ = ["cancel", "classification_fetch", "classification_request", "create", "get_aracte",
           "get_document",
           "get_status", "import_archive", "post_confirm", "post_confirm_multi"]

