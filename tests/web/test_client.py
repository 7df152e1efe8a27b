"""operator_sim.client against a served simulator, through real mutual TLS."""

from __future__ import annotations

import datetime as dt

import pytest

from operator_sim.client import ApiError, Client
from operator_sim.testing import corpus

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"


def client_for(served, agent) -> Client:
    pki = served.simulator.pki
    return Client(served.api_url, cert=pki.directory / agent.certificate,
                  key=pki.directory / agent.key, ca=pki.roots_path)


async def test_archive_lifecycle_through_the_client(served, tmp_path):
    path = corpus.build().write(tmp_path)
    async with client_for(served, served.enrol(SIREN)) as client:
        submitted = await client.submit_archive(path)
        assert submitted["outcome"] == "1-2"
        tid = submitted["transaction"]["id"]
        detail = await client.wait_for_status(tid, 4, timeout=5)
        assert [m["code"] for m in detail["messages"]] == ["1-1", "1-2"]
        assert (await client.download(tid)) == path.read_bytes()
        assert b"ARActe" in await client.download(tid, "1-2")
        assert (await client.download(tid, "1-2", "signature"))[:1] == b"\x30"  # DER
        assert (await client.download(tid, "1-1", "timestamp"))[:1] == b"\x30"
        page = await client.list(siren=SIREN, status=4, date_from=dt.date(2000, 1, 1))
        assert [t["id"] for t in page["items"]] == [tid]
        assert (await client.list(status=0))["total"] == 0
        cancelled = await client.cancel(tid)
        assert cancelled["outcome"] == "6-2"
        assert (await client.get(tid))["transaction"]["status"] == 0
        assert (await client.request_classification(SIREN))["outcome"] == "7-2"
        held = dt.date(2019, 3, 1)
        assert (await client.request_classification(SIREN, held))["outcome"] == "7-3"
        assert b"RetourClassification" in await client.classification()


async def test_operator_door_through_the_client_with_paths_and_bytes(served, tmp_path):
    (tmp_path / "deliberation.pdf").write_bytes(corpus.minimal_pdf("Deliberation"))
    fields = {"departement": "034", "date": "2024-03-12", "numero_interne": "D2024_1",
              "nature": "DE", "matiere": "5.2", "objet": "Règlement intérieur",
              "typologie_annexe": ["99_DE", "99_DE"]}
    files = {"acte": tmp_path / "deliberation.pdf",
             "annexes": [("a1.pdf", corpus.minimal_pdf("A1")), ("a2.png", corpus.minimal_png())]}
    async with client_for(served, served.enrol(SIREN)) as client:
        body = await client.submit_acte(fields, files)
        assert body["outcome"] == "1-2", body
        documents = served.simulator.store.documents(body["transaction"]["id"])
        assert [d.mimetype for d in documents] == ["application/pdf", "application/pdf",
                                                   "image/png"]
        with pytest.raises(ApiError) as refused:
            await client.submit_acte({**fields, "nature": "ZZ"}, files)
    assert (refused.value.status, refused.value.code, refused.value.field) == \
        (422, "FIELD_INVALID", "nature")
    assert refused.value.message_fr and refused.value.message_en


async def test_refusals_are_api_errors_with_the_stable_code(served, tmp_path):
    path = corpus.build().write(tmp_path)
    async with client_for(served, served.enrol(OTHER)) as client:
        with pytest.raises(ApiError) as forbidden:
            await client.submit_archive(path)
        with pytest.raises(ApiError) as missing:
            await client.get(999)
        with pytest.raises(ApiError) as no_message:
            await client.download(999, "1-2")
    assert (forbidden.value.status, forbidden.value.code) == (403, "FORBIDDEN_SIREN")
    assert "SIREN" in forbidden.value.message_fr
    assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")
    assert no_message.value.status == 404


async def test_a_p12_file_is_enough_to_connect(served, tmp_path):
    agent = served.enrol(SIREN)
    p12 = served.simulator.pki.export_p12(agent.fingerprint, tmp_path / "agent.p12",
                                          password=b"secret")
    async with Client(served.api_url, p12=p12, p12_password=b"secret",
                      ca=served.simulator.pki.roots_path) as client:
        assert (await client.list())["total"] == 0


async def test_wait_for_status_times_out_and_unreachable_is_a_connection_error(served, tmp_path):
    async with client_for(served, served.enrol(SIREN)) as client:
        tid = (await client.submit_archive(corpus.build().write(tmp_path)))["transaction"]["id"]
        with pytest.raises(TimeoutError):
            await client.wait_for_status(tid, [0], timeout=0.3, interval=0.1)
    async with Client("https://localhost:1", ca=served.simulator.pki.roots_path) as client:
        with pytest.raises(ApiError) as unreachable:
            await client.list()
    assert (unreachable.value.status, unreachable.value.code) == (0, "CONNECTION")
