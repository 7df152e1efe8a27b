"""The asyncio front of the store: aiohttp handlers never block on SQLite or fsync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, ParamSpec, TypeVar

from ..protocol.codes import TransactionStatus
from .database import SqliteStore
from .interface import (
    Agent,
    DocumentRow,
    JournalEvent,
    MessageRow,
    NewMessage,
    NewTransaction,
    Page,
    TransactionFilter,
    TransactionRow,
    TransitionStep,
)

T = TypeVar("T")
P = ParamSpec("P")


class AsyncStore:
    """The store for aiohttp handlers: writes await the writer thread, reads a small pool.

    The event loop never blocks on SQLite or fsync. Same methods and errors as `SqliteStore`.
    """

    def __init__(self, store: SqliteStore, *, readers: int = 4) -> None:
        self.store = store
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")

    async def _write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.store.run_on_writer_async(fn, *args, **kwargs)

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a short engine step `fn(store, *args, **kwargs)` on the writer thread.

        Its reads and its write then form one serial step (e.g. `lifecycle.transition`), and
        the loop does not block. Keep `fn` quick and free of I/O other than the store: it
        holds up every other write while it runs.
        """
        return await self.queue(fn, *args, **kwargs)

    def queue(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """`call`, queued on the writer before this returns: a step queued later runs after
        it and sees its writes, so a caller may release a lock once its step is queued
        rather than once it is committed."""
        return self.store.run_on_writer_async(fn, self.store, *args, **kwargs)

    async def query(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a read `fn(store, *args, **kwargs)` made of named store reads on a reader thread."""
        return await self._read(fn, self.store, *args, **kwargs)

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(db, *args, **kwargs)` as one write transaction on the writer thread."""
        return await self._write(self.store.run_write, lambda db: fn(db, *args, **kwargs))

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(db, *args, **kwargs)` on a reader thread's connection."""
        return await self._read(self.store.run_read, lambda db: fn(db, *args, **kwargs))

    async def put_blob(self, source: Any) -> str:
        """Blob writes fsync: done on the reader pool, never on the loop or the writer."""
        return await self._read(self.store.blobs.put, source)

    async def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                                 message: str = "") -> TransactionRow:
        return await self._write(self.store.create_transaction, new, at=at, actor=actor,
                                 message=message)

    async def transition(self, transaction_id: int, to_status: TransactionStatus, *,
                         at: datetime, actor: str, expected_from: TransactionStatus,
                         message: str = "", attach: NewMessage | None = None,
                         id_acte: str | None = None) -> TransactionRow:
        return await self._write(self.store.transition, transaction_id, to_status, at=at,
                                 actor=actor, expected_from=expected_from, message=message,
                                 attach=attach, id_acte=id_acte)

    async def transition_many(self, steps: Sequence[TransitionStep], *, at: datetime,
                              actor: str) -> tuple[TransactionRow, ...]:
        return await self._write(self.store.transition_many, steps, at=at, actor=actor)

    async def add_message(self, transaction_id: int, message: NewMessage, *,
                          at: datetime) -> MessageRow:
        return await self._write(self.store.add_message, transaction_id, message, at=at)

    async def next_serial(self, name: str) -> int:
        return await self._write(self.store.next_serial, name)

    async def reserve_serial(self, name: str) -> int:
        return await self._write(self.store.reserve_serial, name)

    async def mark_read(self, transaction_id: int, *, at: datetime, actor: str) -> datetime:
        return await self._write(self.store.mark_read, transaction_id, at=at, actor=actor)

    async def read_at(self, transaction_id: int) -> datetime | None:
        return await self._read(self.store.read_at, transaction_id)

    async def get(self, transaction_id: int) -> TransactionRow:
        return await self._read(self.store.get, transaction_id)

    async def find_by_id_acte(self, id_acte: str) -> TransactionRow | None:
        return await self._read(self.store.find_by_id_acte, id_acte)

    async def list(self, filters: TransactionFilter | None = None, *, limit: int = 50,
                   offset: int = 0) -> Page:
        return await self._read(self.store.list, filters, limit=limit, offset=offset)

    async def messages(self, transaction_id: int) -> tuple[MessageRow, ...]:
        return await self._read(self.store.messages, transaction_id)

    async def documents(self, transaction_id: int) -> tuple[DocumentRow, ...]:
        return await self._read(self.store.documents, transaction_id)

    async def journal(self, transaction_id: int) -> tuple[JournalEvent, ...]:
        return await self._read(self.store.journal, transaction_id)

    async def agents_for_certificate(self, fingerprint: str) -> tuple[Agent, ...]:
        return await self._read(self.store.agents_for_certificate, fingerprint)

    async def flush_deferred(self) -> None:
        await self._write(self.store.flush_deferred)

    def close(self) -> None:
        """Stop the reader pool; the wrapped store is closed by its owner."""
        self._readers.shutdown(wait=True)
