"""Scheduled outcomes on the clock, through the real admin port: each fires once, in due order."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from operator_sim.engine.clock import paris_date

from .simkit import SIREN, act, admin, serve, submit, virtual_start

DAY = dt.timedelta(days=1)


@pytest.fixture
def start():
    return virtual_start()


@pytest.fixture
async def served(tmp_path, shared_pki_dir, start):
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual", clock_start=start) as running:
        yield running


async def advance(served, by):
    status, body = await admin(served, "POST", "/admin/clock", {"advance": by})
    assert status == 200, body
    return body


def answers(simulator, tid):
    return [m.code for m in simulator.store.messages(tid) if m.code in ("1-2", "1-3")]


async def test_an_ar_scheduled_at_two_days_fires_exactly_once(tmp_path, shared_pki_dir, start):
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual", clock_start=start) as served:
        await admin(served, "POST", "/admin/scenarios",
                    {"id": "ar-j2", "outcome": {"kind": "ar", "delay": "P2D"}})
        async with served.agent_session(served.enrol(SIREN)) as http:
            status, body = await submit(http, act("J2"))
        assert status == 201 and body["outcome"] is None and body["transaction"]["status"] == 3
        tid = body["transaction"]["id"]
        received = dt.datetime.fromisoformat(body["transaction"]["created_at"])
        _, clock = await admin(served, "GET", "/admin/clock")
        assert clock["kind"] == "virtual" and clock["pending_events"] == 1
        assert dt.datetime.fromisoformat(clock["next_due"]) == received + 2 * DAY

        assert (await advance(served, "P1D"))["fired"] == []
        assert served.simulator.store.get(tid).status == 3
        fired = (await advance(served, "P1D"))["fired"]
        assert [(e["kind"], e["transaction_id"], e["state"]) for e in fired] == [("answer", tid, "done")]
        row = served.simulator.store.get(tid)
        assert row.status == 4 and answers(served.simulator, tid) == ["1-2"]
        # dated when it was due, DateReception the day it was received
        assert served.simulator.store.journal(tid)[-1].at == received + 2 * DAY
        ar = served.simulator.store.blobs.read(served.simulator.store.messages(tid)[-1].xml_sha256)
        assert f"{paris_date(received):%Y-%m-%d}".encode() in ar
        assert (await advance(served, 3600))["fired"] == []
        moved_to = served.simulator.clock.now()
    # a restart on the same database resumes the clock where it was moved to, and passing more
    # time never fires the event again
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual", clock_start=start) as again:
        assert again.simulator.clock.now() == moved_to
        assert moved_to == dt.datetime.fromisoformat(start) + 2 * DAY + dt.timedelta(hours=1)
        assert (await advance(again, "P5D"))["fired"] == []
        assert answers(again.simulator, tid) == ["1-2"]
        _, schedule = await admin(again, "GET", "/admin/schedule")
        assert [(e["transaction_id"], e["state"]) for e in schedule["items"]] == [(tid, "done")]


async def test_events_fire_in_due_order_with_letters_and_a_defere(served):
    for rule in ({"id": "slow", "match": {"objet": "lent"}, "outcome": {"delay": "P3D"}},
                 {"id": "fast", "match": {"objet": "rapide"},
                  "outcome": {"kind": "anomalie", "nature": "004", "detail": "refus différé",
                              "delay": "P1D"}},
                 {"id": "pieces", "match": {"objet": "pièces"},
                  "outcome": {"kind": "letter", "code": "3-1", "delay": "P2D",
                              "text": "Merci de joindre le plan."}},
                 {"id": "tribunal", "match": {"objet": "tribunal"},
                  "outcome": {"kind": "defere", "delay": "P4D"}}):
        assert (await admin(served, "POST", "/admin/scenarios", rule))[0] == 201
    ids = {}
    async with served.agent_session(served.enrol(SIREN)) as http:
        for numero, objet in (("L1", "Acte lent"), ("R1", "Acte rapide"),
                              ("P1", "Demande de pièces"), ("T1", "Vers le tribunal")):
            _, body = await submit(http, act(numero, objet=objet))
            ids[numero] = body["transaction"]["id"]
    fired = (await advance(served, "P10D"))["fired"]
    assert [(e["transaction_id"], e["kind"]) for e in fired] == [
        (ids["R1"], "answer"), (ids["P1"], "letter"), (ids["L1"], "answer"), (ids["T1"], "letter")]
    assert all(e["state"] == "done" for e in fired)
    store = served.simulator.store
    assert store.get(ids["R1"]).status == -1 and store.get(ids["L1"]).status == 4
    letters = {t.related_transaction_id: t for t in store.list().items if t.type in (3, 5)}
    assert letters[ids["P1"]].type == 3 and letters[ids["T1"]].type == 5
    assert letters[ids["P1"]].objet == "Merci de joindre le plan."
    start = dt.datetime.fromisoformat(fired[0]["due_at"]) - DAY
    assert letters[ids["P1"]].created_at == start + 2 * DAY  # dated at its due time
    _, clock = await admin(served, "GET", "/admin/clock")
    assert dt.datetime.fromisoformat(clock["now"]) == start + 10 * DAY


async def test_an_event_whose_act_was_answered_by_hand_is_skipped(served):
    await admin(served, "POST", "/admin/scenarios", {"id": "later", "outcome": {"delay": "PT1H"}})
    async with served.agent_session(served.enrol(SIREN)) as http:
        _, body = await submit(http, act("M1"))
    tid = body["transaction"]["id"]
    await served.simulator.prefecture.acknowledge(tid)
    (event,) = (await advance(served, "PT2H"))["fired"]
    assert event["state"] == "skipped" and "transmitted" in event["result"]
    assert answers(served.simulator, tid) == ["1-2"]


async def test_setting_the_clock_fires_what_it_passes_and_bad_requests_are_refused(served):
    await admin(served, "POST", "/admin/scenarios", {"id": "j1", "outcome": {"delay": "P1D"}})
    async with served.agent_session(served.enrol(SIREN)) as http:
        _, body = await submit(http, act("S1"))
    received = dt.datetime.fromisoformat(body["transaction"]["created_at"])
    target = (received + 3 * DAY).isoformat()
    status, moved = await admin(served, "POST", "/admin/clock", {"set": target})
    assert status == 200 and len(moved["fired"]) == 1
    assert dt.datetime.fromisoformat(moved["now"]) == received + 3 * DAY
    for bad in ({}, {"advance": "P1M"}, {"advance": -5}, {"set": "2026-03-01T09:00:00"},
                {"set": "demain"}, {"set": target, "advance": 1}):
        status, error = await admin(served, "POST", "/admin/clock", bad)
        assert status == 422 and error["code"] in ("CLOCK_REQUEST_INVALID", "SCENARIO_INVALID"), bad


async def test_a_real_clock_cannot_be_moved_and_fires_due_events_in_the_background(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        status, error = await admin(served, "POST", "/admin/clock", {"advance": "P1D"})
        assert status == 409 and error["code"] == "CLOCK_NOT_VIRTUAL"
        _, clock = await admin(served, "GET", "/admin/clock")
        assert clock["kind"] == "real"
        await admin(served, "POST", "/admin/scenarios", {"id": "soon", "outcome": {"delay": 1}})
        async with served.agent_session(served.enrol(SIREN)) as http:
            _, body = await submit(http, act("B1"))
        tid = body["transaction"]["id"]
        assert body["transaction"]["status"] == 3
        for _ in range(100):
            if served.simulator.store.get(tid).status == 4:
                break
            await asyncio.sleep(0.1)
        assert served.simulator.store.get(tid).status == 4
        assert answers(served.simulator, tid) == ["1-2"]
