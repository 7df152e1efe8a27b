"""Callback registrations through the mutual-TLS API, and their delivery journal on the admin port.

    POST   /api/v1/callbacks           {"url": …, "siren": … (optional)} → 201, with the secret
    GET    /api/v1/callbacks           the live registrations of the agent's SIRENs (?siren=)
    DELETE /api/v1/callbacks/{id}      204
    GET    /admin/callbacks            every registration (deleted ones too)
    GET    /admin/callbacks/deliveries deliveries with each attempt (?callback=&transaction=&state=&limit=)

Each delivery is a JSON POST signed in `X-Operator-Sim-Signature: sha256=<hex HMAC-SHA256 of
the body under the secret>` (see `engine.callbacks`). A registration is refused 422
CALLBACK_URL_INVALID (not http/https), 422 CALLBACK_URL_REFUSED (the simulator's own ports, or
loopback unless allowed) or 409 CALLBACK_LIMIT (too many for the SIREN). Each attempt in the
deliveries journal has `at` on the simulator's clock and `real_at` in real time.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine.callbacks import EVENT_HEADER, SIGNATURE_HEADER, Callbacks
from ..errors import Kind
from .http import BadRequest, json_object, query_number, row_id, simulator_of
from .keys import CALLBACKS, IDENTITY

STATES = ("pending", "delivered", "failed", "cancelled")


async def register(request: web.Request) -> web.Response:
    data = await json_object(request)
    siren = data.get("siren")
    if siren is not None and not isinstance(siren, str):
        raise BadRequest("FIELD_INVALID", "siren : texte attendu", "siren: text expected",
                         field="siren", kind=Kind.INVALID)
    callback = await request.app[CALLBACKS].register(request[IDENTITY], data.get("url"), siren)
    return web.json_response({**callback.to_dict(secret=True), "signature_header": SIGNATURE_HEADER,
                              "event_header": EVENT_HEADER}, status=201)


async def list_registered(request: web.Request) -> web.Response:
    found = await request.app[CALLBACKS].registered(request[IDENTITY], request.query.get("siren"))
    return web.json_response({"items": [c.to_dict() for c in found]})


async def delete(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    callback_id = row_id(raw)
    if callback_id is None:
        raise BadRequest("CALLBACK_UNKNOWN", f"aucun callback {raw}", f"no callback {raw}",
                         kind=Kind.NOT_FOUND)
    await request.app[CALLBACKS].delete(request[IDENTITY], callback_id)
    return web.Response(status=204)


def add_routes(app: web.Application, callbacks: Callbacks) -> None:
    app[CALLBACKS] = callbacks
    app.router.add_post("/api/v1/callbacks", register)
    app.router.add_get("/api/v1/callbacks", list_registered)
    app.router.add_delete("/api/v1/callbacks/{id}", delete)


# -- admin ----------------------------------------------------------------------------------------

async def admin_registrations(request: web.Request) -> web.Response:
    found = await simulator_of(request).engine.store.query(
        lambda s: s.callbacks(include_deleted=True))
    return web.json_response({"items": [c.to_dict() for c in found]})


async def admin_deliveries(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise BadRequest("BAD_PARAMETER", f"state : {', '.join(STATES)}",
                         f"state: one of {', '.join(STATES)}")
    filters: dict[str, Any] = {"callback_id": query_number(request, "callback"),
                               "transaction_id": query_number(request, "transaction"),
                               "state": state, "limit": min(query_number(request, "limit") or 100, 1000)}
    found = await simulator_of(request).callbacks.deliveries(**filters)
    return web.json_response({"items": found})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/callbacks", admin_registrations)
    app.router.add_get("/admin/callbacks/deliveries", admin_deliveries)


__all__ = ["add_admin_routes", "add_routes"]
