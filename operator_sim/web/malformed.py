"""Requests that are not well-formed HTTP/1.x: refused, and logged in one line, rate-limited.

aiohttp refuses what its parser cannot accept (a duplicate `Host`, a bad header line) with a
400, but logs a full traceback each time: about 770 bytes of log per 60-byte request, which
lets any client fill the disk. `OneLineRefusals` turns those records into one line, and past
`per_minute` lines in a minute drops them, counting what it dropped in the next line it lets
through. Bugs (any other exception) keep their traceback.

A request line without a version (`GET /path`) is parsed as HTTP/0.9, which no client of
this simulator speaks: `refuse_http09` answers it 400 instead of serving it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable

from aiohttp import HttpVersion10, web
from aiohttp.http_exceptions import HttpProcessingError

from .auth import refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROTOCOL_LOGGER = "aiohttp.server"


class OneLineRefusals(logging.Filter):
    """On aiohttp's server logger: a malformed request is one WARNING line, `per_minute` at
    most; other records pass unchanged."""

    def __init__(self, per_minute: int = 30, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._logged = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        with self._lock:
            now = self._clock()
            if now - self._window_start >= 60:
                self._window_start, self._logged = now, 0
            if self._logged >= self.per_minute:
                self._dropped += 1
                return False
            self._logged += 1
            dropped, self._dropped = self._dropped, 0
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        detail = " ".join(str(error.message).split())[:200]
        record.msg = "refused a malformed request from %s: %d %s%s"
        record.args = (peer, error.code, detail,
                       f" ({dropped} more refusal(s) not logged before this one)" if dropped else "")
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def log_refusals_in_one_line(per_minute: int = 30) -> None:
    """Install `OneLineRefusals` on aiohttp's server logger (once per process)."""
    logger = logging.getLogger(PROTOCOL_LOGGER)
    if not any(isinstance(f, OneLineRefusals) for f in logger.filters):
        logger.addFilter(OneLineRefusals(per_minute))


@web.middleware
async def refuse_http09(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: a request line without an HTTP version is a 400."""
    if request.version < HttpVersion10:
        response = refusal(400, "HTTP_VERSION_MISSING",
                           "ligne de requête sans version HTTP (HTTP/0.9 non accepté)",
                           "request line without an HTTP version (HTTP/0.9 is not accepted)")
        response.force_close()
        return response
    return await handler(request)


__all__ = ["OneLineRefusals", "log_refusals_in_one_line", "refuse_http09"]
