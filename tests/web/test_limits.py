"""What a request may cost before its handler runs: `Expect: 100-continue` with a declared
length over the limit is refused at once, on raw sockets as a hostile client would send it."""

from __future__ import annotations

import asyncio
import ssl

from .simkit import SIREN, act

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
    assert answer.startswith(b"HTTP/1.1 413 "), answer
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
