"""Every body-reading route of the admin port honours `read_timeout`: a trickled admin letter
(multipart) and a trickled dashboard clock form are answered 408 within the deadline, and
nothing is done."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import pytest

from operator_sim.testing import corpus

from .simkit import serve
from .test_admin_hostile import related_ids
from .test_dashboard import submit_held

READ_TIMEOUT = 1.0
PAUSE = 0.2


@pytest.fixture
async def slow_served(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, read_timeout=READ_TIMEOUT) as served:
        yield served


async def trickled(served, path: str, content_type: str, body: bytes) -> tuple[int, float]:
    """POST `path` on the admin port, its body one byte every PAUSE s; (status, seconds)."""
    url = urlsplit(served.admin_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {served.admin_token}\r\nOrigin: {served.admin_url}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    async def drip() -> None:
        with contextlib.suppress(OSError):
            for byte in body:
                await asyncio.sleep(PAUSE)
                writer.write(bytes([byte]))
                await writer.drain()

    start = time.monotonic()
    writer.write(head)
    await writer.drain()
    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(30):
            status_line = await reader.readline()
    finally:
        dripping.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return int(status_line.split()[1]), time.monotonic() - start


LETTER = (b'--B\r\nContent-Disposition: form-data; name="code"\r\n\r\n2-1\r\n'
          b'--B\r\nContent-Disposition: form-data; name="text"\r\n\r\n' + b"x" * 200 + b"\r\n--B--\r\n")


async def test_a_trickled_admin_letter_is_a_408_within_the_deadline(slow_served, tmp_path):
    held = await submit_held(slow_served, corpus.build(), tmp_path)
    acte = (await slow_served.simulator.prefecture.acknowledge(held.id)).transaction
    status, seconds = await trickled(slow_served, f"/admin/transactions/{acte.id}/courriers",
                                     "multipart/form-data; boundary=B", LETTER)
    assert status == 408 and seconds < READ_TIMEOUT + 3
    assert await related_ids(slow_served, acte.id) == []


async def test_a_trickled_dashboard_letter_is_a_408_within_the_deadline(slow_served, tmp_path):
    held = await submit_held(slow_served, corpus.build(), tmp_path)
    acte = (await slow_served.simulator.prefecture.acknowledge(held.id)).transaction
    status, seconds = await trickled(slow_served, f"/admin/actes/{acte.id}/courriers",
                                     "multipart/form-data; boundary=B", LETTER)
    assert status == 408 and seconds < READ_TIMEOUT + 3
    assert await related_ids(slow_served, acte.id) == []


async def test_a_trickled_dashboard_clock_form_is_a_408_within_the_deadline(slow_served):
    """(The clock is real here: the form would be refused once read; it must not wait.)"""
    status, seconds = await trickled(slow_served, "/admin/tableau/horloge",
                                     "application/x-www-form-urlencoded",
                                     b"quantite=3&unite=jours&" + b"x=" + b"y" * 100)
    assert status == 408 and seconds < READ_TIMEOUT + 3
