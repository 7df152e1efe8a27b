"""Scenario rules on the S²LOW door, through the served simulator: a rule matching a request
header decides, and its faults (503, slow answer, dropped connection) show, both when an act
is created and when an act waiting at 17 is posted — the scenarios decide at posting."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.web.simkit import admin

from .conftest import ACTES, create_form, latin1

RULES = [
    {"id": "refus", "match": {"header": "X-Scenario: refus"},
     "outcome": {"kind": "anomalie", "nature": "009", "detail": "refus par en-tête"}},
    {"id": "panne", "match": {"header": "X-Scenario: panne"}, "faults": {"unavailable": True}},
    {"id": "lent", "match": {"header": "X-Scenario: lent"}, "faults": {"slow_ms": 600}},
    {"id": "coupure", "match": {"header": "X-Scenario: coupure"},
     "faults": {"drop_connection": True}},
]


@pytest.fixture
async def rules(s2low):
    for rule in RULES:
        status, body = await admin(s2low.served, "POST", "/admin/scenarios", rule)
        assert status == 201, body
    return s2low


async def create(s2low, number: str, scenario: str, **fields: str) -> tuple[int, str]:
    async with s2low.session().post(f"{ACTES}/actes_transac_create.php",
                                    data=create_form(number=number, **fields),
                                    headers={"X-Scenario": scenario}) as r:
        return r.status, latin1(await r.read())


async def post(s2low, transaction_id: int, scenario: str, **params: str) -> tuple[int, str, str]:
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(transaction_id), **params},
                                   headers={"X-Scenario": scenario},
                                   allow_redirects=False) as r:
        return r.status, latin1(await r.read()), r.headers.get("Location", "")


async def unanswered_get(s2low, target: str, headers: dict[str, str]) -> bool:
    """GET on a raw TLS connection: whether the server closed it without any answer."""
    url = urlsplit(s2low.served.api_url)
    reader, writer = await asyncio.open_connection(
        url.hostname, url.port, ssl=s2low.served.agent_ssl_context(s2low.agent),
        server_hostname="localhost")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode())
    try:
        async with asyncio.timeout(10):
            answer = await reader.read()
    except (ConnectionError, OSError):
        answer = b""
    finally:
        writer.close()
    return answer == b""


async def journal(s2low, path: str, count: int) -> list[dict]:
    """The journal's `count` entries for `path`, once written (a dropped request's entry is
    written by the server after the client saw the connection close)."""
    for _ in range(50):
        _, body = await admin(s2low.served, "GET", f"/admin/journal?path={path}")
        if len(body["items"]) >= count:
            break
        await asyncio.sleep(0.1)
    return body["items"]


async def test_create_matches_header_rules_and_shows_their_faults(rules):
    s2low = rules
    status, body = await create(s2low, "PANNE", "panne")
    assert (status, body) == (503, "KO\nservice momentanément indisponible (scénario panne)\n")
    assert s2low.served.simulator.store.list().total == 0
    status, body = await create(s2low, "REFUS", "refus")
    assert status == 200
    assert (await s2low.status(int(body.split("\n")[1])))[1] == "-1"
    started = time.monotonic()
    status, body = await create(s2low, "LENT", "lent")
    assert status == 200 and body.startswith("OK\n") and time.monotonic() - started >= 0.6
    with pytest.raises(aiohttp.ClientError):
        await create(s2low, "COUPURE", "coupure")
    entries = await journal(s2low, f"{ACTES}/actes_transac_create.php", 4)
    assert [(e["status"], e["scenario"]) for e in reversed(entries)] == [
        (503, None), (200, "refus"), (200, "lent"), (None, "coupure")]


async def test_posting_an_act_waiting_at_17_applies_the_posting_requests_header_rules(rules):
    s2low = rules
    waiting = {}
    for number in ("REFUS", "PANNE", "LENT", "COUPURE"):
        waiting[number] = await s2low.created(create_form(number=number, en_attente="1"))
    # the rules decide at posting: the header on the create request made no decision
    assert {(await s2low.status(t))[1] for t in waiting.values()} == {"17"}

    assert await post(s2low, waiting["REFUS"], "refus") == (302, "", "")  # no url_return
    _, code, flux = await s2low.status(waiting["REFUS"])
    assert code == "-1" and "refus par en-tête" in flux

    status, body, _ = await post(s2low, waiting["PANNE"], "panne", url_return="https://x/%%ERROR%%")
    assert (status, body) == (503, "KO\nservice momentanément indisponible (scénario panne)\n")
    assert (await s2low.status(waiting["PANNE"]))[1] == "17"  # nothing posted: post again later
    assert (await post(s2low, waiting["PANNE"], "aucun"))[:2] == (302, "")
    assert (await s2low.status(waiting["PANNE"]))[1] == "4"

    started = time.monotonic()
    status, _, location = await post(s2low, waiting["LENT"], "lent",
                                     url_return="https://pastell.test/retour?error=%%ERROR%%")
    assert (status, location) == (302, "https://pastell.test/retour?error=0")
    assert time.monotonic() - started >= 0.6
    status, _, location = await post(s2low, waiting["LENT"], "aucun",  # posted: refused
                                     url_return="https://x.test/?e=%%ERROR%%\r\nSet-Cookie: a=1")
    assert status == 302 and location.startswith("https://x.test/?e=1")
    assert "\r" not in location and "\n" not in location  # normalised, as HTTPFound does

    # raw: aiohttp's client would silently retry an idempotent GET once the line drops
    assert await unanswered_get(s2low, f"{ACTES}/actes_transac_post_confirm_api.php"
                                       f"?id={waiting['COUPURE']}", {"X-Scenario": "coupure"})
    assert (await s2low.status(waiting["COUPURE"]))[1] == "4"  # posted, then the line dropped

    entries = await journal(s2low, f"{ACTES}/actes_transac_post_confirm_api.php", 6)
    assert [(e["status"], e["scenario"]) for e in reversed(entries)] == [
        (302, "refus"), (503, None), (302, None), (302, "lent"), (302, None), (None, "coupure")]


async def test_a_corrupt_return_damages_every_download_of_what_the_prefecture_returned(s2low):
    """ARActe in S²LOW's status answer and the REST message, a letter's return archive by
    both doors and its PDF, the 6-2 packed in S²LOW's envelope of a cancellation; what the collectivité
    sent stays intact."""
    status, body = await admin(s2low.served, "POST", "/admin/scenarios",
                               {"id": "abime", "match": {"header": "X-Scenario: abime"},
                                "faults": {"corrupt_return": True}})
    assert status == 201, body
    simulator = s2low.served.simulator
    blobs = simulator.store.blobs
    damaged_id = int((await create(s2low, "ABIME", "abime"))[1].split("\n")[1])
    intact_id = await s2low.created(create_form(number="INTACT"))

    def stored(transaction_id: int, code: str) -> bytes:
        (message,) = [m for m in simulator.store.messages(transaction_id) if m.code == code]
        return blobs.read(message.xml_sha256)

    def is_damaged(got: bytes, original: bytes) -> bool:
        return len(got) == len(original) and got != original

    async def download(path: str, **params: str) -> bytes:
        async with s2low.session().get(path, params=params) as r:
            assert r.status == 200, await r.text()
            return await r.read()

    status_path = f"{ACTES}/actes_transac_get_status.php"
    flux = (await download(status_path, transaction=str(damaged_id))).split(b"\n", 2)[2]
    assert is_damaged(flux, stored(damaged_id, "1-2"))
    flux = (await download(status_path, transaction=str(intact_id))).split(b"\n", 2)[2]
    assert flux == stored(intact_id, "1-2")
    assert is_damaged(await download(f"/api/v1/transactions/{damaged_id}/messages/1-2"),
                      stored(damaged_id, "1-2"))
    # the act's own archive is the collectivité's: intact by both doors
    act = simulator.store.get(damaged_id)
    assert await download(f"/api/v1/transactions/{damaged_id}/archive") \
        == blobs.read(act.archive_sha256)
    assert await download(f"{ACTES}/actes_download_file.php", env=str(damaged_id)) \
        == blobs.read(act.archive_sha256)

    for acte_id, broken in ((damaged_id, True), (intact_id, False)):
        letter = (await simulator.prefecture.send_letter(acte_id, "2-1", text="Observations")
                  ).transaction
        archive = blobs.read(letter.archive_sha256)
        for got in (await download(f"/api/v1/transactions/{letter.id}/archive"),
                    await download(f"{ACTES}/actes_download_file.php", env=str(letter.id))):
            assert is_damaged(got, archive) if broken else got == archive
        pdf = blobs.read((await simulator.prefecture.letter_document(letter.id)).sha256)
        got = await download(f"/api/v1/courriers/{letter.id}/document")
        assert is_damaged(got, pdf) if broken else got == pdf

    async with s2low.session().post(f"{ACTES}/actes_transac_cancel.php",
                                    data={"id": str(damaged_id)}) as r:
        assert r.status == 200, await r.text()
        cancel_id = int((await r.text()).split("\n")[1])
    with tarfile.open(fileobj=io.BytesIO(await download(f"{ACTES}/actes_download_file.php",
                                                        env=str(cancel_id)))) as tar:
        packed = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    by_code = {m.code: m for m in simulator.store.messages(cancel_id)}
    assert packed[by_code["6-1"].file_name] == blobs.read(by_code["6-1"].xml_sha256)
    assert is_damaged(packed[by_code["6-2"].file_name], blobs.read(by_code["6-2"].xml_sha256))
