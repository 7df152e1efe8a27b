"""What one request may cost before a handler runs: its declared body length.

aiohttp answers `Expect: 100-continue` before any middleware or handler (`100 Continue`, then
the client pushes its body), so a client declaring 10 GB would be invited to send them before
the handler's size check refused the upload. `refuse_oversized_expect` gives every route of an
app an expect handler that answers 413 at once, from the declared `Content-Length`, in the
shape of the door it was sent to (JSON, S²LOW's `KO`, the TSA's).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from .auth import refusal
from .s2low.replies import S2LOW_PREFIXES, S2lowKO, ko_response

FORM_SLACK = 1024 * 1024
"""Bytes a multipart body may carry beyond its files' limit (boundaries, part headers, fields)."""

Refuse = Callable[[web.Request, int], web.Response]


def too_large(request: web.Request, limit: int) -> web.Response:
    """The 413 of the API and admin ports: JSON, or `KO` text on S²LOW's paths."""
    fr = f"corps annoncé de plus de {limit} octets : refusé avant envoi"
    en = f"declared body over {limit} bytes: refused before it is sent"
    if request.path.startswith(S2LOW_PREFIXES):
        response = ko_response(S2lowKO(fr, status=413))
    else:
        response = refusal(413, "REQUEST_TOO_LARGE", fr, en)
    response.force_close()
    return response


def expect_handler(limit: int, refuse: Refuse = too_large,
                   ) -> Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse | None]]:
    """An aiohttp expect handler: 413 (no `100 Continue`) over `limit` declared bytes, 417
    for an expectation other than 100-continue, else `100 Continue` as aiohttp would."""

    async def handle(request: web.Request) -> web.StreamResponse | None:
        expect = request.headers.get(hdrs.EXPECT, "")
        if request.version != HttpVersion11:
            return None
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        if request.content_length is not None and request.content_length > limit:
            return refuse(request, limit)
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's own size starts after the interim one
        return None

    return handle


def refuse_oversized_expect(app: web.Application, limit: int, *,
                            limits: dict[str, tuple[int, Refuse]] | None = None) -> None:
    """Give every route of `app` the expect handler for `limit` (`limits`: by exact path, a
    tighter limit and its refusal, e.g. the TSA's)."""
    limits = limits or {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        bound, refuse = limits.get(path, (limit, too_large))
        # aiohttp takes the expect handler only when a route is added; these routes are added
        # by each door's module, so it is set on them here.
        route._expect_handler = expect_handler(bound, refuse)


__all__ = ["FORM_SLACK", "expect_handler", "refuse_oversized_expect", "too_large"]
