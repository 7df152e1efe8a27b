"""S²LOW's answer conventions and who is asking: `OK`/`KO` bodies, the authority, RGS.

S²LOW answers API calls with `OK\\n` or `KO\\n` and one line, in ISO-8859-1; messages that go
through its `returnAndExit` are HTML-escaped (`htmlspecialchars`, ENT_QUOTES), those a script
echoes are not. A connection may teletransmit only with an RGS certificate — here an agent
certificate of RGS level ** or *** — presented, or forwarded by a trusted intermediary (Pastell)
in the `org.s2low.forward-x509-identification` header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509

from ...engine.intake import IntakeRefused
from ...pki.identity import Identity, IdentityError
from ...pki.profiles import RgsLevel, siren_of
from ...pki.trust import judge
from ...store import BlobCorrupted, BlobNotFound, NotFound
from ..api import BadRequest
from ..auth import CLOCK, IDENTITY, TRUST_POLICY, TRUST_SOURCE, VERDICT
from ..downloads import store_fault

CHARSET = "iso-8859-1"
FORWARD_HEADER = "org.s2low.forward-x509-identification"
RGS_LEVELS = frozenset({RgsLevel.TWO, RgsLevel.THREE})
"""Levels that qualify a connection for teletransmission (S²LOW: "certificat RGS 2 étoiles")."""
S2LOW_PREFIXES = ("/modules/actes/", "/api/test-connexion.php", "/api/get-nounce.php",
                  "/admin/users/api-list-login.php")
ACCES_REFUSE = "Accès refusé"
AUTH_FAILED = "Échec de l'authentification"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class S2lowKO(Exception):
    """A refusal answered as S²LOW does: `KO` and the message.

    `escaped`: the message goes through S²LOW's `returnAndExit` (HTML-escaped, newline added);
    otherwise it is echoed as is, as the scripts that print `KO\\n…` themselves do.
    """

    def __init__(self, message: str, *, status: int = 400, escaped: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.escaped = escaped


def html_escape(text: str) -> str:
    """PHP `htmlspecialchars(…, ENT_QUOTES)`: the five characters, `'` as `&#039;`."""
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#039;")
            .replace("<", "&lt;").replace(">", "&gt;"))


def text(body: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A plain-text answer in ISO-8859-1 (characters outside it become `?`)."""
    return web.Response(body=body.encode(CHARSET, "replace"), status=status, headers=headers,
                        content_type="text/plain", charset=CHARSET)


def ok(message: str = "") -> web.Response:
    """`returnAndExit(0, …, apiMsg)`: `OK`, then the API message (an id, usually) and a newline."""
    return text("OK\n" + (f"{message}\n" if message else ""))


def ko_response(error: S2lowKO) -> web.Response:
    if error.escaped:
        body = "KO\n" + (f"{html_escape(error.message)}\n" if error.message else "")
    else:
        body = f"KO\n{error.message}"
    return text(body, status=error.status)


def s2low_handler(handler: Handler) -> Handler:
    """Every S²LOW route: checks the forwarded certificate, answers failures as `KO` bodies."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if "nounce" in request.query:
                _check_nonce(request)
            request[CONNEXION] = _connexion(request)
            return await handler(request)
        except S2lowKO as error:
            return ko_response(error)
        except IntakeRefused as error:
            return ko_response(S2lowKO(error.message_fr, status=error.status))
        except IdentityError as error:
            return ko_response(S2lowKO(ACCES_REFUSE if error.status == 403 else AUTH_FAILED,
                                       status=error.status))
        except NotFound:
            return ko_response(S2lowKO("Numéro de transaction invalide.", status=404,
                                       escaped=False))
        except (BlobCorrupted, BlobNotFound) as error:  # S²LOW's words when a file cannot be sent
            _, fr, _ = store_fault(request, error)
            return ko_response(S2lowKO(f"Erreur d'envoi du fichier : {fr}", status=410,
                                       escaped=False))
        except BadRequest as error:
            return ko_response(S2lowKO(error.fr, status=error.status))
        except web.HTTPException as error:  # aiohttp's own refusals (a body over client_max_size)
            if error.status < 400:
                raise
            return ko_response(S2lowKO(error.reason, status=error.status))

    return wrapped


@web.middleware
async def s2low_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost on the API app: refusals made before an S²LOW handler runs (untrusted or
    unknown certificate, missing login) are `KO` bodies too, on S²LOW's paths only."""
    response = await handler(request)
    if (request.path.startswith(S2LOW_PREFIXES) and response.status in (401, 403)
            and isinstance(response, web.Response) and response.content_type == "application/json"):
        detail = json.loads(response.text or "{}").get("message_fr", "")
        head = AUTH_FAILED if response.status == 401 else ACCES_REFUSE
        refused = ko_response(S2lowKO(head + (f" : {detail}" if detail else ""),
                                      status=response.status))
        refused.headers.update({k: v for k, v in response.headers.items()
                                if k.lower() == "www-authenticate"})
        return refused
    return response


@dataclass(frozen=True)
class Nonce:
    """An issued nonce: whose it is, the hash that proves the password, until when."""

    login: str
    expected_hash: str
    expires: dt.datetime


NONCES = web.AppKey("s2low_nonces", dict)
MAX_OPEN_NONCES = 10_000
"""Nonces issued and not used yet, at most: beyond, the oldest is forgotten (a client asking
for nonces it never uses must not grow the server's memory)."""


def remember_nonce(nonces: dict[str, Nonce], key: str, nonce: Nonce, now: dt.datetime) -> None:
    """Keep `nonce` under `key`, dropping the expired ones and, over the cap, the oldest."""
    for stale in [k for k, n in nonces.items() if n.expires < now]:
        del nonces[stale]
    while len(nonces) >= MAX_OPEN_NONCES:
        del nonces[next(iter(nonces))]
    nonces[key] = nonce


def _check_nonce(request: web.Request) -> None:
    """`nounce`, `login`, `hash` on a URL: one use, before it expires, for the same login."""
    query = request.query
    nonce = request.app[NONCES].pop(query.get("nounce", ""), None)
    if (nonce is None or nonce.expires < request.app[CLOCK]()
            or nonce.login != query.get("login")
            or request[IDENTITY].login not in (None, nonce.login)
            or not hmac.compare_digest(nonce.expected_hash, query.get("hash", ""))):
        raise S2lowKO(AUTH_FAILED, status=401)


# -- who is asking -------------------------------------------------------------------------------


def authority(identity: Identity) -> str:
    """The SIREN an S²LOW user belongs to: its certificate's, or its only one."""
    if identity.can_act_for(identity.certificate_siren):
        return identity.certificate_siren
    if len(identity.sirens) == 1:
        return next(iter(identity.sirens))
    raise S2lowKO("Collectivité de l'utilisateur indéterminée", status=403)


@dataclass(frozen=True)
class Connexion:
    """Whether this connection may teletransmit, and why not."""

    rgs: bool
    reason: str = ""


CONNEXION = web.RequestKey("s2low_connexion", Connexion)


def _connexion(request: web.Request) -> Connexion:
    """RGS-qualified when the forwarded certificate, or else the presented one, is RGS **.

    A forwarded end-user certificate must chain to the test PKI, be valid now, and name a
    SIREN the presenting account acts for; anything else refuses the request, as S²LOW does
    ("La connexion n'a pas pu être établie").
    """
    raw = request.headers.get(FORWARD_HEADER)
    level = request[VERDICT].level
    if raw is not None:
        failed = "La connexion n'a pas pu être établie"
        try:
            forwarded = x509.load_der_x509_certificate(base64.b64decode(raw.strip(), validate=True))
        except (ValueError, binascii.Error):
            raise S2lowKO(f"{failed} : certificat transmis illisible", status=401) from None
        app = request.app
        verdict = judge([forwarded], at=app[CLOCK](), store=app[TRUST_SOURCE](),
                        policy=app[TRUST_POLICY])
        if not verdict.accepted:
            reason = verdict.reason.message_fr if verdict.reason else verdict.detail
            raise S2lowKO(f"{failed} : {reason}", status=401)
        if not request[IDENTITY].can_act_for(siren_of(forwarded.subject) or ""):
            raise S2lowKO(f"{failed} : le certificat transmis n'est pas celui d'un agent de la "
                          "collectivité", status=403)
        level = verdict.level
    if level in RGS_LEVELS:
        return Connexion(True)
    shown = level.value if level else "aucun"
    return Connexion(False, f"niveau RGS du certificat : {shown} (** requis)")


def connexion(request: web.Request) -> Connexion:
    return request[CONNEXION]


__all__ = ["CHARSET", "Connexion", "S2lowKO", "authority", "connexion", "ko_response", "ok",
           "s2low_handler", "s2low_refusals", "text"]
