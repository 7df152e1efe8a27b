"""S²LOW's answer conventions and who is asking: `OK`/`KO` bodies, the authority, RGS.

S²LOW answers API calls with `OK\\n` or `KO\\n` and one line, in ISO-8859-1, always with HTTP
200: neither its `returnAndExit` nor the scripts that echo `KO` set a status. Messages that go
through `returnAndExit` are HTML-escaped (`htmlspecialchars`, ENT_QUOTES), those a script echoes
are not. A connection may teletransmit only when the certificate presented in the TLS handshake
is RGS (`RgsConnexion` reads SSL_CLIENT_CERT and nothing else): an agent certificate of RGS
level ** or ***. A certificate forwarded in `org.s2low.forward-x509-identification` only
selects the user (`web.auth`), never the connection's level.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ...errors import Kind, Refusal
from ...pki.identity import Identity, IdentityError
from ...pki.profiles import RgsLevel
from ...store import BlobCorrupted, BlobNotFound, NotFound
from ..downloads import store_fault
from ..faults import S2LOW_STATUS, S2LOW_STATUS_OF_CODE, fault_of, s2low_status
from ..keys import CLOCK, IDENTITY, VERDICT

CHARSET = "iso-8859-1"
RGS_LEVELS = frozenset({RgsLevel.TWO, RgsLevel.THREE})
"""Levels that qualify a connection for teletransmission (S²LOW: "certificat RGS 2 étoiles")."""
S2LOW_PREFIXES = ("/modules/actes/", "/api/test-connexion.php", "/api/get-nounce.php",
                  "/api/test-rgs.php", "/api/info-connexion.php",
                  "/admin/users/api-list-login.php")
ACCES_REFUSE = "Accès refusé"
AUTH_FAILED = "Échec de l'authentification"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class S2lowKO(Exception):
    """A refusal answered as S²LOW does: HTTP 200, `KO` and the message (other statuses: the
    simulator's own faults, `OWN_FAULTS`, and the 401 HTTP Basic needs to ask for a login).

    `escaped`: the message goes through S²LOW's `returnAndExit` (HTML-escaped, newline added);
    otherwise it is echoed as is, as the scripts that print `KO\\n…` themselves do.
    """

    def __init__(self, message: str, *, escaped: bool = True, status: int = 200) -> None:
        """`status` is sent only when it is one of `OWN_FAULTS` (the simulator's or the web
        server's, not S²LOW's answers); any other is answered 200 as S²LOW does."""
        super().__init__(message)
        self.message = message
        self.escaped = escaped
        self.status = status


class S2lowRedirect(Exception):
    """A refusal S²LOW answers with a redirection (`header("Location: …")`), its message kept
    in the PHP session the client never sees; here also in the body, for people reading it."""

    def __init__(self, message: str, location: str = "/") -> None:
        super().__init__(message)
        self.message = message
        self.location = location


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


OWN_FAULTS = frozenset(status for status in (*S2LOW_STATUS.values(), *S2LOW_STATUS_OF_CODE.values())
                       if status != 200)
"""KO statuses kept, read from the S²LOW table of `web/faults.py`: a body too slow to come
(the web server's 408), a stored file altered or gone (410), a scenario's outage or a database
held (503), a full disk (507). Every other KO is a 200, as S²LOW answers."""


def ko_response(error: S2lowKO) -> web.Response:
    if error.escaped:
        body = "KO\n" + (f"{html_escape(error.message)}\n" if error.message else "")
    else:
        body = f"KO\n{error.message}"
    return text(body, status=error.status if error.status in OWN_FAULTS else 200)


def redirect(location: str, message: str = "") -> web.Response:
    """302 to `location` as PHP's `header("Location: …")` sends it (an empty one included)."""
    return web.Response(status=302, headers={"Location": location},
                        body=message.encode(CHARSET, "replace"), content_type="text/plain",
                        charset=CHARSET)


def s2low_handler(handler: Handler) -> Handler:
    """Every S²LOW route: checks a nonce, answers failures as `KO` bodies (HTTP 200)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if "nounce" in request.query:
                _check_nonce(request)
            request[CONNEXION] = _connexion(request)
            return await handler(request)
        except S2lowKO as error:
            return ko_response(error)
        except S2lowRedirect as error:
            return redirect(error.location, error.message)
        except IdentityError as error:
            return ko_response(S2lowKO(ACCES_REFUSE if error.kind is Kind.FORBIDDEN else AUTH_FAILED))
        except NotFound:
            return ko_response(S2lowKO("Numéro de transaction invalide.", escaped=False))
        except (BlobCorrupted, BlobNotFound) as error:  # S²LOW's words when a file cannot be sent
            _, fr, _ = store_fault(request, error)
            return ko_response(S2lowKO(f"Erreur d'envoi du fichier : {fr}",
                                       status=s2low_status(error), escaped=False))
        except web.HTTPException as error:  # aiohttp's own refusals (a body over client_max_size)
            if error.status < 400:
                raise
            return ko_response(S2lowKO(error.reason, status=error.status))
        except Exception as error:
            fault = fault_of(error)
            if fault is not None:  # the machine's fault (database held, disk full): 503/507
                refused = ko_response(S2lowKO(fault.message_fr, status=S2LOW_STATUS[fault.kind]))
                refused.headers.update(fault.headers)
                return refused
            if isinstance(error, Refusal):  # the engine's, the web layer's: S²LOW's KO
                return ko_response(S2lowKO(error.message_fr, status=s2low_status(error)))
            raise

    return wrapped


CHALLENGED = frozenset({"CREDENTIALS_REQUIRED", "BAD_CREDENTIALS"})
"""Refusals kept as 401 with a Basic challenge: HTTP clients send a login only when asked."""


@web.middleware
async def s2low_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost on the API app: refusals made before an S²LOW handler runs (untrusted or
    unknown certificate, forwarded identity refused) are `KO` bodies with HTTP 200 too, on
    S²LOW's paths only; a missing or wrong login stays a 401 challenge."""
    response = await handler(request)
    if (request.path.startswith(S2LOW_PREFIXES) and response.status in (401, 403)
            and isinstance(response, web.Response) and response.content_type == "application/json"):
        refusal = json.loads(response.text or "{}")
        detail = refusal.get("message_fr", "")
        head = AUTH_FAILED if response.status == 401 else ACCES_REFUSE
        refused = ko_response(S2lowKO(head + (f" : {detail}" if detail else "")))
        if refusal.get("code") in CHALLENGED:
            refused.set_status(401)
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


NONCES = web.AppKey("s2low_nonces", dict[str, Nonce])
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
    """`nounce`, `login`, `hash` on a URL: valid for any number of calls until it expires
    (`NounceSQL::verify` deletes only expired nonces), for the login it was issued to."""
    query = request.query
    nonce = request.app[NONCES].get(query.get("nounce", ""))
    if (nonce is None or nonce.expires < request.app[CLOCK]()
            or nonce.login != query.get("login")
            or request[IDENTITY].login not in (None, nonce.login)
            or not hmac.compare_digest(nonce.expected_hash, query.get("hash", ""))):
        raise S2lowKO(AUTH_FAILED)


# -- who is asking -------------------------------------------------------------------------------


def authority(identity: Identity) -> str:
    """The SIREN an S²LOW user belongs to: its certificate's, or its only one."""
    if identity.can_act_for(identity.certificate_siren):
        return identity.certificate_siren
    if len(identity.sirens) == 1:
        return next(iter(identity.sirens))
    raise S2lowKO("Collectivité de l'utilisateur indéterminée")


@dataclass(frozen=True)
class Connexion:
    """Whether this connection may teletransmit, and why not (`RgsConnexion::getLastMessage`)."""

    rgs: bool
    reason: str = ""


CONNEXION = web.RequestKey("s2low_connexion", Connexion)


def _connexion(request: web.Request) -> Connexion:
    """RGS-qualified when the certificate presented in the handshake is RGS ** or ***."""
    level = request[VERDICT].level
    if level in RGS_LEVELS:
        return Connexion(True)
    shown = level.value if level else "aucun"
    return Connexion(False, f"niveau RGS du certificat de connexion : {shown} (** requis)")


def connexion(request: web.Request) -> Connexion:
    return request[CONNEXION]


__all__ = ["CHARSET", "Connexion", "S2lowKO", "S2lowRedirect", "authority", "connexion",
           "ko_response", "ok", "redirect", "s2low_handler", "s2low_refusals", "text"]
