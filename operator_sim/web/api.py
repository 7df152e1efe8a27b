"""The REST API under /api/v1: handlers translate HTTP ⇄ engine calls, nothing more.

Every error is JSON in one shape (`code`, `message_fr`, `message_en`, …) with a 4xx status
(`http.json_errors`); an unexpected fault is a 500 without a traceback. Uploads are read under a
size limit: a small archive body into memory, anything larger streamed to disk, never whole.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from ..engine.intake import Engine, Outcome, only_siren
from ..engine.scenarios import archive_sender, damaged
from ..errors import Kind
from ..pki.identity import authorize
from ..protocol.codes import COLLECTIVITE_NATURES, NatureActe, TransactionStatus, TransactionType
from ..protocol.envelope import (
    PIECE_FORMATS,
    ActeRequest,
    Collectivite,
    Piece,
    format_of,
    parse_codes_matiere,
)
from ..protocol.names import ascii_digits
from ..store import NotFound, TransactionFilter
from ..store.interface import TransactionRow
from .downloads import MESSAGE_FILES, content_disposition, sound_file
from .forms import Limits, read_form
from .http import (
    BadRequest,
    openapi_document,
    outcome_json,
    path_id,
    query_int,
    reading_body,
    show_scenario,
    spool,
    transaction_json,
)
from .keys import ENGINE, IDENTITY, MAX_ARCHIVE_BYTES

MAX_NAME_BYTES = 255
ARCHIVE_TYPES = {"application/gzip", "application/x-gzip", "application/octet-stream",
                 "application/x-tar+gzip", "application/x-compressed-tar"}


def _archive_name(raw: str) -> str:
    """The uploaded archive's file name: its last path segment (a client's folders are none of
    our business), printable and at most 255 bytes, since it is stored and sent back."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.strip(".") or not name.isprintable() \
            or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BadRequest("ARCHIVE_NAME_INVALID",
                         "nom d'archive inutilisable (vide, caractères de contrôle ou plus de "
                         f"{MAX_NAME_BYTES} octets)",
                         f"unusable archive name (empty, control characters or over "
                         f"{MAX_NAME_BYTES} bytes)", field="name")
    return name


async def _archive_form(request: web.Request) -> tuple[str, Path]:
    """The archive posted as a form's one file part (its posted name, its spooled copy)."""
    form = await read_form(request, Limits(total=request.app[MAX_ARCHIVE_BYTES],
                                           field=MAX_FIELD_BYTES))
    uploads = list(form.uploads())
    try:
        if not uploads:
            raise BadRequest("ARCHIVE_MISSING", "aucun fichier d'archive dans le formulaire",
                             "no archive file in the form")
        if len(uploads) > 1 or form.fields:
            extra = next(iter(form.fields), None) or "(second fichier)"
            raise BadRequest("FIELD_UNKNOWN",
                             f"{extra} : un seul fichier attendu, l'archive, et rien d'autre",
                             f"{extra}: one file expected, the archive, and nothing else",
                             field=next(iter(form.fields), None), kind=Kind.INVALID)
        return _archive_name(uploads[0].filename), uploads[0].path
    except BaseException:
        form.cleanup()
        raise


async def _stream_upload(request: web.Request) -> tuple[str, Path | bytes]:
    """The archive's name and its bytes under the size limit: in memory when small (a raw
    body of at most `SPOOL_IN_MEMORY` bytes), else a temporary copy (a form's file always)."""
    if request.content_type.startswith("multipart/"):
        return await _archive_form(request)
    if request.content_type not in ARCHIVE_TYPES:
        raise BadRequest("UNSUPPORTED_MEDIA_TYPE",
                         f"type {request.content_type} non accepté (application/gzip)",
                         f"content type {request.content_type} not accepted (application/gzip)")
    name = request.query.get("name") or request.headers.get("X-Archive-Name")
    if not name:
        raise BadRequest("ARCHIVE_NAME_MISSING",
                         "nom de l'archive absent (paramètre name ou en-tête X-Archive-Name)",
                         "archive name missing (name parameter or X-Archive-Name header)")
    name = _archive_name(name)
    async with reading_body(request) as received:
        archive, _ = await spool(request, request.content, suffix=".tar.gz",
                                 limit=request.app[MAX_ARCHIVE_BYTES], received=received,
                                 in_memory=True)
    return name, archive


async def post_archive(request: web.Request) -> web.Response:
    """Platform door: a ready @ctes envelope archive."""
    name, archive = await _stream_upload(request)
    try:
        outcome = await request.app[ENGINE].submit_archive(request[IDENTITY], name, archive,
                                                           headers=request.headers, owned=True)
    finally:
        if isinstance(archive, Path):
            archive.unlink(missing_ok=True)  # still there when refused: nothing was stored
    return _submitted_response(request, outcome)


# -- operator door: the act's fields and files; the engine builds and signs the archive ---------

ACTE_FIELDS = frozenset({"siren", "departement", "arrondissement", "nature_collectivite", "date",
                         "numero_interne", "nature", "matiere", "objet", "classification_date",
                         "typologie_acte", "typologie_annexe"})
ACTE_FILES = frozenset({"acte", "annexes"})
MAX_FIELD_BYTES = 4096


def _field_error(name: str, fr: str, en: str, *, code: str = "FIELD_INVALID") -> BadRequest:
    return BadRequest(code, f"{name} : {fr}", f"{name}: {en}", field=name, kind=Kind.INVALID)


async def _read_form(request: web.Request,
                     ) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, Path]]]]:
    """Text fields (repeatable) and files spooled to disk, the total under the size limit."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("UNSUPPORTED_MEDIA_TYPE",
                         f"type {request.content_type} non accepté (multipart/form-data)",
                         f"content type {request.content_type} not accepted (multipart/form-data)")
    try:
        form = await read_form(request, Limits(total=request.app[MAX_ARCHIVE_BYTES],
                                               field=MAX_FIELD_BYTES))
    except BadRequest as error:
        if error.code == "FIELD_TOO_LONG" and error.field:
            raise _field_error(error.field, f"plus de {MAX_FIELD_BYTES} octets",
                               f"longer than {MAX_FIELD_BYTES} bytes") from None
        raise
    files = {name: [(upload.filename, upload.path) for upload in uploads]
             for name, uploads in form.files.items()}
    try:
        fields: dict[str, list[str]] = {}
        for name in form.fields.keys() | form.files.keys():
            if name not in ACTE_FIELDS | ACTE_FILES:
                raise _field_error(name, "champ inconnu", "unknown field", code="FIELD_UNKNOWN")
        for name in ACTE_FILES & form.fields.keys():
            raise _field_error(name, "'' n'est ni PDF, XML, PNG ni JPEG",
                               "'' is not a PDF, XML, PNG or JPEG file")
        for name, uploads in form.files.items():
            if name in ACTE_FIELDS:
                raise _field_error(name, "un texte est attendu, pas un fichier",
                                   "text expected, not a file")
            for upload in uploads:
                if format_of(upload.filename) not in PIECE_FORMATS:
                    raise _field_error(name, f"{upload.filename!r} n'est ni PDF, XML, PNG ni JPEG",
                                       f"{upload.filename!r} is not a PDF, XML, PNG or JPEG file")
        for name, values in form.fields.items():
            for value in values:
                try:
                    text = value.raw.decode(value.charset or "utf-8")
                except (UnicodeDecodeError, LookupError):
                    raise _field_error(name, "texte illisible (UTF-8 attendu)",
                                       "unreadable text (UTF-8 expected)") from None
                fields.setdefault(name, []).append(text.strip())
    except BaseException:
        form.cleanup()
        raise
    return fields, files


def _acte_request(fields: dict[str, list[str]], files: dict[str, list[tuple[str, Path]]],
                  default_classification: dt.date) -> ActeRequest:
    """The ActeRequest the form describes; each refusal names its field."""
    def one(name: str, *, required: bool = True) -> str | None:
        values = [v for v in fields.get(name, []) if v]
        if len(values) > 1:
            raise _field_error(name, "donné plusieurs fois", "given more than once")
        if not values and required:
            raise _field_error(name, "champ obligatoire", "required field", code="FIELD_REQUIRED")
        return values[0] if values else None

    def date(name: str, default: dt.date | None = None) -> dt.date:
        raw = one(name, required=default is None)
        try:
            return dt.date.fromisoformat(raw) if raw else default  # type: ignore[return-value]
        except ValueError:
            raise _field_error(name, f"{raw!r} n'est pas une date AAAA-MM-JJ",
                               f"{raw!r} is not a YYYY-MM-DD date") from None

    nature_text = one("nature")
    try:
        nature = NatureActe.from_abrege(str(nature_text).upper())
    except ValueError:
        raise _field_error("nature", f"{nature_text!r} n'est pas DE, AR, AI, CC, BF ou AU",
                           f"{nature_text!r} is not DE, AR, AI, CC, BF or AU") from None
    try:
        codes = parse_codes_matiere(str(one("matiere")))
    except ValueError as exc:
        raise _field_error("matiere", "pas une matière comme 5.2 ou 7.1.1", str(exc)) from None
    actes, annexes = files.get("acte", []), files.get("annexes", [])
    if not actes:
        raise _field_error("acte", "fichier de l'acte absent", "the act's file is missing",
                           code="FIELD_REQUIRED")
    pieces = []
    for key, uploaded in (("typologie_acte", actes), ("typologie_annexe", annexes)):
        typologies = fields.get(key, [])
        if len(typologies) > len(uploaded):
            raise _field_error(key, "plus de typologies que de fichiers",
                               "more typologies than files")
        pieces.append([Piece(path.read_bytes(), format_of(name),
                             typologies[i] if i < len(typologies) and typologies[i] else None,
                             posted_name=name)
                       for i, (name, path) in enumerate(uploaded)])
    document_pieces, annex_pieces = pieces
    if len(document_pieces) == 2 and {p.format for p in document_pieces} == {"pdf", "xml"}:
        # A budget: the XML document is the act, its PDF délibération the first annex.
        document_pieces.sort(key=lambda p: p.format != "xml")
        annex_pieces.insert(0, document_pieces.pop())
    if len(document_pieces) != 1:
        raise _field_error("acte", "un seul fichier (ou XML + PDF pour un budget)",
                           "one file (or XML + PDF for a budget)")
    return ActeRequest(date=date("date"), numero_interne=str(one("numero_interne")),
                       nature=nature, codes_matiere=codes, objet=str(one("objet")),
                       classification_date_version=date("classification_date",
                                                        default_classification),
                       document=document_pieces[0], annexes=tuple(annex_pieces))


async def _collectivite(engine: Engine, request: web.Request,
                        fields: dict[str, list[str]]) -> Collectivite:
    """Who transmits: described by the form, or the collectivité the platform already knows."""
    identity = request[IDENTITY]
    siren = (fields.get("siren") or [""])[0] or None
    departement = (fields.get("departement") or [""])[0]
    if not departement:
        return await engine.known_collectivite(identity, siren)
    siren = siren or only_siren(identity)
    authorize(identity, siren, "submit")
    # What the form leaves out is what the platform knows, or a commune's defaults.
    known = await engine.store.call(lambda store: store.get_collectivite(siren))
    arrondissement = (fields.get("arrondissement") or [""])[0] or (
        known.arrondissement if known else "1")
    if not (ascii_digits(arrondissement) and len(arrondissement) == 1):
        raise _field_error("arrondissement", "un chiffre de 0 à 9", "one digit, 0 to 9")
    nature = (fields.get("nature_collectivite") or [""])[0] or (known.nature if known else "31")
    if nature not in COLLECTIVITE_NATURES:
        raise _field_error("nature_collectivite", f"{nature!r} n'est pas une nature connue",
                           f"{nature!r} is not a known nature (e.g. 31 = commune)")
    return Collectivite(siren=siren, departement=departement.upper(),
                        arrondissement=int(arrondissement), nature=nature)


async def post_acte(request: web.Request) -> web.Response:
    """Operator door: fields and files; the engine builds, signs and takes the archive."""
    engine = request.app[ENGINE]
    fields, files = await _read_form(request)
    try:
        collectivite = await _collectivite(engine, request, fields)
        # Reading the spooled files may take a while: off the event loop.
        acte = await asyncio.to_thread(_acte_request, fields, files, engine.classification().date)
    finally:
        for spooled in files.values():
            for _, path in spooled:
                path.unlink(missing_ok=True)
    outcome = await engine.submit_acte(request[IDENTITY], acte, collectivite, headers=request.headers)
    return _submitted_response(request, outcome)


def _submitted_response(request: web.Request, outcome: Outcome) -> web.Response:
    """201 with the outcome, and the scenario's faults to show."""
    show_scenario(request, outcome)
    return web.json_response(_submitted(outcome), status=201)


def _submitted(outcome: Outcome) -> dict[str, Any]:
    return {**outcome_json(outcome),
            "warnings": [f.to_dict() for f in outcome.report.warnings] if outcome.report else []}


async def _owned(request: web.Request, role: str = "read") -> TransactionRow:
    row = await request.app[ENGINE].store.get(path_id(request))
    authorize(request[IDENTITY], row.siren, role)
    return row


async def get_transaction(request: web.Request) -> web.Response:
    row = await _owned(request)
    store = request.app[ENGINE].store
    journal = await store.journal(row.id)
    messages = await store.messages(row.id)
    return web.json_response({
        "transaction": transaction_json(row),
        "history": [{"at": e.at.isoformat(), "from": None if e.from_status is None
                     else int(e.from_status), "to": int(e.to_status), "actor": e.actor,
                     "message": e.message} for e in journal],
        "messages": [{"id": m.id, "code": m.code, "direction": m.direction.name,
                      "file_name": m.file_name, "signed": m.signature_sha256 is not None,
                      "timestamped": m.timestamp_token_sha256 is not None} for m in messages],
    })


def _date(request: web.Request, key: str) -> dt.datetime | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
    except ValueError:
        raise BadRequest("BAD_PARAMETER", f"{key} doit être une date AAAA-MM-JJ",
                         f"{key} must be a YYYY-MM-DD date") from None


async def list_transactions(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    siren = request.query.get("siren")
    if siren is not None:
        authorize(identity, siren, "read")
    status, type_ = query_int(request, "status"), query_int(request, "type")
    for key, value, known in (("status", status, TransactionStatus), ("type", type_, TransactionType)):
        if value is not None and value not in {int(member) for member in known}:
            raise BadRequest("BAD_PARAMETER", f"{key} : valeur {value} inconnue",
                             f"{key}: unknown value {value}", field=key)
    filters = TransactionFilter(
        siren=siren, sirens=frozenset(identity.sirens),
        status=None if status is None else TransactionStatus(status),
        type=None if type_ is None else TransactionType(type_),
        created_from=_date(request, "from"), created_to=_date(request, "to"))
    limit = min(max(query_int(request, "limit", 50) or 50, 1), 500)
    offset = max(query_int(request, "offset", 0) or 0, 0)
    page = await request.app[ENGINE].store.list(filters, limit=limit, offset=offset)
    return web.json_response({"total": page.total, "limit": page.limit, "offset": page.offset,
                              "items": [transaction_json(r) for r in page.items]})


async def get_message(request: web.Request) -> web.StreamResponse:
    """A stored message (XML), its detached CMS signature, or the RFC 3161 token beside it."""
    row = await _owned(request)
    engine = request.app[ENGINE]
    wanted = request.match_info["message"]
    kind = request.match_info.get("kind", "xml")
    for message in await engine.store.messages(row.id):
        if str(message.id) == wanted or message.code == wanted:
            field, mimetype, suffix = MESSAGE_FILES[kind]
            sha = getattr(message, field)
            if sha is None:
                break
            name = message.file_name + suffix
            if kind == "xml":  # the message itself, maybe damaged by a scenario (not its proofs)
                broken = await damaged(engine.scenarios, row, message.direction,
                                       functools.partial(engine.sqlite.blobs.read, sha))
                if broken is not None:
                    return web.Response(body=broken, headers={
                        "Content-Type": mimetype, "Content-Disposition": content_disposition(name)})
            return await sound_file(engine.sqlite.blobs, sha, filename=name, mimetype=mimetype)
    raise NotFound()


async def get_archive(request: web.Request) -> web.StreamResponse:
    """The archive sent (an act's), or the préfecture's return archive (a letter's)."""
    row = await _owned(request)
    sha = row.archive_sha256
    if sha is None:
        raise NotFound()
    blobs = request.app[ENGINE].sqlite.blobs
    name = row.archive_name or "archive.tar.gz"
    broken = await damaged(request.app[ENGINE].scenarios, row, archive_sender(row),
                           lambda: blobs.read(sha))
    if broken is not None:
        return web.Response(body=broken, headers={"Content-Type": "application/gzip",
                                                  "Content-Disposition": content_disposition(name)})
    return await sound_file(blobs, sha, filename=name, mimetype="application/gzip")


async def post_annulation(request: web.Request) -> web.Response:
    row = await _owned(request, "cancel")
    outcome = await request.app[ENGINE].cancel(request[IDENTITY], row.id)
    return web.json_response({"transaction": transaction_json(outcome.transaction),
                              "outcome": outcome.code, "id_acte": outcome.id_acte}, status=201)


async def post_classification(request: web.Request) -> web.Response:
    data: Any
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_form(request, Limits(total=MAX_FIELD_BYTES, field=MAX_FIELD_BYTES))
        form.cleanup()  # no file belongs to this form: only its fields are read
        data = {name: values[-1].text() for name, values in form.fields.items()}
    elif request.content_type == "application/json":
        async with reading_body(request):
            data = await request.read()
    else:
        data = {}  # another media type carries no field (as aiohttp's `post()` reads it)
    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):  # JSON syntax, not UTF-8, or nested beyond the parser
            data = None
    if not isinstance(data, Mapping):
        raise BadRequest("JSON_INVALID", "corps illisible : objet JSON ou formulaire attendu",
                         "unreadable body: a JSON object or a form is expected")
    siren = data.get("siren", "")
    if not isinstance(siren, str):
        raise BadRequest("FIELD_INVALID", "siren : texte attendu", "siren: text expected",
                         field="siren", kind=Kind.INVALID)
    held = data.get("date_classification")
    try:
        held_date = dt.date.fromisoformat(str(held)) if held else None
    except ValueError:
        raise BadRequest("BAD_PARAMETER", "date_classification doit être AAAA-MM-JJ",
                         "date_classification must be YYYY-MM-DD") from None
    outcome = await request.app[ENGINE].request_classification(request[IDENTITY], siren,
                                                                held_date)
    return web.json_response({"transaction": transaction_json(outcome.transaction),
                              "outcome": outcome.code}, status=201)


async def get_classification(request: web.Request) -> web.Response:
    """The classification in force, as a raw RetourClassification (like S²LOW's fetch)."""
    xml = request.app[ENGINE].classification().to_xml()
    return web.Response(body=xml, content_type="application/xml", charset="iso-8859-1")


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/archives", post_archive)
    r.add_post("/api/v1/actes", post_acte)
    r.add_get("/api/v1/transactions", list_transactions)
    r.add_get("/api/v1/transactions/{id}", get_transaction)
    r.add_get("/api/v1/transactions/{id}/archive", get_archive)
    r.add_get("/api/v1/transactions/{id}/messages/{message}", get_message)
    r.add_get("/api/v1/transactions/{id}/messages/{message}/{kind:signature|timestamp}",
              get_message)
    r.add_post("/api/v1/transactions/{id}/annulation", post_annulation)
    r.add_post("/api/v1/classification", post_classification)
    r.add_get("/api/v1/classification", get_classification)
    r.add_get("/api/v1/openapi.json", get_openapi)
