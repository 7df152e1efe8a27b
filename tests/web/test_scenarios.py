"""Scenario rules through the real admin port and the API: matching, reset, faults."""

from __future__ import annotations

import time

import aiohttp
import pytest

from operator_sim.engine.scenarios import ScenarioBook
from operator_sim.protocol.codes import NatureActe

from .simkit import OTHER, SIREN, act, admin, openssl_cms_verify, serve, submit

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

FILE_RULES = """
[[rules]]
id = "from-file"
match = { header = "X-Scenario: file" }
outcome = { kind = "anomalie", nature = "013", detail = "règle du fichier" }
"""


@pytest.fixture
async def served(tmp_path, shared_pki_dir):
    """A simulator whose config names a scenarios file with one rule."""
    path = tmp_path / "scenarios.toml"
    path.write_text(FILE_RULES, encoding="utf-8")
    async with serve(tmp_path / "data", shared_pki_dir, scenarios=str(path)) as running:
        yield running


def anomalie(rule_id: str, **match: object) -> dict:
    return {"id": rule_id, "match": match,
            "outcome": {"kind": "anomalie", "nature": "009", "detail": rule_id}}


async def test_each_match_kind_chooses_its_rule_and_the_first_match_wins(served):
    for rule in ({"id": "by-header", "match": {"header": "X-Scenario: hold-me"},
                  "outcome": {"kind": "hold"}},
                 anomalie("by-siren", siren=OTHER), anomalie("by-objet", objet="URGENT"),
                 anomalie("by-regex", objet_regex=r"^Arrêté n°\d+"), anomalie("by-nature", nature="AI"),
                 anomalie("by-matiere", matiere="3")):
        status, body = await admin(served, "POST", "/admin/scenarios", rule)
        assert status == 201, body
    mine, other = served.enrol(SIREN), served.enrol(OTHER, "Agent autre")
    cases = [
        (mine, act("H1"), {"X-Scenario": "hold-me"}, "held"),
        (mine, act("H2"), {"X-Scenario": "someone-else"}, "1-2"),
        (other, act("S1", siren=OTHER), {}, "by-siren"),
        (mine, act("O1", objet="Travaux urgents de voirie"), {}, "by-objet"),
        (mine, act("R1", nature=NatureActe.AR, objet="Arrêté n°12 portant circulation"), {},
         "by-regex"),
        (mine, act("N1", nature=NatureActe.AI, matiere=(4, 1)), {}, "by-nature"),
        (mine, act("N2", nature=NatureActe.AI, matiere=(4, 1), objet="Nomination urgente"), {},
         "by-objet"),  # two rules match: the first listed wins
        (mine, act("M1", matiere=(3, 1)), {}, "by-matiere"),
        (mine, act("D1"), {}, "1-2"),
    ]
    for agent, archive, headers, expected in cases:
        async with served.agent_session(agent) as http:
            status, body = await submit(http, archive, headers)
        assert status == 201, body
        if expected == "held":
            assert body["outcome"] is None and body["transaction"]["status"] == 3
        elif expected == "1-2":
            assert body["outcome"] == "1-2" and body["transaction"]["status"] == 4
        else:
            assert body["outcome"] == "1-3", (expected, body)
            assert body["anomalie"] == {"nature": "009", "detail": expected}
    status, listing = await admin(served, "GET", "/admin/scenarios")
    hits = {r["id"]: r["hits"] for r in listing["rules"]}
    assert hits == {"from-file": 0, "by-header": 1, "by-siren": 1, "by-objet": 2, "by-regex": 1,
                    "by-nature": 1, "by-matiere": 1}
    assert [r["origin"] for r in listing["rules"]] == ["config"] + ["admin"] * 6


async def test_rules_are_added_at_a_position_removed_and_kept_in_the_database(served):
    status, _ = await admin(served, "POST", "/admin/scenarios",
                            {**anomalie("first", objet="x"), "position": 0})
    assert status == 201
    status, _ = await admin(served, "DELETE", "/admin/scenarios/from-file")
    assert status == 204
    _, listing = await admin(served, "GET", "/admin/scenarios")
    assert [r["id"] for r in listing["rules"]] == ["first"]
    assert listing["source"].endswith("scenarios.toml")
    reopened = ScenarioBook(served.simulator.engine.store, served.simulator.config.scenarios)
    reopened.load()  # what a restart does: the stored rules, not the file's again
    assert [r.id for r in reopened.rules] == ["first"]
    status, body = await admin(served, "PUT", "/admin/scenarios",
                               {"rules": [anomalie("a", objet="a"), anomalie("b", objet="b")]})
    assert status == 200 and [r["id"] for r in body["rules"]] == ["a", "b"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "field"), [
    ("POST", "/admin/scenarios", {"id": "x", "outcome": {"kind": "letter", "code": "9-9"}},
     422, "SCENARIO_INVALID", "outcome.code"),
    ("POST", "/admin/scenarios", {"id": "from-file"}, 409, "SCENARIO_EXISTS", "id"),
    ("POST", "/admin/scenarios", ["not", "an", "object"], 400, "JSON_INVALID", None),
    ("PUT", "/admin/scenarios", {"rules": [{"id": "a"}, {"id": "a"}]}, 422, "SCENARIO_INVALID",
     "rules[1].id"),
    ("DELETE", "/admin/scenarios/nope", None, 404, "SCENARIO_UNKNOWN", None),
    ("POST", "/admin/reset", {"transactions": "yes"}, 422, "RESET_INVALID", "transactions"),
])
async def test_bad_admin_requests_get_a_specific_error(served, method, path, body, status, code,
                                                        field):
    got, answer = await admin(served, method, path, body)
    assert got == status, answer
    assert answer["code"] == code and answer["message_fr"] and answer["message_en"]
    assert answer.get("field") == field


async def test_reset_restores_the_file_rules_and_a_clean_state(served):
    agent = served.enrol(SIREN)
    await admin(served, "POST", "/admin/scenarios",
                {"id": "later", "match": {"objet": "plus tard"}, "outcome": {"delay": "P2D"}})
    async with served.agent_session(agent) as http:
        _, first = await submit(http, act("A1"))
        _, held = await submit(http, act("A2", objet="Réponse plus tard"))
    assert held["transaction"]["status"] == 3
    _, clock = await admin(served, "GET", "/admin/clock")
    assert clock["pending_events"] == 1

    status, report = await admin(served, "POST", "/admin/reset", {"transactions": False})
    assert status == 200 and report == {"rules": 1, "events_cleared": 1,
                                        "transactions_cleared": False, "callbacks_cleared": True}
    async with served.agent_session(agent) as http, http.get("/api/v1/transactions") as r:
        assert (await r.json())["total"] == 2

    status, report = await admin(served, "POST", "/admin/reset")
    assert status == 200 and report["transactions_cleared"]
    _, listing = await admin(served, "GET", "/admin/scenarios")
    assert [(r["id"], r["hits"]) for r in listing["rules"]] == [("from-file", 0)]
    _, journal = await admin(served, "GET", "/admin/journal")
    assert journal["items"] == []
    async with served.agent_session(agent) as http:
        async with http.get("/api/v1/transactions") as r:
            assert (await r.json())["total"] == 0
        status, again = await submit(http, act("A1"))  # no duplicate any more
        assert status == 201 and again["outcome"] == "1-2"
        assert again["transaction"]["id"] > held["transaction"]["id"] > first["transaction"]["id"]
        _, from_file = await submit(http, act("F1"), {"X-Scenario": "file"})
        assert from_file["anomalie"] == {"nature": "013", "detail": "règle du fichier"}
    # the append-only journal is append-only again after the reset
    with pytest.raises(Exception, match="append-only"):
        served.simulator.store.run_write(lambda db: db.execute("delete from journal"))


# -- faults -------------------------------------------------------------------------------------

async def test_unavailable_answers_503_and_stores_nothing_until_the_rule_is_used_up(served):
    await admin(served, "POST", "/admin/scenarios",
                {"id": "down", "match": {"header": "X-Scenario: down"},
                 "faults": {"unavailable": True}, "times": 2})
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        for _ in range(2):
            status, body = await submit(http, act("U1"), {"X-Scenario": "down"})
            assert status == 503 and body["code"] == "SERVICE_UNAVAILABLE", body
            assert served.simulator.store.list().total == 0
        status, body = await submit(http, act("U1"), {"X-Scenario": "down"})
    assert status == 201 and body["outcome"] == "1-2"
    _, journal = await admin(served, "GET", "/admin/journal?path=/api/v1/archives")
    assert [e["status"] for e in journal["items"]] == [201, 503, 503]
    assert [e["scenario"] for e in journal["items"]] == [None, None, None]
    assert journal["items"][1]["error_code"] == "SERVICE_UNAVAILABLE"


async def test_a_slow_answer_waits_before_answering(served):
    await admin(served, "POST", "/admin/scenarios", {"id": "slow", "faults": {"slow_ms": 700}})
    async with served.agent_session(served.enrol(SIREN)) as http:
        started = time.monotonic()
        status, body = await submit(http, act("S1"))
        elapsed = time.monotonic() - started
    assert status == 201 and body["outcome"] == "1-2" and elapsed >= 0.7
    _, journal = await admin(served, "GET", "/admin/journal?limit=1")
    assert journal["items"][0]["duration_ms"] >= 700 and journal["items"][0]["scenario"] == "slow"


async def test_a_dropped_connection_comes_after_the_act_is_stored(served):
    await admin(served, "POST", "/admin/scenarios",
                {"id": "drop", "match": {"objet": "coupure"}, "faults": {"drop_connection": True}})
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        with pytest.raises(aiohttp.ClientError):
            await submit(http, act("X1", objet="Test de coupure réseau"))
    async with served.agent_session(agent) as http, http.get("/api/v1/transactions") as r:
        page = await r.json()  # the client's way to learn what became of its act
    assert page["total"] == 1 and page["items"][0]["status"] == 4
    _, journal = await admin(served, "GET", "/admin/journal?path=/api/v1/archives")
    (entry,) = journal["items"]
    assert entry["status"] is None and entry["scenario"] == "drop" and "dropped" in entry["note"]
    assert entry["transaction_id"] == page["items"][0]["id"]


async def test_a_corrupt_return_damages_the_downloaded_answer_only(served, tmp_path):
    await admin(served, "POST", "/admin/scenarios",
                {"id": "corrupt", "match": {"siren": SIREN}, "faults": {"corrupt_return": True}})
    simulator = served.simulator
    async with served.agent_session(served.enrol(SIREN)) as http:
        _, body = await submit(http, act("C1"))
        tid = body["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{tid}/messages/1-2") as r:
            assert r.status == 200
            downloaded = await r.read()
        async with http.get(f"/api/v1/transactions/{tid}/messages/1-2/signature") as r:
            signature = await r.read()
        async with http.get(f"/api/v1/transactions/{tid}/messages/1-1") as r:
            sent = await r.read()
    stored = {m.code: simulator.store.blobs.read(m.xml_sha256) for m in simulator.store.messages(tid)}
    assert sent == stored["1-1"]  # what the collectivité sent comes back intact
    assert len(downloaded) == len(stored["1-2"]) and downloaded != stored["1-2"]
    check = openssl_cms_verify(tmp_path, downloaded, signature, simulator.pki.roots_path)
    assert check.returncode != 0  # the client can tell: the signature no longer verifies
