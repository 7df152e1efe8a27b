"""S²LOW's small JSON API (`/modules/actes/api/…`) and the connection checks clients make.

`actes_status.php`, `list_actes.php` and `number_actes.php` read the authority's transactions;
`/api/test-connexion.php`, `/api/get-nounce.php` and `/admin/users/api-list-login.php` are what
Pastell calls to check a connector's certificate and login.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from aiohttp import web

from ...protocol.codes import TransactionStatus
from ...store import TransactionFilter
from ..auth import CLOCK, IDENTITY, IDENTITY_DIRECTORY, _basic_credentials
from .common import engine_of, php_int
from .replies import NONCES, Nonce, authority, remember_nonce, s2low_handler, text

NONCE_LIFETIME = dt.timedelta(minutes=10)


@s2low_handler
async def actes_status(request: web.Request) -> web.Response:
    """Every status S²LOW knows, `{"<id>": "<label>"}`."""
    return web.json_response({str(int(s)): s.libelle for s in TransactionStatus})


def _status(request: web.Request) -> TransactionStatus | None:
    try:
        return TransactionStatus(int(request.query.get("status_id", "0").strip()))
    except ValueError:
        return None


@s2low_handler
async def list_actes(request: web.Request) -> web.Response:
    """The authority's transactions currently in `status_id`, newest first."""
    siren = authority(request[IDENTITY])
    status = _status(request)
    offset = php_int(request.query.get("offset"))
    limit = php_int(request.query.get("limit")) if "limit" in request.query else 100
    items = []
    if status is not None:
        page = await engine_of(request).store.list(TransactionFilter(siren=siren, status=status),
                                                   limit=limit, offset=offset)
        items = [{"id": row.id, "subject": row.objet, "number": row.numero_interne,
                  "date": row.decision_date.isoformat() if row.decision_date else None,
                  "nature_descr": row.nature.libelle if row.nature else None,
                  "classification": row.matiere, "type": int(row.type)} for row in page.items]
    return web.json_response({"status_id": None if status is None else int(status),
                              "authority_id": siren, "offset": offset, "limit": limit,
                              "transactions": items})


@s2low_handler
async def number_actes(request: web.Request) -> web.Response:
    """How many of the authority's transactions are in `status_id`."""
    siren = authority(request[IDENTITY])
    status = _status(request)
    total = 0
    if status is not None:
        total = (await engine_of(request).store.list(TransactionFilter(siren=siren, status=status),
                                                     limit=0)).total
    return web.json_response({"status_id": None if status is None else int(status),
                              "authority_id": siren, "nb_transactions": total})


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
async def list_login(request: web.Request) -> web.Response:
    """The logins behind the presented certificate, one a line."""
    binding = request.app[IDENTITY_DIRECTORY].binding(request[IDENTITY].fingerprint)
    accounts = binding.accounts if binding else ()
    return text("".join(f"{account.login or account.name}\n" for account in accounts))


__all__ = ["actes_status", "get_nounce", "list_actes", "list_login", "number_actes",
           "test_connexion"]
