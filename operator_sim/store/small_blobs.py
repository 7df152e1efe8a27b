"""Blobs in two homes: small ones as SQLite rows, committed with the rows naming them; large
ones as files (`BlobStore`).

A receipt stores half a dozen small blobs (act XML, token, ARActe, its signature…): as files
each costs a file, an fsync and a folder fsync, more than the whole SQLite commit. Bytes of at
most `SMALL_BLOB` are instead queued (`defer_write`) to join the next write transaction, so the
commit that records the rows naming them (or an earlier one) makes them durable, with the one
WAL fsync it pays anyway. Streams, paths and larger bytes stay files, written and fsynced before
any row names them. Reads look in both homes, so data folders written before (file blobs only)
stay readable; every read re-hashes the bytes (`BlobCorrupted` otherwise), whatever the home.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from sqlite_utils import Database

from .blobs import BlobCorrupted, BlobNotFound, BlobSource, BlobStore

SMALL_BLOB = 64 * 1024
"""Bytes up to this size are stored as a row of `small_blobs` (migration 0013_small_blobs)."""


_ROWS_PER_INSERT = 256  # 512 parameters, far below SQLite's limit


def insert_many(db: Database, blobs: dict[str, bytes]) -> None:
    """Store small blobs, a few hundred per INSERT (one statement, not one each); one already
    there is left as it is (the same bytes)."""
    items = [value for pair in blobs.items() for value in pair]
    for start in range(0, len(items), 2 * _ROWS_PER_INSERT):
        chunk = items[start:start + 2 * _ROWS_PER_INSERT]
        db.conn.execute("insert into small_blobs (sha256, data) values "
                        + ", ".join(["(?, ?)"] * (len(chunk) // 2)) + " on conflict do nothing",
                        chunk)


def small_blob(db: Database, sha256: str) -> bytes | None:
    """The stored bytes of a small blob, unchecked, or None when it is not a row."""
    row = db.execute("select data from small_blobs where sha256 = ?", [sha256]).fetchone()
    return None if row is None else bytes(row[0])


class Blobs:
    """The blob store the rest of the service uses: `BlobStore`'s methods over both homes.

    `read_db` gives the calling thread's connection (it sees the last commit, and on the writer
    its own transaction); `defer_write` queues a write for the next transaction."""

    def __init__(self, files: BlobStore, *, read_db: Callable[[], Database],
                 defer_write: Callable[[Callable[[Database], object]], None]) -> None:
        self.files = files
        self._read_db = read_db
        self._defer_write = defer_write
        # Put but not yet committed: readable meanwhile (and not put twice).
        self._staged: dict[str, bytes] = {}
        # Staged and not yet taken by a `_StagedWrite`, which is queued while any is.
        self._unwritten: dict[str, bytes] = {}
        self._write_queued = False
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self.files.root

    @property
    def temporary_dir(self) -> Path:
        return self.files.temporary_dir

    def path(self, sha256: str) -> Path:
        """Where a file blob lives (a small blob has no file: see `sound`)."""
        return self.files.path(sha256)

    # -- writes --

    def put(self, source: BlobSource) -> str:
        """Store bytes, a file object or a path; return the SHA-256 (see `BlobStore.put`).

        Small bytes are durable with the next commit on the writer, which is the one that
        records the rows naming them or an earlier one; everything else is a file, fsynced
        before this returns."""
        if not isinstance(source, bytes | bytearray | memoryview) or len(source) > SMALL_BLOB:
            return self.files.put(source)
        data = bytes(source)
        sha256 = hashlib.sha256(data).hexdigest()
        with self._lock:
            if sha256 in self._staged:
                return sha256
            self._staged[sha256] = self._unwritten[sha256] = data
            queue, self._write_queued = not self._write_queued, True
        if queue:  # one deferred write takes every blob staged by the time it runs
            self._defer_write(_StagedWrite(self))
        return sha256

    def _take_unwritten(self) -> dict[str, bytes]:
        with self._lock:
            taken, self._unwritten, self._write_queued = self._unwritten, {}, False
        return taken

    def _committed(self, digests: Iterable[str]) -> None:
        with self._lock:
            for sha256 in digests:
                self._staged.pop(sha256, None)

    def adopt(self, path: str | os.PathLike[str]) -> str:
        """Move a file into the store (always a file blob: see `BlobStore.adopt`)."""
        return self.files.adopt(path)

    # -- reads --

    def _small(self, sha256: str) -> bytes | None:
        """A small blob's bytes as stored (staged or committed), unchecked; None if not one."""
        staged = self._staged.get(sha256)
        if staged is not None:
            return staged
        if not isinstance(sha256, str) or len(sha256) != 64:
            return None
        return small_blob(self._read_db(), sha256)

    def exists(self, sha256: str) -> bool:
        return self._small(sha256) is not None or self.files.exists(sha256)

    def missing(self, digests: Iterable[str | None]) -> list[str]:
        """Those of `digests` (None skipped) that are no blob, in order: `exists` for several
        at once, with one query for the small ones instead of one each (and no bytes read)."""
        wanted = [d for d in digests if d is not None]
        unstaged = [d for d in wanted if d not in self._staged]
        if not unstaged:
            return []
        named = [d for d in unstaged if isinstance(d, str) and len(d) == 64]
        present: set[str] = set()
        for start in range(0, len(named), 1000):  # SQLite takes up to 32766 parameters
            chunk = named[start:start + 1000]
            present.update(row[0] for row in self._read_db().conn.execute(
                f"select sha256 from small_blobs where sha256 in ({', '.join('?' * len(chunk))})",
                chunk).fetchall())
        return [d for d in unstaged if d not in present and not self.files.exists(d)]

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, checked against their name (`BlobCorrupted` otherwise)."""
        data = self._small(sha256)
        if data is None:
            return self.files.read(sha256)
        _check(sha256, data)
        return data

    def open(self, sha256: str) -> BinaryIO:
        """A binary read handle (a small blob's bytes in memory)."""
        data = self._small(sha256)
        return self.files.open(sha256) if data is None else io.BytesIO(data)

    def digest(self, sha256: str) -> str:
        data = self._small(sha256)
        return self.files.digest(sha256) if data is None else hashlib.sha256(data).hexdigest()

    def verify(self, sha256: str) -> bool:
        return self.digest(sha256) == sha256

    def size(self, sha256: str) -> int:
        data = self._small(sha256)
        if data is not None:
            return len(data)
        try:
            return self.files.path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def sound(self, sha256: str) -> Path | bytes:
        """What to serve, checked against its name: a small blob's bytes, or a file blob's
        path once its bytes were re-hashed in chunks (`BlobCorrupted` otherwise)."""
        data = self._small(sha256)
        if data is None:
            return self.files.sound_path(sha256)
        _check(sha256, data)
        return data

    def copy_to(self, sha256: str, destination: BinaryIO) -> None:
        data = self._small(sha256)
        if data is None:
            self.files.copy_to(sha256, destination)
            return
        destination.write(data)
        _check(sha256, data)


class _StagedWrite:
    """The deferred write of the small blobs staged: every one staged by the time it runs
    joins the open transaction in one INSERT (not one statement each), and their bytes leave
    memory once that transaction committed. A blob staged meanwhile queues the next one. Run
    again (its transaction rolled back and requeued it, or replayed), it writes what it took
    before too."""

    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs
        self.taken: dict[str, bytes] = {}

    def __call__(self, db: Database) -> None:
        self.taken.update(self.blobs._take_unwritten())
        insert_many(db, self.taken)

    def committed(self) -> None:
        self.blobs._committed(self.taken)

    def __repr__(self) -> str:
        return f"<small blobs {', '.join(self.taken) or '(none taken yet)'}>"


def _check(sha256: str, data: bytes) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise BlobCorrupted(sha256, actual)


__all__ = ["SMALL_BLOB", "Blobs", "insert_many", "small_blob"]
