"""How many TCP connections the server holds: capped overall and per client address.

Each accepted connection costs memory before anyone is authenticated (the TLS layer's state
and buffers, aiohttp's handler), so a client opening hundreds of them, even without ever
finishing a handshake, could grow the server without bound. `listening_socket` makes the
socket a site listens on: its `accept()` closes at once a connection past `Gate`'s caps, and
each admitted connection frees its place when the transport closes its socket (handshake
failed or timed out, client gone, keep-alive expired).

Memory freed by closed connections lies in the C allocator's heap, which glibc gives back to
the system only when asked: `give_memory_back` asks it (`malloc_trim`) after connections
closed, so the RSS returns near its baseline after a wave instead of staying at its peak.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import socket
import threading
import time
from collections import Counter

log = logging.getLogger(__name__)


class Gate:
    """Counts open connections; `admit` refuses past `total` overall or `per_address` from
    one address. Refusals are logged, one line per `quiet_seconds` at most."""

    def __init__(self, total: int, per_address: int, *, quiet_seconds: float = 10.0) -> None:
        self.total, self.per_address = total, per_address
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._quiet = quiet_seconds
        self._last_logged = float("-inf")
        self._unlogged = 0
        self.closed_since_trim = 0
        self.refused = 0

    @property
    def open(self) -> int:
        return sum(self._open.values())

    def admit(self, address: str) -> bool:
        with self._lock:
            if self._open[address] >= self.per_address or sum(self._open.values()) >= self.total:
                self.refused += 1
                self._log_refusal(address)
                return False
            self._open[address] += 1
            return True

    def release(self, address: str) -> None:
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]
            self.closed_since_trim += 1

    def _log_refusal(self, address: str) -> None:
        now = time.monotonic()
        if now - self._last_logged < self._quiet:
            self._unlogged += 1
            return
        log.warning("connection from %s refused: %d open from it (cap %d), %d in all (cap %d)%s",
                    address, self._open[address], self.per_address, sum(self._open.values()),
                    self.total, f"; {self._unlogged} more refused, not logged" if self._unlogged
                    else "")
        self._last_logged, self._unlogged = now, 0


class _Connection(socket.socket):
    """An accepted socket that frees its place in the gate when closed (once)."""

    _gate: Gate | None = None
    _address = ""

    def close(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release(self._address)
        super().close()


class _Listener(socket.socket):
    """A listening socket whose `accept()` (what asyncio's server calls) applies the gate."""

    gate: Gate

    def accept(self) -> tuple[socket.socket, object]:
        while True:
            fd, address = self._accept()  # type: ignore[attr-defined]  # BlockingIOError: none left
            host = address[0] if isinstance(address, tuple) else str(address)
            if not self.gate.admit(host):
                os.close(fd)
                continue
            connection = _Connection(self.family, self.type, self.proto, fileno=fd)
            connection._gate, connection._address = self.gate, host
            if socket.getdefaulttimeout() is None and self.gettimeout():
                connection.setblocking(True)  # as socket.accept does; asyncio sets it again
            return connection, address


def listening_socket(host: str, port: int, gate: Gate, *, backlog: int = 128) -> socket.socket:
    """A bound, listening TCP socket on (host, port) whose accepted connections pass `gate`."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = _Listener(family, kind, proto)
    listener.gate = gate
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def _no_trim(pad: int) -> int:
    """Where the C library has no `malloc_trim` (not glibc): nothing to ask."""
    return 0


_malloc_trim = _no_trim
with contextlib.suppress(OSError, AttributeError):
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim


async def give_memory_back(*gates: Gate, every: float = 5.0) -> None:
    """Every `every` seconds, if connections closed meanwhile, return the C heap's free pages
    to the system. Runs until cancelled."""
    while True:
        await asyncio.sleep(every)
        if any(gate.closed_since_trim for gate in gates):
            for gate in gates:
                gate.closed_since_trim = 0
            _malloc_trim(0)


__all__ = ["Gate", "give_memory_back", "listening_socket"]
