"""The préfecture's dashboard on the admin port: server-rendered pages over the store and engine.

Pages read the store; forms call the engine's own functions — `Prefecture`, `Scheduler`,
`ScenarioBook`, `simulation.reset`, the ones the admin API calls — then redirect back with a
flash message (POST → redirect → GET). Every failure becomes a French page or message, never a
traceback, and a POST carried by the cookie must come from the dashboard's own origin with the
form token its pages hold (`admin.csrf_token`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import logging
import re
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from ..engine import simulation
from ..engine.clock import PARIS
from ..engine.conventions import parse_collectivite, parse_convention, parse_day
from ..engine.prefecture import LETTER_TYPES
from ..engine.scenarios import ScenarioError, ScenarioUnknown, parse_rule
from ..engine.scheduler import EARLIEST, LATEST, ClockNotVirtual, ClockOutOfRange
from ..errors import Kind, Refusal
from ..protocol.codes import (
    COLLECTIVITE_NATURES,
    MESSAGE_TYPES,
    AnomalieNature,
    NatureActe,
    TransactionStatus,
    TransactionType,
)
from ..store import (
    BlobCorrupted,
    BlobNotFound,
    Collectivite,
    Convention,
    NotFound,
    SqliteStore,
    StatusConflict,
    StoreError,
    TransactionFilter,
)
from ..store.interface import ScheduledEvent, TransactionRow
from .downloads import MESSAGE_FILES, sound_file, store_fault
from .faults import DASHBOARD_ACTION_OF_CODE, DASHBOARD_PAGE
from .forms import Limits, read_form
from .guard import COOKIE, csrf_ok, csrf_token, same_origin
from .http import BadRequest, path_id, simulator_of
from .journal import record_fault
from .keys import ADMIN_TOKEN, CREDENTIAL, FORM_ROUTES, INTEGRITY_FAULT, TEMPLATES, TOKEN_PAGE
from .prefecture import letter_form

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
FLASH_COOKIE = "operator_sim_flash"
PAGE_SIZE = 25
ACTOR = "préfecture (tableau de bord)"
SIREN = re.compile(r"[0-9]{9}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Action = Callable[[web.Request], Awaitable[str]]

# The letters a préfecture sends about an acknowledged act, as its buttons name them.
LETTERS = {
    "2-1": "Envoyer un courrier simple",
    "3-1": "Demander des pièces complémentaires",
    "4-1": "Lettre d'observations",
    "5-1": "Déféré au tribunal administratif",
}
assert set(LETTERS) == set(LETTER_TYPES)
LETTER_TEXTS = {"2-1": "Texte du courrier (écrit dans le PDF généré)",
                "3-1": "Pièces demandées (DescriptionPieces)", "4-1": "Motif des observations",
                "5-1": "Nature de l'illégalité (NatureIllegalite)"}
CLOCK_UNITS = {"minutes": dt.timedelta(minutes=1), "heures": dt.timedelta(hours=1),
               "jours": dt.timedelta(days=1)}
OUTCOME_KINDS = {"ar": "Acquittement (1-2)", "anomalie": "Anomalie (1-3)",
                 "hold": "Garder « transmis » (décision à la main)",
                 "letter": "Courrier après l'acquittement", "defere": "Déféré après l'acquittement"}
EVENT_KINDS = {"answer": "réponse à l'acte", "letter": "courrier"}
EVENT_STATES = {"pending": "en attente", "running": "en cours", "done": "exécuté",
                "skipped": "sans objet", "failed": "échec"}
RULE_EXAMPLE = """id = "budgets-en-retard"
description = "Les budgets sont acquittés deux jours après"
match = { nature = "BF" }
outcome = { kind = "ar", delay = "P2D" }
"""


MAX_FORM_BYTES = 1 << 20
"""A dashboard form's text (scenario rules in TOML included); aiohttp's own default body cap."""


class Refused(Refusal):
    """A request the dashboard turns down, with the French sentence the operator reads (the
    dashboard speaks French only: it is also the English message)."""

    code = "DASHBOARD_REFUSED"

    def __init__(self, message_fr: str) -> None:
        super().__init__(message_fr=message_fr, message_en=message_fr)


# --- rendering --------------------------------------------------------------------------------


def _horodatage(at: dt.datetime | None) -> str:
    return "" if at is None else at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def _heure(at: dt.datetime) -> str:
    return at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def _date_fr(day: dt.date | None) -> str:
    return "" if day is None else day.strftime("%d/%m/%Y")


def _taille(size: int) -> str:
    for unit, scale in (("Mo", 1 << 20), ("Ko", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    return f"{size} o"


def _resume(data: Mapping[str, Any] | None) -> str:
    """A rule's table in one line: `nature = BF, delay = P2D`."""
    return ", ".join(f"{k} = {v}" for k, v in (data or {}).items()) or "—"


def environment() -> jinja2.Environment:
    """The dashboard's templates: autoescaped, and an undefined name is an error, not a blank."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=jinja2.select_autoescape(("html",)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(horodatage=_horodatage, heure=_heure, date_fr=_date_fr, taille=_taille,
                       resume=_resume)
    env.globals.update(LETTERS=LETTERS, LETTER_TEXTS=LETTER_TEXTS, MESSAGE_TYPES=MESSAGE_TYPES,
                       TransactionStatus=TransactionStatus, TransactionType=TransactionType,
                       NatureActe=NatureActe, AnomalieNature=AnomalieNature,
                       CLOCK_UNITS=CLOCK_UNITS, OUTCOME_KINDS=OUTCOME_KINDS,
                       EVENT_KINDS=EVENT_KINDS, EVENT_STATES=EVENT_STATES,
                       RULE_EXAMPLE=RULE_EXAMPLE)
    return env


@dataclass(frozen=True)
class ClockView:
    now: dt.datetime
    virtual: bool
    pending: int
    next_due: dt.datetime | None


async def render(request: web.Request, template: str, *, status: int = 200,
                 **context: Any) -> web.Response:
    """A page in the shared frame: the clock panel and the flash message left by a POST."""
    simulator = simulator_of(request)
    pending, next_due = await simulator.engine.store.query(lambda s: s.pending_summary())
    flash = _read_flash(request)
    context.setdefault("section", "")
    html = request.app[TEMPLATES].get_template(template).render(
        clock=ClockView(simulator.clock.now(), simulator.scheduler.virtual, pending, next_due),
        flash=flash, path=request.path_qs, csrf=csrf_token(request.app[ADMIN_TOKEN]), **context)
    response = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"  # form addresses carry the form token
    if flash is not None:
        response.del_cookie(FLASH_COOKIE, path="/admin/")
    return response


async def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    try:
        return await render(request, "erreur.html", status=status, titre=title, message=message)
    except Exception:  # the frame itself failed: still no traceback
        log.exception("dashboard error page failed")
        return web.Response(text=f"{title} : {message}", status=status, charset="utf-8")


# --- flash messages (one cookie, read once) ----------------------------------------------------


def _read_flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {"kind": "erreur" if data["kind"] == "erreur" else "ok", "message": str(data["message"])}
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        return None


def _redirect(location: str, message: str, kind: str = "ok") -> web.Response:
    """303 See Other to `location`, carrying a flash message for the page it lands on."""
    response = web.Response(status=303, headers={"Location": location})
    text = json.dumps({"kind": kind, "message": message[:600]}, ensure_ascii=False)  # < 4 KB cookie
    value = base64.urlsafe_b64encode(text.encode())
    response.set_cookie(FLASH_COOKIE, value.decode(), path="/admin/", httponly=True,
                        samesite="Strict")
    return response


# --- guards -----------------------------------------------------------------------------------


def _from_dashboard(request: web.Request) -> bool:
    """A form POST carried by the admin cookie must come from this dashboard's own origin and
    carry the form token its pages put in every form's address. A bearer header or `?token=`
    proves the admin token itself (a script, a test): it needs no form token, but an origin it
    names must still be ours."""
    if request.get(CREDENTIAL) == "cookie":
        return same_origin(request) and csrf_ok(request)
    named = ("Origin", "Referer", "Sec-Fetch-Site")
    return same_origin(request) if any(h in request.headers for h in named) else True


def page(handler: Handler) -> Handler:
    """A GET page: drops `?token=` from the address bar, and turns failures into French pages."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if "token" in request.query:  # the guard sets the cookie on this very response
            rest = {k: v for k, v in request.query.items() if k != "token"}
            target = request.path + (f"?{urlencode(rest)}" if rest else "")
            return web.Response(status=303, headers={"Location": target})
        try:
            return await handler(request)
        except NotFound as error:
            return await _error_page(request, DASHBOARD_PAGE[error.kind], "Introuvable",
                                     "Aucune transaction ni aucun fichier ne porte ce numéro.")
        except (BlobCorrupted, BlobNotFound) as error:  # the row is there, its file is not sound
            code, _, _ = store_fault(request, error)
            status = DASHBOARD_PAGE[error.kind]
            await record_fault(request, status, code, request[INTEGRITY_FAULT][1])
            altered = isinstance(error, BlobCorrupted)
            return await _error_page(
                request, status, "Fichier altéré" if altered else "Fichier absent",
                ("Ce fichier a été modifié sur le disque depuis son enregistrement (empreinte "
                 "SHA-256 différente)" if altered else "Ce fichier n'est plus dans le magasin")
                + " : il n'est pas envoyé. « operator-sim check » vérifie tout le magasin.")
        except Exception:
            log.exception("dashboard page %s failed", request.path)
            return await _error_page(request, 500, "Erreur interne",
                                     "Le simulateur n'a pas pu afficher cette page ; "
                                     "le détail est dans son journal.")
    return wrapped


def action(back: Callable[[web.Request], str]) -> Callable[[Action], Handler]:
    """A form handler: same-origin check, then redirect to `back` with the outcome.

    The handler returns the success sentence; a refusal from it or from the engine becomes
    the error sentence on the page it redirects to.
    """
    def decorate(handler: Action) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not _from_dashboard(request):
                return await _error_page(request, 403, "Requête refusée",
                                         "Ce formulaire ne vient pas du tableau de bord "
                                         "(origine ou jeton de formulaire absent ou différent).")
            try:
                return _redirect(back(request), await handler(request))
            except BadRequest as exc:
                if exc.code not in DASHBOARD_ACTION_OF_CODE:
                    return _redirect(back(request), _explain(request, exc), "erreur")
                return await _error_page(request, DASHBOARD_ACTION_OF_CODE[exc.code],
                                         "Formulaire trop lent",
                                         "Le formulaire n'est pas arrivé dans le délai "
                                         "(read_timeout) : rien n'a été fait.")
            except NotFound as exc:
                return await _error_page(request, DASHBOARD_ACTION_OF_CODE[exc.code], "Introuvable",
                                         "Aucune transaction ne porte ce numéro.")
            except Exception as exc:
                return _redirect(back(request), _explain(request, exc), "erreur")
        return wrapped
    return decorate


def _explain(request: web.Request, exc: Exception) -> str:
    """The French sentence for a refused action (the engine's refusals carry their own)."""
    if isinstance(exc, StatusConflict):
        return (f"La transaction {exc.transaction_id} a changé de statut entre-temps "
                f"({exc.actual.libelle}) ; rien n'a été fait.")
    if isinstance(exc, ClockNotVirtual):
        return "L'horloge est réelle : démarrer le simulateur avec clock = \"virtual\" pour la déplacer."
    if isinstance(exc, ClockOutOfRange):
        return (f"L'horloge virtuelle va du {_date_fr(EARLIEST.date())} au {_date_fr(LATEST.date())} ; "
                "elle n'a pas bougé.")
    if isinstance(exc, ScenarioError):
        return f"{exc.field} : {exc.message_fr}" if exc.field else exc.message_fr
    if isinstance(exc, BlobCorrupted | BlobNotFound):
        store_fault(request, exc)
        what = "altéré sur le disque (empreinte SHA-256 différente)" \
            if isinstance(exc, BlobCorrupted) else "absent du magasin"
        return (f"Un fichier stocké de cette transaction est {what} : rien n'a été fait. "
                "« operator-sim check » vérifie le magasin.")
    message = getattr(exc, "message_fr", None)  # Refused, and every Refusal but the store's:
    if isinstance(message, str) and message and not isinstance(exc, StoreError):  # a fault here
        return message[0].upper() + message[1:]
    log.error("dashboard action %s failed", request.path, exc_info=exc)
    return "Erreur interne du simulateur : l'action n'a pas abouti (détail dans son journal)."


# --- reading requests -------------------------------------------------------------------------


def _act_page(request: web.Request) -> str:
    return f"/admin/actes/{path_id(request)}"


def _scenarios_page(_request: web.Request) -> str:
    return "/admin/tableau/scenarios"


async def _form(request: web.Request) -> Mapping[str, str]:
    """A small form's text fields (URL-encoded or multipart), read by the one form reader
    under the read deadline; the last value of a name repeated, as PHP and aiohttp take it."""
    try:
        form = await read_form(request, Limits(total=MAX_FORM_BYTES, field=MAX_FORM_BYTES))
    except BadRequest as error:
        if error.code == "REQUEST_TIMEOUT":
            raise
        if error.kind is Kind.TOO_LARGE:
            raise Refused("Formulaire trop volumineux : rien n'a été fait.") from None
        raise Refused("Formulaire illisible (texte non UTF-8 ou corps incomplet) : "
                      "rien n'a été fait.") from None
    form.cleanup()  # files are no business of these forms
    try:
        return {name: values[-1].raw.decode("utf-8").strip()
                for name, values in form.fields.items()}
    except UnicodeDecodeError:
        raise Refused("Formulaire illisible (texte non UTF-8 ou corps incomplet) : "
                      "rien n'a été fait.") from None


@dataclass(frozen=True)
class Filters:
    """The acts list's query, as typed in the form (kept to refill it) and as a store filter."""

    form: dict[str, str]
    store: TransactionFilter
    page: int


def _filters(query: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """Read the list's filters; each unusable field is dropped with a French reason."""
    form = {k: query.get(k, "").strip() for k in ("siren", "statut", "nature", "type", "du", "au")}
    if "type" not in query:
        form["type"] = str(int(TransactionType.ACTE))
    errors: list[str] = []
    values: dict[str, Any] = {}
    if form["siren"]:
        if SIREN.fullmatch(form["siren"]):
            values["siren"] = form["siren"]
        else:
            errors.append("SIREN : neuf chiffres attendus.")
    for key, field, parse in (("statut", "status", lambda v: TransactionStatus(int(v))),
                              ("type", "type", lambda v: TransactionType(int(v))),
                              ("nature", "nature", NatureActe.from_abrege)):
        if form[key]:
            try:
                values[field] = parse(form[key])
            except ValueError:
                errors.append(f"{key.capitalize()} inconnu : {form[key]}.")
    for key, field, shift in (("du", "created_from", 0), ("au", "created_to", 1)):
        if form[key]:
            try:
                day = dt.date.fromisoformat(form[key])
            except ValueError:
                errors.append(f"Date « {form[key]} » : format AAAA-MM-JJ attendu.")
                continue
            try:  # the days the préfecture lives in: Paris midnight to midnight, in UTC
                values[field] = dt.datetime.combine(day + dt.timedelta(days=shift), dt.time(),
                                                    PARIS).astimezone(dt.UTC)
            except OverflowError:  # 0001-01-01 starts in year 0 UTC; 9999-12-31 ends in 10000
                errors.append(f"Date « {form[key]} » : hors des dates possibles.")
    try:
        number = max(1, int(query.get("page", "1")))
    except ValueError:
        number = 1
    return Filters(form, TransactionFilter(**values), number), errors


# --- pages ------------------------------------------------------------------------------------


@page
async def actes(request: web.Request) -> web.Response:
    """Actes reçus: the received transactions, newest first, filtered and paginated."""
    filters, errors = _filters(request.query)
    store = simulator_of(request).engine.store
    result = await store.list(filters.store, limit=PAGE_SIZE, offset=(filters.page - 1) * PAGE_SIZE)
    pages = max(1, -(-result.total // PAGE_SIZE))

    def link(number: int) -> str:
        kept = {k: v for k, v in filters.form.items() if v or k == "type"}
        return "/admin/?" + urlencode({**kept, "page": number})

    return await render(request, "actes.html", section="actes", rows=result.items,
                        total=result.total, form=filters.form, errors=errors, page=filters.page,
                        pages=pages, link=link, status=400 if errors else 200)


@page
async def acte(request: web.Request) -> web.Response:
    """One transaction: what was received, its history, messages and files, the actions."""
    store = simulator_of(request).engine.store
    row = await store.get(path_id(request))
    related = (await store.list(TransactionFilter(related_transaction_id=row.id), limit=100)).items
    return await render(
        request, "acte.html", section="actes", row=row, title=_title(row),
        journal=await store.journal(row.id), messages=await store.messages(row.id),
        documents=await store.documents(row.id), related=related,
        related_messages={r.id: await store.messages(r.id) for r in related},
        collectivite=await store.call(lambda s: s.get_collectivite(row.siren)),
        scenario=await store.query(lambda s: s.application(row.id)),
        events=await store.query(lambda s: s.events(transaction_id=row.id)),
        can_answer=row.type is TransactionType.ACTE and row.status is TransactionStatus.TRANSMIS,
        can_write=row.type is TransactionType.ACTE and row.status is TransactionStatus.ACQUITTEMENT_RECU)


def _title(row: TransactionRow) -> str:
    if row.type is TransactionType.ACTE:
        return f"Acte {row.id_acte or row.numero_interne or row.id}"
    return f"{row.type.libelle} n° {row.id}"


@page
async def scenarios(request: web.Request) -> web.Response:
    """Scénarios: the rules in matching order, the clock and what it will fire."""
    simulator = simulator_of(request)
    book = simulator.scenarios
    listing = await book.listing()
    pending = await simulator.engine.store.query(lambda s: s.events(state="pending", limit=200))
    return await render(request, "scenarios.html", section="scenarios", rules=listing,
                        source=book.source, events=pending)


# --- collectivités and their conventions -----------------------------------------------------


@page
async def collectivites(request: web.Request) -> web.Response:
    """Conventions, with the collectivité each belongs to, and the form to register one."""
    simulator = simulator_of(request)

    def read(store: SqliteStore) -> tuple[list[Convention], dict[str, Collectivite]]:
        return store.conventions(), {c.siren: c for c in store.collectivites()}

    conventions, known = await simulator.engine.store.call(read)
    return await render(request, "collectivites.html", section="collectivites",
                        conventions=conventions, collectivites=known,
                        profile=simulator.config.profile, itc=simulator.config.itc,
                        today=simulator.clock.today(), NATURES=COLLECTIVITE_NATURES)


def _collectivites_page(_request: web.Request) -> str:
    return "/admin/tableau/collectivites"


@action(_collectivites_page)
async def enregistrer_collectivite(request: web.Request) -> str:
    form = await _form(request)
    simulator = simulator_of(request)
    siren = form.get("siren", "")
    if not re.fullmatch(r"[0-9]{9}", siren):
        raise Refused("SIREN : 9 chiffres attendus ; rien n'a été enregistré.")
    described = {k: form.get(k, "") for k in ("nom", "nature", "departement", "arrondissement")}
    if form.get("profil"):
        described["profil"] = form["profil"]
    store = simulator.engine.store
    known = await store.call(lambda s: s.get_collectivite(siren))
    collectivite = parse_collectivite(siren, described, known)
    convention = parse_convention(siren, {
        "date_signature": form.get("date_signature", ""), "operateur": form.get("operateur", ""),
        "matieres": form.get("matieres", ""),
        "actes_budgetaires": bool(form.get("actes_budgetaires"))},
        default_operateur=simulator.config.itc)

    def write(s: SqliteStore) -> Convention:
        s.add_collectivite(collectivite)
        return s.add_convention(convention)

    saved = await store.call(write)
    return (f"Collectivité {siren} ({collectivite.nom}) enregistrée avec la convention "
            f"{saved.id} (opérateur {saved.operateur}, signée le {_date_fr(saved.date_signature)}).")


@action(_collectivites_page)
async def resilier_convention(request: web.Request) -> str:
    convention_id = path_id(request)
    form = await _form(request)
    simulator = simulator_of(request)
    on = parse_day("date", form.get("date") or simulator.clock.today().isoformat())

    def write(s: SqliteStore) -> Convention:
        found = s.get_convention(convention_id)
        if found is None:
            raise Refused(f"Aucune convention n° {convention_id} : rien n'a été fait.")
        if found.statut == "resiliee" or on < found.date_signature:
            raise Refused(f"La convention {convention_id} est déjà résiliée, ou la date précède "
                          "sa signature : rien n'a été fait.")
        return s.terminate_convention(convention_id, on)

    saved = await simulator.engine.store.call(write)
    return (f"Convention {saved.id} ({saved.siren}) résiliée le "
            f"{_date_fr(saved.date_resiliation)}.")


# --- the préfecture's decisions and letters ---------------------------------------------------


@action(_act_page)
async def acquitter(request: web.Request) -> str:
    outcome = await simulator_of(request).prefecture.acknowledge(path_id(request), actor=ACTOR)
    return f"Acte acquitté : ARActe (1-2) envoyé, IDActe {outcome.id_acte}."


@action(_act_page)
async def rejeter(request: web.Request) -> str:
    form = await _form(request)
    try:
        nature = AnomalieNature(form.get("nature", ""))
    except ValueError:
        raise Refused("Choisissez la nature de l'anomalie dans la liste.") from None
    await simulator_of(request).prefecture.reject(path_id(request), nature,
                                                form.get("detail", ""), actor=ACTOR)
    return f"Acte rejeté : AnomalieActe (1-3) envoyée, nature {nature.value} — {nature.libelle}."


@action(_act_page)
async def courrier(request: web.Request) -> str:
    """A letter (2-1, 3-1, 4-1, 5-1): multipart `code`, `text` and an optional PDF `document`."""
    acte_id = path_id(request)
    code, text, document = await letter_form(request)
    if code not in LETTERS:
        raise Refused("Courrier inconnu : choisissez 2-1, 3-1, 4-1 ou 5-1.")
    outcome = await simulator_of(request).prefecture.send_letter(acte_id, code, text=text,
                                                               document=document, actor=ACTOR)
    return (f"Envoyé à la collectivité : {LETTER_TYPES[code].libelle} ({code}), "
            f"transaction {outcome.transaction.id}.")


# --- clock and scenarios ----------------------------------------------------------------------


def _back_to(request: web.Request) -> str:
    """The dashboard page the clock form was on (only a path of ours, never another site)."""
    target = request.query.get("retour", "")
    ours = target.startswith("/admin/") and "//" not in target
    return target if ours and target.isascii() and target.isprintable() else "/admin/"  # no CR LF


def _fired(fired: list[ScheduledEvent]) -> str:
    if not fired:
        return "aucun évènement programmé n'était dû."
    done = sum(e.state == "done" for e in fired)
    return (f"{len(fired)} évènement{'s' if len(fired) > 1 else ''} programmé"
            f"{'s' if len(fired) > 1 else ''} déclenché{'s' if len(fired) > 1 else ''}"
            f" ({done} exécuté{'s' if done > 1 else ''}).")


@action(_back_to)
async def avancer_horloge(request: web.Request) -> str:
    form = await _form(request)
    try:
        quantity = int(form.get("quantite", ""))
        unit = CLOCK_UNITS[form.get("unite", "")]
    except (ValueError, KeyError):
        raise Refused("Durée invalide : un nombre entier de minutes, d'heures ou de jours.") from None
    if not 1 <= quantity <= 100_000:
        raise Refused("Durée invalide : de 1 à 100 000.")
    now, fired = await simulator_of(request).scheduler.advance(quantity * unit)
    return f"Horloge avancée à {_horodatage(now)} ; {_fired(fired)}"


@action(_scenarios_page)
async def regler_horloge(request: web.Request) -> str:
    form = await _form(request)
    try:
        local = dt.datetime.fromisoformat(form.get("instant", ""))
    except ValueError:
        raise Refused("Date et heure invalides (heure de Paris attendue).") from None
    at = local if local.tzinfo is not None else local.replace(tzinfo=PARIS)  # an offset typed is kept
    now, fired = await simulator_of(request).scheduler.set(at)
    return f"Horloge réglée sur {_horodatage(now)} ; {_fired(fired)}"


def _rule_from_form(form: Mapping[str, str], default_id: str) -> Any:
    """The form's fields as the rule table the TOML file and the admin API use."""
    match = {k: form[k] for k in ("siren", "nature", "matiere", "objet", "header") if form.get(k)}
    kind = form.get("kind", "ar")
    outcome: dict[str, Any] = {"kind": kind}
    if kind != "hold" and form.get("delay"):
        outcome["delay"] = form["delay"]
    if kind == "anomalie":
        outcome.update(nature=form.get("anomalie", ""), detail=form.get("detail") or None)
    if kind == "letter":
        outcome["code"] = form.get("code", "")
    if kind in ("letter", "defere") and form.get("text"):
        outcome["text"] = form["text"]
    faults: dict[str, Any] = {k: True for k in ("unavailable", "drop_connection", "corrupt_return")
                              if form.get(k)}
    if form.get("slow_ms"):
        try:
            faults["slow_ms"] = int(form["slow_ms"])
        except ValueError:
            raise Refused("Réponse lente : un nombre entier de millisecondes.") from None
    data = {"id": form.get("id") or default_id, "match": match,
            "outcome": {k: v for k, v in outcome.items() if v is not None}, "faults": faults}
    if form.get("description"):
        data["description"] = form["description"]
    return parse_rule(data)


def _rules_from_toml(text: str, default_id: str) -> list[Any]:
    """One rule's keys, or `[[rules]]` tables, as in the scenarios file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Refused(f"TOML invalide : {exc}") from None
    except RecursionError:
        raise Refused("TOML invalide : tableaux imbriqués trop profondément.") from None
    if isinstance(data.get("rules"), list):
        return [parse_rule(item, default_id=f"{default_id}-{n}")
                for n, item in enumerate(data["rules"], start=1)]
    return [parse_rule(data, default_id=default_id)]


@action(_scenarios_page)
async def ajouter_regle(request: web.Request) -> str:
    form = await _form(request)
    book = simulator_of(request).scenarios
    default_id = f"regle-{len(book.rules) + 1}"
    toml = form.get("toml", "")
    new = _rules_from_toml(toml, default_id) if toml else [_rule_from_form(form, default_id)]
    await book.add(*new)  # all or none
    return f"Règle{'s' if len(new) > 1 else ''} ajoutée{'s' if len(new) > 1 else ''} : " \
           f"{', '.join(r.id for r in new)}."


@action(_scenarios_page)
async def supprimer_regle(request: web.Request) -> str:
    rule_id = request.match_info["rule"]
    try:
        await simulator_of(request).scenarios.remove(rule_id)
    except ScenarioUnknown:
        raise Refused(f"Aucune règle « {rule_id} ».") from None
    return f"Règle « {rule_id} » supprimée."


@action(_scenarios_page)
async def reinitialiser(request: web.Request) -> str:
    form = await _form(request)
    simulator = simulator_of(request)
    report = await simulation.reset(simulator.scenarios, simulator.scheduler,
                                    transactions=bool(form.get("transactions")),
                                    callbacks=bool(form.get("callbacks")))
    cleared = [what for what, done in (("transactions", report.transactions_cleared),
                                       ("abonnements", report.callbacks_cleared)) if done]
    return (f"Simulateur réinitialisé : {report.rules} règle(s) du fichier, "
            f"{report.events_cleared} évènement(s) programmé(s) effacé(s)"
            + (f", {' et '.join(cleared)} effacés." if cleared else "."))


# --- downloads --------------------------------------------------------------------------------


@page
async def message_file(request: web.Request) -> web.StreamResponse:
    simulator = simulator_of(request)
    row = await simulator.engine.store.get(path_id(request))
    field, mimetype, suffix = MESSAGE_FILES[request.match_info["kind"]]
    for message in await simulator.engine.store.messages(row.id):
        if str(message.id) == request.match_info["message"] and getattr(message, field):
            return await sound_file(simulator.store.blobs, getattr(message, field),
                                    filename=message.file_name + suffix, mimetype=mimetype)
    raise NotFound()


@page
async def document_file(request: web.Request) -> web.StreamResponse:
    simulator = simulator_of(request)
    row = await simulator.engine.store.get(path_id(request))
    for document in await simulator.engine.store.documents(row.id):
        if str(document.id) == request.match_info["document"]:
            return await sound_file(simulator.store.blobs, document.sha256,
                                    filename=document.file_name, mimetype=document.mimetype)
    raise NotFound()


@page
async def archive_file(request: web.Request) -> web.StreamResponse:
    simulator = simulator_of(request)
    row = await simulator.engine.store.get(path_id(request))
    if row.archive_sha256 is None:
        raise NotFound()
    return await sound_file(simulator.store.blobs, row.archive_sha256,
                            filename=row.archive_name or f"transaction-{row.id}.tar.gz",
                            mimetype="application/gzip")


# --- routes -----------------------------------------------------------------------------------


# --- a browser without the token ---------------------------------------------------------------


def _quality(accept: str, wanted: str) -> float:
    """The q-value an Accept header gives exactly `wanted` (0 when not listed)."""
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if media.lower() == wanted:
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        return float(value)
                    except ValueError:
                        return 0.0
            return 1.0
    return 0.0


def _token_page(pages: frozenset[Handler], request: web.Request) -> web.Response | None:
    """For the admin guard (`TOKEN_PAGE`): a short French page (401) telling a browser how to
    get in, when it asked for one of the dashboard's routes and prefers HTML to JSON. Static
    HTML, not the frame: nothing of the simulator's state is shown before the token."""
    if request.match_info.handler not in pages:
        return None
    accept = request.headers.get("Accept", "")
    if _quality(accept, "text/html") <= _quality(accept, "application/json"):
        return None
    html = request.app[TEMPLATES].get_template("jeton.html").render(
        mauvais="token" in request.query or COOKIE in request.cookies)
    return web.Response(text=html, status=401, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


# --- routes -----------------------------------------------------------------------------------


def add_admin_routes(app: web.Application,
                     pages: tuple[tuple[str, str, Handler], ...] = ()) -> None:
    """Mount the dashboard on the admin app (which holds the simulator under `SIMULATOR`);
    `pages`: other modules' pages and forms, built with `page` and `action`."""
    app[TEMPLATES] = environment()
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/admin/", actes),
        ("GET", "/admin/actes/{id}", acte),
        ("GET", "/admin/actes/{id}/archive", archive_file),
        ("GET", "/admin/actes/{id}/messages/{message}/{kind:xml|signature|timestamp}", message_file),
        ("GET", "/admin/actes/{id}/documents/{document}", document_file),
        ("POST", "/admin/actes/{id}/acquitter", acquitter),
        ("POST", "/admin/actes/{id}/rejeter", rejeter),
        ("POST", "/admin/actes/{id}/courriers", courrier),
        ("GET", "/admin/tableau/collectivites", collectivites),
        ("POST", "/admin/tableau/collectivites", enregistrer_collectivite),
        ("POST", "/admin/tableau/conventions/{id}/resilier", resilier_convention),
        ("GET", "/admin/tableau/scenarios", scenarios),
        ("POST", "/admin/tableau/scenarios", ajouter_regle),
        ("POST", "/admin/tableau/scenarios/{rule}/supprimer", supprimer_regle),
        ("POST", "/admin/tableau/reinitialiser", reinitialiser),
        ("POST", "/admin/tableau/horloge", avancer_horloge),
        ("POST", "/admin/tableau/horloge/regler", regler_horloge),
        *pages,
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_static("/admin/static/", HERE / "static", name="dashboard-static")
    token_page: Callable[[web.Request], web.Response | None] = functools.partial(
        _token_page, frozenset(h for _, _, h in routes))
    app[TOKEN_PAGE] = token_page
    app[FORM_ROUTES] = frozenset(h for method, _, h in routes if method == "POST")
