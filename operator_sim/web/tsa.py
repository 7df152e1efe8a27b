"""HTTP face of the TSA (RFC 3161 §3.4): `POST /tsa`, timestamp-query in, timestamp-reply out.

Owns the HTTP checks only (method, content type → 415, body size → 413, a body trickled past
the API's `read_timeout` deadline → 408) and a small client.
Every RFC 3161 decision is the `TimeStampAuthority`'s: RFC rejections are still HTTP 200.
It never parses ASN.1 or signs anything itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from ..timestamp import TimeStampAuthority
from .http import json_errors, reading_body
from .keys import READ_TIMEOUT, TSA_KEY

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
#: A SHA-512 query with nonce and policy is ~120 bytes; anything far larger is not a query.
MAX_QUERY_BYTES = 8 * 1024


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error: str, reason: str) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status)


def too_large(request: web.Request, limit: int) -> web.Response:
    """The TSA's 413 (also answered to `Expect: 100-continue` with a larger Content-Length)."""
    return _error(413, "request_too_large", f"a time-stamp query is at most {limit} bytes")


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (declared or actually sent); under the
    app's body deadline (`api.reading_body`: 408 for a trickling client)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async with reading_body(request) as received:
        async for chunk in request.content.iter_chunked(4096):
            size += len(chunk)
            received(size)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def tsa_handler(tsa: TimeStampAuthority, *, max_body: int = MAX_QUERY_BYTES) -> Handler:
    """The `POST /tsa` handler for `tsa`; signing is fast enough to stay on the event loop."""

    async def handle(request: web.Request) -> web.Response:
        if request.content_type != QUERY_TYPE:
            return _error(415, "unsupported_media_type",
                          f"expected Content-Type {QUERY_TYPE}, got {request.content_type}")
        body = await _read_limited(request, max_body)
        if body is None:
            return too_large(request, max_body)
        return web.Response(body=tsa.respond(body), content_type=REPLY_TYPE)

    return handle


def add_tsa_route(app: web.Application, tsa: TimeStampAuthority, *, path: str = "/tsa",
                  max_body: int = MAX_QUERY_BYTES, read_timeout: float = 60.0) -> None:
    """Mount the TSA on an existing application (and remember it under `TSA_KEY`); the app
    needs `http.json_errors` to answer the 408, and takes `read_timeout` as its body deadline."""
    app[TSA_KEY] = tsa
    app[READ_TIMEOUT] = read_timeout
    app.router.add_post(path, tsa_handler(tsa, max_body=max_body))


def create_tsa_app(tsa: TimeStampAuthority, *, path: str = "/tsa", max_body: int = MAX_QUERY_BYTES,
                   read_timeout: float = 60.0) -> web.Application:
    """A standalone application serving only the TSA: for tests, the bench and `add_subapp`."""
    app = web.Application(middlewares=[json_errors])
    add_tsa_route(app, tsa, path=path, max_body=max_body, read_timeout=read_timeout)
    return app


class TsaHttpError(Exception):
    """The URL did not answer a time-stamp reply (HTTP status, content type)."""


async def post_query(url: str, query: bytes, *, session: aiohttp.ClientSession | None = None,
                     timeout: float = 30.0) -> bytes:
    """POST a DER TimeStampReq to `url`; the DER TimeStampResp, whatever its RFC status."""
    async def post(client: aiohttp.ClientSession) -> bytes:
        async with client.post(url, data=query, headers={"Content-Type": QUERY_TYPE},
                               timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.read()
            if response.status != 200 or response.content_type != REPLY_TYPE:
                raise TsaHttpError(f"{url}: HTTP {response.status} {response.content_type}: "
                                   f"{body[:200].decode('utf-8', 'replace')}")
            return body

    if session is not None:
        return await post(session)
    async with aiohttp.ClientSession() as client:
        return await post(client)
