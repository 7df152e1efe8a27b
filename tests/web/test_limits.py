"""What a request may cost before its handler runs: `Expect: 100-continue` with a declared
length over the limit is refused at once, on raw sockets as a hostile client would send it."""

from __future__ import annotations

import asyncio
import logging
import ssl

from operator_sim.web.malformed import PROTOCOL_LOGGER, OneLineRefusals

from .simkit import SIREN, act, admin, serve

TEN_GB = 10 * 1024**3


async def exchange(host: str, port: int, head: bytes, *, context: ssl.SSLContext | None = None,
                   body: bytes | None = None) -> bytes:
    """Send `head`; the first answer (an interim `100 Continue` included); then `body` if given
    and everything the server sends until it closes or goes quiet."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname="localhost" if context else None)
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(10):
            first = await reader.readuntil(b"\r\n\r\n")
        if body is None:
            return first
        writer.write(body)
        await writer.drain()
        rest = b""
        try:
            async with asyncio.timeout(10):
                while b"\r\n\r\n" not in rest or not rest.endswith(b"}"):
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    rest += chunk
        except TimeoutError:
            pass
        return first + rest
    finally:
        writer.close()


def post_head(path: str, length: int, content_type: str = "application/gzip") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode()


def where(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return ("127.0.0.1" if host == "localhost" else host), int(port)


async def test_expect_with_a_huge_declared_length_is_refused_before_any_byte(served):
    agent = served.enrol(SIREN)
    context = served.agent_ssl_context(agent)
    host, port = where(served.api_url)
    answer = await exchange(host, port, post_head("/api/v1/archives?name=a.tar.gz", TEN_GB),
                            context=context)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    answer = await exchange(host, port, post_head("/modules/actes/actes_transac_create.php",
                                                  TEN_GB, "multipart/form-data; boundary=x"),
                            context=context)
    # S²LOW's door refuses as S²LOW does (KO, HTTP 200), still before any byte is sent
    assert answer.startswith(b"HTTP/1.1 200 ") and b"100 Continue" not in answer, answer
    assert b"Content-Type: text/plain; charset=iso-8859-1" in answer, answer
    host, port = where(served.admin_url)
    answer = await exchange(host, port, post_head("/tsa", TEN_GB, "application/timestamp-query"))
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    answer = await exchange(host, port, post_head("/tsa", 9000, "application/timestamp-query"))
    assert answer.startswith(b"HTTP/1.1 413 "), answer  # the TSA's own, much smaller, limit


async def test_expect_within_the_limit_still_gets_100_continue_and_is_acknowledged(served):
    agent = served.enrol(SIREN)
    name, data = act("EXPECT1")
    host, port = where(served.api_url)
    answer = await exchange(host, port, post_head(f"/api/v1/archives?name={name}", len(data)),
                            context=served.agent_ssl_context(agent), body=data)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 "), answer[:200]


# -- malformed requests: one log line each, rate-limited; no HTTP/0.9 ----------------------------

async def raw(host: str, port: int, data: bytes, *, context: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname="localhost" if context else None)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


DUPLICATE_HOST = b"GET /admin/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"


async def test_malformed_requests_are_refused_in_one_log_line_each_and_rate_limited(served, caplog):
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    # The filter the server installed serves the whole process, so its minute may have begun
    # in an earlier test and end in the middle of this one (up to 30 more lines): start one.
    (installed,) = [f for f in logging.getLogger(PROTOCOL_LOGGER).filters
                    if isinstance(f, OneLineRefusals)]
    with installed._lock:
        installed._window_start, installed._logged = installed._clock(), 0
    host, port = where(served.admin_url)
    for _ in range(80):
        assert (await raw(host, port, DUPLICATE_HOST)).startswith(b"HTTP/1.0 400 ")
    agent = served.enrol(SIREN)
    host, port = where(served.api_url)
    answer = await raw(host, port, DUPLICATE_HOST.replace(b"/admin/health", b"/api/v1/transactions"),
                       context=served.agent_ssl_context(agent))
    assert answer.startswith(b"HTTP/1.0 400 ")
    lines = [r for r in caplog.records if r.name == "aiohttp.server" and r.levelno >= logging.WARNING]
    assert 1 <= len(lines) <= 30, len(lines)
    for record in lines:
        assert record.exc_info is None and record.exc_text is None
        text = record.getMessage()
        assert "\n" not in text and len(text) < 300, text
        assert "refused a malformed request from 127.0.0.1: 400 Duplicate 'Host'" in text


async def test_a_request_line_without_version_is_refused_not_served_as_http09(served):
    host, port = where(served.admin_url)
    answer = await raw(host, port, b"GET /admin/health\r\n\r\n")
    assert b" 400 " in answer.split(b"\r\n", 1)[0], answer
    assert b"HTTP_VERSION_MISSING" in answer
    agent = served.enrol(SIREN)
    host, port = where(served.api_url)
    answer = await raw(host, port, b"GET /api/v1/transactions\r\n\r\n",
                       context=served.agent_ssl_context(agent))
    assert b" 400 " in answer.split(b"\r\n", 1)[0] and b'"items"' not in answer, answer


# -- connections: capped per address and overall, places freed when they close -------------------

async def _eventually(condition, seconds: float = 10) -> bool:
    for _ in range(int(seconds * 20)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def _closed_by_server(host: str, port: int) -> bool:
    """Connect and wait: True if the server closes the connection without a word."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(5):
            return await reader.read() == b""
    except (ConnectionError, TimeoutError):
        return True
    finally:
        writer.close()


async def test_connections_past_the_per_address_cap_are_closed_at_once_and_places_come_back(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, max_connections_per_address=4) as served:
        gate = served.connections[0]
        host, port = where(served.api_url)
        held = [await asyncio.open_connection(host, port) for _ in range(4)]  # no handshake
        assert await _eventually(lambda: gate.open == 4), gate.open
        assert await _closed_by_server(host, port)
        assert gate.refused >= 1 and gate.open == 4
        for _, writer in held:
            writer.close()
        assert await _eventually(lambda: gate.open == 0), gate.open
        agent = served.enrol(SIREN)
        async with served.agent_session(agent) as http, http.get("/api/v1/transactions") as answer:
            assert answer.status == 200
        assert await _eventually(lambda: gate.open <= 1)


async def test_connections_past_the_overall_cap_are_closed_on_the_admin_port_too(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, max_connections=3) as served:
        gate = served.connections[1]
        host, port = where(served.admin_url)
        held = [await asyncio.open_connection(host, port) for _ in range(3)]
        assert await _eventually(lambda: gate.open == 3), gate.open
        assert await _closed_by_server(host, port)
        for _, writer in held:
            writer.close()
        assert await _eventually(lambda: gate.open == 0), gate.open
        status, body = await admin(served, "GET", "/admin/health")
        assert status == 200, body
