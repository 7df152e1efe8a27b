"""The SQLite connections and the threading rule every table module writes through.

ONE writer thread owns the only write connection and runs every write inside a `BEGIN IMMEDIATE`
transaction; reads use one connection per calling thread. Writes that need no commit of their
own (`defer_write`) join the next transaction.

Group commit: the jobs queued while the writer was busy run together in one transaction, each
write in its own savepoint (a failing one rolls back alone), and share one COMMIT, so one WAL
fsync. Each job's caller is answered only once that COMMIT is done: nothing is acknowledged
before it is on disk, and concurrent submissions no longer pay one fsync each. Coroutines
(`run_on_writer_async`) are answered with one wake-up of their loop per group, and one drain
of the queue is scheduled at a time, so the writer is woken once per group, not per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

from sqlite_utils import Database

from .interface import READS_FIRST, StoreBusy, StoreError, StoreFull

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)
MAX_GROUP = 256
"""Jobs committed together at most (the rest wait for the next commit)."""
WAL_CHECKPOINT_PAGES = 4000
"""Pages in the write-ahead log that start an automatic checkpoint (SQLite's default: 1,000)."""


class SqliteDatabase:
    """One SQLite file: the writer thread and its transactions, a read connection per thread.

    Concurrency rule: every write runs on the single writer thread, inside one
    `BEGIN IMMEDIATE` transaction; call the write methods from any thread (they wait), or
    from the event loop through `AsyncStore`. Reads run on the calling thread's own
    connection and see the last committed state.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, Database]] = []  # with their thread
        self._connections_lock = threading.Lock()
        self._closed = False
        self._writer_ident: int | None = None
        self._write_db: Database | None = None
        self._deferred: list[Callable[[Database], object]] = []
        self._deferred_lock = threading.Lock()
        self._jobs: list[_Job] = []  # waiting for the next group commit
        self.commits = 0
        """Write transactions committed (each one WAL fsync under synchronous=FULL)."""
        self._jobs_lock = threading.Lock()
        self._drain_scheduled = False  # a `_group_commit` is queued and has not taken the jobs
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer",
                                          initializer=self._start_writer)

    # -- connections and the threading rule --

    def _connect(self) -> Database:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=self._busy_timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: in WAL mode every commit fsyncs the log, so an acknowledged submission
        # survives power loss, not just a killed process.
        conn.execute("PRAGMA synchronous = FULL")
        # A submission's write runs in savepoints and touches more than 64 KiB of pages: the
        # sub-journal then spilled to a temporary file, created and deleted on every commit.
        # In memory it costs no file (creating inodes is what the service pays most for).
        conn.execute("PRAGMA temp_store = MEMORY")
        # Checkpoint every 4,000 pages rather than 1,000: the hot pages submissions rewrite
        # (index leaves, counters) are copied back to the database once per checkpoint, so
        # fewer checkpoints copy fewer pages (the writer's system time at 16 in flight: 0.15-
        # 0.21 ms a submission against 0.23-0.25 in three alternating runs). 4,000 frames stay
        # within the first block (4,096 frames) of the WAL index that reads look pages up in;
        # the WAL file grows to some 16 MB between checkpoints.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        db = Database(conn, execute_plugins=False)
        db.enable_wal()
        with self._connections_lock:
            self._connections.append((threading.current_thread(), db))
        return db

    def _start_writer(self) -> None:
        self._writer_ident = threading.get_ident()
        self._write_db = self._connect()

    def _on_writer(self) -> bool:
        return threading.get_ident() == self._writer_ident

    def _read_db(self) -> Database:
        """The calling thread's connection (the write one on the writer: read your writes)."""
        if self._closed:
            raise StoreError("store is closed")
        if self._on_writer():
            assert self._write_db is not None
            return self._write_db
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _in_write_transaction(self, fn: Callable[[Database], T]) -> T:
        try:
            return self._write_transaction(fn)
        except sqlite3.OperationalError as error:
            mapped = _environment_error(error)
            if mapped is error:
                raise
            raise mapped from error

    def _write_transaction(self, fn: Callable[[Database], T]) -> T:
        db = self._write_db
        assert db is not None and self._on_writer()
        if db.conn.in_transaction:  # a write nested in a write: a savepoint of the outer one
            return _in_savepoint(db, fn)
        return self._transaction(db, lambda deferred: fn(db))

    def _transaction(self, db: Database,
                     body: Callable[[list[Callable[[Database], object]]], T]) -> T:
        """One write transaction: the deferred writes waiting (older than `body`: a reserved
        serial first), then `body(deferred)` (which may append those it defers), one COMMIT.
        On failure everything rolls back and the deferred writes join the next transaction."""
        # IMMEDIATE takes the write lock up front: a reader-turned-writer can never hit
        # SQLITE_BUSY_SNAPSHOT, and another process waits on busy_timeout instead of failing.
        db.conn.execute("BEGIN IMMEDIATE")
        deferred: list[Callable[[Database], object]] = []
        try:
            deferred += self._run_deferred(db)
            result = body(deferred)
            db.conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            if deferred:  # not committed after all: they join the next transaction
                with self._deferred_lock:
                    self._deferred[:0] = deferred
            raise
        _committed(deferred)
        return result

    def _run_deferred(self, db: Database) -> list[Callable[[Database], object]]:
        """Apply the queued `defer_write` writes inside the open transaction, each under its
        own savepoint: a failing one is logged and dropped, never the caller's transaction."""
        with self._deferred_lock:
            deferred, self._deferred = self._deferred, []
        if not deferred:
            return deferred
        # All under one savepoint (three statements per write otherwise); only when one fails
        # are they replayed one savepoint each, to drop that one alone.
        conn = db.conn
        conn.execute("SAVEPOINT deferred")
        try:
            for fn in deferred:
                fn(db)
        except Exception:
            conn.execute("ROLLBACK TO deferred")
            for fn in deferred:
                conn.execute("SAVEPOINT deferred_one")
                try:
                    fn(db)
                except Exception:
                    conn.execute("ROLLBACK TO deferred_one")
                    log.exception("deferred write %r failed and was dropped", fn)
                conn.execute("RELEASE deferred_one")
        conn.execute("RELEASE deferred")
        return deferred

    def defer_write(self, fn: Callable[[Database], object]) -> None:
        """Queue `fn(db)` to join the next write transaction, whoever runs it (applied before
        that transaction's own writes): for rows that need not cost a commit (an fsync) of
        their own. They are durable once that commit is (`flush_deferred` forces one; `close`
        flushes); until then a crash loses them. A `fn` with a `committed()` method is told
        when that commit is done."""
        if self._closed:
            raise StoreError("store is closed")
        with self._deferred_lock:
            self._deferred.append(fn)

    @property
    def has_deferred(self) -> bool:
        """Whether `defer_write` writes wait for a commit."""
        return bool(self._deferred)

    def flush_deferred(self) -> None:
        """Commit every write deferred so far: once this returns they are durable and
        visible, even those a transaction on the writer was committing at the time."""
        self.run_write(lambda db: None)

    def submit_write(self, fn: Callable[[Database], T]) -> Future[T]:
        """Queue `fn(db)` to run atomically on the writer thread (a savepoint of the next
        group commit); the future is done once that commit is."""
        if self._closed:
            raise StoreError("store is closed")
        return self._enqueue(self._in_write_transaction, (fn,), {})

    def run_write(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` atomically on the writer thread and return its result.

        SQLite-specific escape hatch (not part of `TransactionStore`): everything `fn` does
        commits together or not at all. Called on the writer thread, it nests as a savepoint.
        """
        if self._on_writer():
            return self._in_write_transaction(fn)
        return self.submit_write(fn).result()

    def run_read(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` on the calling thread's read connection (the last committed state)."""
        try:
            return fn(self._read_db())
        except sqlite3.OperationalError as error:
            mapped = _environment_error(error)
            if mapped is error:
                raise
            raise mapped from error

    def run_on_writer(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run any store method on the writer thread (used by `AsyncStore`), inside the next
        group commit: its writes (each `run_write` a savepoint) are durable when the future
        is done. An exception keeps the writes it made before (as their own commits did)."""
        if self._closed:
            raise StoreError("store is closed")
        return self._enqueue(fn, args, kwargs)

    def run_on_writer_async(self, fn: Callable[P, T], *args: P.args,
                            **kwargs: P.kwargs) -> asyncio.Future[T]:
        """`run_on_writer` for a coroutine of the running loop: the same job in the same group
        commit, but the loop is woken once per group for all its answers, not once per job as
        `asyncio.wrap_future` does. Cancelling the awaiting task before the job runs drops it."""
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        future = self._enqueue(fn, args, kwargs, loop, answer)
        answer.add_done_callback(lambda done: done.cancelled() and future.cancel())
        return answer

    def _enqueue(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any],
                 loop: asyncio.AbstractEventLoop | None = None,
                 answer: asyncio.Future[Any] | None = None) -> Future[T]:
        future: Future[T] = Future()
        with self._jobs_lock:
            self._jobs.append(_Job(future, fn, args, kwargs, loop, answer))
            # One drain at a time: it takes every job waiting; a job queued once it has taken
            # them schedules the next one (no empty drain per job, no wake-up for nothing).
            drain, self._drain_scheduled = not self._drain_scheduled, True
        if drain:
            self._writer.submit(self._group_commit)
        return future

    def _group_commit(self) -> None:
        """Run every waiting job in one transaction, COMMIT once, then answer each job."""
        with self._jobs_lock:
            jobs, self._jobs = self._jobs[:MAX_GROUP], self._jobs[MAX_GROUP:]
            if self._jobs:  # more than one group waits: the next drain is queued now
                self._writer.submit(self._group_commit)
            else:
                self._drain_scheduled = False
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        # The reads leading the group (`reads_first`) run before its transaction: reads need
        # none, and a group of reads alone then commits nothing (deferred writes wait).
        lead = 0
        while lead < len(jobs) and getattr(jobs[lead].fn, READS_FIRST, False):
            lead += 1
        done = [_run(job) for job in jobs[:lead]]
        jobs = jobs[lead:]
        if len(jobs) == 1 and jobs[0].fn == self._in_write_transaction:
            # A lone write is its own transaction: no savepoint around it, whose undo journal
            # (in memory, temp_store) would grow with a large write and stay in the heap.
            done.append(_run(jobs[0]))
        elif jobs:
            try:
                done += self._run_group(jobs)
            except BaseException as error:  # BEGIN or COMMIT failed: nothing of the group is kept
                done += [(job, False, _mapped(error)) for job in jobs]
        _answer(done)

    def _run_group(self, jobs: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        db = self._write_db
        assert db is not None and self._on_writer()

        def run_jobs(deferred: list[Callable[[Database], object]]) -> list[tuple[_Job, bool, Any]]:
            done: list[tuple[_Job, bool, Any]] = []
            for job in jobs:
                done.append(_run(job))  # on failure its own savepoints rolled back, not the others'
                if not db.conn.in_transaction:  # SQLite rolled it all back (I/O error, disk full)
                    raise StoreError("the write transaction was rolled back by SQLite")
            deferred += self._run_deferred(db)  # deferred by these jobs: committed with them
            return done

        return self._transaction(db, run_jobs)

    def close(self) -> None:
        """Finish queued writes, then close every connection no other thread may be using.

        Closing a connection while another thread runs a query on it crashes the interpreter
        (SIGSEGV in CPython's sqlite3), so the connection of a thread still alive — a reader
        whose request was cancelled may be mid-query — is only let go: it closes when that
        thread drops it. New reads fail from now on anyway.
        """
        if self._closed:
            return
        self.flush_deferred()
        self._writer.shutdown(wait=True)
        self._closed = True
        here = threading.current_thread()
        with self._connections_lock:
            for owner, db in self._connections:
                if owner is here or not owner.is_alive():
                    db.close()
            self._connections.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Job:
    """One call waiting for the writer, and the future its caller waits on (with, for a
    coroutine, its loop and the asyncio future it awaits)."""

    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None = None
    answer: asyncio.Future[Any] | None = None


def _run(job: _Job) -> tuple[_Job, bool, Any]:
    """Run one job: (job, True, its result) or (job, False, what it raised)."""
    try:
        return job, True, job.fn(*job.args, **job.kwargs)
    except BaseException as error:
        return job, False, error


def _answer(done: list[tuple[_Job, bool, Any]]) -> None:
    """Settle each job's future (after the COMMIT that holds its writes); wake each loop
    waiting on some of them once, with all of its answers."""
    loops: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
    for job, ok, value in done:
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
        if job.loop is not None:
            loops.setdefault(job.loop, []).append((job, ok, value))
    for loop, answers in loops.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody awaits
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[_Job, bool, Any]]) -> None:
    """On the loop: hand each job's outcome to the asyncio future its coroutine awaits."""
    for job, ok, value in answers:
        answer = job.answer
        if answer is None or answer.done():  # cancelled meanwhile
            continue
        if ok:
            answer.set_result(value)
        else:
            answer.set_exception(value)


def _committed(deferred: list[Callable[[Database], object]]) -> None:
    """Tell the deferred writes that want to know (`committed()`) that they are durable."""
    for fn in deferred:
        if (committed := getattr(fn, "committed", None)) is not None:
            committed()


def _mapped(error: BaseException) -> BaseException:
    return _environment_error(error) if isinstance(error, sqlite3.OperationalError) else error


_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _environment_error(error: sqlite3.OperationalError) -> sqlite3.OperationalError | StoreError:
    """What the machine, not the request, caused: the database held by another process past
    the busy timeout (`StoreBusy`), a full disk (`StoreFull`); any other error unchanged."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary in _BUSY_CODES:
        return StoreBusy(f"database busy: {error}")
    if primary == sqlite3.SQLITE_FULL:
        return StoreFull(f"no space left for the database: {error}")
    return error




def _in_savepoint(db: Database, fn: Callable[[Database], T]) -> T:
    """`fn(db)` in a savepoint of the open transaction: its writes undone alone if it fails.

    One fixed name serves every depth (SQLite releases or rolls back to the innermost savepoint
    of that name), so no random name and no context manager per write: `Database.atomic` costs
    a `secrets.token_hex` (a getrandom syscall) and a generator each time."""
    conn = db.conn
    conn.execute("SAVEPOINT write")
    try:
        result = fn(db)
    except BaseException:
        if conn.in_transaction:  # else SQLite already rolled the whole transaction back
            conn.execute("ROLLBACK TO write")
            conn.execute("RELEASE write")
        raise
    conn.execute("RELEASE write")
    return result
