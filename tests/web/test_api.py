"""The API through real mutual TLS on 127.0.0.1: submit, read, download, cancel, classify."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
from aiohttp import web

from operator_sim.config import Config
from operator_sim.pki.enrol import enrol_agent
from operator_sim.pki.tls import client_ssl_context
from operator_sim.simulator import build_simulator
from operator_sim.testing import corpus
from operator_sim.web.app import create_app

from .simkit import openssl_cms_verify

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"
NAME = "SLO-EACT--491011698--20240314-1.tar.gz"


@pytest.fixture
async def service(tmp_path, shared_pki_dir):
    config = Config(data_dir=tmp_path / "data", pki_dir=shared_pki_dir, workers=1)
    simulator = build_simulator(config, processes=False)
    runner = web.AppRunner(create_app(simulator))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=simulator.server_ssl_context())
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    agents = {}
    for siren, name in ((SIREN, "Alice"), (OTHER, "Bob")):
        simulator.store.ensure_convention(siren, config.itc)  # strict: senders need one
        record = enrol_agent(simulator.pki, simulator.identities, siren=siren, name=name,
                             now=simulator.clock.now())
        agents[siren] = client_ssl_context(cafile=simulator.pki.roots_path,
                                           certificate=shared_pki_dir / record.certificate,
                                           key=shared_pki_dir / record.key)
    yield f"https://localhost:{port}", agents, simulator
    await runner.cleanup()
    simulator.close()


def session(context):
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


async def post_archive(url, context, built):
    async with session(context) as http, http.post(f"{url}/api/v1/archives", params={"name": built.name},
                         data=_bytes(built), headers={"Content-Type": "application/gzip"}) as r:
        return r.status, await r.json()


def _bytes(built):
    return corpus._pack(built)[1]


async def test_valid_act_is_acknowledged_and_the_ar_downloads_with_its_signature(service, tmp_path):
    url, agents, simulator = service
    status, body = await post_archive(url, agents[SIREN], corpus.build())
    assert status == 201, body
    assert body["outcome"] == "1-2" and body["transaction"]["status"] == 4
    tid = body["transaction"]["id"]
    async with session(agents[SIREN]) as http:
        async with http.get(f"{url}/api/v1/transactions/{tid}") as r:
            detail = await r.json()
        assert [h["to"] for h in detail["history"]] == [1, 2, 3, 4]
        async with http.get(f"{url}/api/v1/transactions/{tid}/messages/1-2") as r:
            xml = await r.read()
        async with http.get(f"{url}/api/v1/transactions/{tid}/messages/1-2/signature") as r:
            p7s = await r.read()
    check = openssl_cms_verify(tmp_path, xml, p7s, simulator.pki.roots_path)
    assert check.returncode == 0, check.stderr
    assert b"actes:ARActe" in xml


async def test_invalid_act_gets_an_anomalie_acte(service):
    url, agents, _ = service
    status, body = await post_archive(url, agents[SIREN],
                                      corpus.build(corpus.base_request(date=dt.date(2099, 1, 1))))
    assert status == 201
    assert body["outcome"] == "1-3" and body["anomalie"]["nature"] == "010"
    assert body["transaction"]["status"] == -1


async def test_hostile_archive_is_a_422_with_findings_and_nothing_stored(service):
    url, agents, simulator = service
    async with session(agents[SIREN]) as http, http.post(f"{url}/api/v1/archives", params={"name": NAME},
                         data=b"\x1f\x8b" + b"\0" * 50,
                         headers={"Content-Type": "application/gzip"}) as r:
        body = await r.json()
        assert r.status == 422
    assert body["code"].startswith("ARCHIVE_") and body["findings"]
    assert simulator.store.list().total == 0


async def test_wrong_content_type_and_missing_name_are_4xx(service):
    url, agents, _ = service
    async with session(agents[SIREN]) as http:
        async with http.post(f"{url}/api/v1/archives", data=b"x",
                             headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415 and (await r.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"
        async with http.post(f"{url}/api/v1/archives", data=b"x",
                             headers={"Content-Type": "application/gzip"}) as r:
            assert r.status == 400 and (await r.json())["code"] == "ARCHIVE_NAME_MISSING"
        async with http.get(f"{url}/api/v1/transactions/abc") as r:
            assert r.status == 404 and (await r.json())["code"] == "NOT_FOUND"


async def test_another_sirens_agent_can_neither_submit_nor_read_nor_cancel(service):
    url, agents, _ = service
    status, body = await post_archive(url, agents[OTHER], corpus.build())
    assert status == 403 and body["code"] == "FORBIDDEN_SIREN"
    status, body = await post_archive(url, agents[SIREN], corpus.build())
    tid = body["transaction"]["id"]
    async with session(agents[SIREN]) as http, http.post(
            f"{url}/api/v1/callbacks", json={"url": "http://192.0.2.1:9/hook"}) as r:
        callback = (await r.json())["id"]
    async with session(agents[OTHER]) as http:
        for method, path in (("GET", f"/api/v1/transactions/{tid}"),
                             ("GET", f"/api/v1/transactions/{tid}/archive"),
                             ("GET", f"/api/v1/transactions/{tid}/messages/1-2"),
                             ("POST", f"/api/v1/transactions/{tid}/annulation"),
                             ("GET", f"/api/v1/transactions?siren={SIREN}"),
                             ("GET", f"/api/v1/courriers?siren={SIREN}"),
                             ("GET", f"/api/v1/courriers/{tid}/document"),
                             ("POST", f"/api/v1/courriers/{tid}/reponse"),
                             ("GET", f"/api/v1/callbacks?siren={SIREN}"),
                             ("DELETE", f"/api/v1/callbacks/{callback}")):
            async with http.request(method, url + path) as r:
                assert r.status == 403, path
        async with http.post(f"{url}/api/v1/callbacks",
                             json={"url": "http://127.0.0.1:9/hook", "siren": SIREN}) as r:
            assert r.status == 403
        async with http.get(f"{url}/api/v1/callbacks") as r:
            assert (await r.json())["items"] == []
        for kind in ("signature", "timestamp"):
            async with http.get(f"{url}/api/v1/transactions/{tid}/messages/1-2/{kind}") as r:
                assert r.status == 403, kind
        async with http.post(f"{url}/api/v1/classification", json={"siren": SIREN}) as r:
            assert r.status == 403
        async with http.get(f"{url}/api/v1/transactions") as r:
            assert (await r.json())["total"] == 0


async def test_cancel_then_classification(service):
    url, agents, _ = service
    _, body = await post_archive(url, agents[SIREN], corpus.build())
    tid = body["transaction"]["id"]
    async with session(agents[SIREN]) as http:
        async with http.post(f"{url}/api/v1/transactions/{tid}/annulation") as r:
            cancel = await r.json()
            assert r.status == 201 and cancel["outcome"] == "6-2"
        async with http.get(f"{url}/api/v1/transactions/{tid}") as r:
            assert (await r.json())["transaction"]["status"] == 0
        async with http.post(f"{url}/api/v1/transactions/{tid}/annulation") as r:
            assert r.status == 409
        async with http.post(f"{url}/api/v1/classification", json={"siren": SIREN}) as r:
            assert (await r.json())["outcome"] == "7-2"
        async with http.post(f"{url}/api/v1/classification",
                             json={"siren": SIREN, "date_classification": "2019-03-01"}) as r:
            assert (await r.json())["outcome"] == "7-3"


async def test_concurrent_submissions_each_get_their_own_transaction(service):
    url, agents, simulator = service
    builds = [corpus.build(corpus.base_request(numero_interne=f"C{i:03d}"), numero=i + 1)
              for i in range(20)]
    results = await asyncio.gather(*(post_archive(url, agents[SIREN], b) for b in builds))
    assert [s for s, _ in results] == [201] * 20
    ids = {b["transaction"]["id"] for _, b in results}
    assert len(ids) == 20 and simulator.store.list().total == 20
