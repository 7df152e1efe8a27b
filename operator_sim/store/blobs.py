"""Content-addressed blob store: archives, documents, messages, signatures, tokens on disk.

Owns the `<root>/ab/cd/<sha256>` tree and the guarantee that a returned digest names bytes
that are complete and fsynced. Never deletes, never rewrites an existing blob, never keeps a
whole upload in memory, and knows nothing of the database that refers to its blobs.

A blob's name is its proof: `read` and `sound_path` re-hash the bytes (streamed) and raise
`BlobCorrupted` when a disk fault or a hand edit changed them, so nothing altered is served or
parsed as if it were what was stored.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import Kind, Refusal

CHUNK_SIZE = 256 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
STARTED = time.time()
"""When this module was loaded: every temporary file this process writes is newer."""

BlobSource = bytes | bytearray | memoryview | BinaryIO | str | os.PathLike[str]


class BlobNotFound(Refusal, KeyError):
    """No blob with this digest (or a malformed digest, which can name no blob). Raised with
    the digest, as a KeyError."""

    kind = Kind.GONE
    code = "BLOB_NOT_FOUND"
    message_fr = "fichier absent du magasin"
    message_en = "file missing from the store"

    def __init__(self, *args: object) -> None:
        super().__init__()
        self.args = args


class BlobCorrupted(Refusal):
    """The blob's bytes no longer hash to its name: altered on disk since they were stored."""

    kind = Kind.GONE
    code = "BLOB_CORRUPTED"
    message_fr = "fichier altéré sur le disque"

    def __init__(self, sha256: str, actual: str) -> None:
        super().__init__(message_en=f"blob {sha256} altered on disk: its bytes now hash to {actual}")
        self.sha256 = sha256
        self.actual = actual


def remove_stale_files(folder: str | os.PathLike[str], *, before: float = STARTED) -> int:
    """Delete the regular files directly in `folder` last modified before `before` (by default
    this process's start); return how many went.

    For the temporary files of a process killed mid-write (SIGKILL, power loss): one server
    owns a data folder, so when it starts no live request can own an older one.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < before:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (POSIX needs the directory fsynced)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blobs named by their SHA-256, written once, atomically and durably."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        """`create=False` for a reader that must not touch the folder (`operator-sim check`)."""
        self.root = Path(root)
        # Temporary files live under the root (same file system, so the final rename is
        # atomic); a streamed upload's folder is only known once its digest is.
        self._tmp = self.root / ".tmp"
        if create:
            self._tmp.mkdir(parents=True, exist_ok=True)

    @property
    def temporary_dir(self) -> Path:
        """Where blobs are written before their rename (see `remove_stale_files`)."""
        return self._tmp

    def path(self, sha256: str) -> Path:
        """Where the blob lives (whether or not it exists); refuses anything but a digest."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise BlobNotFound(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except BlobNotFound:
            return False

    def open(self, sha256: str) -> BinaryIO:
        """A binary read handle; callers stream large blobs instead of `read()`-ing them."""
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, checked against their name (`BlobCorrupted` otherwise)."""
        with self.open(sha256) as handle:
            data = handle.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BlobCorrupted(sha256, actual)
        return data

    def digest(self, sha256: str) -> str:
        """The SHA-256 of the bytes stored under this name now, read in chunks."""
        digest = hashlib.sha256()
        with self.open(sha256) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored bytes: True if they still match their name."""
        return self.digest(sha256) == sha256

    def sound_path(self, sha256: str) -> Path:
        """The blob's path once its bytes were re-hashed (streamed, never loaded whole) and
        found sound; `BlobCorrupted` otherwise. For serving a file as it is on disk."""
        actual = self.digest(sha256)
        if actual != sha256:
            raise BlobCorrupted(sha256, actual)
        return self.path(sha256)

    def put(self, source: BlobSource) -> str:
        """Store bytes, a readable binary file object or a file path; return its SHA-256.

        The content is hashed while it is copied to a temporary file, fsynced, renamed into
        place and the folder fsynced, so once this returns the blob survives a crash.
        Storing content that is already present is a no-op that returns the same digest.
        """
        if isinstance(source, bytes | bytearray | memoryview):
            # Bytes in hand hash before any write: content already stored (the same annexe
            # sent again) then costs no temporary file, which would be created, fsynced and
            # deleted for nothing.
            sha256 = hashlib.sha256(source).hexdigest()
            if self._present(sha256):
                return sha256
            return self._put_stream(_BytesReader(memoryview(source)))
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as handle:
                return self._put_stream(handle)
        if hasattr(source, "read"):
            return self._put_stream(source)
        raise TypeError(f"cannot store a blob from {type(source).__name__}")

    def _put_stream(self, source: BinaryIO | _BytesReader) -> str:
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK_SIZE):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            if self._present(sha256):
                tmp.unlink()
                return sha256
            final = self.path(sha256)
            self._make_parents(final.parent)
            os.chmod(tmp, 0o444)
            # Two writers of the same content may race here: both renames install
            # identical bytes, so either outcome is correct.
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return sha256
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def adopt(self, path: str | os.PathLike[str]) -> str:
        """Store the file at `path` by renaming it into place instead of copying it; return its
        SHA-256. The caller gives the file up: afterwards it is gone, stored or not.

        For an upload spooled beside the store: a copy would create, write and fsync a second
        file. A file on another file system is copied (`put`), then removed."""
        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
            os.fsync(handle.fileno())
        sha256 = digest.hexdigest()
        if self._present(sha256):
            path.unlink()
            return sha256
        final = self.path(sha256)
        self._make_parents(final.parent)
        os.chmod(path, 0o444)
        try:
            os.replace(path, final)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            self.put(path)
            path.unlink()
            return sha256
        _fsync_dir(final.parent)
        return sha256

    def _present(self, sha256: str) -> bool:
        """Whether the blob is already stored, its folder entry then made durable: a concurrent
        writer may have renamed it in but not yet fsynced the folder, and the caller is about
        to commit a row naming it."""
        final = self.path(sha256)
        if not final.is_file():
            return False
        _fsync_dir(final.parent)
        return True

    def _make_parents(self, folder: Path) -> None:
        """Create `ab/cd/` and fsync each parent that gained an entry."""
        for level in (folder.parent, folder):
            if not level.is_dir():
                try:
                    level.mkdir()
                except FileExistsError:
                    continue
                _fsync_dir(level.parent)

    def copy_to(self, sha256: str, destination: BinaryIO) -> None:
        """Stream a blob into another file object, checked against its name as it goes
        (`BlobCorrupted` after the last chunk: the destination must then be discarded)."""
        digest = hashlib.sha256()
        with self.open(sha256) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                destination.write(chunk)
        if digest.hexdigest() != sha256:
            raise BlobCorrupted(sha256, digest.hexdigest())


class _BytesReader:
    """`read(n)` over an in-memory buffer without copying it whole."""

    def __init__(self, view: memoryview) -> None:
        self._view = view.cast("B") if view.ndim != 1 or view.format != "B" else view
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        chunk = self._view[self._pos:end].tobytes()
        self._pos = end
        return chunk
