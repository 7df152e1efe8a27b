"""The préfecture's JSON API on the admin port (bearer token): what arrived, and its decisions.

`GET /admin/actes` lists the acts received, `GET /admin/transactions/{id}` shows any transaction
with its history, messages, documents and related transactions; POST routes acknowledge (1-2)
or reject (1-3) a held act and send letters (2-1, 3-1, 4-1, 5-1); `/admin/collectivites`
lists and registers (or corrects) the senders the platform knows. Handlers only translate
HTTP ⇄ `Prefecture` and the store; errors keep the API's one JSON shape. `GET
/admin/openapi.json` describes the whole admin port (`admin-openapi.json`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ..engine.conventions import (
    COLLECTIVITE_FIELDS,
    ConventionInvalid,
    convention_json,
    parse_collectivite,
    parse_convention,
    parse_day,
)
from ..engine.prefecture import Prefecture, letter_code
from ..errors import Kind
from ..protocol.codes import (
    AnomalieNature,
    NatureActe,
    TransactionStatus,
    TransactionType,
)
from ..protocol.names import SIREN, ascii_digits
from ..store import Collectivite, Convention, NotFound, SqliteStore, TransactionFilter
from ..store.interface import MAX_PAGE
from .courriers import letter_json
from .forms import Field, Limits, Upload, read_form
from .http import (
    BadRequest,
    json_object,
    openapi_document,
    outcome_json,
    path_id,
    query_int,
    simulator_of,
    transaction_json,
)

MAX_BODY = 20 * 1024 * 1024


def _prefecture(request: web.Request) -> Prefecture:
    return simulator_of(request).prefecture


def _bad(key: str, fr: str, en: str) -> BadRequest:
    return BadRequest("BAD_PARAMETER", f"{key} : {fr}", f"{key}: {en}", field=key)


def _query_int(request: web.Request, key: str, default: int) -> int:
    value = query_int(request, key)
    return default if value is None else value


def _query_day(request: web.Request, key: str) -> dt.datetime | None:
    raw = request.query.get(key)
    if not raw:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
    except ValueError:
        raise _bad(key, "date AAAA-MM-JJ attendue", "YYYY-MM-DD date expected") from None


async def list_actes(request: web.Request) -> web.Response:
    """Acts received, newest first: `siren`, `status`, `nature` (DE… or 1–6), `from`/`to`
    (days, UTC, `to` exclusive), `limit` (≤ 500), `offset`."""
    q = request.query
    status = nature = None
    if q.get("status"):
        try:
            status = TransactionStatus(_query_int(request, "status", 0))
        except ValueError:
            raise _bad("status", "statut inconnu (-1 à 22)", "unknown status (-1 to 22)") from None
    if q.get("nature"):
        raw = q["nature"].upper()
        try:
            nature = NatureActe(int(raw)) if ascii_digits(raw) else NatureActe.from_abrege(raw)
        except ValueError:
            raise _bad("nature", "DE, AR, AI, CC, BF, AU ou 1 à 6",
                       "DE, AR, AI, CC, BF, AU or 1 to 6") from None
    siren = q.get("siren") or None
    if siren is not None and not (ascii_digits(siren) and len(siren) == 9):
        raise _bad("siren", "9 chiffres attendus", "9 digits expected")
    filters = TransactionFilter(type=TransactionType.ACTE, siren=siren, status=status,
                                nature=nature, created_from=_query_day(request, "from"),
                                created_to=_query_day(request, "to"))
    limit = min(max(_query_int(request, "limit", 50), 1), MAX_PAGE)
    offset = max(_query_int(request, "offset", 0), 0)
    page = await simulator_of(request).engine.store.list(filters, limit=limit, offset=offset)
    return web.json_response({"total": page.total, "limit": page.limit, "offset": page.offset,
                              "items": [transaction_json(r) for r in page.items]})


async def get_transaction(request: web.Request) -> web.Response:
    """Any transaction: history, messages, documents, and the transactions related to it."""
    prefecture = _prefecture(request)
    store = prefecture.engine.store
    row = await store.get(path_id(request))
    related = await store.list(TransactionFilter(related_transaction_id=row.id), limit=MAX_PAGE)
    body: dict[str, Any] = {
        "transaction": transaction_json(row),
        "history": [{"at": e.at.isoformat(),
                     "from": None if e.from_status is None else int(e.from_status),
                     "to": int(e.to_status), "actor": e.actor, "message": e.message,
                     "message_id": e.message_id} for e in await store.journal(row.id)],
        "messages": [{"id": m.id, "code": m.code, "direction": m.direction.name,
                      "file_name": m.file_name, "at": m.created_at.isoformat(),
                      "signed": m.signature_sha256 is not None,
                      "timestamped": m.timestamp_token_sha256 is not None}
                     for m in await store.messages(row.id)],
        "documents": [{"id": d.id, "role": d.role, "position": d.position,
                       "file_name": d.file_name, "mimetype": d.mimetype, "size": d.size,
                       "sha256": d.sha256} for d in await store.documents(row.id)],
        "related": [transaction_json(r) for r in reversed(related.items)],
        "courrier": await letter_json(prefecture, row) if letter_code(row) else None,
    }
    return web.json_response(body)


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("FIELD_INVALID", f"{key} : texte attendu", f"{key}: text expected",
                         field=key, kind=Kind.INVALID)
    return value


async def post_acquittement(request: web.Request) -> web.Response:
    """ARActe (1-2) for an act held at "transmis"."""
    await json_object(request, optional=True)
    outcome = await _prefecture(request).acknowledge(path_id(request))
    return web.json_response(outcome_json(outcome), status=201)


async def post_rejet(request: web.Request) -> web.Response:
    """AnomalieActe (1-3): `nature` (three digits) and `detail`."""
    data = await json_object(request, optional=True)
    raw = _string(data, "nature")
    try:
        nature = AnomalieNature(raw)
    except ValueError:
        raise BadRequest("FIELD_INVALID" if raw else "FIELD_REQUIRED",
                         f"nature : {raw!r} n'est pas une nature d'anomalie (001 à 014)",
                         f"nature: {raw!r} is not an anomaly nature (001 to 014)",
                         field="nature", kind=Kind.INVALID) from None
    outcome = await _prefecture(request).reject(path_id(request), nature, _string(data, "detail"))
    return web.json_response(outcome_json(outcome), status=201)


async def letter_form(request: web.Request) -> tuple[str, str, bytes | None]:
    """A préfecture letter's (code, text, PDF) from JSON (`document` in base64) or multipart
    (`document` file), as the admin API and the dashboard's form send it."""
    if not request.content_type.startswith("multipart/"):
        data = await json_object(request, optional=True)
        document = None
        if data.get("document"):
            try:
                document = base64.b64decode(_string(data, "document"), validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("FIELD_INVALID", "document : base64 attendu",
                                 "document: base64 expected", field="document", kind=Kind.INVALID) from None
        return _string(data, "code"), _string(data, "text"), document
    try:
        form = await read_form(request, Limits(total=MAX_BODY, field=MAX_BODY))
    except BadRequest as error:
        if error.code != "BODY_MALFORMED":
            raise
        raise BadRequest("MULTIPART_INVALID", f"formulaire multipart illisible : {error.message_fr}",
                         f"unreadable multipart form: {error.message_en}", field=error.field) from None
    try:
        parts: dict[str, bytes] = {}
        posted: list[tuple[str, Sequence[Field | Upload]]] = [*form.fields.items(),
                                                             *form.files.items()]
        for name, values in posted:
            if name not in ("code", "text", "document") or name in parts or len(values) > 1:
                raise BadRequest("FIELD_UNKNOWN",
                                 "champ inconnu ou répété (code, text, document)",
                                 "unknown or repeated field (code, text, document)", field=name,
                                 kind=Kind.INVALID)
            value = values[0]
            parts[name] = value.raw if isinstance(value, Field) else value.read()
    finally:
        form.cleanup()
    try:
        code, text = (parts.get(k, b"").decode("utf-8") for k in ("code", "text"))
    except UnicodeDecodeError:
        raise BadRequest("FIELD_INVALID", "texte illisible (UTF-8 attendu)",
                         "unreadable text (UTF-8 expected)", kind=Kind.INVALID) from None
    return code, text, parts.get("document") or None


async def post_courrier(request: web.Request) -> web.Response:
    """Send a letter about an acknowledged act: `code` (2-1, 3-1, 4-1, 5-1), `text`, and
    optionally the letter's PDF (generated otherwise)."""
    acte_id = path_id(request)
    code, text, document = await letter_form(request)
    if not code:
        raise BadRequest("FIELD_REQUIRED", "code : champ obligatoire (2-1, 3-1, 4-1, 5-1)",
                         "code: required field (2-1, 3-1, 4-1, 5-1)", field="code", kind=Kind.INVALID)
    outcome = await _prefecture(request).send_letter(acte_id, code.strip(), text=text,
                                                     document=document)
    return web.json_response(outcome_json(outcome), status=201)


# -- collectivités and their conventions: the senders the platform knows -------------------

def _collectivite_json(c: Collectivite, conventions: list[Convention]) -> dict[str, object]:
    return {"siren": c.siren, "departement": c.departement, "arrondissement": c.arrondissement,
            "nature": c.nature, "nom": c.nom, "profil": c.profil,
            "conventions": [convention_json(v) for v in conventions]}


def _siren_of(request: web.Request) -> str:
    siren = request.match_info["siren"]
    if not re.fullmatch(SIREN, siren):
        raise BadRequest("COLLECTIVITE_UNKNOWN", f"{siren!r} n'est pas un SIREN",
                         f"{siren!r} is not a SIREN", kind=Kind.NOT_FOUND)
    return siren


async def list_collectivites(request: web.Request) -> web.Response:
    def read(store: SqliteStore) -> list[dict[str, object]]:
        collectivites = store.collectivites()
        conventions: dict[str, list[Convention]] = {}
        for convention in store.conventions():  # one query, not one per collectivité
            conventions.setdefault(convention.siren, []).append(convention)
        return [_collectivite_json(c, conventions.get(c.siren, [])) for c in collectivites]

    return web.json_response({"items": await simulator_of(request).engine.store.call(read)})


async def put_collectivite(request: web.Request) -> web.Response:
    """Register a collectivité, or correct what its first transmission registered: the IDCL
    later envelopes must carry (`departement`, `arrondissement`, `nature`), a `nom`, its own
    `profil`, and optionally a `convention` to register with it (`parse_convention`)."""
    siren = _siren_of(request)
    data = await json_object(request)
    unknown = sorted(set(data) - COLLECTIVITE_FIELDS - {"convention"})
    if unknown:
        raise BadRequest("FIELD_UNKNOWN", f"champ inconnu {unknown[0]!r}",
                         f"unknown field {unknown[0]!r}", field=unknown[0], kind=Kind.INVALID)
    simulator = simulator_of(request)
    store = simulator.engine.store
    known = await store.call(lambda s: s.get_collectivite(siren))
    collectivite = parse_collectivite(siren, data, known)  # ConventionInvalid: a Refusal
    new = None
    if "convention" in data:
        convention = data["convention"]
        try:
            if not isinstance(convention, dict):
                raise ConventionInvalid("date_signature", "un objet convention est attendu",
                                        "a convention object is expected")
            new = parse_convention(siren, convention, default_operateur=simulator.config.itc)
        except ConventionInvalid as error:
            error.field = f"convention.{error.field}"
            raise

    def write(s: SqliteStore) -> dict[str, object]:
        s.add_collectivite(collectivite)
        if new is not None:
            s.add_convention(new)
        return _collectivite_json(collectivite, s.conventions(siren))

    saved = await store.call(write)
    return web.json_response(saved, status=200 if known else 201)


async def list_conventions(request: web.Request) -> web.Response:
    """Every convention (`?siren=`: of one collectivité), registered before or after its IDCL."""
    siren = request.query.get("siren")
    if siren is not None and not re.fullmatch(SIREN, siren):
        raise _bad("siren", "9 chiffres attendus", "9 digits expected")
    found = await simulator_of(request).engine.store.call(lambda s: s.conventions(siren))
    return web.json_response({"items": [convention_json(c) for c in found]})


async def post_convention(request: web.Request) -> web.Response:
    """Register a signed convention for `siren` (its IDCL may come later: the first envelope)."""
    siren = _siren_of(request)
    data = await json_object(request)
    simulator = simulator_of(request)
    new = parse_convention(siren, data, default_operateur=simulator.config.itc)
    saved = await simulator.engine.store.call(lambda s: s.add_convention(new))
    return web.json_response(convention_json(saved), status=201)


async def post_resiliation(request: web.Request) -> web.Response:
    """Terminate a convention as of `date` (default: today on the simulator's clock); from
    that day its collectivité's envelopes are refused under strict (SENDER_UNKNOWN)."""
    convention_id = path_id(request)
    data = await json_object(request, optional=True)
    simulator = simulator_of(request)
    unknown = sorted(set(data) - {"date"})
    if unknown:
        raise BadRequest("FIELD_UNKNOWN", f"champ inconnu {unknown[0]!r}",
                         f"unknown field {unknown[0]!r}", field=unknown[0], kind=Kind.INVALID)
    day = data.get("date", simulator.clock.today().isoformat())
    if not isinstance(day, str):
        raise ConventionInvalid("date", "date AAAA-MM-JJ attendue", "YYYY-MM-DD date expected")
    on = parse_day("date", day)

    def write(s: SqliteStore) -> Convention:
        found = s.get_convention(convention_id)
        if found is None:
            raise NotFound(f"convention {convention_id}")
        if found.statut == "resiliee" or on < found.date_signature:
            raise BadRequest("CONVENTION_NOT_TERMINABLE",
                             f"convention {convention_id} déjà résiliée, ou date avant sa signature",
                             f"convention {convention_id} already terminated, or date before "
                             "its signature", kind=Kind.CONFLICT)
        return s.terminate_convention(convention_id, on)

    try:
        saved = await simulator.engine.store.call(write)
    except NotFound:
        raise BadRequest("CONVENTION_UNKNOWN", f"convention {convention_id} inconnue",
                         f"unknown convention {convention_id}", kind=Kind.NOT_FOUND) from None
    return web.json_response(convention_json(saved))


async def get_admin_openapi(request: web.Request) -> web.Response:
    """The admin port's OpenAPI description (every route but the dashboard's pages)."""
    return web.Response(body=openapi_document("admin-openapi.json"), content_type="application/json")


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/openapi.json", get_admin_openapi)
    r.add_get("/admin/actes", list_actes)
    r.add_get("/admin/transactions/{id}", get_transaction)
    r.add_post("/admin/transactions/{id}/acquittement", post_acquittement)
    r.add_post("/admin/transactions/{id}/rejet", post_rejet)
    r.add_post("/admin/transactions/{id}/courriers", post_courrier)
    r.add_get("/admin/collectivites", list_collectivites)
    r.add_put("/admin/collectivites/{siren}", put_collectivite)
    r.add_post("/admin/collectivites/{siren}/conventions", post_convention)
    r.add_get("/admin/conventions", list_conventions)
    r.add_post("/admin/conventions/{id}/resiliation", post_resiliation)
