"""The JSON door answers any `Refusal` from its table, whichever layer raised it: a real aiohttp
server on 127.0.0.1 whose one route raises what the parameter names, behind `json_errors`."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from operator_sim.engine.intake import RequestRefused
from operator_sim.engine.lifecycle import IllegalTransition
from operator_sim.errors import Kind
from operator_sim.pki.identity import Forbidden
from operator_sim.protocol.errors import ProtocolError
from operator_sim.store import StoreBusy
from operator_sim.web.http import BadRequest, json_errors


async def _answer(error: BaseException) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    async def raising(_request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/", raising)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/") as response:
            return response.status, await response.json(), response.headers
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("error", "status", "code"), [
    (ProtocolError("bad name", "nom invalide", code="NAME_INVALID", field="name"), 422,
     "NAME_INVALID"),
    (RequestRefused("DAILY_SERIALS_EXHAUSTED", "épuisé", "exhausted", kind=Kind.EXHAUSTED), 429,
     "DAILY_SERIALS_EXHAUSTED"),
    (IllegalTransition("17 -> 4"), 409, "ILLEGAL_TRANSITION"),
    (Forbidden("not yours"), 403, "FORBIDDEN_SIREN"),
    (BadRequest("UNSUPPORTED_MEDIA_TYPE", "type non accepté", "type not accepted"), 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    (BadRequest("BAD_PARAMETER", "entier attendu", "integer expected", field="limit"), 400,
     "BAD_PARAMETER"),
])
async def test_a_refusal_from_any_layer_is_answered_from_the_json_table(error, status, code):
    answered, body, _ = await _answer(error)
    assert (answered, body["code"]) == (status, code)
    assert (body["message_fr"], body["message_en"]) == (error.message_fr, error.message_en)
    assert body.get("field") == error.field


async def test_the_machines_fault_keeps_its_words_and_retry_after():
    status, body, headers = await _answer(StoreBusy("database is locked"))
    assert (status, body["code"], headers["Retry-After"]) == (503, "STORE_BUSY", "10")
    assert "réessayez plus tard" in body["message_fr"]


async def test_a_bug_is_still_a_500_without_its_details():
    status, body, _ = await _answer(RuntimeError("secret detail"))
    assert (status, body["code"]) == (500, "INTERNAL")
    assert "secret" not in str(body)
