"""The real curl binary, with --cert --key --cacert, against the mutual-TLS middleware."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from .tlskit import Clock, make_app, server_context

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl binary")


async def curl(port: int, pki, folder: str, path: str = "/whoami") -> tuple[int, dict]:
    base = pki.catalogue_dir / folder
    process = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--cert", str(base / "cert.pem"),
        "--key", str(base / "key.pem"), "--cacert", str(pki.roots_path),
        "--write-out", "\n%{http_code}", f"https://localhost:{port}{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    body, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(body)


@pytest.fixture
async def port(aiohttp_server, pki, directory, reference_time):
    server = await aiohttp_server(make_app(pki, directory, Clock(reference_time)),
                                  ssl=server_context(pki))
    return server.port


async def test_curl_with_an_agent_certificate_is_identified(port, pki):
    status, body = await curl(port, pki, "valid_rgs2_ecdsa")
    assert status == 200
    assert body["sirens"] == ["491011698"] and body["level"] == "**"


async def test_curl_with_a_revoked_certificate_gets_the_reason_code(port, pki):
    status, body = await curl(port, pki, "revoked")
    assert status == 401
    assert (body["code"], body["indication"], body["sub_indication"]) == (
        "CERT_REVOKED", "TOTAL_FAILED", "REVOKED")


async def test_curl_across_sirens_is_forbidden(port, pki):
    status, body = await curl(port, pki, "valid_rgs2_ecdsa", "/collectivites/253400014")
    assert (status, body["code"]) == (403, "FORBIDDEN_SIREN")
