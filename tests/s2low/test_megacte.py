"""MegActe's S²LOW client (`back/app/clients/s2low/api`), replayed: a technical login on a shared
certificate creates acts left at 17, asks for one nonce, and builds the post-confirm URLs the
user's browser opens with its own RGS certificate; the one nonce serves every URL."""

from __future__ import annotations

import hashlib

import aiohttp

from operator_sim.pki.enrol import bind_record
from operator_sim.pki.identity import Account, hash_password
from operator_sim.pki.profiles import AgentSubject, RgsLevel

from .conftest import ACTES, SIREN, create_form


async def test_megacte_post_confirm_urls_with_one_nonce(s2low):
    simulator = s2low.served.simulator
    shared = simulator.pki.issue_agent(AgentSubject("Mairie", SIREN, "MegActe"),
                                       now=simulator.clock.now(), level=RgsLevel.TWO)
    simulator.identities.bind(bind_record(shared, SIREN, Account(
        "Compte technique", frozenset({SIREN}), login="megacte",
        password_hash=hash_password("megacte-secret"))), at=simulator.clock.now())
    basic = {"Authorization": aiohttp.encode_basic_auth("megacte", "megacte-secret")}
    async with s2low.session(shared, headers=basic) as tech:
        ids = []
        for number in ("UN", "DEUX", "TROIS"):
            async with tech.post(f"{ACTES}/actes_transac_create.php",
                                 data=create_form(number=number, en_attente="1")) as r:
                ids.append(int((await r.read()).split(b"\n")[1]))
        async with tech.get("/api/get-nounce.php?api=1") as r:  # GET_NOUNCE_ENDPOINT
            r.raise_for_status()
            nounce = (await r.json())["nounce"]
    digest = hashlib.sha256(f"megacte-secret:{nounce}".encode()).hexdigest()
    single = (f"{ACTES}/actes_transac_post_confirm_api.php?id={ids[0]}&nounce={nounce}"
              f"&login=megacte&hash={digest}")
    multi = (f"{ACTES}/actes_transac_post_confirm_api_multi.php?nounce={nounce}&login=megacte"
             f"&hash={digest}&id[]={ids[1]}&id[]={ids[2]}")
    async with s2low.session() as browser:  # the user's own RGS ** certificate
        for url in (single, multi):
            async with browser.get(url, allow_redirects=False) as r:
                assert r.status == 302, await r.text()
    assert [(await s2low.status(t))[1] for t in ids] == ["4", "4", "4"]
