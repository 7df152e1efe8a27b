"""Hostile input on the admin port: each is a specific 4xx refusal (JSON on /admin/*, a French
page or flash message on the dashboard), never a 500, a dropped connection or a changed store."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import urlsplit

import pytest

from operator_sim.engine.scenarios import parse_rule
from operator_sim.protocol.codes import TransactionStatus
from operator_sim.store import TransactionFilter
from operator_sim.testing import corpus

from .simkit import SIREN, act, serve, submit, virtual_start
from .test_dashboard import submit_held

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

XML_UNFIT = ["a\x00b", "a\x01b", "\ud800"]
XML_UNFIT_IDS = ["nul", "control", "lone-surrogate"]


@pytest.fixture
async def virtual(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual",
                     clock_start=virtual_start()) as served:
        yield served


async def acknowledged(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    return (await served.simulator.prefecture.acknowledge(held.id)).transaction


async def related_ids(served, transaction_id):
    found = await served.simulator.engine.store.list(TransactionFilter(related_transaction_id=transaction_id))
    return [r.id for r in found.items]


async def error(response):
    body = await response.json()
    assert {"code", "message_fr", "message_en"} <= set(body), body
    return body


def flash_of(response) -> str:
    """The flash message a dashboard POST leaves for the page it redirects to."""
    cookie = response.cookies["operator_sim_flash"].value
    return json.loads(base64.urlsafe_b64decode(cookie))["message"]


async def dashboard_post(served, path, **kwargs):
    async with served.admin_session() as http, http.post(
            path, headers={"Origin": served.admin_url, **kwargs.pop("headers", {})},
            allow_redirects=False, **kwargs) as r:
        assert r.status == 303, await r.text()
        message = flash_of(r)
    assert "Erreur interne" not in message
    return r.headers["Location"], message


# -- préfecture decisions and letters ------------------------------------------------------------

@pytest.mark.parametrize("detail", XML_UNFIT, ids=XML_UNFIT_IDS)
async def test_a_rejection_detail_xml_cannot_carry_is_refused_and_the_act_stays_held(
        served, tmp_path, detail):
    held = await submit_held(served, corpus.build(), tmp_path)
    async with served.admin_session() as http, http.post(
            f"/admin/transactions/{held.id}/rejet", json={"nature": "001", "detail": detail}) as r:
        assert r.status == 422
        body = await error(r)
    assert body["code"] == "FIELD_INVALID" and body["field"] == "detail"
    store = served.simulator.engine.store
    assert (await store.get(held.id)).status is TransactionStatus.TRANSMIS
    assert "1-3" not in [m.code for m in await store.messages(held.id)]


@pytest.mark.parametrize("code", ["2-1", "3-1", "4-1", "5-1"])
@pytest.mark.parametrize("text", XML_UNFIT, ids=XML_UNFIT_IDS)
async def test_a_letter_text_xml_cannot_carry_is_refused_and_no_letter_is_stored(
        served, tmp_path, code, text):
    acte = await acknowledged(served, tmp_path)
    async with served.admin_session() as http, http.post(
            f"/admin/transactions/{acte.id}/courriers", json={"code": code, "text": text}) as r:
        assert r.status == 422
        body = await error(r)
    assert body["code"] == "FIELD_INVALID" and body["field"] == "text"
    assert await related_ids(served, acte.id) == []


async def test_the_dashboard_explains_a_rejection_detail_xml_cannot_carry(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    _, message = await dashboard_post(served, f"/admin/actes/{held.id}/rejeter",
                                      data={"nature": "001", "detail": "a\x01b"})
    assert "caractère de contrôle interdit" in message
    assert (await served.simulator.engine.store.get(held.id)).status is TransactionStatus.TRANSMIS


BROKEN_MULTIPART = {
    "no-boundary": ("multipart/form-data",
                    b"--B\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n2-1"),
    "cut-short": ("multipart/form-data; boundary=B",
                  b"--B\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n2-"),
}


@pytest.mark.parametrize("kind", BROKEN_MULTIPART)
async def test_a_broken_multipart_letter_is_a_400_on_the_api_and_a_message_on_the_dashboard(
        served, tmp_path, kind):
    acte = await acknowledged(served, tmp_path)
    content_type, body = BROKEN_MULTIPART[kind]
    async with served.admin_session() as http, http.post(
            f"/admin/transactions/{acte.id}/courriers", data=body,
            headers={"Content-Type": content_type}) as r:
        assert r.status == 400
        assert (await error(r))["code"] == "MULTIPART_INVALID"
    _, message = await dashboard_post(served, f"/admin/actes/{acte.id}/courriers", data=body,
                                      headers={"Content-Type": content_type})
    assert "multipart illisible" in message
    assert await related_ids(served, acte.id) == []


# -- the clock -------------------------------------------------------------------------------------

@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59+00:00",
                                "9999-12-31T23:59:59+00:00", "9000-01-01T00:00:01+00:00"])
async def test_setting_the_clock_outside_its_span_is_refused_and_it_does_not_move(virtual, at):
    before = virtual.simulator.clock.now()
    async with virtual.admin_session() as http, http.post("/admin/clock", json={"set": at}) as r:
        assert r.status == 422
        body = await error(r)
    assert body["code"] == "CLOCK_OUT_OF_RANGE" and body["field"] == "set"
    assert virtual.simulator.clock.now() == before


async def test_advancing_the_clock_past_its_span_is_refused(virtual):
    async with virtual.admin_session() as http:
        async with http.post("/admin/clock", json={"set": "8999-12-31T00:00:00+00:00"}) as r:
            assert r.status == 200
        async with http.post("/admin/clock", json={"advance": "P2D"}) as r:
            assert r.status == 422
            body = await error(r)
    assert body["code"] == "CLOCK_OUT_OF_RANGE" and body["field"] == "advance"
    assert virtual.simulator.clock.now().isoformat() == "8999-12-31T00:00:00+00:00"


@pytest.mark.parametrize("raw", [b'{"advance": ' + b"9" * 400 + b"}", '{"advance": "²"}'.encode()],
                         ids=["huge-number", "superscript-digit"])
async def test_an_unusable_advance_is_a_422(virtual, raw):
    before = virtual.simulator.clock.now()
    async with virtual.admin_session() as http, http.post(
            "/admin/clock", data=raw, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 422
        assert (await error(r))["code"] == "SCENARIO_INVALID"
    assert virtual.simulator.clock.now() == before


@pytest.mark.parametrize("path, form", [
    ("/admin/tableau/horloge/regler", {"instant": "0001-01-01T00:00"}),
    ("/admin/tableau/horloge/regler", {"instant": "9999-12-31T23:00"}),
], ids=["year-1", "year-9999"])
async def test_the_dashboard_refuses_a_clock_outside_its_span(virtual, path, form):
    before = virtual.simulator.clock.now()
    _, message = await dashboard_post(virtual, path, data=form)
    assert "L'horloge virtuelle va du 01/01/1970 au 01/01/9000" in message
    assert virtual.simulator.clock.now() == before


async def test_a_clock_form_back_address_with_a_line_break_is_not_followed(virtual):
    location, message = await dashboard_post(
        virtual, "/admin/tableau/horloge?retour=/admin/%0d%0aSet-Cookie:%20x=1",
        data={"quantite": "1", "unite": "minutes"})
    assert location == "/admin/" and message.startswith("Horloge avancée")


# -- dashboard forms and pages --------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, expected", [
    (b"quantite=\xff&unite=jours", "application/x-www-form-urlencoded", "Formulaire illisible"),
    (b"x", "multipart/form-data", "Formulaire illisible"),
    (b"quantite=1&unite=jours&x=" + b"y" * 3_000_000, "application/x-www-form-urlencoded",
     "Formulaire trop volumineux"),
], ids=["not-utf8", "no-boundary", "huge"])
async def test_an_unreadable_dashboard_form_is_explained_and_changes_nothing(
        virtual, body, content_type, expected):
    before = virtual.simulator.clock.now()
    _, message = await dashboard_post(virtual, "/admin/tableau/horloge", data=body,
                                      headers={"Content-Type": content_type})
    assert message.startswith(expected)
    assert virtual.simulator.clock.now() == before


@pytest.mark.parametrize("toml", ["a = " + "[" * 5000 + "]" * 5000, "x = { " * 3000],
                         ids=["arrays", "inline-tables"])
async def test_deeply_nested_toml_is_refused_as_toml(served, toml):
    before = await served.simulator.scenarios.listing()
    _, message = await dashboard_post(served, "/admin/tableau/scenarios", data={"toml": toml})
    assert message.startswith("TOML invalide")
    assert await served.simulator.scenarios.listing() == before


@pytest.mark.parametrize("params", [{"au": "9999-12-31"}, {"du": "0001-01-01"}])
async def test_a_filter_date_at_the_ends_of_the_calendar_is_explained(served, params):
    async with served.admin_session() as http, http.get("/admin/", params=params) as r:
        page = await r.text()
        assert r.status == 400, page[:300]
    assert "hors des dates possibles" in page


# -- scenario rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    {"id": "r", "outcome": {"kind": "anomalie", "nature": "001", "detail": "a\x00b"}},
    {"id": "r", "outcome": {"kind": "letter", "code": "3-1", "text": "a\x01b"}},
    {"id": "r", "outcome": {"kind": "defere", "text": "\ud800"}},
    {"id": "r", "match": {"objet": "a\x0bb"}},
], ids=["anomalie-detail", "letter-text", "defere-text", "match-objet"])
async def test_a_rule_with_text_xml_cannot_carry_is_refused(served, rule):
    async with served.admin_session() as http, http.post("/admin/scenarios", json=rule) as r:
        assert r.status == 422
        assert (await error(r))["code"] == "SCENARIO_INVALID"
    assert served.simulator.scenarios.rules == ()


async def test_a_dashboard_rule_with_a_control_character_is_refused(served):
    toml = 'id = "r"\noutcome = { kind = "anomalie", nature = "001", detail = "a\\u0001b" }'
    _, message = await dashboard_post(served, "/admin/tableau/scenarios", data={"toml": toml})
    assert "caractère de contrôle interdit" in message
    assert served.simulator.scenarios.rules == ()



async def test_a_backtracking_objet_regex_cannot_stall_the_simulator(served):
    """With `re`, `(a+)+$` takes ~20 s on this objet (doubling with each letter) on the event loop."""
    async with served.admin_session() as http, http.post("/admin/scenarios", json={
            "id": "redos", "match": {"objet_regex": "(a+)+$"},
            "outcome": {"kind": "anomalie", "nature": "001"}}) as r:
        assert r.status == 201
    started = time.monotonic()
    async with served.agent_session(served.enrol(SIREN)) as http:
        status, body = await submit(http, act("DELIB2024_001", objet="a" * 27 + "!"))
    assert status == 201 and body["transaction"]["status"] == int(TransactionStatus.ACQUITTEMENT_RECU)
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?<!a)b"],
                         ids=["backreference", "lookahead", "lookbehind"])
async def test_an_objet_regex_needing_backtracking_is_refused(served, pattern):
    async with served.admin_session() as http, http.post(
            "/admin/scenarios", json={"id": "r", "match": {"objet_regex": pattern}}) as r:
        assert r.status == 422
        body = await error(r)
    assert body["code"] == "SCENARIO_INVALID" and body["field"] == "match.objet_regex"
    assert "expression régulière invalide" in body["message_fr"]
    assert served.simulator.scenarios.rules == ()


# -- collectivités -----------------------------------------------------------------------------------

@pytest.mark.parametrize("nom", ["x" * 256, "Mairie\x00", "Mairie\nde X", "\ud800"],
                         ids=["too-long", "nul", "line-break", "lone-surrogate"])
async def test_an_unusable_collectivite_name_is_refused_and_the_stored_one_kept(served, nom):
    idcl = {"departement": "034", "arrondissement": "1", "nature": "31"}
    async with served.admin_session() as http:
        async with http.put(f"/admin/collectivites/{SIREN}", json={**idcl, "nom": "Mairie"}) as r:
            assert r.status == 201
        async with http.put(f"/admin/collectivites/{SIREN}", json={**idcl, "nom": nom}) as r:
            assert r.status == 422
            body = await error(r)
    assert body["code"] == "FIELD_INVALID" and body["field"] == "nom"
    stored = await served.simulator.engine.store.call(lambda s: s.get_collectivite(SIREN))
    assert stored.nom == "Mairie"


# -- the token guard and the origin check ------------------------------------------------------------

async def raw_request(served, head: bytes) -> tuple[int, bytes]:
    """Send bytes no HTTP client library would (headers that are not UTF-8) to the admin port."""
    address = urlsplit(served.admin_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head + b"Host: localhost\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("header", [b"Authorization: Bearer \xff\xfe",
                                    b"Cookie: operator_sim_admin=\xff\xfe"], ids=["bearer", "cookie"])
async def test_a_token_that_is_not_utf8_is_a_401(served, header):
    status, body = await raw_request(served, b"GET /admin/health HTTP/1.1\r\n" + header + b"\r\n")
    assert status == 401
    assert json.loads(body)["code"] == "ADMIN_TOKEN_REQUIRED"


async def test_a_form_whose_referer_is_no_address_is_refused_as_foreign(virtual):
    before = virtual.simulator.clock.now()
    status, body = await raw_request(virtual, b"POST /admin/tableau/horloge HTTP/1.1\r\n"
                                     b"Authorization: Bearer " + virtual.admin_token.encode()
                                     + b"\r\nReferer: http://[::1\r\nContent-Length: 0\r\n")
    assert status == 403
    assert "ne vient pas du tableau de bord" in body.decode()
    assert virtual.simulator.clock.now() == before


@pytest.mark.parametrize("toml, stored", [
    ('[[rules]]\nid = "a"\n[[rules]]\nid = "b"\n[[rules]]\nid = "a"', []),
    ('[[rules]]\nid = "c"\n[[rules]]\nid = "kept"', ["kept"]),
], ids=["repeated-in-the-form", "already-stored"])
async def test_rules_from_one_form_are_added_all_or_none(served, toml, stored):
    if stored:
        await served.simulator.scenarios.add(*[parse_rule({"id": i}) for i in stored])
    _, message = await dashboard_post(served, "/admin/tableau/scenarios", data={"toml": toml})
    assert "existe déjà" in message
    assert [r.id for r in served.simulator.scenarios.rules] == stored


async def test_an_offset_typed_in_the_clock_form_is_kept_not_replaced_by_paris(virtual):
    _, message = await dashboard_post(virtual, "/admin/tableau/horloge/regler",
                                      data={"instant": "2026-01-01T00:00+05:00"})
    assert message.startswith("Horloge réglée")
    assert virtual.simulator.clock.now().isoformat() == "2025-12-31T19:00:00+00:00"
