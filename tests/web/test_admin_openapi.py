"""operator_sim/web/admin-openapi.json: the admin port described as /api/v1 is, and checked alike.

Every (method, path) the admin application registers must be documented, and every documented
one must exist — except the dashboard's HTML pages and its static files, which are a user
interface, not an API. The document is valid OpenAPI 3, served at /admin/openapi.json, and
real answers match its schemas.
"""

from __future__ import annotations

import json
from importlib import resources

from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from operator_sim.testing import corpus
from operator_sim.web import dashboard, pilotage
from operator_sim.web.admin import create_admin_app

from .test_dashboard import submit_held
from .test_openapi import ERROR, METHODS, documented, refusals, schema_checker, template


def document() -> dict:
    return json.loads(resources.files("operator_sim.web").joinpath("admin-openapi.json")
                      .read_text(encoding="utf-8"))


def admin_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route of the admin port but the dashboard's pages and files."""
    pages = {handler for _, _, handler in pilotage.DASHBOARD_PAGES}
    return {(route.method, template(route.resource)) for route in app.router.routes()
            if route.method in METHODS and route.resource is not None
            and not isinstance(route.resource, web.StaticResource)
            and route.handler.__module__ != dashboard.__name__ and route.handler not in pages}


def test_the_document_is_a_valid_openapi_3_description():
    spec = document()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_admin_route_is_documented_and_every_documented_route_exists(served):
    registered, described = admin_routes(create_admin_app(served.simulator)), documented(document())
    assert {("POST", "/admin/transactions/{id}/courriers"), ("POST", "/tsa"),
            ("GET", "/admin/pilotage/courriers/{siren}.pdf")} <= registered
    assert ("GET", "/admin/tableau/pilotage") not in registered  # a dashboard page
    assert registered - described == set(), "routes missing from operator_sim/web/admin-openapi.json"
    assert described - registered == set(), "documented routes the admin port does not serve"


def test_every_operation_but_the_tsa_needs_the_token_and_errors_have_the_one_shape():
    for method, path, answers in refusals(document()):
        assert ("401" in answers) == (path != "/tsa"), (method, path)
        assert all(s == ERROR for s in answers.values()), (method, path, answers)


def checker(name: str) -> Draft202012Validator:
    return schema_checker(document(), name)


async def test_the_served_document_and_real_answers_match_it(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    answers: list[tuple[str, object]] = []
    async with served.admin_session() as http:
        async with http.get("/admin/openapi.json") as r:
            assert r.status == 200 and r.content_type == "application/json"
            assert await r.json() == document()

        async def get(path: str, schema: str, status: int = 200) -> dict:
            async with http.get(path) as r:
                body = await r.json()
                assert r.status == status, body
            answers.append((schema, body))
            return body

        async def post(path: str, payload: dict, schema: str, status: int = 201) -> dict:
            async with http.post(path, json=payload) as r:
                body = await r.json()
                assert r.status == status, body
            answers.append((schema, body))
            return body

        await get("/admin/health", "Health")
        await get("/admin/actes", "TransactionPage")
        await post(f"/admin/transactions/{held.id}/acquittement", {}, "Outcome")
        letter = await post(f"/admin/transactions/{held.id}/courriers",
                            {"code": "3-1", "text": "Le plan de situation"}, "Outcome")
        detail = await get(f"/admin/transactions/{letter['transaction']['id']}",
                           "TransactionDetail")
        assert detail["courrier"]["code"] == "3-1"
        await get(f"/admin/transactions/{held.id}", "TransactionDetail")
        await get("/admin/clock", "Clock")
        await get("/admin/schedule?state=pending", "Items")
        await get("/admin/conventions", "Items")
        await get("/admin/pilotage/reglages", "Reglages")
        await get("/admin/scenarios", "Rules")
        await get("/admin/transactions/999999", "Error", 404)
        await post(f"/admin/transactions/{held.id}/rejet", {"nature": "x"}, "Error", 422)
    for schema, body in answers:
        checker(schema).validate(body)
