"""`POST /tsa` under the API's body deadline: a client trickling its time-stamp query is
answered 408 (JSON, REQUEST_TIMEOUT) after `read_timeout`, not waited for; a prompt one is
still served. On the simulator's admin port and on the standalone TSA app."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from operator_sim.timestamp import build_query, new_nonce
from operator_sim.web.tsa import QUERY_TYPE, REPLY_TYPE, create_tsa_app

from .simkit import serve


@pytest.fixture(params=["admin port", "standalone app"])
async def tsa_base(request, tmp_path, shared_pki_dir) -> AsyncIterator[str]:
    """The simulator's admin port (read_timeout = 1 in its config), or `create_tsa_app`."""
    if request.param == "admin port":
        async with serve(tmp_path / "data", shared_pki_dir, read_timeout=1) as running:
            yield running.admin_url
        return
    async with serve(tmp_path / "data", shared_pki_dir) as running:
        runner = web.AppRunner(create_tsa_app(running.simulator.tsa, read_timeout=1))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


def query() -> bytes:
    return build_query(hashlib.sha256(b"acte").digest(), nonce=new_nonce())


async def trickle(base_url: str, body: bytes, pause: float) -> tuple[int, str, bytes, float, int]:
    """Send the head, then the body one byte per `pause`: (status, content type, body, seconds,
    bytes sent)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"POST /tsa HTTP/1.1\r\nHost: localhost\r\nContent-Type: {QUERY_TYPE}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    sent = 0

    async def drip() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            for byte in body:
                await asyncio.sleep(pause)
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1

    started = time.monotonic()
    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(20):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
            answer = await reader.readexactly(int(headers.get("content-length", "0")))
        return (int(lines[0].split()[1]), headers.get("content-type", "").split(";")[0], answer,
                time.monotonic() - started, sent)
    finally:
        dripping.cancel()
        writer.close()


async def test_a_trickled_query_is_answered_408_after_the_deadline(tsa_base):
    body = query()
    status, content_type, answer, seconds, sent = await trickle(tsa_base, body, 0.2)
    assert (status, content_type) == (408, "application/json")
    error = json.loads(answer)
    assert error["code"] == "REQUEST_TIMEOUT" and "1 s" in error["message_fr"]
    assert 0.9 < seconds < 5 and sent < len(body)


async def test_a_prompt_query_is_still_granted(tsa_base):
    status, content_type, answer, _, _ = await trickle(tsa_base, query(), 0)
    assert (status, content_type) == (200, REPLY_TYPE) and answer[:1] == b"\x30"  # DER
