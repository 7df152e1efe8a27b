"""Reading request bodies, shared by every route: the refusal the API answers with, the read
deadline (408 for a trickling client) and spooling a body or a part to a temporary file.

The lowest web module: it imports nothing from the others, so that the one form reader
(`forms`) and the routes (`api`, …) can both build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

UPLOAD_DIR = web.AppKey("upload_dir", Path)
MAX_ARCHIVE_BYTES = web.AppKey("max_archive_bytes", int)
READ_TIMEOUT = web.AppKey("read_timeout", float)
MIN_UPLOAD_RATE = 64 * 1024
"""Bytes of body that earn an upload one more second beyond `read_timeout` (like the MinRate of
Apache's mod_reqtimeout): big uploads on slow links pass, a trickling client does not."""


class BadRequest(Exception):
    """A request the API refuses before the engine sees it; `field` names the faulty input."""

    def __init__(self, status: int, code: str, fr: str, en: str, *, field: str | None = None) -> None:
        super().__init__(en)
        self.status, self.code, self.fr, self.en, self.field = status, code, fr, en, field


@contextlib.asynccontextmanager
async def reading_body(request: web.Request) -> AsyncIterator[Callable[[int], None]]:
    """Read a request's body under its deadline (slowloris guard): `read_timeout` seconds, plus
    one per MIN_UPLOAD_RATE bytes received, reported through the yielded `received(total)`.

    What aiohttp raises on a malformed body (no boundary, cut short, a part header with a
    NUL, an unknown charset, bytes not in it, a Content-Encoding the bytes do not follow) is a
    400 BODY_MALFORMED: only body reading belongs inside this block."""
    timeout = request.app[READ_TIMEOUT]
    start = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(timeout) as deadline:
            yield lambda total: deadline.reschedule(start + timeout + total / MIN_UPLOAD_RATE)
    except TimeoutError:
        raise BadRequest(408, "REQUEST_TIMEOUT",
                         f"corps de la requête trop lent à arriver (plus de {timeout:g} s)",
                         f"request body too slow to arrive (over {timeout:g} s)") from None
    except (ValueError, LookupError, HttpProcessingError, web.RequestPayloadError):
        raise BadRequest(400, "BODY_MALFORMED",
                         "corps de la requête mal formé (formulaire ou multipart illisible)",
                         "malformed request body (unreadable form or multipart)") from None


async def spool(request: web.Request, source: Any, *, suffix: str, limit: int,
                field: str | None = None, received: Callable[[int], None] = lambda total: None,
                already: int = 0) -> tuple[Path, int]:
    """Copy a body or a multipart part to a temporary file; 413 past `limit` bytes.

    `received` is told the running total (`already` bytes read before this part, plus these)."""
    handle = tempfile.NamedTemporaryFile(dir=request.app[UPLOAD_DIR], delete=False,  # noqa: SIM115
                                         suffix=suffix)
    path = Path(handle.name)
    size = 0
    try:
        with handle:
            while chunk := await (source.read_chunk() if hasattr(source, "read_chunk")
                                  else source.read(1 << 16)):
                size += len(chunk)
                received(already + size)
                if size > limit:
                    raise BadRequest(413, "ARCHIVE_TOO_LARGE",
                                     f"envoi de plus de {request.app[MAX_ARCHIVE_BYTES]} octets",
                                     f"upload larger than {request.app[MAX_ARCHIVE_BYTES]} bytes",
                                     field=field)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


__all__ = ["MAX_ARCHIVE_BYTES", "MIN_UPLOAD_RATE", "READ_TIMEOUT", "UPLOAD_DIR", "BadRequest",
           "reading_body", "spool"]
