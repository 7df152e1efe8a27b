"""The collectivité's side of the préfecture's letters under /api/v1/courriers (mutual TLS).

List the letters (2-1, 3-1, 4-1, 5-1) sent to the agent's collectivités, download a letter's
PDF, and answer it (2-2; 3-3 / 3-4; 4-3 / 4-4). Handlers only translate HTTP ⇄ `Prefecture`;
authorisation comes first, before any body is read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine.prefecture import ANSWERS, Prefecture, letter_code
from ..engine.scenarios import damaged
from ..errors import Kind
from ..pki.identity import authorize
from ..protocol.codes import Sender
from ..store.interface import TransactionRow
from .downloads import content_disposition, sound_file
from .forms import Field, Limits, read_form
from .http import BadRequest, path_id, transaction_json
from .keys import ENGINE, IDENTITY, MAX_ARCHIVE_BYTES, PREFECTURE

MAX_CODE_BYTES = 16


async def letter_json(prefecture: Prefecture, row: TransactionRow) -> dict[str, Any]:
    """A letter as both APIs show it: the transaction, its code and text, how it may be
    answered, whether it was, and when it was read."""
    code = letter_code(row)
    answer = await prefecture.answer_of(row.id)
    read_at = await prefecture.engine.store.read_at(row.id)
    return {"transaction": transaction_json(row), "code": code, "text": row.objet,
            "acte_transaction_id": row.related_transaction_id,
            "answers": list(ANSWERS[code]) if code else [],
            "answer": None if answer is None else transaction_json(answer),
            "read_at": None if read_at is None else read_at.isoformat()}


async def list_courriers(request: web.Request) -> web.Response:
    """Letters to the agent's collectivités (or to `siren`), newest first; `pending=1`: those
    still awaiting an answer; `unread=1`: never marked as read."""
    identity = request[IDENTITY]
    siren = request.query.get("siren")
    if siren is not None:
        authorize(identity, siren, "read")
    flags = {}
    for key in ("pending", "unread"):
        raw = request.query.get(key, "0")
        if raw not in ("0", "1", "true", "false"):
            raise BadRequest("BAD_PARAMETER", f"{key} vaut 0 ou 1", f"{key} is 0 or 1",
                             field=key)
        flags[key] = raw in ("1", "true")
    prefecture = request.app[PREFECTURE]
    rows = await prefecture.letters([siren] if siren else identity.sirens,
                                    pending_only=flags["pending"], unread_only=flags["unread"])
    items = [await letter_json(prefecture, row) for row in rows]
    return web.json_response({"total": len(items), "items": items})


async def get_document(request: web.Request) -> web.StreamResponse:
    """The letter's PDF: the préfecture's, so damaged when a scenario says `corrupt_return`."""
    prefecture = request.app[PREFECTURE]
    letter = await prefecture.get_letter(path_id(request), request[IDENTITY])
    document = await prefecture.letter_document(letter.id)
    blobs = prefecture.engine.sqlite.blobs
    broken = await damaged(prefecture.engine.scenarios, letter, Sender.PREF,
                           lambda: blobs.read(document.sha256))
    if broken is not None:
        return web.Response(body=broken, headers={
            "Content-Type": document.mimetype,
            "Content-Disposition": content_disposition(document.file_name)})
    return await sound_file(blobs, document.sha256, filename=document.file_name,
                            mimetype=document.mimetype)


async def _answer_form(request: web.Request) -> tuple[str, list[tuple[str, bytes]]]:
    """`code` and the `documents` file parts, read under the upload size limit."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("UNSUPPORTED_MEDIA_TYPE",
                         f"type {request.content_type} non accepté (multipart/form-data)",
                         f"content type {request.content_type} not accepted (multipart/form-data)")
    form = await read_form(request, Limits(total=request.app[MAX_ARCHIVE_BYTES],
                                           field=request.app[MAX_ARCHIVE_BYTES]))
    try:
        for name in form.fields.keys() | form.files.keys():
            if name not in ("code", "documents"):
                raise BadRequest("FIELD_UNKNOWN", "champ inconnu (code, documents)",
                                 "unknown field (code, documents)", field=name, kind=Kind.INVALID)
        coded = form.files.get("code", [])
        codes = form.fields.get("code", []) + [
            Field(u.read() if u.size <= MAX_CODE_BYTES else b"?" * (MAX_CODE_BYTES + 1))
            for u in coded]
        if len(codes) > 1 or any(len(c.raw) > MAX_CODE_BYTES for c in codes):
            raise BadRequest("FIELD_INVALID", "code : un seul code, comme 3-4",
                             "code: one code, like 3-4", field="code", kind=Kind.INVALID)
        code = codes[0].raw.decode("ascii", "replace").strip() if codes else None
        # Documents in posted order, whether sent as files or (without a file name) as fields.
        documents = [(u.filename or "document", u.read()) for u in form.files.get("documents", [])]
        documents += [("document", f.raw) for f in form.fields.get("documents", [])]
    finally:
        form.cleanup()
    if not code:
        raise BadRequest("FIELD_REQUIRED", "code : champ obligatoire (2-2, 3-3, 3-4, 4-3, 4-4)",
                         "code: required field (2-2, 3-3, 3-4, 4-3, 4-4)", field="code", kind=Kind.INVALID)
    return code, documents


async def post_reponse(request: web.Request) -> web.Response:
    """Answer a letter: multipart `code` + one `documents` file (several for 3-4)."""
    prefecture = request.app[PREFECTURE]
    identity = request[IDENTITY]
    letter = await prefecture.get_letter(path_id(request), identity, role="answer")
    code, documents = await _answer_form(request)
    outcome = await prefecture.answer(identity, letter.id, code, documents=documents)
    return web.json_response({"transaction": transaction_json(outcome.transaction),
                              "outcome": outcome.code, "id_acte": outcome.id_acte}, status=201)


def add_routes(app: web.Application, prefecture: Prefecture | None = None) -> None:
    """The /api/v1/courriers routes, over `prefecture` (by default one over the app's engine)."""
    app[PREFECTURE] = prefecture or Prefecture(app[ENGINE])
    r = app.router
    r.add_get("/api/v1/courriers", list_courriers)
    r.add_get("/api/v1/courriers/{id}/document", get_document)
    r.add_post("/api/v1/courriers/{id}/reponse", post_reponse)
