"""S²LOW's small JSON API (`/modules/actes/api/…`) and the connection checks clients make.

`actes_status.php`, `list_actes.php` and `number_actes.php` read the authority's transactions;
`/api/test-connexion.php`, `/api/get-nounce.php` and `/admin/users/api-list-login.php` are what
Pastell calls to check a connector's certificate and login.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

from aiohttp import web

from ...engine.clock import PARIS
from ...protocol.codes import NatureActe, TransactionStatus
from ...store import TransactionFilter
from ..auth import _basic_credentials
from ..keys import CLOCK, IDENTITY, IDENTITY_DIRECTORY
from .common import engine_of, php_int
from .replies import NONCES, Nonce, authority, connexion, remember_nonce, s2low_handler, text

NONCE_LIFETIME = dt.timedelta(minutes=5)
"""`NounceSQL::menage` deletes nonces older than 5 minutes; until then one may serve again."""
TYPES_ACTE = {f"99_{n.abrege}": n for n in NatureActe}


def authority_id(siren: str) -> int:
    """S²LOW's `authority_id` is an integer: here the SIREN read as one (unique, stable)."""
    return int(siren)


@s2low_handler
async def actes_status(request: web.Request) -> web.Response:
    """Every status S²LOW knows, `{"<id>": "<label>"}`."""
    return web.json_response({str(int(s)): s.libelle for s in TransactionStatus})


def _status(request: web.Request) -> TransactionStatus | None:
    """`getInt('status_id')`: PHP's intval; a number no status has lists nothing."""
    try:
        return TransactionStatus(php_int(request.query.get("status_id")))
    except ValueError:
        return None


def _date(raw: str | None) -> dt.datetime | None:
    """`Recuperateur::getDate`: a date (or date-time) the clock's zone reads, else no bound."""
    try:
        parsed = dt.datetime.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PARIS)


@s2low_handler
async def list_actes(request: web.Request) -> web.Response:
    """The authority's transactions currently in `status_id`, newest first; `min_date` and
    `max_date` bound the submission date, `type_acte` (`99_DE`…) the nature."""
    siren = authority(request[IDENTITY])
    query = request.query
    status = _status(request)
    offset = php_int(query.get("offset"))
    limit = php_int(query.get("limit")) if "limit" in query else 100
    nature = None
    if "type_acte" in query:
        nature = TYPES_ACTE.get(query["type_acte"])
        if nature is None:  # S²LOW echoes this JSON (and then the list, unfiltered)
            expected = ", ".join(TYPES_ACTE)
            return web.json_response({"error": f"Code invalide : valeur parmi {expected} "
                                               f"attendue, {query['type_acte']} fourni"})
    items = []
    if status is not None:
        latest = _date(query.get("max_date"))
        page = await engine_of(request).store.list(TransactionFilter(
            siren=siren, status=status, nature=nature, created_from=_date(query.get("min_date")),
            created_to=None if latest is None else latest + dt.timedelta(microseconds=1)),
            limit=limit, offset=offset)
        items = [{"id": row.id, "subject": row.objet, "number": row.numero_interne,
                  "date": row.decision_date.isoformat() if row.decision_date else None,
                  "nature_descr": row.nature.libelle if row.nature else None,
                  "classification": row.matiere, "type": int(row.type)}
                 for row in page.items]
    return web.json_response({"status_id": int(status) if status is not None else
                              php_int(query.get("status_id")),
                              "authority_id": authority_id(siren), "offset": offset,
                              "limit": limit, "transactions": items})


@s2low_handler
async def number_actes(request: web.Request) -> web.Response:
    """How many of the authority's transactions are in `status_id`."""
    siren = authority(request[IDENTITY])
    status = _status(request)
    total = 0
    if status is not None:
        total = (await engine_of(request).store.list(TransactionFilter(siren=siren, status=status),
                                                     limit=0)).total
    return web.json_response({"status_id": php_int(request.query.get("status_id")),
                              "authority_id": authority_id(siren), "nb_transactions": total})


@s2low_handler
async def test_connexion(request: web.Request) -> web.Response:
    """`OK` once the certificate (and login) are accepted."""
    return text("OK")


@s2low_handler
async def get_nounce(request: web.Request) -> web.Response:
    """A one-time `nounce` for links opened by the user (`hash = sha256("<password>:<nounce>")`).

    Only for logins (shared certificates), as S²LOW: the nonce binds the login's password.
    """
    credentials = _basic_credentials(request)
    if credentials is None or request[IDENTITY].login is None:
        return text("La fonction n'est utilisable qu'avec un login+mot de passe HTTP", status=401,
                    headers={"WWW-Authenticate": 'Basic realm="API S2low"'})
    login, password = credentials
    nounce = secrets.token_hex(16)
    expected = hashlib.sha256(f"{password}:{nounce}".encode()).hexdigest()
    now = request.app[CLOCK]()
    remember_nonce(request.app[NONCES], nounce, Nonce(login, expected, now + NONCE_LIFETIME), now)
    return web.json_response({"nounce": nounce})


@s2low_handler
async def test_rgs(request: web.Request) -> web.Response:
    """`/api/test-rgs.php`: `OK` when the TLS certificate may teletransmit, else `KO`."""
    return text("OK" if connexion(request).rgs else "KO")


@s2low_handler
async def info_connexion(request: web.Request) -> web.Response:
    """`/api/info-connexion.php`: the user and its authority, as JSON (pretty-printed)."""
    identity = request[IDENTITY]
    siren = authority(identity)
    known = await engine_of(request).store.call(lambda store: store.get_collectivite(siren))
    level = identity.level.value if identity.level else None
    info = {"user_info": {"login": identity.login, "name": identity.name,
                          "authority_id": authority_id(siren), "rgs": level},
            "authority_info": {"id": authority_id(siren), "siren": siren,
                               "name": known.nom if known else None,
                               "department": known.departement if known else None,
                               "district": known.arrondissement if known else None,
                               "authority_type_id": known.nature if known else None}}
    return web.Response(text=json.dumps(info, indent=4, ensure_ascii=False),
                        content_type="application/json")


@s2low_handler
async def list_login(request: web.Request) -> web.Response:
    """The logins behind the presented certificate, one a line; any method, no login asked."""
    binding = request.app[IDENTITY_DIRECTORY].binding(request[IDENTITY].fingerprint)
    accounts = binding.accounts if binding else ()
    return text("".join(f"{account.login or account.name}\n" for account in accounts))


__all__ = ["actes_status", "authority_id", "get_nounce", "info_connexion", "list_actes",
           "list_login", "number_actes", "test_connexion", "test_rgs"]
