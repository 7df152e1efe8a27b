"""Checking a whole data folder: the database file, every blob's bytes (small blob rows and
files), every row's blobs.

What `operator-sim check` runs. The database is opened read-only (a running server beside it
is not disturbed and nothing is migrated); blobs are re-hashed in chunks, never loaded whole.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .blobs import BlobNotFound, BlobStore
from .database import BLOBS_NAME, DATABASE_NAME

BLOB_COLUMNS = (("transactions", "archive_sha256"), ("messages", "xml_sha256"),
                ("messages", "signature_sha256"), ("messages", "timestamp_token_sha256"),
                ("documents", "sha256"))
"""Every column that names a blob: what a row needs on disk to be served."""
MAX_LISTED = 1000
"""Findings kept per kind in the report (their counts are always exact)."""


class NotAStore(Exception):
    """The folder holds no simulator database."""


@dataclass
class Missing:
    table: str
    row_id: int
    column: str
    sha256: str


@dataclass
class Corrupted:
    sha256: str
    actual: str


@dataclass
class CheckReport:
    """What was checked and what is wrong; `sound` when nothing is."""

    database: Path
    integrity: list[str] = field(default_factory=list)
    """`PRAGMA integrity_check`'s complaints (empty when it said "ok")."""
    rows_checked: int = 0
    blobs_checked: int = 0
    missing: list[Missing] = field(default_factory=list)
    missing_count: int = 0
    corrupted: list[Corrupted] = field(default_factory=list)
    corrupted_count: int = 0
    stray: list[str] = field(default_factory=list)
    """Files in the blob tree whose name is no SHA-256 or not at its place (reported only)."""

    @property
    def sound(self) -> bool:
        return not (self.integrity or self.missing_count or self.corrupted_count)

    def to_dict(self) -> dict[str, Any]:
        return {"sound": self.sound, "database": str(self.database),
                "integrity_check": self.integrity or ["ok"], "rows_checked": self.rows_checked,
                "blobs_checked": self.blobs_checked, "missing_count": self.missing_count,
                "missing": [vars(m) for m in self.missing],
                "corrupted_count": self.corrupted_count,
                "corrupted": [vars(c) for c in self.corrupted], "stray": self.stray}


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise NotAStore(f"{path}: no simulator database here")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _blob_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(name, path) of every file in the `ab/cd/<sha256>` tree (temporary files excluded)."""
    for folder, subfolders, files in os.walk(root):
        if Path(folder) == root:
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        else:
            subfolders.sort()
        for name in sorted(files):
            yield name, Path(folder) / name


def _check_small_blobs(connection: sqlite3.Connection, report: CheckReport) -> set[str]:
    """Re-hash every small blob row (migration 0013); return their names. A database from
    before that migration has none."""
    names: set[str] = set()
    try:
        rows = connection.execute("SELECT sha256, data FROM small_blobs")
        for name, data in rows:
            names.add(name)
            report.blobs_checked += 1
            actual = hashlib.sha256(data).hexdigest()
            if actual != name:
                report.corrupted_count += 1
                if len(report.corrupted) < MAX_LISTED:
                    report.corrupted.append(Corrupted(name, actual))
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            report.integrity.append(f"small_blobs: {error}")
    except sqlite3.DatabaseError as error:
        report.integrity.append(f"small_blobs: {error}")
    return names


def check_store(directory: str | os.PathLike[str]) -> CheckReport:
    """Check `directory` (a data folder): `PRAGMA integrity_check`, every blob's SHA-256, and
    every row's blobs present."""
    directory = Path(directory)
    report = CheckReport(directory / DATABASE_NAME)
    connection = _connect(report.database)
    blobs = BlobStore(directory / BLOBS_NAME, create=False)
    try:
        try:
            found = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as error:  # not a database at all
            found = [str(error)]
        report.integrity = [] if found == ["ok"] else found
        small = _check_small_blobs(connection, report)
        for table, column in BLOB_COLUMNS:
            try:
                rows = connection.execute(
                    f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
                for row_id, sha256 in rows:
                    report.rows_checked += 1
                    if sha256 not in small and not blobs.exists(sha256):
                        report.missing_count += 1
                        if len(report.missing) < MAX_LISTED:
                            report.missing.append(Missing(table, row_id, column, sha256))
            except sqlite3.DatabaseError as error:
                report.integrity.append(f"{table}.{column}: {error}")
    finally:
        connection.close()
    for name, path in _blob_files(blobs.root):
        try:
            placed = path == blobs.path(name)
        except BlobNotFound:  # not a digest
            placed = False
        if not placed:
            report.stray.append(str(path.relative_to(blobs.root)))
            continue
        actual = blobs.digest(name)
        report.blobs_checked += 1
        if actual != name:
            report.corrupted_count += 1
            if len(report.corrupted) < MAX_LISTED:
                report.corrupted.append(Corrupted(name, actual))
    return report


__all__ = ["BLOB_COLUMNS", "CheckReport", "Corrupted", "Missing", "NotAStore", "check_store"]
