"""`POST /tsa` on a real aiohttp server on 127.0.0.1, driven by the real curl and openssl."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from operator_sim.timestamp import Rejected, build_query, read_response, verify_response
from operator_sim.web.tsa import QUERY_TYPE, REPLY_TYPE, create_tsa_app, post_query

from .conftest import TsaMaterial, openssl, openssl_verify

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")


@pytest.fixture
async def tsa_url(ec_tsa: TsaMaterial) -> AsyncIterator[str]:
    runner = web.AppRunner(create_tsa_app(ec_tsa.authority(), max_body=1024))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/tsa"
    finally:
        await runner.cleanup()


async def curl(*args: str | Path) -> tuple[str, bytes]:
    """Run curl; returns (HTTP code and content type, body)."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}", *map(str, args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err
    body, _, status = out.rpartition(b"\n")
    return status.decode(), body


async def test_openssl_query_posted_by_curl_is_granted_and_verifies(
        tsa_url: str, ec_tsa: TsaMaterial, tmp_path: Path) -> None:
    data, query, reply = tmp_path / "acte.pdf", tmp_path / "q.tsq", tmp_path / "r.tsr"
    data.write_bytes(b"%PDF-1.7 acte\n")
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    status, body = await curl("--data-binary", f"@{query}", "-H", f"Content-Type: {QUERY_TYPE}",
                              tsa_url)
    assert status == f"200 {REPLY_TYPE}"
    reply.write_bytes(body)
    assert "Status: Granted." in openssl("ts", "-reply", "-in", reply, "-text").stdout
    result = openssl_verify(ec_tsa.store, data, reply)
    assert "Verification: OK" in result.stdout, result.stderr


async def test_wrong_content_type_is_415_with_a_json_reason(tsa_url: str, tmp_path: Path) -> None:
    (tmp_path / "q").write_bytes(build_query(b"\x00" * 32))
    status, body = await curl("--data-binary", f"@{tmp_path / 'q'}", "-H",
                              "Content-Type: application/octet-stream", tsa_url)
    assert status.startswith("415 application/json")
    assert QUERY_TYPE in json.loads(body)["reason"]


async def test_oversized_body_is_413(tsa_url: str, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"\x30" * 5000)
    status, body = await curl("--data-binary", f"@{tmp_path / 'big'}", "-H",
                              f"Content-Type: {QUERY_TYPE}", tsa_url)
    assert status.startswith("413 application/json")
    assert json.loads(body)["error"] == "request_too_large"


async def test_garbage_query_is_an_http_200_rfc_rejection(tsa_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(tsa_url, data=b"not a query",
                            headers={"Content-Type": QUERY_TYPE}) as response:
        assert response.status == 200
        assert response.content_type == REPLY_TYPE
        body = await response.read()

    with pytest.raises(Rejected) as caught:
        read_response(body)
    assert caught.value.failures == {"bad_data_format"}


async def test_get_is_not_allowed(tsa_url: str) -> None:
    status, _ = await curl(tsa_url)
    assert status.startswith("405")


async def test_python_client_keeps_one_connection_for_many_queries(
        tsa_url: str, ec_tsa: TsaMaterial) -> None:
    async with aiohttp.ClientSession() as session:
        for nonce in range(1, 21):
            digest = nonce.to_bytes(32, "big")
            response = await post_query(tsa_url, build_query(digest, nonce=nonce),
                                        session=session)
            verify_response(response, tsa_certificate=ec_tsa.certificate, digest=digest,
                            nonce=nonce)


async def test_cli_timestamps_a_file_through_a_running_tsa(
        tsa_url: str, ec_tsa: TsaMaterial, tmp_path: Path) -> None:
    data = tmp_path / "acte.pdf"
    data.write_bytes(b"%PDF-1.7 by url\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from operator_sim.cli import main; main()", "timestamp",
        str(data), "--url", tsa_url, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err
    assert b"acte.pdf.tsr: genTime" in out
    result = openssl_verify(ec_tsa.store, data, tmp_path / "acte.pdf.tsr")
    assert "Verification: OK" in result.stdout, result.stderr
