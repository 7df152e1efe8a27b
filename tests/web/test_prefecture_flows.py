"""The préfecture's flows end to end from both sides: the préfecture on the admin port (bearer
token), the collectivité on the API (in-process client); real sockets, real SQLite, real openssl."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from operator_sim.pki import Identity
from operator_sim.testing import corpus

from .simkit import openssl_cms_verify

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"
XSD = Path(__file__).resolve().parents[2] / "schemas" / "actes" / "actes.xsd"
PDF = corpus.minimal_pdf("réponse de la commune")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


async def held_act(served, tmp_path: Path, numero: int = 1) -> int:
    """An act held at "transmis" (3), waiting for the préfecture's decision."""
    agent = served.enrol(SIREN)
    who = Identity(fingerprint=agent.fingerprint, name="Agent de test", sirens=frozenset({SIREN}),
                   roles=frozenset({"read", "submit", "cancel", "answer"}),
                   certificate_siren=SIREN)
    built = corpus.build(corpus.base_request(numero_interne=f"HELD{numero}"), numero=numero)
    folder = tmp_path / f"held-{numero}"
    folder.mkdir()
    outcome = await served.simulator.engine.submit_archive(who, built.name, built.write(folder),
                                                           hold=True)
    return outcome.transaction.id


async def acknowledged_act(http: aiohttp.ClientSession) -> int:
    built = corpus.build()
    async with http.post("/api/v1/archives", params={"name": built.name},
                         data=corpus._pack(built)[1],
                         headers={"Content-Type": "application/gzip"}) as r:
        body = await r.json()
        assert r.status == 201 and body["outcome"] == "1-2", body
    return body["transaction"]["id"]


async def send(admin: aiohttp.ClientSession, acte_id: int, code: str, **body) -> dict:
    async with admin.post(f"/admin/transactions/{acte_id}/courriers", json={"code": code, **body}) as r:
        sent = await r.json()
        assert r.status == 201, sent
    return sent


async def answer(http: aiohttp.ClientSession, letter_id: int, code: str,
                 documents=(("reponse.pdf", PDF),)) -> tuple[int, dict]:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("code", code)
    for name, content in documents:
        form.add_field("documents", content, filename=name, content_type="application/octet-stream")
    async with http.post(f"/api/v1/courriers/{letter_id}/reponse", data=form) as r:
        return r.status, await r.json()


async def detail(admin: aiohttp.ClientSession, transaction_id: int) -> dict:
    async with admin.get(f"/admin/transactions/{transaction_id}") as r:
        assert r.status == 200
        return await r.json()


async def check_message(http, transaction_id: int, code: str, served, schema, tmp_path) -> bytes:
    """Download a préfecture message as the collectivité: XSD-valid, CMS signature verified."""
    async with http.get(f"/api/v1/transactions/{transaction_id}/messages/{code}") as r:
        assert r.status == 200
        xml = await r.read()
    async with http.get(f"/api/v1/transactions/{transaction_id}/messages/{code}/signature") as r:
        assert r.status == 200
        p7s = await r.read()
    assert schema.validate(etree.fromstring(xml)), schema.error_log
    verified = openssl_cms_verify(tmp_path, xml, p7s, served.simulator.pki.roots_path)
    assert verified.returncode == 0, verified.stderr
    return xml


# -- the préfecture decides on a held act -----------------------------------------------------------

async def test_prefecture_lists_and_acknowledges_a_held_act(served, tmp_path):
    acte_id = await held_act(served, tmp_path)
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        async with admin.get("/admin/actes", params={"siren": SIREN, "status": "3",
                                                     "nature": "DE"}) as r:
            listed = await r.json()
        assert [t["id"] for t in listed["items"]] == [acte_id] and listed["total"] == 1
        async with admin.get("/admin/actes", params={"status": "4"}) as r:
            assert (await r.json())["total"] == 0
        async with admin.post(f"/admin/transactions/{acte_id}/acquittement") as r:
            done = await r.json()
            assert r.status == 201 and done["outcome"] == "1-2" and done["id_acte"]
        async with http.get(f"/api/v1/transactions/{acte_id}") as r:
            seen = await r.json()
        assert seen["transaction"]["status"] == 4
        assert [m["code"] for m in seen["messages"]] == ["1-1", "1-2"]
        async with admin.post(f"/admin/transactions/{acte_id}/acquittement") as r:
            again = await r.json()
            assert r.status == 409 and again["code"] == "NOT_AWAITING_ANSWER"
            assert again["message_fr"] and again["message_en"]


async def test_prefecture_rejects_a_held_act_with_an_anomaly(served, tmp_path, schema):
    acte_id = await held_act(served, tmp_path)
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        async with admin.post(f"/admin/transactions/{acte_id}/rejet", json={"nature": "999"}) as r:
            bad = await r.json()
            assert r.status == 422 and bad["code"] == "FIELD_INVALID" and bad["field"] == "nature"
        async with admin.post(f"/admin/transactions/{acte_id}/rejet", data=b"{",
                              headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json())["code"] == "JSON_INVALID"
        async with admin.post(f"/admin/transactions/{acte_id}/rejet",
                              json={"nature": "012", "detail": "Signature absente"}) as r:
            done = await r.json()
            assert r.status == 201 and done["outcome"] == "1-3"
            assert done["anomalie"] == {"nature": "012", "detail": "Signature absente"}
        async with http.get(f"/api/v1/transactions/{acte_id}/messages/1-3") as r:
            anomalie = etree.fromstring(await r.read())
        assert schema.validate(anomalie)
        assert anomalie.findtext("{*}Detail") == "Signature absente"
        history = (await detail(admin, acte_id))["history"]
        assert [h["to"] for h in history] == [1, 2, 3, -1]
        assert history[-1]["actor"] == "prefecture"


# -- letters and answers ------------------------------------------------------------------------

async def test_demande_de_pieces_then_pieces_from_both_sides(served, tmp_path, schema):
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        acte_id = await acknowledged_act(http)
        sent = await send(admin, acte_id, "3-1", text="La délibération signée")
        letter_id = sent["transaction"]["id"]
        assert sent["outcome"] == "3-1" and sent["transaction"]["status"] == 8
        assert sent["transaction"]["related_transaction_id"] == acte_id

        async with http.get("/api/v1/courriers", params={"pending": "1"}) as r:
            pending = await r.json()
        (item,) = pending["items"]
        assert item["code"] == "3-1" and item["text"] == "La délibération signée"
        assert item["answers"] == ["3-3", "3-4"] and item["answer"] is None
        assert item["transaction"]["id"] == letter_id and item["acte_transaction_id"] == acte_id
        async with http.get(f"/api/v1/courriers/{letter_id}/document") as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            assert (await r.read()).startswith(b"%PDF-")
        xml = await check_message(http, letter_id, "3-1", served, schema, tmp_path)
        assert b"La d\xe9lib\xe9ration sign\xe9e" in xml  # ISO-8859-1, as the platform emits
        async with http.get(f"/api/v1/transactions/{letter_id}") as r:
            seen = await r.json()
        assert [(m["code"], m["direction"]) for m in seen["messages"]] == [("3-1", "PREF"),
                                                                          ("3-2", "CL")]
        assert [h["to"] for h in seen["history"]] == [7, 8]

        status, answered = await answer(http, letter_id, "3-4", documents=[
            ("deliberation.pdf", PDF), ("plan.png", corpus.minimal_png())])
        assert status == 201 and answered["outcome"] == "3-5", answered
        answer_id = answered["transaction"]["id"]
        assert answered["transaction"]["status"] == 4
        await check_message(http, answer_id, "3-5", served, schema, tmp_path)
        async with http.get("/api/v1/courriers", params={"pending": "1"}) as r:
            assert (await r.json())["total"] == 0
        async with http.get("/api/v1/courriers") as r:
            (item,) = (await r.json())["items"]
        assert item["answer"]["id"] == answer_id

        # the préfecture sees the whole chain
        acte = await detail(admin, acte_id)
        assert [t["id"] for t in acte["related"]] == [letter_id]
        letter = await detail(admin, letter_id)
        assert letter["courrier"]["answer"]["id"] == answer_id
        assert [d["file_name"].rsplit("-", 1)[1] for d in letter["documents"]] == ["1_1.pdf"]
        reply = await detail(admin, answer_id)
        assert [h["to"] for h in reply["history"]] == [1, 2, 3, 4]
        assert [m["code"] for m in reply["messages"]] == ["3-4", "3-5"]
        assert [d["mimetype"] for d in reply["documents"]] == ["application/pdf", "image/png"]

        status, twice = await answer(http, letter_id, "3-3")
        assert status == 409 and twice["code"] == "COURRIER_ALREADY_ANSWERED"


async def test_refus_de_pieces(served):
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        letter_id = (await send(admin, await acknowledged_act(http), "3-1"))["transaction"]["id"]
        status, answered = await answer(http, letter_id, "3-3")
        assert status == 201 and answered["outcome"] == "3-5"
        reply = await detail(admin, answered["transaction"]["id"])
        assert [m["code"] for m in reply["messages"]] == ["3-3", "3-5"]


async def test_courrier_simple_with_the_prefectures_own_pdf_then_reponse(served, tmp_path, schema):
    letter_pdf = corpus.minimal_pdf("Courrier de la préfecture")
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        acte_id = await acknowledged_act(http)
        form = aiohttp.FormData()
        form.add_field("code", "2-1")
        form.add_field("document", letter_pdf, filename="courrier.pdf",
                       content_type="application/pdf")
        async with admin.post(f"/admin/transactions/{acte_id}/courriers", data=form) as r:
            sent = await r.json()
            assert r.status == 201 and sent["transaction"]["status"] == 21, sent
        letter_id = sent["transaction"]["id"]
        async with http.get(f"/api/v1/courriers/{letter_id}/document") as r:
            assert await r.read() == letter_pdf
        await check_message(http, letter_id, "2-1", served, schema, tmp_path)
        async with http.get(f"/api/v1/transactions/{letter_id}/archive") as r:
            assert r.status == 200 and r.content_type == "application/gzip"
        status, answered = await answer(http, letter_id, "2-2")
        assert status == 201 and answered["outcome"] is None
        assert answered["transaction"]["status"] == 3  # no receipt exists for 2-2
        assert answered["transaction"]["related_transaction_id"] == letter_id


@pytest.mark.parametrize("code", ["4-3", "4-4"])
async def test_lettre_d_observations_then_answer_or_rejet(served, tmp_path, schema, code):
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        acte_id = await acknowledged_act(http)
        document = base64.b64encode(corpus.minimal_pdf("Observations")).decode()
        sent = await send(admin, acte_id, "4-1", text="Motif : incompétence", document=document)
        letter_id = sent["transaction"]["id"]
        assert sent["transaction"]["status"] == 8
        await check_message(http, letter_id, "4-1", served, schema, tmp_path)
        status, answered = await answer(http, letter_id, code)
        assert status == 201 and answered["outcome"] == "4-5"
        await check_message(http, answered["transaction"]["id"], "4-5", served, schema, tmp_path)
        reply = await detail(admin, answered["transaction"]["id"])
        assert [h["to"] for h in reply["history"]] == [1, 2, 3, 4]


async def test_defere_is_listed_but_foresees_no_answer(served, tmp_path, schema):
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        acte_id = await acknowledged_act(http)
        sent = await send(admin, acte_id, "5-1", text="Vice de procédure")
        letter_id = sent["transaction"]["id"]
        assert sent["transaction"]["status"] == 21 and sent["transaction"]["type"] == 5
        xml = await check_message(http, letter_id, "5-1", served, schema, tmp_path)
        assert etree.fromstring(xml).findtext("{*}NatureIllegalite") == "Vice de procédure"
        async with http.get("/api/v1/courriers") as r:
            (item,) = (await r.json())["items"]
        assert item["code"] == "5-1" and item["answers"] == []
        async with http.get("/api/v1/courriers", params={"pending": "1"}) as r:
            assert (await r.json())["total"] == 0
        status, refused = await answer(http, letter_id, "2-2")
        assert status == 409 and refused["code"] == "COURRIER_NOT_ANSWERABLE"


# -- refusals -----------------------------------------------------------------------------------------

async def test_wrong_states_codes_and_documents_are_refused_with_json(served, tmp_path):
    held_id = await held_act(served, tmp_path)
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        async with admin.post(f"/admin/transactions/{held_id}/courriers", json={"code": "3-1"}) as r:
            body = await r.json()
            assert r.status == 409 and body["code"] == "ACTE_NOT_ACKNOWLEDGED"
        acte_id = await acknowledged_act(http)
        for payload, status, code in (
                ({"code": "6-2"}, 422, "COURRIER_CODE"),
                ({}, 422, "FIELD_REQUIRED"),
                ({"code": "2-1", "document": "pas du base64"}, 422, "FIELD_INVALID"),
                ({"code": "2-1", "document": base64.b64encode(b"%PDF-1.4 cut").decode()}, 422,
                 "DOCUMENT_PDF_INVALID"),
                ({"code": "3-1", "text": 3}, 422, "FIELD_INVALID")):
            async with admin.post(f"/admin/transactions/{acte_id}/courriers", json=payload) as r:
                body = await r.json()
                assert (r.status, body["code"]) == (status, code), payload
        async with admin.post(f"/admin/transactions/{acte_id}/acquittement") as r:
            assert r.status == 409
        async with admin.get("/admin/transactions/999999") as r:
            assert r.status == 404 and (await r.json())["code"] == "NOT_FOUND"
        async with admin.get("/admin/actes", params={"status": "x"}) as r:
            assert r.status == 400 and (await r.json())["field"] == "status"
        async with admin.get("/admin/actes", params={"nature": "ZZ"}) as r:
            assert r.status == 400 and (await r.json())["field"] == "nature"

        letter_id = (await send(admin, acte_id, "4-1"))["transaction"]["id"]
        for code, documents, expected in (
                ("3-4", [("r.pdf", PDF)], "ANSWER_CODE"),
                ("4-4", [], "DOCUMENTS_COUNT"),
                ("4-4", [("r.pdf", corpus.minimal_png())], "DOCUMENT_FORMAT_MISMATCH"),
                ("4-4", [("r.pdf", PDF[:40])], "DOCUMENT_PDF_INVALID")):
            status, body = await answer(http, letter_id, code, documents)
            assert (status, body["code"]) == (422, expected), (code, body)
        async with http.post(f"/api/v1/courriers/{letter_id}/reponse", json={"code": "4-4"}) as r:
            assert r.status == 415
        status, body = await answer(http, acte_id, "4-4")
        assert status == 404 and body["code"] == "NOT_A_COURRIER"
        async with http.get(f"/api/v1/courriers/{acte_id}/document") as r:
            assert r.status == 404
        async with http.get("/api/v1/courriers", params={"pending": "maybe"}) as r:
            assert r.status == 400
    async with aiohttp.ClientSession(served.admin_url) as anonymous, anonymous.post(
            f"/admin/transactions/{letter_id}/courriers", json={"code": "2-1"}) as r:
        assert r.status == 401
    assert served.simulator.store.list().total == 3  # nothing was stored by any refusal


async def test_another_sirens_agent_sees_and_answers_no_letter(served):
    async with served.admin_session() as admin, served.agent_session(served.enrol(SIREN)) as http:
        letter_id = (await send(admin, await acknowledged_act(http), "3-1"))["transaction"]["id"]
    async with served.agent_session(served.enrol(OTHER, name="Autre")) as other:
        async with other.get("/api/v1/courriers") as r:
            assert r.status == 200 and (await r.json())["total"] == 0
        for method, path in (("GET", f"/api/v1/courriers?siren={SIREN}"),
                             ("GET", f"/api/v1/courriers/{letter_id}/document"),
                             ("GET", f"/api/v1/transactions/{letter_id}")):
            async with other.request(method, path) as r:
                assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN_SIREN", path
        status, body = await answer(other, letter_id, "3-4")
        assert status == 403 and body["code"] == "FORBIDDEN_SIREN"
    assert served.simulator.store.list().total == 2
