"""The loopback admin port: the public RFC 3161 TSA, and everything else behind a bearer token.

The préfecture side of the simulator (admin API under /admin/, the dashboard) lives here. The
token comes from the config or is generated at start and printed; it is accepted as an
`Authorization: Bearer` header, or — for a browser — once as `?token=` which sets a cookie.
Feature modules own their routes (`add_admin_routes(app)`); this file is the one place that
knows the guard and lists them.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .api import json_errors
from .auth import refusal
from .tsa import add_tsa_route

if TYPE_CHECKING:
    from .app import Simulator

SIMULATOR = web.AppKey("simulator", object)
ADMIN_TOKEN = web.AppKey("admin_token", str)
COOKIE = "operator_sim_admin"
PUBLIC_PATHS = frozenset({"/tsa"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_PAGE = web.AppKey("token_page", Callable[[web.Request], web.Response | None])
"""Set by the dashboard: its page explaining the token to a browser refused here, or None
when the request is not a browser's for one of its pages (then the JSON 401 answers)."""


def simulator_of(request: web.Request) -> Simulator:
    """The simulator an admin handler works on (its engine, préfecture, scheduler, book)."""
    return request.app[SIMULATOR]  # type: ignore[return-value]


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or request.cookies.get(COOKIE)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse every non-public path without the admin token (constant-time comparison)."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    presented = _presented_token(request)
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
    response = await handler(request)
    if "token" in request.query and request.cookies.get(COOKIE) != presented:
        response.set_cookie(COOKIE, presented, httponly=True, samesite="Strict")
    return response


async def health(request: web.Request) -> web.Response:
    simulator = simulator_of(request)
    return web.json_response({"status": "ok", "clock": simulator.clock.now().isoformat(),
                              "clock_kind": simulator.config.clock})


def create_admin_app(simulator: Simulator) -> web.Application:
    """The admin port's application: JSON errors outermost, then the token guard."""
    app = web.Application(middlewares=[json_errors, require_token])
    app[SIMULATOR] = simulator
    app[ADMIN_TOKEN] = simulator.admin_token
    add_tsa_route(app, simulator.tsa, read_timeout=simulator.config.read_timeout)
    app.router.add_get("/admin/health", health)
    from . import callbacks, dashboard, journal, prefecture, scenarios  # they read this module's keys

    dashboard.add_admin_routes(app)
    prefecture.add_admin_routes(app)
    scenarios.add_admin_routes(app)
    callbacks.add_admin_routes(app)
    journal.add_admin_routes(app)
    return app
