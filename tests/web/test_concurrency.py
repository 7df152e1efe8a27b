"""Many agents submitting at once through real mutual TLS: every acknowledged submission is one
row, with its messages and its journal, and nothing is lost or doubled (checked in the SQLite
file itself, not through the API)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from contextlib import closing

import pytest

from operator_sim.client import Client
from operator_sim.protocol.envelope import Collectivite
from operator_sim.testing import corpus

COLLECTIVITES = (corpus.COMMUNE,
                 Collectivite(siren="253400014", departement="034", arrondissement=1),
                 Collectivite(siren="200066793", departement="013", arrondissement=2, nature="44"),
                 Collectivite(siren="219740008", departement="974", arrondissement=1))


def clients(served, tmp_path) -> dict[str, list[Client]]:
    """Two agents for the first collectivité, one for each other."""
    pki = served.simulator.pki
    made: dict[str, list[Client]] = {}
    for i, collectivite in enumerate((COLLECTIVITES[0], *COLLECTIVITES)):
        agent = served.enrol(collectivite.siren, f"Agent {i}")
        made.setdefault(collectivite.siren, []).append(Client(
            served.api_url, cert=pki.directory / agent.certificate,
            key=pki.directory / agent.key, ca=pki.roots_path))
    return made


def database(served) -> sqlite3.Connection:
    path = served.simulator.store.path
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


async def close(agents: dict[str, list[Client]]) -> None:
    for group in agents.values():
        for client in group:
            await client.close()


@pytest.mark.slow  # 100 submissions
async def test_100_concurrent_submissions_make_100_transactions_and_nothing_else(served, tmp_path):
    agents = clients(served, tmp_path)
    jobs = []
    for i in range(100):
        collectivite = COLLECTIVITES[i % len(COLLECTIVITES)]
        built = corpus.build(corpus.base_request(numero_interne=f"CONC_{i:03d}"), collectivite,
                             numero=i + 1)
        path = built.write(tmp_path)
        group = agents[collectivite.siren]
        jobs.append(group[i % len(group)].submit_archive(path))
    try:
        answers = await asyncio.gather(*jobs)
    finally:
        await close(agents)

    assert Counter(a["outcome"] for a in answers) == {"1-2": 100}
    ids = {a["transaction"]["id"] for a in answers}
    assert len(ids) == 100
    with closing(database(served)) as db:
        rows = db.execute("select id, siren, status, id_acte, archive_sha256 from transactions"
                          ).fetchall()
        assert {r[0] for r in rows} == ids and len(rows) == 100
        assert {r[2] for r in rows} == {4}
        assert len({r[3] for r in rows}) == 100 and len({r[4] for r in rows}) == 100
        assert Counter(r[1] for r in rows) == {c.siren: 25 for c in COLLECTIVITES}
        messages = db.execute("select transaction_id, group_concat(code, ',') from "
                              "(select * from messages order by id) group by transaction_id"
                              ).fetchall()
        assert sorted(messages) == sorted((i, "1-1,1-2") for i in ids)
        journal = db.execute("select transaction_id, group_concat(to_status, ',') from "
                             "(select * from journal order by id) group by transaction_id"
                             ).fetchall()
        assert sorted(journal) == sorted((i, "1,2,3,4") for i in ids)
        assert db.execute("select count(*) from journal").fetchone()[0] == 400
        assert db.execute("pragma foreign_key_check").fetchall() == []


async def test_the_same_act_sent_ten_times_at_once_is_acknowledged_once(served, tmp_path):
    agents = clients(served, tmp_path)
    path = corpus.build().write(tmp_path)
    two = agents[corpus.COMMUNE.siren]
    try:
        answers = await asyncio.gather(*(two[i % 2].submit_archive(path) for i in range(10)))
    finally:
        await close(agents)
    assert Counter(a["outcome"] for a in answers) == {"1-2": 1, "1-3": 9}
    assert all("DOUBLON" in a["anomalie"]["detail"] for a in answers if a["outcome"] == "1-3")
    with closing(database(served)) as db:
        statuses = Counter(s for (s,) in db.execute("select status from transactions"))
    assert statuses == {4: 1, -1: 9}


async def test_concurrent_operator_door_submissions_get_distinct_envelopes(served, tmp_path):
    agents = clients(served, tmp_path)
    client = agents[corpus.COMMUNE.siren][0]
    fields = {"departement": "034", "date": "2024-03-12", "nature": "DE", "matiere": "5.2",
              "objet": "Délibération"}
    pdf = ("acte.pdf", corpus.minimal_pdf("Deliberation"))
    try:
        answers = await asyncio.gather(*(
            client.submit_acte({**fields, "numero_interne": f"PORTE_{i}"}, {"acte": pdf})
            for i in range(20)))
    finally:
        await close(agents)
    assert Counter(a["outcome"] for a in answers) == {"1-2": 20}
    names = {a["transaction"]["archive_name"] for a in answers}
    assert len(names) == 20
