"""Login/password accounts on a shared certificate (S²LOW's shared certificates, Pastell's
"login" setting): made from the CLI (`pki issue-agent --account`) and the admin API, then
used exactly as Pastell uses them (HTTP Basic on every call, nonce links)."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import aiohttp

from operator_sim.pki.profiles import AgentSubject, RgsLevel

from .conftest import ACTES, SIREN, create_form


async def test_admin_api_shares_a_certificate_between_logins(s2low):
    served = s2low.served
    record = served.simulator.pki.issue_agent(AgentSubject("Mairie", SIREN, "Certificat partagé"),
                                              now=served.simulator.clock.now(),
                                              level=RgsLevel.TWO)
    url = f"/admin/certificates/{record.fingerprint}/accounts"
    async with served.admin_session() as admin:
        for login in ("alice", "bob"):
            async with admin.post(url, json={"login": login, "password": f"{login}-secret",
                                             "name": login.title()}) as r:
                assert r.status == 201, await r.text()
                assert (await r.json())["sirens"] == [SIREN]
        async with admin.get(url) as r:
            listed = await r.json()
        assert [a["login"] for a in listed["accounts"]] == ["alice", "bob"] and listed["shared"]
        assert "password_hash" not in str(listed)
        for body, status, code in (
                ({"login": "alice", "password": "encore-un"}, 409, "IDENTITY_CONFLICT"),
                ({"login": "a b", "password": "x" * 8}, 422, "FIELD_INVALID"),
                ({"login": "carol", "password": "court"}, 422, "FIELD_INVALID"),
                ({"login": "carol", "password": "x" * 8, "role": "admin"}, 422, "FIELD_UNKNOWN")):
            async with admin.post(url, json=body) as r:
                assert (r.status, (await r.json())["code"]) == (status, code), body
        # the demo-style agent has one account without login: no second one beside it
        async with admin.post(f"/admin/certificates/{s2low.agent.fingerprint}/accounts",
                              json={"login": "dave", "password": "x" * 8}) as r:
            assert (r.status, (await r.json())["code"]) == (409, "IDENTITY_CONFLICT")
        async with admin.post(f"/admin/certificates/{'0' * 64}/accounts",
                              json={"login": "eve", "password": "x" * 8}) as r:
            assert r.status == 404

    async with s2low.session(record) as anonymous, \
            anonymous.post("/admin/users/api-list-login.php") as r:
        assert await r.read() == b"alice\nbob\n"
    basic = {"Authorization": aiohttp.encode_basic_auth("bob", "bob-secret")}
    async with s2low.session(record, headers=basic) as pastell:
        async with pastell.post(f"{ACTES}/actes_transac_create.php", data=create_form()) as r:
            body = (await r.read()).decode("iso-8859-1")
        assert body.startswith("OK\n"), body
        async with pastell.get("/api/get-nounce.php") as r:
            nounce = (await r.json())["nounce"]
    transaction_id = int(body.split("\n")[1])
    assert served.simulator.store.journal(transaction_id)[0].actor.startswith("bob ")
    digest = hashlib.sha256(f"bob-secret:{nounce}".encode()).hexdigest()
    async with s2low.session(record, headers=basic) as link, link.get(
            f"{ACTES}/actes_transac_get_status.php",
            params={"transaction": str(transaction_id), "nounce": nounce, "login": "bob",
                    "hash": digest}) as r:
        assert (await r.read()).startswith(b"OK\n4\n")


async def test_cli_issues_a_certificate_shared_by_logins(tmp_path, s2low):
    served = s2low.served
    process = await asyncio.create_subprocess_exec(
        Path(sys.executable).with_name("operator-sim"), "pki", "issue-agent",
        "--dir", str(served.simulator.config.pki_dir), "--data-dir",
        str(served.simulator.config.data_dir), "--siren", SIREN, "--name", "Guichet mairie",
        "--account", "alice:alice-secret", "--account", "bob:bob-secret",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = dict(line.split(" ", 1) for line in out.decode().splitlines() if " " in line)
    record = served.simulator.pki.find(lines["serial"])
    async with s2low.session(record) as anonymous:
        async with anonymous.get("/admin/users/api-list-login.php") as r:
            assert await r.read() == b"alice\nbob\n"
        async with anonymous.get("/api/test-connexion.php") as r:
            assert r.status == 401
    basic = {"Authorization": aiohttp.encode_basic_auth("alice", "alice-secret")}
    async with s2low.session(record, headers=basic) as pastell, \
            pastell.get("/api/test-connexion.php") as r:
        assert (r.status, await r.read()) == (200, b"OK")
    process = await asyncio.create_subprocess_exec(
        Path(sys.executable).with_name("operator-sim"), "pki", "issue-agent",
        "--dir", str(served.simulator.config.pki_dir), "--data-dir",
        str(served.simulator.config.data_dir), "--siren", SIREN, "--name", "X",
        "--account", "sans-mot-de-passe", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 2 and b"LOGIN:PASSWORD expected" in err


def test_migration_0009_gives_the_post_right_to_every_account_that_could_submit(tmp_path):
    from sqlite_utils import Database

    from operator_sim.store import SqliteStore, schema

    db = Database(tmp_path / "operator-sim.sqlite3")
    schema.migrations.apply(db, stop_before="0009_s2low_accounts")
    for agent_id, roles in ((1, '["answer", "cancel", "read", "submit"]'), (2, '["read"]')):
        db["agents"].insert({"id": agent_id, "certificate_fingerprint": f"{agent_id}" * 64,
                             "name": f"agent {agent_id}", "roles": roles})
    db.close()
    with SqliteStore.open(tmp_path) as store:
        roles = {a.id: a.roles for p in ("1" * 64, "2" * 64)
                 for a in store.agents_for_certificate(p)}
    assert roles == {1: {"answer", "cancel", "read", "submit", "post"}, 2: {"read"}}


async def test_an_account_without_the_right_to_post_leaves_its_acts_at_17(s2low):
    """S²LOW's "CS" right: the act waits at 17 even over an RGS connection and without
    `en_attente`; that account's post-confirm is "Accès refusé"; one with "post" posts it."""
    served = s2low.served
    record = served.simulator.pki.issue_agent(AgentSubject("Mairie", SIREN, "Guichet"),
                                              now=served.simulator.clock.now(),
                                              level=RgsLevel.TWO)
    async with served.admin_session() as admin:
        for login, roles in (("saisie", ["read", "submit"]),
                             ("envoi", ["read", "submit", "post"])):
            async with admin.post(f"/admin/certificates/{record.fingerprint}/accounts",
                                  json={"login": login, "password": f"{login}-secret",
                                        "roles": roles}) as r:
                assert r.status == 201, await r.text()
        async with admin.post(f"/admin/certificates/{record.fingerprint}/accounts",
                              json={"login": "x", "password": "x" * 8,
                                    "roles": ["admin"]}) as r:
            assert (r.status, (await r.json())["field"]) == (422, "roles")

    def basic(login):
        return {"Authorization": aiohttp.encode_basic_auth(login, f"{login}-secret")}

    async with s2low.session(record, headers=basic("saisie")) as clerk:
        async with clerk.post(f"{ACTES}/actes_transac_create.php", data=create_form()) as r:
            transaction_id = int((await r.read()).split(b"\n")[1])
        assert (await s2low.status(transaction_id))[1] == "17"
        async with clerk.get(f"{ACTES}/actes_transac_post_confirm_api.php",
                             params={"id": str(transaction_id), "url_return": "/r?m=%%MESSAGE%%"},
                             allow_redirects=False) as r:
            assert r.headers["Location"] == "/r?m=Acc%C3%A8s+refus%C3%A9"
    assert (await s2low.status(transaction_id))[1] == "17"
    async with s2low.session(record, headers=basic("envoi")).get(
            f"{ACTES}/actes_transac_post_confirm_api.php",
            params={"id": str(transaction_id)}, allow_redirects=False) as r:
        assert r.status == 302
    assert (await s2low.status(transaction_id))[1] == "4"


async def test_an_unreadable_basic_header_is_refused_as_bad_credentials(s2low):
    served = s2low.served
    record = served.simulator.pki.issue_agent(AgentSubject("Mairie", SIREN, "Certificat partagé"),
                                              now=served.simulator.clock.now(),
                                              level=RgsLevel.TWO)
    async with served.admin_session() as admin, admin.post(
            f"/admin/certificates/{record.fingerprint}/accounts",
            json={"login": "alice", "password": "alice-secret"}) as r:
        assert r.status == 201
    answers = {}
    for header in ("Basic", "Basic !!!!", "Basic " + "YWxpY2U=",  # no colon
                   "Basic " + "/w==",  # not UTF-8
                   "Basic YWxpY2U6YWxpY2Utc2VjcmV0 extra", "Bearer abc",
                   aiohttp.encode_basic_auth("alice", "wrong")):
        async with s2low.session(record, headers={"Authorization": header}) as client, \
                client.get("/api/test-connexion.php") as r:
            answers[header] = (r.status, await r.text())
    assert all(status == 401 for status, _ in answers.values()), answers
    async with s2low.session(record, headers={
            "Authorization": aiohttp.encode_basic_auth("alice", "alice-secret")}) as client, \
            client.get("/api/test-connexion.php") as r:
        assert r.status == 200
