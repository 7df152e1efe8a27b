"""The REST API under /api/v1: handlers translate HTTP ⇄ engine calls, nothing more.

Every error is JSON in one shape (`code`, `message_fr`, `message_en`, …) with a 4xx status;
an unexpected fault is a 500 without a traceback. Uploads are streamed to disk under a size
limit, never read whole into memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ..engine.intake import Engine, IntakeRefused
from ..pki.identity import authorize
from ..protocol.codes import TransactionStatus, TransactionType
from ..store import NotFound, TransactionFilter
from ..store.interface import TransactionRow
from .auth import IDENTITY, refusal

ENGINE = web.AppKey("engine", Engine)
UPLOAD_DIR = web.AppKey("upload_dir", Path)
MAX_ARCHIVE_BYTES = web.AppKey("max_archive_bytes", int)
ARCHIVE_TYPES = {"application/gzip", "application/x-gzip", "application/octet-stream",
                 "application/x-tar+gzip", "application/x-compressed-tar"}
log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    def __init__(self, status: int, code: str, fr: str, en: str) -> None:
        super().__init__(en)
        self.status, self.code, self.fr, self.en = status, code, fr, en


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every failure becomes the one JSON error shape."""
    try:
        return await handler(request)
    except IntakeRefused as exc:
        response = refusal(exc.status, exc.code, exc.message_fr, exc.message_en)
        if exc.report is not None:
            body = exc.report.to_dict()
            response = web.json_response(
                {"code": exc.code, "message_fr": exc.message_fr, "message_en": exc.message_en,
                 "findings": body["findings"]}, status=exc.status)
        return response
    except BadRequest as exc:
        return refusal(exc.status, exc.code, exc.fr, exc.en)
    except NotFound:
        return refusal(404, "NOT_FOUND", "introuvable", "not found")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refusal(exc.status, f"HTTP_{exc.status}", exc.reason, exc.reason)
    except Exception:
        log.exception("unexpected failure on %s %s", request.method, request.path)
        return refusal(500, "INTERNAL", "erreur interne du simulateur",
                       "internal simulator error")


def transaction_json(row: TransactionRow) -> dict:
    return {
        "id": row.id, "type": int(row.type), "type_label": row.type.libelle,
        "status": int(row.status), "status_label": row.status.libelle, "siren": row.siren,
        "id_acte": row.id_acte, "numero_interne": row.numero_interne,
        "nature": row.nature.abrege if row.nature else None, "matiere": row.matiere,
        "objet": row.objet,
        "decision_date": row.decision_date.isoformat() if row.decision_date else None,
        "archive_name": row.archive_name, "related_transaction_id": row.related_transaction_id,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }


async def _stream_upload(request: web.Request) -> tuple[str, Path]:
    """The archive's name and a temporary copy of its bytes, under the size limit."""
    limit = request.app[MAX_ARCHIVE_BYTES]
    name: str | None
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and not getattr(part, "filename", None):
            part = await reader.next()
        if part is None:
            raise BadRequest(400, "ARCHIVE_MISSING", "aucun fichier d'archive dans le formulaire",
                             "no archive file in the form")
        name, source = part.filename, part
    else:
        if request.content_type not in ARCHIVE_TYPES:
            raise BadRequest(415, "UNSUPPORTED_MEDIA_TYPE",
                             f"type {request.content_type} non accepté (application/gzip)",
                             f"content type {request.content_type} not accepted (application/gzip)")
        name = request.query.get("name") or request.headers.get("X-Archive-Name")
        source = request.content
        if not name:
            raise BadRequest(400, "ARCHIVE_NAME_MISSING",
                             "nom de l'archive absent (paramètre name ou en-tête X-Archive-Name)",
                             "archive name missing (name parameter or X-Archive-Name header)")
    handle = tempfile.NamedTemporaryFile(dir=request.app[UPLOAD_DIR], delete=False,  # noqa: SIM115
                                         suffix=".tar.gz")
    path = Path(handle.name)
    size = 0
    try:
        with handle:
            while chunk := await (source.read_chunk() if hasattr(source, "read_chunk")
                                  else source.read(1 << 16)):
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, "ARCHIVE_TOO_LARGE",
                                     f"archive de plus de {limit} octets",
                                     f"archive larger than {limit} bytes")
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name or "archive.tar.gz", path


async def post_archive(request: web.Request) -> web.Response:
    """Platform door: a ready @ctes envelope archive."""
    name, path = await _stream_upload(request)
    try:
        outcome = await request.app[ENGINE].submit_archive(request[IDENTITY], Path(name).name, path)
    finally:
        path.unlink(missing_ok=True)
    body = {"transaction": transaction_json(outcome.transaction), "outcome": outcome.code,
            "id_acte": outcome.id_acte,
            "anomalie": None if outcome.anomalie is None else
            {"nature": outcome.anomalie[0], "detail": outcome.anomalie[1]},
            "warnings": [f.to_dict() for f in outcome.report.warnings] if outcome.report else []}
    return web.json_response(body, status=201)


async def _owned(request: web.Request, role: str = "read") -> TransactionRow:
    try:
        transaction_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound() from None
    row = await request.app[ENGINE].store.get(transaction_id)
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


def _int(request: web.Request, key: str, default: int | None = None) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(400, "BAD_PARAMETER", f"{key} doit être un entier",
                         f"{key} must be an integer") from None


def _date(request: web.Request, key: str) -> dt.datetime | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
    except ValueError:
        raise BadRequest(400, "BAD_PARAMETER", f"{key} doit être une date AAAA-MM-JJ",
                         f"{key} must be a YYYY-MM-DD date") from None


async def list_transactions(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    siren = request.query.get("siren")
    if siren is not None:
        authorize(identity, siren, "read")
    status, type_ = _int(request, "status"), _int(request, "type")
    try:
        filters = TransactionFilter(
            siren=siren, sirens=frozenset(identity.sirens),
            status=None if status is None else TransactionStatus(status),
            type=None if type_ is None else TransactionType(type_),
            created_from=_date(request, "from"), created_to=_date(request, "to"))
    except ValueError as exc:
        raise BadRequest(400, "BAD_PARAMETER", str(exc), str(exc)) from None
    limit = min(max(_int(request, "limit", 50) or 50, 1), 500)
    offset = max(_int(request, "offset", 0) or 0, 0)
    page = await request.app[ENGINE].store.list(filters, limit=limit, offset=offset)
    return web.json_response({"total": page.total, "limit": page.limit, "offset": page.offset,
                              "items": [transaction_json(r) for r in page.items]})


_KINDS = {"xml": ("xml_sha256", "application/xml"),
          "signature": ("signature_sha256", "application/pkcs7-signature"),
          "timestamp": ("timestamp_token_sha256", "application/timestamp-token")}


async def get_message(request: web.Request) -> web.StreamResponse:
    """A stored message (XML), its detached CMS signature, or the RFC 3161 token beside it."""
    row = await _owned(request)
    engine = request.app[ENGINE]
    wanted = request.match_info["message"]
    kind = request.match_info.get("kind", "xml")
    for message in await engine.store.messages(row.id):
        if str(message.id) == wanted or message.code == wanted:
            field, mimetype = _KINDS[kind]
            sha = getattr(message, field)
            if sha is None:
                break
            suffix = {"xml": "", "signature": ".p7s", "timestamp": ".tst"}[kind]
            return web.FileResponse(engine.sqlite.blobs.path(sha), headers={
                "Content-Type": mimetype,
                "Content-Disposition": f'attachment; filename="{message.file_name}{suffix}"'})
    raise NotFound()


async def get_archive(request: web.Request) -> web.StreamResponse:
    row = await _owned(request)
    if row.archive_sha256 is None:
        raise NotFound()
    return web.FileResponse(request.app[ENGINE].sqlite.blobs.path(row.archive_sha256), headers={
        "Content-Type": "application/gzip",
        "Content-Disposition": f'attachment; filename="{row.archive_name}"'})


async def post_annulation(request: web.Request) -> web.Response:
    row = await _owned(request, "cancel")
    outcome = await request.app[ENGINE].cancel(request[IDENTITY], row.id)
    return web.json_response({"transaction": transaction_json(outcome.transaction),
                              "outcome": outcome.code, "id_acte": outcome.id_acte}, status=201)


async def post_classification(request: web.Request) -> web.Response:
    data = await request.post() if request.content_type != "application/json" \
        else await request.json()
    siren = str(data.get("siren", ""))
    held = data.get("date_classification")
    try:
        held_date = dt.date.fromisoformat(str(held)) if held else None
    except ValueError:
        raise BadRequest(400, "BAD_PARAMETER", "date_classification doit être AAAA-MM-JJ",
                         "date_classification must be YYYY-MM-DD") from None
    outcome = await request.app[ENGINE].request_classification(request[IDENTITY], siren,
                                                                held_date)
    return web.json_response({"transaction": transaction_json(outcome.transaction),
                              "outcome": outcome.code}, status=201)


async def get_classification(request: web.Request) -> web.Response:
    """The classification in force, as a raw RetourClassification (like S²LOW's fetch)."""
    xml = request.app[ENGINE].classification().to_xml()
    return web.Response(body=xml, content_type="application/xml", charset="iso-8859-1")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/archives", post_archive)
    r.add_get("/api/v1/transactions", list_transactions)
    r.add_get("/api/v1/transactions/{id}", get_transaction)
    r.add_get("/api/v1/transactions/{id}/archive", get_archive)
    r.add_get("/api/v1/transactions/{id}/messages/{message}", get_message)
    r.add_get("/api/v1/transactions/{id}/messages/{message}/{kind:signature|timestamp}",
              get_message)
    r.add_post("/api/v1/transactions/{id}/annulation", post_annulation)
    r.add_post("/api/v1/classification", post_classification)
    r.add_get("/api/v1/classification", get_classification)
