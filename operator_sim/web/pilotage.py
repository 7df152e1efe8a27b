"""The référent @CTES's JSON API on the admin port: `/admin/pilotage…`.

Thin layer over `operator_sim.pilotage`: reads the query or body, asks the store for rows,
answers what the package computed. A refused file answers every refused line and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..errors import Kind
from ..pilotage.courrier import render_relance
from ..pilotage.indicateurs import (
    EXPORTS,
    LISTE_TITRES,
    export_csv,
    periode_invalide,
    rapport,
)
from ..pilotage.registre import Lecture, lire_collectivites, lire_depots
from ..store import SqliteStore
from ..store.pilotage import (
    DepotPapier,
    add_depots,
    depots,
    import_collectivites,
    inactivite_jours_of,
    pilotage_rows_of,
    set_inactivite_jours,
)
from .dashboard import Refused, _form, action, page, render
from .http import BadRequest, reading_body, simulator_of

MAX_INACTIVITE = 3650


def _bad(field: str, fr: str, en: str, kind: Kind = Kind.MALFORMED,
         code: str = "FIELD_INVALID") -> BadRequest:
    return BadRequest(code, f"{field} : {fr}", f"{field}: {en}", field=field, kind=kind)


def _day(request: web.Request, name: str, default: dt.date) -> dt.date:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _bad(name, "date AAAA-MM-JJ attendue", "YYYY-MM-DD date expected") from None


def period(request: web.Request, today: dt.date) -> tuple[dt.date, dt.date]:
    """`du` and `au` (default: the 12 months up to today), `du` ≤ `au`."""
    au = _day(request, "au", today)
    try:
        du = _day(request, "du", au - dt.timedelta(days=364))
    except OverflowError:
        du = dt.date.min
    refused = periode_invalide(du, au)
    if refused is not None:
        raise _bad(*refused)
    return du, au


def _inactivite(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_INACTIVITE:
        raise _bad("inactivite", f"nombre de jours de 1 à {MAX_INACTIVITE}",
                   f"a number of days from 1 to {MAX_INACTIVITE}")
    return int(text)


def _arrondissement(request: web.Request) -> str | None:
    value = request.query.get("arrondissement") or None
    if value is not None and not re.fullmatch(r"[0-9]", value):
        raise _bad("arrondissement", "un chiffre de 0 à 9", "one digit, 0 to 9")
    return value


async def report_of(request: web.Request) -> dict[str, Any]:
    """The report the query asks for (`du`, `au`, `arrondissement`, `inactivite`)."""
    simulator = simulator_of(request)
    du, au = period(request, simulator.clock.today())
    arrondissement = _arrondissement(request)
    override = _inactivite(request.query.get("inactivite"))

    def read(s: SqliteStore) -> dict[str, Any]:  # on a reader thread: writes go on meanwhile
        days = override if override is not None else inactivite_jours_of(s)
        return rapport(pilotage_rows_of(s, du, au), du, au, inactivite=days,
                       arrondissement=arrondissement)

    return await simulator.engine.store.query(read)


async def get_rapport(request: web.Request) -> web.Response:
    return web.json_response(await report_of(request))


async def get_export(request: web.Request) -> web.Response:
    """`/admin/pilotage/export/{liste}.csv`: a list (for a mailing) or the indicator tables."""
    name = request.match_info["liste"]
    if name not in EXPORTS:
        raise BadRequest("EXPORT_UNKNOWN", f"export {name[:40]!r} inconnu ({', '.join(EXPORTS)})",
                         f"unknown export {name[:40]!r} ({', '.join(EXPORTS)})", field="liste",
                         kind=Kind.NOT_FOUND)
    report = await report_of(request)
    return web.Response(
        body=export_csv(report, name).encode("utf-8-sig"), content_type="text/csv",
        charset="utf-8", headers={"Content-Disposition": f'attachment; filename="pilotage-'
                                  f'{name}-{report["du"]}-{report["au"]}.csv"'})


async def get_courrier(request: web.Request) -> web.Response:
    """`/admin/pilotage/courriers/{siren}.pdf`: the reminder letter of a collectivité on one of
    the lists to act on over the period the query names."""
    siren = request.match_info["siren"]
    report = await report_of(request)
    found = [c for c in report["collectivites"] if c["siren"] == siren]
    if not found:
        raise BadRequest("COLLECTIVITE_UNKNOWN", f"collectivité {siren[:20]!r} inconnue",
                         f"unknown collectivité {siren[:20]!r}", field="siren", kind=Kind.NOT_FOUND)
    if not found[0]["raisons"]:
        raise BadRequest("NOTHING_TO_REMIND",
                         "cette collectivité n'est sur aucune liste à traiter : pas de relance",
                         "this collectivité is on no list to act on: no reminder", kind=Kind.CONFLICT)
    simulator = simulator_of(request)
    pdf = render_relance(found[0], prefecture="Préfecture", generated_at=simulator.clock.now())
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="relance-{siren}.pdf"'})


async def _body(request: web.Request) -> tuple[str, bytes]:
    """The body and whether it is JSON or CSV (by Content-Type)."""
    body = b""
    if request.can_read_body:
        async with reading_body(request):
            body = await request.read()
    if not body:
        raise BadRequest("BODY_EMPTY", "corps vide : un fichier CSV ou du JSON est attendu",
                         "empty body: a CSV file or JSON is expected")
    kind = request.content_type
    if kind in ("application/json",):
        return "json", body
    if kind in ("text/csv", "text/plain", "application/octet-stream"):
        return "csv", body
    raise BadRequest("UNSUPPORTED_MEDIA_TYPE",
                     f"type {kind} non accepté (text/csv ou application/json)",
                     f"content type {kind} not accepted (text/csv or application/json)")


def _refused(lecture: Lecture) -> web.Response:
    first = lecture.refus[0]
    return web.json_response({
        "code": "LINES_REFUSED",
        "message_fr": f"{len(lecture.refus)} ligne(s) refusée(s), rien n'est enregistré "
                      f"(ligne {first.ligne}, {first.champ} : {first.raison_fr})",
        "message_en": f"{len(lecture.refus)} line(s) refused, nothing stored "
                      f"(line {first.ligne}, {first.champ}: {first.raison_en})",
        "refus": [r.to_dict() for r in lecture.refus]}, status=422)


async def post_collectivites(request: web.Request) -> web.Response:
    """Import the département's collectivités from a CSV (`?departement=` for new ones)."""
    kind, body = await _body(request)
    if kind != "csv":
        raise BadRequest("UNSUPPORTED_MEDIA_TYPE", "un fichier CSV (text/csv) est attendu",
                         "a CSV file (text/csv) is expected")
    departement = request.query.get("departement") or None
    store = simulator_of(request).engine.store

    def write(s: SqliteStore) -> web.Response:
        lecture = lire_collectivites(body, departement=departement,  # FichierInvalide: a Refusal
                                     connues={c.siren: c for c in s.collectivites()})
        if not lecture.ok:
            return _refused(lecture)
        return web.json_response({**import_collectivites(s, lecture.lignes),
                                  "lignes": len(lecture.lignes)})

    return await store.call(write)


async def post_depots(request: web.Request) -> web.Response:
    """Record paper deposits: one JSON object, a JSON list of them, or a CSV."""
    kind, body = await _body(request)
    data: Any = body
    if kind == "json":
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise BadRequest("JSON_INVALID", "corps JSON illisible",
                             "unreadable JSON body") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not data:
            raise BadRequest("JSON_INVALID", "un objet ou une liste d'objets est attendu",
                             "an object or a list of objects is expected")
    simulator = simulator_of(request)
    today, now = simulator.clock.today(), simulator.clock.now()

    def write(s: SqliteStore) -> web.Response:
        lecture = lire_depots(data, connus=[c.siren for c in s.collectivites()], today=today)
        if not lecture.ok:
            return _refused(lecture)
        stored = add_depots(s, lecture.lignes, at=now)
        return web.json_response({"items": [_depot_json(d) for d in stored]}, status=201)

    return await simulator.engine.store.call(write)


def _depot_json(d: Any) -> dict[str, object]:
    return {"id": d.id, "date": d.date_depot.isoformat(), "siren": d.siren,
            "nature": d.nature, "matiere": d.matiere, "nombre": d.nombre}


async def get_depots(request: web.Request) -> web.Response:
    simulator = simulator_of(request)
    du, au = period(request, simulator.clock.today())
    found = await simulator.engine.store.call(lambda s: depots(s, du, au))
    return web.json_response({"items": [_depot_json(d) for d in found]})


async def get_reglages(request: web.Request) -> web.Response:
    days = await simulator_of(request).engine.store.query(inactivite_jours_of)
    return web.json_response({"inactivite_jours": days})


async def put_reglages(request: web.Request) -> web.Response:
    """`{"inactivite_jours": N}`: no act for N days makes a connected collectivité inactive."""
    kind, body = await _body(request)
    try:
        data = json.loads(body) if kind == "json" else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or set(data) != {"inactivite_jours"}:
        raise _bad("inactivite_jours", "objet JSON {\"inactivite_jours\": N} attendu",
                   "JSON object {\"inactivite_jours\": N} expected", kind=Kind.INVALID)
    days = data["inactivite_jours"]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_INACTIVITE:
        raise _bad("inactivite_jours", f"nombre de jours de 1 à {MAX_INACTIVITE}",
                   f"a number of days from 1 to {MAX_INACTIVITE}", kind=Kind.INVALID)
    saved = await simulator_of(request).engine.store.call(lambda s: set_inactivite_jours(s, days))
    return web.json_response({"inactivite_jours": saved})


# --- the dashboard's Pilotage page ------------------------------------------------------------

NATURES_DEPOT = ("DE", "AR", "AI", "CC", "BF", "AU")


@page
async def tableau(request: web.Request) -> web.Response:
    """Indicators, lists with their CSV exports, charts, and the paper-deposit form."""
    simulator = simulator_of(request)
    query = {k: request.query.get(k, "") for k in ("du", "au", "arrondissement", "inactivite")}
    try:
        report = await report_of(request)
    except BadRequest as refused:
        return await render(request, "pilotage.html", status=400, section="pilotage",
                            query=query, erreur=refused.message_fr, report=None,
                            today=simulator.clock.today(), NATURES=NATURES_DEPOT)
    query.update(du=report["du"], au=report["au"], inactivite=str(report["inactivite_jours"]))
    export_query = urlencode({k: v for k, v in query.items() if v})
    return await render(request, "pilotage.html", section="pilotage", query=query,
                        report=report, erreur=None, export_query=export_query,
                        titres=LISTE_TITRES, today=simulator.clock.today(),
                        NATURES=NATURES_DEPOT)


def _tableau_page(request: web.Request) -> str:
    back = request.query.get("retour", "")
    return back if back.startswith("/admin/tableau/pilotage") else "/admin/tableau/pilotage"


@action(_tableau_page)
async def enregistrer_depot(request: web.Request) -> str:
    """The paper-deposit form: the same reader as the API, a refusal names its field."""
    form = await _form(request)
    simulator = simulator_of(request)
    fields = {k: form.get(k, "") for k in ("date", "siren", "nature", "matiere", "nombre")}
    today, now = simulator.clock.today(), simulator.clock.now()

    def write(s: SqliteStore) -> DepotPapier:
        lecture = lire_depots([fields], connus=[c.siren for c in s.collectivites()], today=today)
        if not lecture.ok:
            r = lecture.refus[0]
            raise Refused(f"Dépôt papier refusé, {r.champ} : {r.raison_fr} ; rien n'a été "
                          "enregistré.")
        return add_depots(s, lecture.lignes, at=now)[0]

    saved = await simulator.engine.store.call(write)
    return (f"Dépôt papier enregistré : {saved.nombre} acte(s) de {saved.siren} reçu(s) le "
            f"{saved.date_depot.strftime('%d/%m/%Y')}.")


DASHBOARD_PAGES = (
    ("GET", "/admin/tableau/pilotage", tableau),
    ("POST", "/admin/tableau/pilotage/depots", enregistrer_depot),
)


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/pilotage", get_rapport)
    r.add_get("/admin/pilotage/export/{liste}.csv", get_export)
    r.add_get(r"/admin/pilotage/courriers/{siren:[0-9]{9}}.pdf", get_courrier)
    r.add_post("/admin/pilotage/collectivites", post_collectivites)
    r.add_get("/admin/pilotage/depots", get_depots)
    r.add_post("/admin/pilotage/depots", post_depots)
    r.add_get("/admin/pilotage/reglages", get_reglages)
    r.add_put("/admin/pilotage/reglages", put_reglages)
