"""The admin port's guard: everything but the public TSA behind a bearer token.

The token comes from the config or is generated at start and printed; it is accepted as an
`Authorization: Bearer` header, or — for a browser — once as `?token=` which sets a cookie. A
write carried by the cookie alone must come from this very origin (and be JSON, unless it is
one of the dashboard's forms, which check their own form token: `csrf_ok`).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from .auth import refusal
from .keys import ADMIN_TOKEN, CREDENTIAL, FORM_ROUTES, TOKEN_PAGE, Handler

COOKIE = "operator_sim_admin"
PUBLIC_PATHS = frozenset({"/tsa"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _presented_token(request: web.Request) -> tuple[str | None, str]:
    """The token presented and how: "bearer", "query" or "cookie"."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    if request.query.get("token"):
        return request.query["token"], "query"
    return request.cookies.get(COOKIE), "cookie"


def csrf_token(admin_token: str) -> str:
    """The dashboard forms' token: derived from the admin token (so every tab and a restart
    with the same token agree), never revealing it; another origin's page cannot read it."""
    return hmac.new(admin_token.encode(), b"operator-sim dashboard form", "sha256").hexdigest()[:32]


def csrf_ok(request: web.Request) -> bool:
    """The form token is in the query (`?csrf=`: the letter form is multipart, read by the
    handler itself, so the token cannot wait in its body)."""
    presented = request.query.get("csrf", "")
    expected = csrf_token(request.app[ADMIN_TOKEN])
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode())


def same_origin(request: web.Request) -> bool:
    """The browser says the request comes from a page of this very origin (scheme, host and
    port): `Sec-Fetch-Site`, when sent, is `same-origin`, and `Origin` (or, without it,
    `Referer`) names this origin. A page on another port of the same host is refused."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    own = f"{request.scheme}://{request.host}"
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("Referer")
    if referer is None:
        return False
    try:
        parts = urlsplit(referer)
    except ValueError:  # "http://[::1": not an address, so not ours
        return False
    return f"{parts.scheme}://{parts.netloc}" == own


def _cookie_write_refusal(request: web.Request) -> web.Response | None:
    """Why a write carried by the cookie alone is refused (None: it may go on)."""
    if request.match_info.handler in request.app.get(FORM_ROUTES, frozenset()):
        return None  # the dashboard's forms check origin and form token themselves
    if not same_origin(request):
        return refusal(403, "CROSS_ORIGIN_REFUSED",
                       "écriture refusée : la requête ne vient pas de cette origine (en-têtes "
                       "Origin / Sec-Fetch-Site) ; un client hors navigateur envoie "
                       "Authorization: Bearer",
                       "write refused: the request does not come from this origin (Origin / "
                       "Sec-Fetch-Site headers); a non-browser client sends Authorization: Bearer")
    if "Content-Type" not in request.headers or request.content_type != "application/json":
        return refusal(415, "JSON_REQUIRED",
                       "écriture par cookie : corps application/json requis",
                       "write with the cookie: an application/json body is required")
    return None


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse every non-public path without the admin token (constant-time comparison)."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    presented, credential = _presented_token(request)
    expected = request.app[ADMIN_TOKEN]
    # surrogatepass: header bytes that are not UTF-8 arrive as surrogates, and are simply wrong
    if presented is None or not hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                                                    expected.encode()):
        challenge = {"WWW-Authenticate": 'Bearer realm="operator-sim admin"'}
        page = request.app[TOKEN_PAGE](request) if TOKEN_PAGE in request.app else None
        if page is not None:
            page.headers.update(challenge)
            return page
        return refusal(401, "ADMIN_TOKEN_REQUIRED",
                       "jeton d'administration absent ou incorrect (Authorization: Bearer …)",
                       "admin token missing or wrong (Authorization: Bearer …)", headers=challenge)
    request[CREDENTIAL] = credential
    if credential == "cookie" and request.method not in SAFE_METHODS:
        refused = _cookie_write_refusal(request)
        if refused is not None:
            return refused
    response = await handler(request)
    if "token" in request.query and request.cookies.get(COOKIE) != presented:
        response.set_cookie(COOKIE, presented, httponly=True, samesite="Strict")
    return response
