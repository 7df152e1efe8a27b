"""Downloads on every door: a stored name never escapes Content-Disposition, and a blob altered
on disk is never served as sound (a clear refusal and a journal entry instead)."""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import subprocess

import pytest

from operator_sim.pki.profiles import RgsLevel
from operator_sim.protocol.codes import TransactionStatus
from operator_sim.store.database import DATABASE_NAME
from operator_sim.testing import corpus
from tests.s2low.conftest import ACTES, latin1, s2low_client
from tests.store.factories import alter_blob, remove_blob

from .simkit import SIREN, act, submit
from .test_admin_hostile import dashboard_post
from .test_dashboard import submit_held

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

EVIL = "x\"; filename*=UTF-8''evil.html; a=\""


def saved_name(header: str) -> str:
    """The file name a client following RFC 6266 keeps: `filename*` (read by the standard
    library's RFC 2231 decoder) when there is one, else `filename`; each at most once."""
    message = email.message.Message()
    message["Content-Disposition"] = header
    assert message.get_content_disposition() == "attachment", header
    params = message.get_params(header="content-disposition")[1:]
    extended = [email.utils.collapse_rfc2231_value(v) for k, v in params
                if k == "filename" and isinstance(v, tuple)]
    plain = [v for k, v in params if k == "filename" and not isinstance(v, tuple)]
    assert len(plain) == 1 and len(extended) <= 1, header
    return (extended or plain)[0]


async def journal(served, **params):
    async with served.admin_session() as http, http.get("/admin/journal", params=params) as r:
        assert r.status == 200
        return (await r.json())["items"]


async def test_a_stored_archive_name_never_escapes_content_disposition(served, tmp_path):
    agent = served.enrol(SIREN, level=RgsLevel.TWO)
    async with served.agent_session(agent) as http:
        status, body = await submit(http, (EVIL, act("N1")[1]))
        assert status == 201 and body["transaction"]["archive_name"] == EVIL
        transaction_id = body["transaction"]["id"]
        headers = []
        for path, params in ((f"/api/v1/transactions/{transaction_id}/archive", {}),
                             (f"{ACTES}/actes_download_file.php", {"env": str(transaction_id)})):
            async with http.get(path, params=params) as r:
                assert r.status == 200, await r.text()
                headers.append(r.headers["Content-Disposition"])
    async with served.admin_session() as http, \
            http.get(f"/admin/actes/{transaction_id}/archive") as r:
        assert r.status == 200
        headers.append(r.headers["Content-Disposition"])
    for header in headers:
        assert saved_name(header) == EVIL, header  # the exact name, as one parameter
    # curl -OJ saves under the header's file name: never the injected one
    folder = tmp_path / "curl"
    folder.mkdir()
    curl = await asyncio.create_subprocess_exec(
        "curl", "-sSf", "-OJ", "-H", f"Authorization: Bearer {served.admin_token}",
        f"{served.admin_url}/admin/actes/{transaction_id}/archive", cwd=folder)
    assert await asyncio.wait_for(curl.wait(), 30) == 0
    saved = [p.name for p in folder.iterdir()]
    assert len(saved) == 1 and saved[0] != "evil.html" and '"' not in saved[0], saved


async def test_plain_names_keep_s2lows_simple_header(served):
    async with s2low_client(served) as s2low:
        transaction_id = await s2low.created()
        async with s2low.session().get(f"{ACTES}/actes_download_file.php",
                                       params={"env": str(transaction_id)}) as r:
            assert r.status == 200
            header = r.headers["Content-Disposition"]
    assert header.startswith('attachment; filename="') and "filename*" not in header


@pytest.fixture
async def acknowledged(served):
    """An act posted on S²LOW's door and acknowledged: its archive, PDF, 1-1 and 1-2 stored."""
    async with s2low_client(served) as s2low:
        yield s2low, await s2low.created()


async def stored(served, transaction_id):
    store = served.simulator.engine.store
    row = await store.get(transaction_id)
    messages = {m.code: m for m in await store.messages(transaction_id)}
    document = (await store.documents(transaction_id))[0]
    return row, messages, document


async def test_altered_blobs_are_refused_on_every_door_and_journaled(served, acknowledged):
    s2low, transaction_id = acknowledged
    row, messages, document = await stored(served, transaction_id)
    letter = await served.simulator.prefecture.send_letter(transaction_id, "2-1", text="Courrier")
    letter_pdf = await served.simulator.prefecture.letter_document(letter.transaction.id)
    for sha in (row.archive_sha256, messages["1-2"].xml_sha256, messages["1-2"].signature_sha256,
                document.sha256, letter_pdf.sha256):
        alter_blob(served.simulator.store, sha)
    api = s2low.session()
    rest = [f"/api/v1/transactions/{transaction_id}/archive",
            f"/api/v1/transactions/{transaction_id}/messages/1-2",
            f"/api/v1/transactions/{transaction_id}/messages/1-2/signature",
            f"/api/v1/courriers/{letter.transaction.id}/document"]
    for path in rest:
        async with api.get(path) as r:
            body = await r.json()
            assert (r.status, body["code"]) == (410, "BLOB_CORRUPTED"), path
            assert "altéré" in body["message_fr"] and "altered" in body["message_en"]
    async with api.get(f"{ACTES}/actes_transac_get_files_list.php",
                       params={"transaction": str(transaction_id)}) as r:
        pdf_id = str((await r.json())[1]["id"])
    for path, params in (("actes_download_file.php", {"env": str(transaction_id)}),
                         ("actes_download_file.php", {"file": pdf_id}),
                         ("actes_download_file.php", {"file": pdf_id, "tampon": "true"}),
                         ("actes_transac_get_tampon.php", {"transaction": str(transaction_id)}),
                         ("actes_create_pdf.php", {"trans_id": str(transaction_id)})):
        async with api.get(f"{ACTES}/{path}", params=params) as r:
            text = latin1(await r.read())
            assert r.status == 410, (path, params, r.status, text[:200])
            assert text.startswith("KO\nErreur d'envoi du fichier"), text
    async with served.admin_session() as http:
        for path in (f"/admin/actes/{transaction_id}/archive",
                     f"/admin/actes/{transaction_id}/documents/{document.id}",
                     f"/admin/actes/{transaction_id}/messages/{messages['1-2'].id}/xml"):
            async with http.get(path) as r:
                assert r.status == 410, path
                assert "Fichier altéré" in await r.text()
        # what is sound is still served
        async with http.get(f"/admin/actes/{transaction_id}/messages/{messages['1-1'].id}/xml") as r:
            assert r.status == 200
    async with api.get(f"/api/v1/transactions/{transaction_id}/messages/1-1") as r:
        assert r.status == 200
    async with api.get(f"/api/v1/transactions/{transaction_id}/messages/1-2/timestamp") as r:
        assert r.status == 200  # its token is intact
    faults = await journal(served, status=410)
    assert len(faults) == len(rest) + 5 + 3
    assert {f["error_code"] for f in faults} == {"BLOB_CORRUPTED"}
    assert all("altered on disk" in f["note"] for f in faults)
    assert any(row.archive_sha256 in f["note"] for f in faults)


async def test_an_ar_that_no_longer_reads_as_one_is_a_clear_refusal_not_a_500(served, acknowledged):
    """The 1-2 row pointing at other (sound) bytes, as a hand edit with the sqlite3 shell leaves
    it: the stamp and the slip, drawn from the ARActe, refuse clearly."""
    s2low, transaction_id = acknowledged
    _, messages, document = await stored(served, transaction_id)
    database = served.simulator.config.data_dir / DATABASE_NAME
    subprocess.run(["sqlite3", "-cmd", ".timeout 20000", str(database), f"UPDATE messages SET xml_sha256 = "
                    f"'{document.sha256}' WHERE id = {messages['1-2'].id}"], check=True,
                   timeout=30)
    api = s2low.session()
    for path, params in (("actes_transac_get_tampon.php", {"transaction": str(transaction_id)}),
                         ("actes_create_pdf.php", {"trans_id": str(transaction_id)})):
        async with api.get(f"{ACTES}/{path}", params=params) as r:
            text = latin1(await r.read())
            assert r.status == 410, (path, r.status, text[:300])
            assert "ARActe stocké est illisible" in text


async def test_an_answer_drawn_from_an_altered_1_1_is_refused_and_the_act_stays_held(
        served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    incoming = next(m for m in await served.simulator.engine.store.messages(held.id)
                    if m.code == "1-1")
    alter_blob(served.simulator.store, incoming.xml_sha256)
    _, message = await dashboard_post(served, f"/admin/actes/{held.id}/acquitter")
    assert "altéré sur le disque" in message and "rien n'a été fait" in message
    async with served.admin_session() as http, http.post(
            f"/admin/transactions/{held.id}/acquittement") as r:
        assert (r.status, (await r.json())["code"]) == (410, "BLOB_CORRUPTED")
    assert (await served.simulator.engine.store.get(held.id)).status is TransactionStatus.TRANSMIS


async def test_a_blob_gone_from_disk_is_refused_as_missing_not_a_500(served, acknowledged):
    s2low, transaction_id = acknowledged
    row, messages, _ = await stored(served, transaction_id)
    for sha in (row.archive_sha256, messages["1-1"].xml_sha256):
        remove_blob(served.simulator.store, sha)
    api = s2low.session()
    async with api.get(f"/api/v1/transactions/{transaction_id}/archive") as r:
        body = await r.json()
        assert (r.status, body["code"]) == (410, "BLOB_MISSING")
        assert "absent" in body["message_fr"] and "missing" in body["message_en"]
    for path, params in (("actes_download_file.php", {"env": str(transaction_id)}),
                         ("actes_transac_get_files_list.php", {"transaction": str(transaction_id)}),
                         ("actes_create_pdf.php", {"trans_id": str(transaction_id)})):
        async with api.get(f"{ACTES}/{path}", params=params) as r:
            text = latin1(await r.read())
            assert r.status == 410, (path, r.status, text[:200])
            assert text.startswith("KO\nErreur d'envoi du fichier : fichier stocké absent"), text
    async with served.admin_session() as http, \
            http.get(f"/admin/actes/{transaction_id}/archive") as r:
        assert r.status == 410 and "Fichier absent" in await r.text()
    faults = await journal(served, status=410)
    assert len(faults) == 5 and {f["error_code"] for f in faults} == {"BLOB_MISSING"}
    assert all("missing from the store" in f["note"] for f in faults)
