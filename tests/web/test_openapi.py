"""operator_sim/web/openapi.json: a valid OpenAPI 3 document that matches the served API.

Every (method, path) the application registers under /api/v1 must be documented, and every
documented one must exist, so a route added later without its documentation fails here.
Real responses are checked against the documented schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources

import aiohttp
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from operator_sim.testing import corpus
from operator_sim.web.app import create_app

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

SIREN = corpus.COMMUNE.siren
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def document() -> dict:
    return json.loads(resources.files("operator_sim.web").joinpath("openapi.json").read_text())


def template(resource) -> str:
    """A route's path as OpenAPI writes it: aiohttp's `{siren:[0-9]{9}}.pdf` is `{siren}.pdf`."""
    info = resource.get_info()
    return info.get("formatter") or info.get("path") or resource.canonical


def routed(app, prefix: str = "/api/v1/") -> set[tuple[str, str]]:
    """(method, path) of the routes under `prefix`."""
    return {(route.method, template(route.resource)) for route in app.router.routes()
            if route.resource is not None and route.method in METHODS
            and template(route.resource).startswith(prefix)}


def documented(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method.upper() in METHODS}


def test_the_document_is_a_valid_openapi_3_description():
    spec = document()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_api_route_is_documented_and_every_documented_route_exists(served):
    app = create_app(served.simulator)
    registered, described = routed(app), documented(document())
    assert ("POST", "/api/v1/actes") in registered
    assert registered - described == set(), "routes missing from operator_sim/web/openapi.json"
    assert described - registered == set(), "documented routes the application does not serve"


def test_every_operation_documents_its_errors_in_the_one_error_shape():
    for method, path, answers in refusals(document()):
        assert "401" in answers, (method, path)
        assert all(s == ERROR for s in answers.values()), (method, path, answers)


ERROR = {"$ref": "#/components/schemas/Error"}


def refusals(spec: dict) -> Iterator[tuple[str, str, dict[str, dict]]]:
    """Each operation's 4xx answers: status code → the JSON schema it answers with."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.upper() not in METHODS:
                continue
            answers = {}
            for code in (c for c in operation["responses"] if c.startswith("4")):
                ref = operation["responses"][code]["$ref"]
                response = spec["components"]["responses"][ref.rsplit("/", 1)[-1]]
                answers[code] = response["content"]["application/json"]["schema"]
            yield method, path, answers


def schema_checker(spec: dict, name: str) -> Draft202012Validator:
    """A validator for one of the document's component schemas (its $refs resolved)."""
    registry = Registry().with_resource(
        "urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:spec#/components/schemas/{name}"},
                                registry=registry)


def checker(name: str) -> Draft202012Validator:
    return schema_checker(document(), name)


async def test_the_served_document_and_real_answers_match_it(served):
    async with served.agent_session(served.enrol(SIREN)) as http:
        async with http.get("/api/v1/openapi.json") as r:
            assert r.status == 200 and r.content_type == "application/json"
            assert await r.json() == document()
        async with http.post("/api/v1/archives", params={"name": corpus.build().name},
                             data=corpus._pack(corpus.build())[1],
                             headers={"Content-Type": "application/gzip"}) as r:
            submitted = await r.json()
        tid = submitted["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{tid}") as r:
            detail = await r.json()
        async with http.get("/api/v1/transactions") as r:
            page = await r.json()
        async with http.post(f"/api/v1/transactions/{tid}/annulation") as r:
            cancelled = await r.json()
        form = aiohttp.FormData()
        form.add_field("nature", "DE")
        form.add_field("acte", b"%PDF-1.4", filename="acte.pdf")
        async with http.post("/api/v1/actes", data=form) as r:
            field_error = await r.json()
        async with http.get("/api/v1/transactions/999") as r:
            not_found = await r.json()
    for name, body in (("Submitted", submitted), ("TransactionDetail", detail),
                       ("TransactionPage", page), ("RequestOutcome", cancelled),
                       ("Error", field_error), ("Error", not_found)):
        checker(name).validate(body)
    assert field_error["field"]
