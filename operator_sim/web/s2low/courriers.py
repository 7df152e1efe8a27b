"""S²LOW's préfecture messages: unread letters, marking them read, and the answers.

Letters (2-1 courrier simple, 3-1 demande de pièces, 4-1 lettre d'observations, 5-1 déféré)
and the collectivité's answers are the engine's `Prefecture`; this module only speaks S²LOW's
parameters (`id`, `type_envoie` 3 = refus / 4 = envoi, `acte_pdf_file` with its `type_acte`,
`acte_attachments[]` with their `type_pj[]`) and bodies; the typologies prefix the names of the
files sent, as S²LOW's `getStdFileName` does.
"""

from __future__ import annotations

from aiohttp import web

from ...engine.intake import IntakeRefused
from ...errors import Kind
from ...protocol.codes import TransactionType
from ..keys import IDENTITY, S2LOW_PREFECTURE
from .actes import BAD_CODE_PJ, CODE_PJ
from .common import owned, php_int
from .form import read_form
from .replies import S2lowKO, authority, ok, s2low_handler, text

T = TransactionType


@s2low_handler
async def list_document_prefecture(request: web.Request) -> web.Response:
    """The authority's préfecture letters not yet marked read, oldest first."""
    siren = authority(request[IDENTITY])
    letters = await request.app[S2LOW_PREFECTURE].letters({siren}, unread_only=True)
    return web.json_response([
        {"id": row.id, "type": str(int(row.type)), "related_transaction_id": row.related_transaction_id,
         "number": row.numero_interne, "unique_id": row.id_acte, "last_status_id": int(row.status)}
        for row in sorted(letters, key=lambda r: r.id)])


@s2low_handler
async def mark_as_read(request: web.Request) -> web.Response:
    """`{"result":"ok"}` whatever the id: S²LOW's `UPDATE … WHERE id=? AND authority_id=?`
    marks the caller's own letter and silently leaves any other id alone."""
    transaction_id = php_int(request.query.get("transaction_id"))
    try:
        row = await owned(request, transaction_id)
    except S2lowKO:  # unknown, or another authority's: nothing to update
        return web.json_response({"result": "ok"})
    await request.app[S2LOW_PREFECTURE].mark_as_read(request[IDENTITY], row.id)
    return web.json_response({"result": "ok"})


def _answer_code(letter_type: TransactionType, type_envoie: str) -> str:
    if letter_type is T.COURRIER_SIMPLE:
        return "2-2"
    if letter_type in (T.PIECES_COMPLEMENTAIRES, T.LETTRE_OBSERVATIONS) \
            and type_envoie.strip() in ("3", "4"):
        return f"{int(letter_type)}-{type_envoie.strip()}"
    raise S2lowKO("Vous devez choisir un type de réponse")


@s2low_handler
async def reponse_create(request: web.Request) -> web.Response:
    """Answer a letter: `OK\\n<id>` (POST `api=1`), or `OK : id généré : <id>` (GET `api`)."""
    get_api = bool(request.query.get("api"))
    try:
        answer_id = await _answer(request)
    except S2lowKO as refused:
        if get_api:
            return text(f"KO : {refused.message}")
        raise
    if get_api:
        return text(f"OK : id généré : {answer_id}\n")
    return ok(f"{answer_id}\n")


async def _answer(request: web.Request) -> int:
    form = await read_form(request)
    try:
        if not (form.value("type_acte") or "").strip():
            raise S2lowKO("Erreur lors de la réception du fichier : typologie absente")
        main = form.file("acte_pdf_file")
        if main is None or not main.size:
            raise S2lowKO("Envoi de fichier illégal.")
        letter = await owned(request, php_int(form.value("id")))
        code = _answer_code(letter.type, form.value("type_envoie") or "")
        type_acte = (form.value("type_acte") or "").strip()
        if not CODE_PJ.match(type_acte):
            raise S2lowKO(f"Erreur de validation du fichier de l'acte :\n{BAD_CODE_PJ}\n")
        documents, typologies = [(main.filename, main.read())], [type_acte]
        if code == "3-4":
            type_pj = form.values("type_pj")
            pieces = [u for u in form.files.get("acte_attachments", []) if u.size]
            for i, piece in enumerate(pieces):
                typologie = type_pj[i].strip() if i < len(type_pj) else ""
                if not typologie:
                    raise S2lowKO(f"Erreur lors de la réception du fichier annexe "
                                  f"{piece.filename} : typologie absente")
                if not CODE_PJ.match(typologie):
                    raise S2lowKO("Erreur de validation d'un fichier de pièce jointe :\n"
                                  f"{BAD_CODE_PJ}\n")
                typologies.append(typologie)
            documents += [(u.filename, u.read()) for u in pieces]
        try:
            outcome = await request.app[S2LOW_PREFECTURE].answer(request[IDENTITY], letter.id, code,
                                                           documents=documents,
                                                           typologies=typologies)
        except IntakeRefused as refused:
            if refused.kind is Kind.UNAVAILABLE:  # a scenario's outage
                raise
            raise S2lowKO(refused.message_fr) from None
    finally:
        form.cleanup()
    return outcome.transaction.id


__all__ = ["list_document_prefecture", "mark_as_read", "reponse_create"]
