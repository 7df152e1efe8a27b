"""Where TSA serial numbers come from: the `SerialSource` protocol and two implementations.

Owns serial uniqueness (RFC 3161 §2.4.2: unique for each token of a TSA, restarts
included). Never reuses a number it has handed out, even after a crash; never reads a clock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

COUNTER_BITS = 64


@runtime_checkable
class SerialSource(Protocol):
    """One method, so the service's SQLite `next_serial("tsa")` can stand in later."""

    def next(self) -> int:
        """A positive integer never returned before by this source (nor its predecessors)."""
        ...


def _random_prefix() -> int:
    """62 random bits, top bit set: serials are (prefix << 64 | counter), 127 bits at most."""
    return secrets.randbits(61) | (1 << 61)


class MemorySerials:
    """In-process serials: a random 62-bit prefix per instance above a counter from 1.

    Restarts start a new prefix, so numbers stay unique across restarts with probability
    1 - n²/2⁶³ for n instances; use `FileSerials` (or the database) where that is not enough.
    """

    def __init__(self, prefix: int | None = None) -> None:
        self.prefix = _random_prefix() if prefix is None else prefix
        self._counter = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._counter += 1
            return (self.prefix << COUNTER_BITS) | self._counter


class FileSerials:
    """Serials reserved in blocks from a small JSON counter file, written fsync + rename.

    The file holds a random prefix (chosen when it is created) and the first counter value
    not yet reserved. Reserving writes the end of the new block *before* any number of it is
    handed out, so a crash or a restart can only skip numbers, never repeat them. An advisory
    lock (`<file>.lock`) lets several processes share one file.
    """

    def __init__(self, path: str | os.PathLike[str], *, block: int = 256) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.path = Path(path)
        self.block = block
        self._next = self._limit = 0
        self._prefix = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            if self._next >= self._limit:
                self._reserve()
            value = self._next
            self._next += 1
            return (self._prefix << COUNTER_BITS) | value

    def _reserve(self) -> None:
        with self._file_lock():
            state = self._read()
            start = state["next"]
            limit = start + self.block
            if limit >= 1 << COUNTER_BITS:
                raise OverflowError(f"{self.path}: serial counter exhausted")
            self._write({"prefix": state["prefix"], "next": limit})
        self._prefix, self._next, self._limit = state["prefix"], start, limit

    def _read(self) -> dict[str, int]:
        try:
            raw = json.loads(self.path.read_text(encoding="ascii"))
        except FileNotFoundError:
            return {"prefix": _random_prefix(), "next": 1}
        prefix, start = raw.get("prefix"), raw.get("next")
        if not (isinstance(prefix, int) and isinstance(start, int) and prefix > 0 and start > 0):
            raise ValueError(f"{self.path}: not a serial counter file")
        return {"prefix": prefix, "next": start}

    def _write(self, state: dict[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="ascii") as stream:
                json.dump(state, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # make the rename itself durable
        finally:
            os.close(directory)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
