"""Callbacks against a real receiver on 127.0.0.1: signed JSON, retries with backoff, journal."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json

import pytest
from aiohttp import web

from .simkit import OTHER, SIREN, act, admin, serve, submit, virtual_start


class Receiver:
    """A local HTTP endpoint that refuses its first `failures` POSTs with a 500."""

    def __init__(self, failures: int = 0, status: int = 200) -> None:
        self.failures, self.status = failures, status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.refused < self.failures:
            self.refused += 1
            return web.Response(status=500, text="not now")
        if self.status >= 300:
            return web.Response(status=self.status)
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
async def receiver():
    made: list[web.AppRunner] = []

    async def start(**options) -> tuple[Receiver, str]:
        target = Receiver(**options)
        app = web.Application()
        app.router.add_post("/hook", target.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        made.append(runner)
        return target, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    yield start
    for runner in made:
        await runner.cleanup()


@pytest.fixture
async def served(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, callback_retry_ms=100,
                     callback_attempts=4) as running:
        yield running


async def until(condition, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_status_changes_are_posted_signed_and_retried_until_delivered(served, receiver):
    target, url = await receiver(failures=2)
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        async with http.post("/api/v1/callbacks", json={"url": url}) as r:
            assert r.status == 201
            registration = await r.json()
        assert registration["siren"] == SIREN and len(registration["secret"]) >= 32
        _, body = await submit(http, act("CB1"))
    tid = body["transaction"]["id"]

    async def four_received() -> bool:
        return len(target.received) >= 4

    await until(four_received)
    for headers, raw in target.received:
        expected = "sha256=" + hmac.new(registration["secret"].encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Operator-Sim-Signature"], expected)
    payloads = sorted(target.payloads(), key=lambda p: p["event_id"])
    assert [p["status"] for p in payloads] == [1, 2, 3, 4]
    assert {p["transaction_id"] for p in payloads} == {tid}
    last = payloads[-1]
    assert last["event"] == "message" and last["message_code"] == "1-2"
    assert last["label"] == "Acquittement reçu" and last["id_acte"] == body["id_acte"]
    assert last["type"] == 1 and dt.datetime.fromisoformat(last["at"])

    async def all_recorded_delivered() -> bool:  # the 4th answer is recorded after it arrives
        _, seen = await admin(served, "GET", f"/admin/callbacks/deliveries?transaction={tid}")
        return len(seen["items"]) == 4 and all(d["state"] == "delivered" for d in seen["items"])

    await until(all_recorded_delivered)
    status, journal = await admin(served, "GET", f"/admin/callbacks/deliveries?transaction={tid}")
    assert status == 200 and len(journal["items"]) == 4
    retried = [d for d in journal["items"] if d["attempts"] > 1]
    assert sum(d["attempts"] - 1 for d in retried) == 2  # the receiver refused twice
    for delivery in retried:
        history = delivery["history"]
        assert [h["status"] for h in history] == [500] * (len(history) - 1) + [204]
        gaps = [dt.datetime.fromisoformat(b["at"]) - dt.datetime.fromisoformat(a["at"])
                for a, b in itertools.pairwise(history)]
        assert all(gap >= dt.timedelta(milliseconds=90) for gap in gaps)  # backoff waited


async def test_a_prefecture_letter_is_notified_as_a_message(served, receiver):
    target, url = await receiver()
    async with served.agent_session(served.enrol(SIREN)) as http:
        _, body = await submit(http, act("CB2"))
        async with http.post("/api/v1/callbacks", json={"url": url, "siren": SIREN}) as r:
            assert r.status == 201  # registered after the act: only what comes next is told
    tid = body["transaction"]["id"]
    letter = await served.simulator.prefecture.send_letter(tid, "4-1", text="Observations.")

    async def letter_told() -> bool:
        return any(p["message_code"] == "4-1" for p in target.payloads())

    await until(letter_told)
    told = {p["message_code"]: p for p in target.payloads()}
    assert told["4-1"]["event"] == "message" and told["4-1"]["related_transaction_id"] == tid
    assert told["4-1"]["transaction_id"] == letter.transaction.id
    assert all(p["transaction_id"] != tid for p in target.payloads())


async def test_retries_are_bounded_and_a_deleted_callback_gets_nothing_more(served, receiver):
    _, dead_url = await receiver(status=503)
    live, live_url = await receiver()
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        async with http.post("/api/v1/callbacks", json={"url": dead_url}) as r:
            dead = await r.json()
        async with http.post("/api/v1/callbacks", json={"url": live_url}) as r:
            gone = await r.json()
        async with http.delete(f"/api/v1/callbacks/{gone['id']}") as r:
            assert r.status == 204
        async with http.get("/api/v1/callbacks") as r:
            assert [c["id"] for c in (await r.json())["items"]] == [dead["id"]]
        status, _ = await submit(http, act("CB3"))
        assert status == 201

    async def all_failed() -> bool:
        _, journal = await admin(served, "GET", f"/admin/callbacks/deliveries?callback={dead['id']}")
        return len(journal["items"]) == 4 and all(d["state"] == "failed" for d in journal["items"])

    await until(all_failed)
    _, journal = await admin(served, "GET", f"/admin/callbacks/deliveries?callback={dead['id']}")
    assert all(d["attempts"] == 4 and [h["status"] for h in d["history"]] == [503] * 4
               for d in journal["items"])
    assert live.received == []
    _, registrations = await admin(served, "GET", "/admin/callbacks")
    assert {c["id"]: c["deleted_at"] is not None for c in registrations["items"]} == {
        dead["id"]: False, gone["id"]: True}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"url": "ftp://example.test/x"}, 422, "CALLBACK_URL_INVALID"),
    ({"url": "/relative"}, 422, "CALLBACK_URL_INVALID"),
    ({}, 422, "CALLBACK_URL_INVALID"),
    ({"url": "http://127.0.0.1:9/x", "siren": OTHER}, 403, "FORBIDDEN_SIREN"),
    (["url"], 400, "JSON_INVALID"),
])
async def test_bad_registrations_get_a_specific_error(served, body, status, code):
    async with served.agent_session(served.enrol(SIREN)) as http, http.post(
            "/api/v1/callbacks", json=body) as r:
        answer = await r.json()
        assert r.status == status, answer
    assert answer["code"] == code and answer["message_fr"] and answer["message_en"]


# -- callbacks on the simulator's clock (virtual or real) -------------------------------------

def _valid_hmac(secret: str, headers: dict[str, str], raw: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Operator-Sim-Signature"], expected)


@pytest.mark.parametrize("clock", ["virtual", "real"])
async def test_deliveries_fall_due_and_retry_on_the_simulators_clock(tmp_path, shared_pki_dir,
                                                                     receiver, clock):
    """A CI suite's flow: AR two days later (virtual clock moved by the test; 1 s with the real
    one), a receiver refusing its first two POSTs: each of the four events is delivered once,
    signed, the refused ones retried once the clock passed their backoff."""
    virtual = clock == "virtual"
    options = {"clock": "virtual", "clock_start": virtual_start()} if virtual else {}
    async with serve(tmp_path / "data", shared_pki_dir, callback_retry_ms=1000, **options) as served:
        status, _ = await admin(served, "POST", "/admin/scenarios", {
            "id": "ar-later", "outcome": {"kind": "ar", "delay": "P2D" if virtual else "PT1S"}})
        assert status == 201
        target, url = await receiver(failures=2)
        async with served.agent_session(served.enrol(SIREN)) as http:
            async with http.post("/api/v1/callbacks", json={"url": url}) as r:
                assert r.status == 201
                secret = (await r.json())["secret"]
            _, body = await submit(http, act("CLK1"))
        assert body["transaction"]["status"] == 3 and body["outcome"] is None
        tid = body["transaction"]["id"]
        started = served.simulator.clock.now()

        async def journal() -> list[dict]:
            _, seen = await admin(served, "GET", f"/admin/callbacks/deliveries?transaction={tid}")
            return seen["items"]

        async def refused_twice() -> bool:
            return target.refused == 2 and sum(d["attempts"] for d in await journal()) >= 3

        await until(refused_twice)
        if virtual:  # the clock stands still: the two refused wait for it, 1 s of clock time
            waiting = [d for d in await journal() if d["state"] == "pending"]
            assert len(waiting) == 2, waiting
            for delivery in waiting:
                failed_at = dt.datetime.fromisoformat(delivery["history"][0]["at"])
                assert failed_at == started
                retry_at = dt.datetime.fromisoformat(delivery["next_attempt_at"])
                assert retry_at == started + dt.timedelta(seconds=1)
            assert (await admin(served, "POST", "/admin/clock", {"advance": "PT2S"}))[0] == 200

        async def received(count: int):
            async def enough() -> bool:
                return len(target.received) >= count
            return enough

        await until(await received(3))  # statuses 1, 2, 3, the two retries included
        if virtual:
            assert (await admin(served, "POST", "/admin/clock", {"advance": "P1D"}))[0] == 200
            assert served.simulator.store.get(tid).status == 3
            assert (await admin(served, "POST", "/admin/clock", {"advance": "P1D"}))[0] == 200
        await until(await received(4))

        async def all_delivered() -> bool:
            found = await journal()
            return len(found) == 4 and all(d["state"] == "delivered" for d in found)

        await until(all_delivered)
        # Nothing pending is left, so nothing more can be sent: exactly one POST per event.
        payloads = target.payloads()
        assert len(payloads) == 4 and len({p["event_id"] for p in payloads}) == 4
        assert sorted(p["status"] for p in payloads) == [1, 2, 3, 4]
        assert next(p for p in payloads if p["status"] == 4)["message_code"] == "1-2"
        assert all(_valid_hmac(secret, headers, raw) for headers, raw in target.received)
        deliveries = await journal()
        retried = [d for d in deliveries if d["attempts"] == 2]
        assert len(retried) == 2 and all(d["attempts"] == 1 for d in deliveries if d not in retried)
        for delivery in retried:
            first, second = delivery["history"]
            assert (first["status"], second["status"]) == (500, 204)
            waited = dt.datetime.fromisoformat(second["at"]) - dt.datetime.fromisoformat(first["at"])
            assert waited >= dt.timedelta(seconds=1)  # the backoff, on the simulator's clock
        ar = next(d for d in deliveries if d["payload"]["status"] == 4)
        attempt = ar["history"][0]
        clock_at, real_at = (dt.datetime.fromisoformat(attempt[k]) for k in ("at", "real_at"))
        if virtual:  # two days ahead on the clock, today in real time
            assert clock_at >= started + dt.timedelta(days=2) and real_at < clock_at - dt.timedelta(days=1)
        else:
            assert abs(clock_at - real_at) < dt.timedelta(seconds=1)


# -- fairness: one collectivité's hanging receivers do not hold back another's ----------------

class Hanging:
    """TCP servers on 127.0.0.1 that accept, read, and never answer; open connections counted
    per server and in all, with their peaks."""

    def __init__(self) -> None:
        self.open: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.peak_total = 0
        self.servers: list[asyncio.Server] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            self.open[port] += 1
            self.peak[port] = max(self.peak[port], self.open[port])
            self.peak_total = max(self.peak_total, sum(self.open.values()))
            try:
                while await reader.read(65536):
                    pass
            finally:
                self.open[port] -= 1

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.open[port] = self.peak[port] = 0
        self.servers.append(server)
        return port

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        for server in self.servers:
            server.close()
            await server.wait_closed()


async def test_a_sirens_hanging_receivers_do_not_delay_another_sirens_deliveries(
        tmp_path, shared_pki_dir, receiver):
    hanging = Hanging()
    ports = [await hanging.start() for _ in range(3)]
    try:
        # Receivers get a minute each: B's POSTs hang for the whole test.
        async with serve(tmp_path / "data", shared_pki_dir, callback_timeout_ms=60_000) as served:
            async with served.agent_session(served.enrol(OTHER)) as http:
                for n in range(60):
                    async with http.post("/api/v1/callbacks", json={
                            "url": f"http://127.0.0.1:{ports[n % 3]}/hook{n}"}) as r:
                        assert r.status == 201
                status, _ = await submit(http, act("FLOOD", siren=OTHER))
                assert status == 201

            async def b_hanging() -> bool:
                return sum(hanging.open.values()) >= 4

            await until(b_hanging)  # 4 events × 60 deliveries of B due, its share of POSTs hanging
            target, url = await receiver()
            async with served.agent_session(served.enrol(SIREN)) as http:
                async with http.post("/api/v1/callbacks", json={"url": url}) as r:
                    assert r.status == 201
                _, body = await submit(http, act("FAIR"))

            async def a_told() -> bool:  # statuses 1, 2, 3 and the AR
                return len(target.received) >= 4

            await until(a_told)  # while every POST of B still hangs (none answered)
            assert {p["transaction_id"] for p in target.payloads()} == {body["transaction"]["id"]}
            _, journal = await admin(served, "GET", "/admin/callbacks/deliveries?limit=1000")
            of_b = [d for d in journal["items"] if d["siren"] == OTHER]
            assert len(of_b) == 240 and all(d["attempts"] == 0 for d in of_b)
            assert all(peak <= 2 for peak in hanging.peak.values()), hanging.peak  # per target
            assert hanging.peak_total <= 4  # per SIREN
    finally:
        await hanging.close()


async def test_a_virtual_clock_set_back_makes_pending_deliveries_due_at_once(tmp_path, shared_pki_dir,
                                                                            receiver):
    start = virtual_start()
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual", clock_start=start,
                     callback_retry_ms=60_000) as served:
        target, url = await receiver(failures=4)
        async with served.agent_session(served.enrol(SIREN)) as http:
            async with http.post("/api/v1/callbacks", json={"url": url}) as r:
                assert r.status == 201
            assert (await submit(http, act("BACK")))[0] == 201

        async def all_refused() -> bool:
            _, seen = await admin(served, "GET", "/admin/callbacks/deliveries")
            return len(seen["items"]) == 4 and all(d["attempts"] == 1 for d in seen["items"])

        await until(all_refused)  # each retry waits a minute of clock time
        earlier = dt.datetime.fromisoformat(start) - dt.timedelta(hours=1)
        status, _ = await admin(served, "POST", "/admin/clock", {"set": earlier.isoformat()})
        assert status == 200

        async def delivered() -> bool:
            _, seen = await admin(served, "GET", "/admin/callbacks/deliveries")
            return all(d["state"] == "delivered" for d in seen["items"])

        await until(delivered)
        assert sorted(p["status"] for p in target.payloads()) == [1, 2, 3, 4]
        _, seen = await admin(served, "GET", "/admin/callbacks/deliveries")
        assert all(dt.datetime.fromisoformat(d["history"][1]["at"]) == earlier for d in seen["items"])


async def test_registrations_per_siren_are_capped(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, callback_max_per_siren=3) as served:
        async with served.agent_session(served.enrol(SIREN)) as http:
            ids = []
            for n in range(3):
                async with http.post("/api/v1/callbacks", json={"url": f"http://192.0.2.1/{n}"}) as r:
                    assert r.status == 201
                    ids.append((await r.json())["id"])
            async with http.post("/api/v1/callbacks", json={"url": "http://192.0.2.1/x"}) as r:
                answer = await r.json()
                assert (r.status, answer["code"]) == (409, "CALLBACK_LIMIT")
                assert answer["message_fr"] and answer["message_en"]
            async with http.delete(f"/api/v1/callbacks/{ids[0]}") as r:
                assert r.status == 204
            async with http.post("/api/v1/callbacks", json={"url": "http://192.0.2.1/x"}) as r:
                assert r.status == 201  # a deleted one no longer counts
        async with served.agent_session(served.enrol(OTHER)) as http, http.post(
                "/api/v1/callbacks", json={"url": "http://192.0.2.1/other"}) as r:
            assert r.status == 201  # the cap is per SIREN


async def test_a_freed_slot_goes_to_the_siren_with_fewest_posts_in_flight(tmp_path, shared_pki_dir,
                                                                          receiver):
    """Two collectivités whose receivers hang hold every slot (4 in all, 2 each); a third's
    notifications take the slots as the hanging POSTs time out, ahead of the older backlog."""
    third = "200066793"
    hanging = Hanging()
    try:
        async with serve(tmp_path / "data", shared_pki_dir, callback_concurrency=4,
                         callback_siren_concurrency=2, callback_timeout_ms=2000) as served:
            for siren in (OTHER, third):
                port = await hanging.start()
                async with served.agent_session(served.enrol(siren)) as http:
                    for n in range(30):
                        async with http.post("/api/v1/callbacks", json={
                                "url": f"http://127.0.0.1:{port}/hook{n}"}) as r:
                            assert r.status == 201
                    assert (await submit(http, act(f"FLOOD{siren}", siren=siren)))[0] == 201

            async def slots_held() -> bool:
                return sum(hanging.open.values()) >= 4

            await until(slots_held)
            target, url = await receiver()
            async with served.agent_session(served.enrol(SIREN)) as http:
                async with http.post("/api/v1/callbacks", json={"url": url}) as r:
                    assert r.status == 201
                await submit(http, act("FAIR2"))

            async def a_told() -> bool:
                return len(target.received) >= 4

            await until(a_told, seconds=20)  # a few 2 s timeouts; the backlog takes minutes
            _, journal = await admin(served, "GET", "/admin/callbacks/deliveries?limit=1000")
            waiting = [d for d in journal["items"] if d["siren"] != SIREN and d["attempts"] == 0]
            assert len(waiting) > 150  # the others' backlog is still there
            assert hanging.peak_total <= 4
    finally:
        await hanging.close()


async def test_without_registrations_the_outbox_skips_the_journal_and_a_later_one_starts_after(
        served, receiver, monkeypatch):
    """Nobody registered: the outbox moves its cursor past the events without reading them
    (the writer would read every event of every act for no one); a registration made later
    gets what happens after it, and only that."""
    store = served.simulator.store
    read: list[int] = []
    journal_after = store.journal_after

    def counted(after_id: int, limit: int):
        read.append(after_id)
        return journal_after(after_id, limit)

    monkeypatch.setattr(store, "journal_after", counted)
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http:
        assert (await submit(http, act("QUIET1")))[0] == 201
        await until(lambda: _caught_up(store))
        assert read == []
        target, url = await receiver()
        async with http.post("/api/v1/callbacks", json={"url": url}) as r:
            assert r.status == 201
        status, body = await submit(http, act("QUIET2"))
        assert status == 201

        async def delivered() -> bool:
            return len(target.payloads()) >= 4

        await until(delivered)
        await asyncio.sleep(0.5)  # nothing more comes
    ids = {p["transaction_id"] for p in target.payloads()}
    assert ids == {body["transaction"]["id"]} and len(target.payloads()) == 4
    assert read != []


async def _caught_up(store) -> bool:
    return int(store.state("callbacks_journal_cursor") or 0) >= store.last_journal_id()
