"""A small archive posted as a raw body never touches the disk as a file: read into memory,
examined from memory in a validation worker, stored as a small-blob row in the commit that
records its transaction. A body past the threshold is spooled and becomes a file blob as
before; every download of either is byte-identical; refusals leave nothing behind."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench import _service
from operator_sim.pki import Identity
from operator_sim.pki.profiles import RgsLevel
from operator_sim.protocol.codes import TransactionStatus as S
from operator_sim.store.database import DATABASE_NAME
from operator_sim.store.integrity import check_store
from operator_sim.store.small_blobs import SMALL_BLOB
from operator_sim.web.http import SPOOL_IN_MEMORY
from operator_sim.web.server import RunningSimulator

from .simkit import SIREN, act, serve, submit

ACTES = "/modules/actes"


def _blob_files(data: Path) -> list[Path]:
    return sorted((data / "blobs").glob("??/??/*"))


def _small_blob_rows(data: Path) -> int:
    with sqlite3.connect(f"{(data / DATABASE_NAME).as_uri()}?mode=ro", uri=True) as db:
        return db.execute("select count(*) from small_blobs").fetchone()[0]


async def _paused_body(first: bytes, rest: bytes, go_on: asyncio.Event) -> AsyncIterator[bytes]:
    """A body sent in two parts, the second once `go_on` is set."""
    yield first
    await go_on.wait()
    yield rest


async def _post_in_two_parts(http: aiohttp.ClientSession, name: str, data: bytes, split: int,
                             while_paused) -> tuple[int, dict]:
    """Post `data` as a raw body, pausing after `split` bytes to run `while_paused()`."""
    go_on = asyncio.Event()
    request = asyncio.ensure_future(http.post(
        "/api/v1/archives", params={"name": name},
        data=_paused_body(data[:split], data[split:], go_on),
        headers={"Content-Type": "application/gzip"}))
    try:
        await while_paused()
    finally:
        go_on.set()
    async with await request as response:
        return response.status, await response.json()


async def _downloads(served: RunningSimulator, agent,
                     transaction_id: int) -> tuple[bytes, bytes, bytes]:
    """The archive through the API's download, the S²LOW door's (`env=`) and the dashboard's."""
    async with served.agent_session(agent) as http:
        async with http.get(f"/api/v1/transactions/{transaction_id}/archive") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/gzip"
            api = await r.read()
        async with http.get(f"{ACTES}/actes_download_file.php",
                            params={"env": str(transaction_id)}) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/gzip"
            door = await r.read()
    async with served.admin_session() as admin, \
            admin.get(f"/admin/actes/{transaction_id}/archive") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/gzip"
        dashboard = await r.read()
    return api, door, dashboard


async def test_a_small_raw_body_is_never_a_file_and_is_stored_as_a_row(tmp_path, shared_pki_dir):
    data = tmp_path / "data"
    uploads = data / "uploads"
    name, archive = act("MEMOIRE01")
    assert len(archive) <= SPOOL_IN_MEMORY <= SMALL_BLOB
    # Worker processes, as `operator-sim serve` runs: the bytes cross to the worker.
    async with serve(data, shared_pki_dir, processes=True) as served:
        agent = served.enrol(SIREN, "Alice Martin", level=RgsLevel.TWO)
        async with served.agent_session(agent) as http:
            status, body = await submit(http, act("MEMOIRE00"))  # the service warmed up
            assert status == 201, body
            assert list(uploads.iterdir()) == []

            async def upload_folder_stays_empty() -> None:
                for _ in range(20):  # the handler is reading the body meanwhile
                    assert list(uploads.iterdir()) == []
                    await asyncio.sleep(0.02)

            status, body = await _post_in_two_parts(http, name, archive, len(archive) // 2,
                                                    upload_folder_stays_empty)
        assert status == 201 and body["outcome"] == "1-2", body
        assert list(uploads.iterdir()) == []
        row = served.simulator.store.get(body["transaction"]["id"])
        blobs = served.simulator.store.blobs
        assert row.archive_sha256 is not None
        assert blobs.read(row.archive_sha256) == archive
        assert not blobs.files.exists(row.archive_sha256)  # a row, not a file
        assert _blob_files(data) == []  # nothing of either receipt is a file
        assert await _downloads(served, agent, row.id) == (archive, archive, archive)
    checked = check_store(data)  # `operator-sim check` reads the archive from its row
    assert checked.sound and checked.rows_checked > 0 and checked.missing_count == 0


async def test_a_waiting_act_whose_archive_is_a_row_is_posted(tmp_path, shared_pki_dir):
    """Stored "en attente d'être postée" (17) with its archive as a small-blob row, the act
    is examined again from that row when posted."""
    data = tmp_path / "data"
    name, archive = act("ATTENTE01")
    async with serve(data, shared_pki_dir, processes=True) as served:
        engine = served.simulator.engine
        who = Identity(fingerprint="ab" * 32, name="Alice", sirens=frozenset({SIREN}),
                       roles=frozenset({"read", "submit"}), certificate_siren=SIREN)
        waiting = await engine.submit_archive(who, name, archive, await_posting=True)
        row = waiting.transaction
        assert row.status is S.EN_ATTENTE_D_ETRE_POSTEE and row.archive_sha256 is not None
        assert not served.simulator.store.blobs.files.exists(row.archive_sha256)
        posted = await engine.post_acte(who, row.id)
        assert posted.code == "1-2" and posted.id_acte is not None
        assert posted.transaction.status is S.ACQUITTEMENT_RECU
        assert served.simulator.store.blobs.read(row.archive_sha256) == archive
        assert _blob_files(data) == []


async def test_a_body_past_the_threshold_is_spooled_and_becomes_a_file(tmp_path,
                                                                      shared_pki_dir):
    data = tmp_path / "data"
    uploads = data / "uploads"
    name, archive = act("GRAND0001", pdf=_service.big_pdf(3 * SPOOL_IN_MEMORY))
    assert len(archive) > 2 * SPOOL_IN_MEMORY
    async with serve(data, shared_pki_dir) as served:
        agent = served.enrol(SIREN, "Alice Martin", level=RgsLevel.TWO)

        async def spooled_to_a_file() -> None:
            for _ in range(500):
                if any(p.stat().st_size for p in uploads.iterdir()):
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the body never reached the upload folder")

        async with served.agent_session(agent) as http:
            status, body = await _post_in_two_parts(http, name, archive, 2 * SPOOL_IN_MEMORY,
                                                    spooled_to_a_file)
        assert status == 201 and body["outcome"] == "1-2", body
        assert list(uploads.iterdir()) == []  # moved into the blob store
        row = served.simulator.store.get(body["transaction"]["id"])
        assert row.archive_sha256 is not None
        assert served.simulator.store.blobs.files.exists(row.archive_sha256)
        assert await _downloads(served, agent, row.id) == (archive, archive, archive)


async def test_refused_bodies_leave_nothing_behind(tmp_path, shared_pki_dir):
    data = tmp_path / "data"
    uploads = data / "uploads"
    small_name, small = act("REFUS0001")
    async with serve(data, shared_pki_dir, max_archive_bytes=len(small) - 1) as served:
        agent = served.enrol(SIREN)
        rows = _small_blob_rows(data)
        async with served.agent_session(agent) as http:
            status, body = await submit(http, (small_name, b"\x1f\x8b" + b"\0" * 50))
            assert status == 422 and body["code"].startswith("ARCHIVE_"), body
            status, body = await submit(http, (small_name, small))  # one byte too many
            assert status == 413 and body["code"] == "ARCHIVE_TOO_LARGE", body
        assert served.simulator.store.list().total == 0
    async with serve(data, shared_pki_dir, max_archive_bytes=2 * SPOOL_IN_MEMORY) as served:
        async with served.agent_session(agent) as http:  # past the threshold, then the limit
            large = act("REFUS0002", pdf=_service.big_pdf(3 * SPOOL_IN_MEMORY))
            status, body = await submit(http, large)
            assert status == 413 and body["code"] == "ARCHIVE_TOO_LARGE", body
        assert served.simulator.store.list().total == 0
    assert list(uploads.iterdir()) == []
    assert _blob_files(data) == []
    assert _small_blob_rows(data) == rows
