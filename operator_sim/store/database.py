"""The SQLite implementation of `TransactionStore`, on sqlite-utils: its table modules joined.

`SqliteStore` is the writer machinery (`writer`) plus one mixin per table family
(`transactions`, `collectivites`, `agents`); its asyncio front is `asyncstore.AsyncStore`.
Never reads the wall clock (time is passed in), never commits a row that names a blob not
already fsynced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import schema
from .agents import AgentTables
from .blobs import BlobStore
from .callbacks import CallbackTables
from .collectivites import CollectiviteTables
from .request_journal import RequestTables
from .reset import ResetTables
from .rules import RuleTables
from .schedule import ScheduleTables
from .small_blobs import Blobs
from .state import StateTables
from .transactions import TransactionTables

T = TypeVar("T")

DATABASE_NAME = "operator-sim.sqlite3"
BLOBS_NAME = "blobs"


class SqliteStore(TransactionTables, CollectiviteTables, AgentTables, RuleTables, ScheduleTables,
                  CallbackTables, RequestTables, StateTables, ResetTables):
    """`TransactionStore` over one SQLite file (WAL, synchronous=FULL) and a `BlobStore`.

    The threading rule is `writer.SqliteDatabase`'s; each table family is its own module.
    """

    def __init__(self, path: str | Path, *, blobs: BlobStore | str | Path,
                 busy_timeout_ms: int = 10_000) -> None:
        files = blobs if isinstance(blobs, BlobStore) else BlobStore(blobs)
        self.blobs = Blobs(files, read_db=self._read_db, defer_write=self.defer_write)
        self._reserved = {}
        super().__init__(path, busy_timeout_ms=busy_timeout_ms)
        # Migrations run on the writer too, under BEGIN IMMEDIATE, so two processes opening
        # the same file cannot both apply the same migration.
        self.run_write(schema.apply)

    @classmethod
    def open(cls, directory: str | Path, **kwargs: Any) -> SqliteStore:
        """`<directory>/operator-sim.sqlite3` and `<directory>/blobs/`, created if missing."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / DATABASE_NAME, blobs=directory / BLOBS_NAME, **kwargs)

    def atomic(self, fn: Callable[[], T]) -> T:
        """Run `fn`, which calls this store's named methods, as ONE commit: its writes land
        together or not at all, and its reads see its own writes. Nested calls join it."""
        return self.run_write(lambda _db: fn())


Store = SqliteStore
