"""Temporary files a killed server leaves (half an upload, half a blob) are removed when the
next one starts on the same data folder; stored blobs and files newer than the process stay."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path

import aiohttp
import pytest

from bench import _service
from operator_sim.pki.tls import client_ssl_context
from operator_sim.store.blobs import STARTED

from .simkit import SIREN, act, serve, submit


def _blob_files(data: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in (data / "blobs").glob("??/??/*")}


async def test_stale_temporary_files_go_at_start_and_the_rest_stays(
        tmp_path: Path, shared_pki_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    async with serve(data, shared_pki_dir) as served:
        async with served.agent_session(served.enrol(SIREN)) as http:
            # Past the small-blob size: its archive and document are files of the blob folder.
            status, body = await submit(http, act("RESTE0001", pdf=_service.big_pdf(100_000)))
        assert status == 201, body
    blobs = _blob_files(data)
    assert blobs
    # What a SIGKILL leaves: older than this process, so no request of ours can own them.
    stale = [data / "uploads" / "tmpk1l2m3n4.tar.gz", data / "blobs" / ".tmp" / "put-x8y9z0ab"]
    for path in stale:
        path.write_bytes(b"\x1f\x8b\x08 half written")
        os.utime(path, (STARTED - 60, STARTED - 60))
    live = data / "uploads" / "tmpnewer000.tar.gz"  # written since this process started
    live.write_bytes(b"\x1f\x8b\x08 a live upload")

    with caplog.at_level(logging.WARNING, logger="operator_sim.simulator"):
        async with serve(data, shared_pki_dir) as served:
            assert [p for p in stale if p.exists()] == []
            assert live.exists()
            assert _blob_files(data) == blobs
            assert all(served.simulator.store.blobs.verify(p.name) for p in blobs)
    removed = [r.getMessage() for r in caplog.records if "leftover" in r.getMessage()]
    assert len(removed) == 2, removed
    assert all(m.startswith("removed 1 leftover temporary file(s) from ") for m in removed)


@pytest.mark.slow  # operator-sim serve killed and restarted
@pytest.mark.slow
def test_an_upload_cut_by_sigkill_leaves_nothing_after_the_restart(tmp_path: Path) -> None:
    """The real thing: `operator-sim serve` killed while it spools an upload, then restarted."""
    workspace = _service.prepare(tmp_path, agents=1)
    agent = workspace.agents[0]
    uploads = workspace.data_dir / "uploads"
    server = _service.Server(workspace)
    try:
        sub, cut = _service.submissions([agent.siren], 2, tag="R")
        answers = asyncio.run(_service_submit(workspace, server.api_url, [sub]))
        assert answers[0].status == 201, answers[0]
        asyncio.run(_upload_until_spooled(workspace, server, cut.name, uploads))
    finally:
        server.kill()
    half = list(uploads.iterdir())
    assert len(half) == 1, half  # the kill left the spooled half of the upload behind
    blob_tmp = workspace.data_dir / "blobs" / ".tmp" / "put-killed0"
    blob_tmp.write_bytes(b"half a blob")  # a kill inside blobs.put is too brief to aim at
    blobs = _blob_files(workspace.data_dir)

    server = _service.Server(workspace)
    try:
        assert list(uploads.iterdir()) == []
        assert not blob_tmp.exists()
        assert _blob_files(workspace.data_dir) == blobs
        tid = answers[0].body["transaction"]["id"]
        assert asyncio.run(_archive_sha256(workspace, server.api_url, tid)) == sub.sha256
    finally:
        server.stop()
    log = server.log.read_text()
    assert "removed 1 leftover temporary file(s) from " + str(uploads) in log
    assert "removed 1 leftover temporary file(s) from " + str(blob_tmp.parent) in log


async def _service_submit(workspace: _service.Workspace, api_url: str,
                          subs: list[_service.Submission]) -> list[_service.Answer]:
    async with _service.clients(workspace, api_url, connections=1) as pool:
        return [await pool.submit(sub) for sub in subs]


async def _upload_until_spooled(workspace: _service.Workspace, server: _service.Server,
                                name: str, uploads: Path) -> None:
    """Send the first part of an archive, and SIGKILL the server once it is spooling it."""
    agent = workspace.agents[0]
    hold = asyncio.Event()

    async def body():
        yield b"\x1f\x8b" + bytes(256 * 1024)
        await hold.wait()  # the rest never comes

    context = client_ssl_context(cafile=workspace.roots, certificate=agent.certificate,
                                 key=agent.key)
    async with aiohttp.ClientSession(server.api_url,
                                     connector=aiohttp.TCPConnector(ssl=context)) as http:
        request = asyncio.ensure_future(http.post(
            "/api/v1/archives", params={"name": name},
            data=body(), headers={"Content-Type": "application/gzip"}))
        try:
            for _ in range(600):
                if any(p.stat().st_size for p in uploads.iterdir()):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the upload never reached the spool folder")
            await asyncio.to_thread(server.kill)
        finally:
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)


async def _archive_sha256(workspace: _service.Workspace, api_url: str, tid: int) -> str:
    digest = hashlib.sha256()
    async with _service.clients(workspace, api_url, connections=1) as pool:
        http = pool.session(workspace.agents[0].siren)
        async with http.get(f"/api/v1/transactions/{tid}/archive") as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(1 << 16):
                digest.update(chunk)
    return digest.hexdigest()
