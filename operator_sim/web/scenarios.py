"""Admin routes of the simulation (scenario rules, reset, clock, scheduled events, health) and
the API middleware that shows a rule's faults.

Handlers translate HTTP ⇄ `engine.scenarios` / `engine.scheduler` / `engine.simulation` calls;
the dashboard calls those same functions.

    GET    /admin/scenarios          the rules in matching order, with origin and hits
    POST   /admin/scenarios          add one rule (JSON, `position` optional; default: last)
    PUT    /admin/scenarios          replace them all ({"rules": [...]})
    DELETE /admin/scenarios/{id}     remove one
    POST   /admin/reset              clean state ({"transactions": true, "callbacks": true})
    GET    /admin/clock              now, kind, pending events
    POST   /admin/clock              {"set": iso} or {"advance": "P2D" | seconds}, virtual only
    GET    /admin/schedule           scheduled events (?state=pending|fired&transaction=)
    GET    /admin/health             up, and the simulator's time
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web

from ..engine import simulation
from ..engine.scenarios import ScenarioError, parse_duration, parse_rule, parse_rules
from ..engine.scheduler import EARLIEST, LATEST, ClockNotVirtual, ClockOutOfRange
from ..errors import Kind
from ..simulator import Simulator
from .http import BadRequest, json_object, query_number, simulator_of
from .keys import DROPPED, SCENARIO, Handler


def _invalid(error: ScenarioError) -> BadRequest:
    return BadRequest(error.code, error.message_fr, error.message_en, field=error.field or None,
                      kind=error.kind)


# -- the API side: a matched rule's slow answer or dropped connection ---------------------------

@web.middleware
async def show_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After a submission was stored: wait `slow_ms`, and/or drop the connection unanswered."""
    response = await handler(request)
    decision = request.get(SCENARIO)
    if decision is None:
        return response
    if decision.faults.slow_ms:
        await asyncio.sleep(decision.faults.slow_ms / 1000)
    if decision.faults.drop_connection and request.transport is not None:
        request[DROPPED] = True
        request.transport.abort()  # as a network fault would: no answer, no TLS close_notify
    return response


async def health(request: web.Request) -> web.Response:
    """GET /admin/health: up, and what time it is for the simulator."""
    simulator = simulator_of(request)
    return web.json_response({"status": "ok", "clock": simulator.clock.now().isoformat(),
                              "clock_kind": simulator.config.clock})


# -- rules -------------------------------------------------------------------------------------

async def list_scenarios(request: web.Request) -> web.Response:
    book = simulator_of(request).scenarios
    return web.json_response({"source": None if book.source is None else str(book.source),
                              "rules": await book.listing()})


async def add_scenario(request: web.Request) -> web.Response:
    book = simulator_of(request).scenarios
    data = await json_object(request)
    position = data.pop("position", None)
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise BadRequest("SCENARIO_INVALID", "position : entier attendu",
                         "position: whole number expected", field="position", kind=Kind.INVALID)
    try:
        rule = parse_rule(data, default_id=f"rule-{len(book.rules) + 1}")
        await book.add(rule, position=position)
    except ScenarioError as error:
        raise _invalid(error) from None
    return web.json_response(rule.to_dict(), status=201)


async def replace_scenarios(request: web.Request) -> web.Response:
    book = simulator_of(request).scenarios
    data = await json_object(request)
    try:
        rules = parse_rules(data.get("rules"))
    except ScenarioError as error:
        raise _invalid(error) from None
    await book.replace_all(rules)
    return web.json_response({"rules": await book.listing()})


async def delete_scenario(request: web.Request) -> web.Response:
    book = simulator_of(request).scenarios
    rule_id = request.match_info["id"]
    await book.remove(rule_id)  # ScenarioUnknown: a Refusal (not found)
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    """Rules back to the file's, events cleared; transactions and callbacks too unless told."""
    simulator = simulator_of(request)
    data = await json_object(request, optional=True)
    options = {}
    for name in ("transactions", "callbacks"):
        value = data.pop(name, True)
        if not isinstance(value, bool):
            raise BadRequest("RESET_INVALID", f"{name} : true ou false attendu",
                             f"{name}: true or false expected", field=name, kind=Kind.INVALID)
        options[name] = value
    if data:
        raise BadRequest("RESET_INVALID", f"option inconnue {sorted(data)[0]!r}",
                         f"unknown option {sorted(data)[0]!r}", field=sorted(data)[0], kind=Kind.INVALID)
    try:
        report = await simulation.reset(simulator.scenarios, simulator.scheduler, **options)
    except ScenarioError as error:  # the file turned unreadable since the start
        raise _invalid(error) from None
    return web.json_response(report.to_dict())


# -- the clock -----------------------------------------------------------------------------------

async def _clock_json(simulator: Simulator) -> dict[str, Any]:
    pending, next_due = await simulator.engine.store.query(lambda s: s.pending_summary())
    return {"now": simulator.clock.now().isoformat(), "today": simulator.clock.today().isoformat(),
            "kind": "virtual" if simulator.scheduler.virtual else "real",
            "pending_events": pending, "next_due": None if next_due is None else next_due.isoformat()}


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(await _clock_json(simulator_of(request)))


async def move_clock(request: web.Request) -> web.Response:
    """Set or advance a virtual clock; the events it passes fire, in order, before the answer."""
    simulator = simulator_of(request)
    data = await json_object(request)
    if set(data) not in ({"set"}, {"advance"}):
        raise BadRequest("CLOCK_REQUEST_INVALID",
                         "un seul membre attendu : set (date ISO 8601) ou advance (durée)",
                         "exactly one member expected: set (ISO 8601 instant) or advance (duration)",
                         kind=Kind.INVALID)
    try:
        if "set" in data:
            at = _instant(data["set"])
            _, fired = await simulator.scheduler.set(at)
        else:
            try:
                delta = parse_duration(data["advance"], "advance")
            except ScenarioError as error:
                raise _invalid(error) from None
            _, fired = await simulator.scheduler.advance(delta)
    except ClockNotVirtual:
        raise BadRequest("CLOCK_NOT_VIRTUAL",
                         "l'horloge est réelle : démarrer avec clock = virtual pour la déplacer",
                         "the clock is real: start with clock = virtual to move it",
                         kind=Kind.CONFLICT) from None
    except ClockOutOfRange:
        raise BadRequest("CLOCK_OUT_OF_RANGE",
                         f"l'horloge virtuelle va du {EARLIEST:%Y-%m-%d} au {LATEST:%Y-%m-%d} (UTC)",
                         f"the virtual clock goes from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)",
                         field=next(iter(data)), kind=Kind.INVALID) from None
    return web.json_response({**await _clock_json(simulator),
                              "fired": [e.to_dict() for e in fired]})


def _instant(value: object) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise BadRequest("CLOCK_REQUEST_INVALID",
                         f"set : {value!r} n'est pas un instant ISO 8601 avec fuseau "
                         "(2026-03-01T09:00:00+01:00 ou …Z)",
                         f"set: {value!r} is not an ISO 8601 instant with an offset "
                         "(2026-03-01T09:00:00+01:00 or …Z)", field="set", kind=Kind.INVALID)
    return at


async def list_schedule(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state not in (None, "pending", "fired"):
        raise BadRequest("BAD_PARAMETER", "state : pending ou fired", "state: pending or fired")
    transaction_id = query_number(request, "transaction")
    found = await simulator_of(request).engine.store.query(
        lambda s: s.events(state=state, transaction_id=transaction_id, limit=1000))
    return web.json_response({"items": [e.to_dict() for e in found]})


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/scenarios", list_scenarios)
    r.add_post("/admin/scenarios", add_scenario)
    r.add_put("/admin/scenarios", replace_scenarios)
    r.add_delete("/admin/scenarios/{id}", delete_scenario)
    r.add_post("/admin/reset", reset)
    r.add_get("/admin/clock", get_clock)
    r.add_post("/admin/clock", move_clock)
    r.add_get("/admin/schedule", list_schedule)


__all__ = ["add_admin_routes", "health", "show_faults"]
