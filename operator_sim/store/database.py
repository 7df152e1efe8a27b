"""The SQLite implementation of `TransactionStore`, on sqlite-utils, plus its asyncio front.

Owns connections, the durability pragmas and the threading rule: ONE writer thread owns the
only write connection and runs every write as one `BEGIN IMMEDIATE` transaction; reads use one
connection per calling thread. Never reads the wall clock (time is passed in), never shares a
connection between threads, never commits a row that names a blob not already fsynced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database

from ..protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from . import schema
from .blobs import BlobStore
from .interface import (
    DOCUMENT_ROLES,
    Agent,
    AgentCertificate,
    Collectivite,
    Convention,
    DocumentRow,
    DuplicateActe,
    IdentityConflict,
    JournalEvent,
    MessageRow,
    MissingBlob,
    NewAgent,
    NewCertificate,
    NewConvention,
    NewMessage,
    NewTransaction,
    NotFound,
    Page,
    StatusConflict,
    StoreBusy,
    StoreError,
    StoreFull,
    TransactionFilter,
    TransactionRow,
    TransitionStep,
)

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)

DATABASE_NAME = "operator-sim.sqlite3"
BLOBS_NAME = "blobs"
MAX_PAGE = 500
MERGED_SIRENS = 100
"""Up to this many SIRENs, a list's page merges each SIREN's own newest rows (see `_page`)."""
SQLITE_MAX_INTEGER = 2**63 - 1
"""Largest SQLite INTEGER: a bigger id names no row (and sqlite3 would raise OverflowError)."""


# --- conversions --------------------------------------------------------------------------------


def time_to_text(at: datetime) -> str:
    """UTC ISO-8601 with microseconds: sortable as text, and naive times refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("store times must be timezone-aware (take them from the clock)")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def time_from_text(text: str) -> datetime:
    """A time stored by `time_to_text`, back as an aware datetime."""
    return datetime.fromisoformat(text)


def _transaction(row: dict[str, Any]) -> TransactionRow:
    return TransactionRow(
        id=row["id"],
        type=TransactionType(row["type"]),
        status=TransactionStatus(row["status"]),
        siren=row["siren"],
        related_transaction_id=row["related_transaction_id"],
        id_acte=row["id_acte"],
        numero_interne=row["numero_interne"],
        nature=None if row["nature"] is None else NatureActe(row["nature"]),
        matiere=row["matiere"],
        objet=row["objet"],
        decision_date=None if row["decision_date"] is None else date.fromisoformat(row["decision_date"]),
        archive_name=row["archive_name"],
        archive_sha256=row["archive_sha256"],
        agent_id=row["agent_id"],
        created_at=time_from_text(row["created_at"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def _message(row: dict[str, Any]) -> MessageRow:
    return MessageRow(
        id=row["id"], transaction_id=row["transaction_id"], code=row["code"],
        direction=Sender[row["direction"]], file_name=row["file_name"],
        xml_sha256=row["xml_sha256"], signature_sha256=row["signature_sha256"],
        timestamp_token_sha256=row["timestamp_token_sha256"], created_at=time_from_text(row["created_at"]),
    )


def _document(row: dict[str, Any]) -> DocumentRow:
    return DocumentRow(**row)


def _event(row: dict[str, Any]) -> JournalEvent:
    return JournalEvent(
        id=row["id"], transaction_id=row["transaction_id"], at=time_from_text(row["at"]),
        from_status=None if row["from_status"] is None else TransactionStatus(row["from_status"]),
        to_status=TransactionStatus(row["to_status"]), actor=row["actor"],
        message=row["message"], message_id=row["message_id"],
    )


def fetch_all(db: Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Fetch everything now: a half-read cursor would pin an old WAL snapshot on its connection."""
    return list(db.query(sql, params))


def _insert(db: Database, table: str, row: dict[str, Any]) -> int:
    """INSERT one row, return its id: plain SQL, as `Table.insert` re-reads the schema on
    every call and costs more than the insert on the submission path."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return int(db.execute(f"insert into {table} ({columns}) values ({marks})", list(row.values())).lastrowid)


TEST_CONVENTION_DATE = date(2001, 1, 1)
"""When conventions the test kits register were signed (before any act a test sends)."""


def _convention(row: dict[str, Any]) -> Convention:
    return Convention(siren=row["siren"], date_signature=date.fromisoformat(row["date_signature"]),
                      operateur=row["operateur"], matieres=tuple(json.loads(row["matieres"])),
                      actes_budgetaires=bool(row["actes_budgetaires"]), id=row["id"],
                      statut=row["statut"],
                      date_resiliation=None if row["date_resiliation"] is None
                      else date.fromisoformat(row["date_resiliation"]))


def fetch_one(db: Database, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
    """The first row of a query, or None."""
    rows = fetch_all(db, sql, params)
    return rows[0] if rows else None


# --- the store ----------------------------------------------------------------------------------


class SqliteStore:
    """`TransactionStore` over one SQLite file (WAL, synchronous=FULL) and a `BlobStore`.

    Concurrency rule: every write runs on the single writer thread, inside one
    `BEGIN IMMEDIATE` transaction; call the write methods from any thread (they wait), or
    from the event loop through `AsyncStore`. Reads run on the calling thread's own
    connection and see the last committed state.
    """

    def __init__(self, path: str | Path, *, blobs: BlobStore | str | Path,
                 busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self.blobs = blobs if isinstance(blobs, BlobStore) else BlobStore(blobs)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, Database]] = []  # with their thread
        self._connections_lock = threading.Lock()
        self._closed = False
        self._writer_ident: int | None = None
        self._write_db: Database | None = None
        self._deferred: list[Callable[[Database], object]] = []
        self._deferred_lock = threading.Lock()
        self._reserved: dict[str, int] = {}  # writer thread only: see `reserve_serial`
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer",
                                          initializer=self._start_writer)
        # Migrations run on the writer too, under BEGIN IMMEDIATE, so two processes opening
        # the same file cannot both apply the same migration.
        self.run_write(schema.apply)

    @classmethod
    def open(cls, directory: str | Path, **kwargs: Any) -> SqliteStore:
        """`<directory>/operator-sim.sqlite3` and `<directory>/blobs/`, created if missing."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / DATABASE_NAME, blobs=directory / BLOBS_NAME, **kwargs)

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
            with db.atomic():
                return fn(db)
        # IMMEDIATE takes the write lock up front: a reader-turned-writer can never hit
        # SQLITE_BUSY_SNAPSHOT, and another process waits on busy_timeout instead of failing.
        db.conn.execute("BEGIN IMMEDIATE")
        deferred: list[Callable[[Database], object]] = []
        try:
            deferred = self._run_deferred(db)  # older than `fn`: a reserved serial first
            result = fn(db)
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            if deferred:  # not committed after all: they join the next transaction
                with self._deferred_lock:
                    self._deferred[:0] = deferred
            raise
        return result

    def _run_deferred(self, db: Database) -> list[Callable[[Database], object]]:
        """Apply the queued `defer_write` writes inside the open transaction, each under its
        own savepoint: a failing one is logged and dropped, never the caller's transaction."""
        with self._deferred_lock:
            deferred, self._deferred = self._deferred, []
        for fn in deferred:
            db.conn.execute("SAVEPOINT deferred")
            try:
                fn(db)
            except Exception:
                db.conn.execute("ROLLBACK TO deferred")
                log.exception("deferred write %r failed and was dropped", fn)
            db.conn.execute("RELEASE deferred")
        return deferred

    def defer_write(self, fn: Callable[[Database], object]) -> None:
        """Queue `fn(db)` to join the next write transaction, whoever runs it (applied before
        that transaction's own writes): for rows that need not cost a commit (an fsync) of
        their own. They are durable once that commit is (`flush_deferred` forces one; `close`
        flushes); until then a crash loses them."""
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
        """Queue `fn(db)` to run on the writer thread inside one transaction."""
        if self._closed:
            raise StoreError("store is closed")
        return self._writer.submit(self._in_write_transaction, fn)

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
        """Run any store method on the writer thread (used by `AsyncStore`)."""
        if self._closed:
            raise StoreError("store is closed")
        return self._writer.submit(fn, *args, **kwargs)

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

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collectivités and agents --

    def add_collectivite(self, collectivite: Collectivite) -> Collectivite:
        """Insert or replace a collectivité (the admin API and fixtures seed these)."""
        self.run_write(lambda db: db["collectivites"].upsert(
            dict(zip(("siren", "departement", "arrondissement", "nature", "nom", "profil"),
                     astuple(collectivite), strict=True)), pk="siren"))
        return collectivite

    # -- conventions --

    def add_convention(self, new: NewConvention) -> Convention:
        """Register a signed convention (a collectivité may hold several over time)."""
        def write(db: Database) -> int:
            cursor = db.execute(
                "INSERT INTO conventions (siren, date_signature, operateur, matieres, "
                "actes_budgetaires) VALUES (?, ?, ?, ?, ?)",
                [new.siren, new.date_signature.isoformat(), new.operateur,
                 json.dumps(list(new.matieres)), int(new.actes_budgetaires)])
            return int(cursor.lastrowid)

        convention_id = self.run_write(write)
        return Convention(**new.__dict__, id=convention_id)

    def conventions(self, siren: str | None = None) -> list[Convention]:
        """Registered conventions (of `siren`, or all), oldest first."""
        sql, params = "SELECT * FROM conventions ORDER BY id", []
        if siren is not None:
            sql, params = "SELECT * FROM conventions WHERE siren = ? ORDER BY id", [siren]
        return [_convention(row) for row in self._read_db().query(sql, params)]

    def terminate_convention(self, convention_id: int, on: date) -> Convention:
        """Mark a convention terminated (résiliée) as of `on`; NotFound if there is none."""
        def write(db: Database) -> None:
            cursor = db.execute("UPDATE conventions SET statut = 'resiliee', date_resiliation = ? "
                                "WHERE id = ?", [on.isoformat(), convention_id])
            if cursor.rowcount == 0:
                raise NotFound(f"convention {convention_id} not found")

        self.run_write(write)
        row = fetch_one(self._read_db(), "SELECT * FROM conventions WHERE id = ?", [convention_id])
        assert row is not None
        return _convention(row)

    def ensure_convention(self, siren: str, operateur: str,
                          signed: date = TEST_CONVENTION_DATE) -> Convention:
        """The SIREN's newest convention, or a new one covering every matière and budget acts
        (the test kits give every SIREN they enrol an agent for one: strict refuses senders
        without). Signed on `signed`, early enough for a virtual clock set in the past."""
        known = self.conventions(siren)
        if known:
            return known[-1]
        return self.add_convention(NewConvention(siren, signed, operateur))

    def convention_in_force(self, siren: str, day: date) -> Convention | None:
        """The newest convention of `siren` in force on `day` (None: it may not transmit)."""
        return next((c for c in reversed(self.conventions(siren)) if c.in_force(day)), None)

    def get_collectivite(self, siren: str) -> Collectivite | None:
        row = fetch_one(self._read_db(), "select * from collectivites where siren = ?", [siren])
        return None if row is None else Collectivite(**row)

    def collectivites(self) -> list[Collectivite]:
        """Every registered collectivité, by SIREN."""
        return [Collectivite(**row) for row in
                self._read_db().query("select * from collectivites order by siren")]

    def add_agent(self, *, certificate_fingerprint: str, name: str, roles: Iterable[str],
                  sirens: Iterable[str], login: str | None = None,
                  password_hash: str | None = None) -> Agent:
        """One account behind a certificate; login + hash only for a shared certificate.

        Low-level: the certificate's own binding (its SIREN) is `enrol`'s job.
        """
        agent = NewAgent(name, frozenset(roles), frozenset(sirens), login, password_hash)
        agent_id = self.run_write(lambda db: self._insert_agent(db, certificate_fingerprint, agent))
        return Agent(agent_id, certificate_fingerprint, name, agent.roles, agent.sirens, login,
                     password_hash)

    @staticmethod
    def _insert_agent(db: Database, fingerprint: str, agent: NewAgent) -> int:
        agent_id = db["agents"].insert({
            "certificate_fingerprint": fingerprint, "name": agent.name,
            "roles": json.dumps(sorted(agent.roles)), "login": agent.login,
            "password_hash": agent.password_hash,
        }).last_pk
        db["agent_sirens"].insert_all({"agent_id": agent_id, "siren": s} for s in sorted(agent.sirens))
        return int(agent_id)

    def agents_for_certificate(self, fingerprint: str) -> tuple[Agent, ...]:
        """Every account bound to a certificate (several when it is shared)."""
        return self._agents(self._read_db(), fingerprint)

    @staticmethod
    def _agents(db: Database, fingerprint: str) -> tuple[Agent, ...]:
        rows = fetch_all(
            db, "select a.*, (select json_group_array(siren) from agent_sirens s"
            " where s.agent_id = a.id) as sirens"
            " from agents a where certificate_fingerprint = ? order by id", [fingerprint])
        return tuple(
            Agent(r["id"], r["certificate_fingerprint"], r["name"], frozenset(json.loads(r["roles"])),
                  frozenset(json.loads(r["sirens"])), r["login"], r["password_hash"])
            for r in rows)

    def enrol(self, certificates: Sequence[NewCertificate], *, at: datetime,
              keep_existing: bool = False) -> tuple[AgentCertificate, ...]:
        """Bind certificates to agent accounts, all in one commit.

        A new certificate is recorded with its SIREN; a known one gets the agents added (the
        SIRENs must agree) or, with `keep_existing` (imports), is left as it is. Raises
        `IdentityConflict` (other SIREN, login taken, unnamed account beside others); then
        nothing changed.
        """
        when = time_to_text(at)

        def write(db: Database) -> tuple[AgentCertificate, ...]:
            prints = []
            for new in certificates:
                print_ = new.fingerprint.lower()
                prints.append(print_)
                known = fetch_one(db, "select siren from agent_certificates where fingerprint = ?",
                                  [print_])
                if known is not None and keep_existing:
                    continue
                try:
                    if known is None:
                        db.execute("insert into agent_certificates (fingerprint, siren, serial,"
                                   " subject, enrolled_at) values (?, ?, ?, ?, ?)",
                                   [print_, new.siren, new.serial, new.subject, when])
                    elif known["siren"] != new.siren:
                        raise IdentityConflict(f"certificate {print_} is bound to SIREN "
                                               f"{known['siren']}, not {new.siren}")
                    for agent in new.agents:
                        self._insert_agent(db, print_, agent)
                except sqlite3.IntegrityError as error:
                    raise IdentityConflict(f"certificate {print_}: {error} (a login is taken,"
                                           " or the SIREN or credentials are malformed)") from error
                logins = [r["login"] for r in fetch_all(
                    db, "select login from agents where certificate_fingerprint = ?", [print_])]
                if len(logins) > 1 and not all(logins):
                    raise IdentityConflict(f"certificate {print_}: a certificate with several"
                                           " accounts needs a login on each")
            return tuple(filter(None, (self._agent_certificate(db, p) for p in prints)))

        return self.run_write(write)

    def agent_certificate(self, fingerprint: str) -> AgentCertificate | None:
        """A certificate's binding and accounts, or None when it is bound to none."""
        return self._agent_certificate(self._read_db(), fingerprint.lower())

    def _agent_certificate(self, db: Database, fingerprint: str) -> AgentCertificate | None:
        row = fetch_one(db, "select * from agent_certificates where fingerprint = ?", [fingerprint])
        if row is None:
            return None
        return AgentCertificate(row["fingerprint"], row["siren"], row["serial"], row["subject"],
                                time_from_text(row["enrolled_at"]), self._agents(db, fingerprint))

    # -- transactions: writes --

    def _require_blobs(self, digests: Iterable[str | None]) -> None:
        missing = [d for d in digests if d is not None and not self.blobs.exists(d)]
        if missing:
            raise MissingBlob(f"put these blobs before recording them: {', '.join(missing)}")

    @staticmethod
    def _require_row(db: Database, table: str, key: str, value: Any, what: str) -> None:
        if value is not None and fetch_one(db, f"select 1 from {table} where {key} = ?", [value]) is None:
            raise NotFound(f"unknown {what} {value!r}")

    def _insert_message(self, db: Database, transaction_id: int, message: NewMessage,
                        at: str) -> int:
        self._require_blobs((message.xml_sha256, message.signature_sha256,
                             message.timestamp_token_sha256))
        return _insert(db, "messages", {
            "transaction_id": transaction_id, "code": message.code,
            "direction": message.direction.name, "file_name": message.file_name,
            "xml_sha256": message.xml_sha256, "signature_sha256": message.signature_sha256,
            "timestamp_token_sha256": message.timestamp_token_sha256, "created_at": at,
        })

    @staticmethod
    def _append_journal(db: Database, transaction_id: int, at: str,
                        from_status: TransactionStatus | None, to_status: TransactionStatus,
                        actor: str, message: str, message_id: int | None) -> None:
        _insert(db, "journal", {
            "transaction_id": transaction_id, "at": at,
            "from_status": None if from_status is None else int(from_status),
            "to_status": int(to_status), "actor": actor, "message": message,
            "message_id": message_id,
        })

    def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                           message: str = "") -> TransactionRow:
        """Transaction row, its documents, messages and creation event: one commit.

        Raises `DuplicateActe` if a live act already uses (siren, numero_interne),
        `NotFound` for an unknown SIREN/related transaction/agent, `MissingBlob` if a
        referenced blob was not put first.
        """
        when = time_to_text(at)
        self._require_blobs([new.archive_sha256, *(d.sha256 for d in new.documents)])
        for document in new.documents:
            if document.role not in DOCUMENT_ROLES:
                raise ValueError(f"document role must be one of {DOCUMENT_ROLES}")

        def write(db: Database) -> TransactionRow:
            self._require_row(db, "collectivites", "siren", new.siren, "SIREN")
            self._require_row(db, "transactions", "id", new.related_transaction_id, "transaction")
            self._require_row(db, "agents", "id", new.agent_id, "agent")
            try:
                transaction_id = _insert(db, "transactions", {
                    "type": int(new.type), "status": int(new.status), "siren": new.siren,
                    "related_transaction_id": new.related_transaction_id, "id_acte": new.id_acte,
                    "numero_interne": new.numero_interne,
                    "nature": None if new.nature is None else int(new.nature),
                    "matiere": new.matiere, "objet": new.objet,
                    "decision_date": None if new.decision_date is None else new.decision_date.isoformat(),
                    "archive_name": new.archive_name, "archive_sha256": new.archive_sha256,
                    "agent_id": new.agent_id, "created_at": when, "updated_at": when,
                })
            except sqlite3.IntegrityError as error:
                raise _integrity(error, new) from error
            message_ids = [self._insert_message(db, transaction_id, m, when) for m in new.messages]
            for d in new.documents:
                _insert(db, "documents", {
                    "transaction_id": transaction_id, "role": d.role, "position": d.position,
                    "file_name": d.file_name, "sha256": d.sha256, "mimetype": d.mimetype,
                    "size": d.size, "posted_name": d.posted_name,
                    "posted_signature": d.posted_signature})
            self._append_journal(db, transaction_id, when, None, new.status, actor, message,
                                 message_ids[0] if message_ids else None)
            return self._get(db, transaction_id)

        return self.run_write(write)

    def transition(self, transaction_id: int, to_status: TransactionStatus, *, at: datetime,
                   actor: str, expected_from: TransactionStatus, message: str = "",
                   attach: NewMessage | None = None, id_acte: str | None = None) -> TransactionRow:
        """Compare-and-set the status; the caused message and the journal event go with it."""
        step = TransitionStep(transaction_id, expected_from, to_status, message, attach, id_acte)
        return self.transition_many([step], at=at, actor=actor)[0]

    def transition_many(self, steps: Sequence[TransitionStep], *, at: datetime,
                        actor: str) -> tuple[TransactionRow, ...]:
        """Several compare-and-sets that win or lose together (6-2: act → 0, annulation → 4).

        Raises `StatusConflict` when a transaction is not in its `expected_from` status
        any more (another transition won), `NotFound` for an unknown id; then nothing changed.
        """
        when = time_to_text(at)
        self._require_blobs(d for s in steps if s.attach
                            for d in (s.attach.xml_sha256, s.attach.signature_sha256,
                                      s.attach.timestamp_token_sha256))

        def write(db: Database) -> tuple[TransactionRow, ...]:
            rows = []
            for step in steps:
                try:
                    cursor = db.execute(
                        "update transactions set status = ?, updated_at = ?,"
                        " id_acte = coalesce(?, id_acte) where id = ? and status = ?",
                        [int(step.to_status), when, step.id_acte, step.transaction_id,
                         int(step.expected_from)])
                except sqlite3.IntegrityError as error:
                    raise DuplicateActe(f"IDActe {step.id_acte} already names another act") from error
                if cursor.rowcount != 1:
                    current = fetch_one(db, "select status from transactions where id = ?",
                                        [step.transaction_id])
                    if current is None:
                        raise NotFound(f"unknown transaction {step.transaction_id}")
                    raise StatusConflict(step.transaction_id, step.expected_from,
                                         TransactionStatus(current["status"]))
                message_id = (self._insert_message(db, step.transaction_id, step.attach, when)
                              if step.attach else None)
                self._append_journal(db, step.transaction_id, when, step.expected_from,
                                     step.to_status, actor, step.message, message_id)
                rows.append(self._get(db, step.transaction_id))
            return tuple(rows)

        return self.run_write(write)

    def add_message(self, transaction_id: int, message: NewMessage, *, at: datetime) -> MessageRow:
        """Record an exchanged XML that changes no status (e.g. a re-sent AR)."""
        when = time_to_text(at)
        self._require_blobs((message.xml_sha256, message.signature_sha256,
                             message.timestamp_token_sha256))

        def write(db: Database) -> MessageRow:
            self._require_row(db, "transactions", "id", transaction_id, "transaction")
            message_id = self._insert_message(db, transaction_id, message, when)
            row = fetch_one(db, "select * from messages where id = ?", [message_id])
            assert row is not None
            return _message(row)

        return self.run_write(write)

    def next_serial(self, name: str) -> int:
        """1, 2, 3… per name, never repeated, even across restarts (TSA serials, _N suffixes)."""
        def write(db: Database) -> int:
            cursor = db.execute(
                "insert into counters (name, value) values (?, 1) on conflict (name)"
                " do update set value = value + 1 returning value", [name])
            return int(cursor.fetchone()[0])

        return self.run_write(write)

    def reserve_serial(self, name: str) -> int:
        """Like `next_serial`, without a commit of its own: the number is made durable by the
        next write transaction (`defer_write`), so the commit that stores what carries it
        also persists it. Never repeated while the process lives; after a crash only numbers
        no commit ever carried can come again."""
        if not self._on_writer():
            return self._writer.submit(self.reserve_serial, name).result()
        row = fetch_one(self._read_db(), "select value from counters where name = ?", [name])
        value = max(0 if row is None else int(row["value"]), self._reserved.get(name, 0)) + 1
        self._reserved[name] = value
        self.defer_write(partial(_raise_counter, name=name, value=value))
        return value

    def mark_read(self, transaction_id: int, *, at: datetime, actor: str) -> datetime:
        """Record that the collectivité's software read this transaction; the first time stays."""
        when = time_to_text(at)

        def write(db: Database) -> datetime:
            self._require_row(db, "transactions", "id", transaction_id, "transaction")
            db.execute("insert into transaction_reads (transaction_id, read_at, actor)"
                       " values (?, ?, ?) on conflict (transaction_id) do nothing",
                       [transaction_id, when, actor])
            row = fetch_one(db, "select read_at from transaction_reads where transaction_id = ?",
                            [transaction_id])
            assert row is not None
            return time_from_text(row["read_at"])

        return self.run_write(write)

    # -- transactions: reads --

    def read_at(self, transaction_id: int) -> datetime | None:
        row = fetch_one(self._read_db(), "select read_at from transaction_reads where transaction_id = ?",
                        [transaction_id])
        return None if row is None else time_from_text(row["read_at"])

    @staticmethod
    def _get(db: Database, transaction_id: int) -> TransactionRow:
        if abs(transaction_id) > SQLITE_MAX_INTEGER:
            raise NotFound(f"unknown transaction {transaction_id}")
        row = fetch_one(db, "select * from transactions where id = ?", [transaction_id])
        if row is None:
            raise NotFound(f"unknown transaction {transaction_id}")
        return _transaction(row)

    def get(self, transaction_id: int) -> TransactionRow:
        return self._get(self._read_db(), transaction_id)

    def find_by_id_acte(self, id_acte: str) -> TransactionRow | None:
        """The type-1 transaction this IDActe was given to by its AR, if any."""
        row = fetch_one(self._read_db(), "select * from transactions where type = 1 and id_acte = ?",
                        [id_acte])
        return None if row is None else _transaction(row)

    def find_live_acte(self, siren: str, numero_interne: str) -> TransactionRow | None:
        """The act that currently holds (siren, numero_interne) — not in error, not cancelled."""
        row = fetch_one(self._read_db(),
                        "select * from transactions where type = 1 and siren = ? and numero_interne = ?"
                        " and status not in (-1, 0)", [siren, numero_interne])
        return None if row is None else _transaction(row)

    def list(self, filters: TransactionFilter | None = None, *, limit: int = 50,
             offset: int = 0) -> Page:
        """Newest first; `total` counts every match, in the same snapshot as the page.

        A total filtered only by SIREN, type, status and nature is summed from the counter
        tables (migration 0005), so it costs the same at 1 M rows as at 10 K; dates, relations,
        answers and reads are counted over the matching rows.
        """
        filters = filters or TransactionFilter()
        limit = max(0, min(limit, MAX_PAGE))
        offset = max(0, min(offset, SQLITE_MAX_INTEGER))
        where, params = _where(filters)
        if (filters.created_from is None and filters.created_to is None and not filters.unanswered
                and not filters.unread and filters.related_transaction_id is None):
            counters = ("transaction_totals" if filters.siren is None and filters.sirens is None
                        else "transaction_counts")
            count = f"select ifnull(sum(n), 0) as n from {counters}{where}"
        else:
            count = f"select count(*) as n from transactions{where}"
        db = self._read_db()
        own_snapshot = not db.conn.in_transaction
        if own_snapshot:
            db.conn.execute("BEGIN")
        try:
            total = fetch_all(db, count, params)[0]["n"]
            rows = fetch_all(db, *_page(filters, where, params, limit, offset))
            items = tuple(_transaction(r) for r in rows)
        finally:
            if own_snapshot:
                db.conn.execute("COMMIT")
        return Page(items=items, total=total, limit=limit, offset=offset)

    def messages(self, transaction_id: int) -> tuple[MessageRow, ...]:
        rows = fetch_all(
            self._read_db(), "select * from messages where transaction_id = ? order by id", [transaction_id])
        return tuple(_message(r) for r in rows)

    def documents(self, transaction_id: int) -> tuple[DocumentRow, ...]:
        rows = fetch_all(
            self._read_db(), "select * from documents where transaction_id = ? order by role = 'main' desc,"
            " role, position", [transaction_id])
        return tuple(_document(r) for r in rows)

    def journal(self, transaction_id: int) -> tuple[JournalEvent, ...]:
        rows = fetch_all(
            self._read_db(), "select * from journal where transaction_id = ? order by id", [transaction_id])
        return tuple(_event(r) for r in rows)


def _where(filters: TransactionFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a list and its parameters; the SIREN, type, status and nature tests
    name columns the counter tables share with `transactions`."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("siren", filters.siren), ("type", filters.type),
                          ("status", filters.status), ("nature", filters.nature),
                          ("related_transaction_id", filters.related_transaction_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(int(value) if isinstance(value, int) else value)
    if filters.created_from is not None:
        clauses.append("created_at >= ?")
        params.append(time_to_text(filters.created_from))
    if filters.created_to is not None:
        clauses.append("created_at < ?")
        params.append(time_to_text(filters.created_to))
    if filters.sirens is not None:
        clauses.append(f"siren in ({', '.join('?' * len(filters.sirens))})")
        params.extend(sorted(filters.sirens))
    for column, values in (("type", filters.types), ("status", filters.statuses)):
        if values is not None:
            clauses.append(f"{column} in ({', '.join('?' * len(values))})")
            params.extend(sorted(int(v) for v in values))
    if filters.unanswered:
        clauses.append("not exists (select 1 from transactions r"
                       " where r.related_transaction_id = transactions.id)")
    if filters.unread:
        clauses.append("not exists (select 1 from transaction_reads r"
                       " where r.transaction_id = transactions.id)")
    return (f" where {' and '.join(clauses)}" if clauses else ""), params


def _raise_counter(db: Database, *, name: str, value: int) -> None:
    """Make counter `name` at least `value` (reservations may commit in any order)."""
    db.execute("insert into counters (name, value) values (?, ?) on conflict (name)"
               " do update set value = max(value, excluded.value)", [name, value])


def _page(filters: TransactionFilter, where: str, params: list[Any], limit: int,
          offset: int) -> tuple[str, list[Any]]:
    """The page query. For a few SIRENs, each one's newest `offset + limit` rows are taken
    from the (siren, …, id) indexes and merged: `siren IN (…) ORDER BY id` would sort every
    row of those SIRENs, however many they have. Past `MERGED_SIRENS` (SQLite caps a
    compound SELECT at 500 terms), the plain query."""
    if (filters.siren is not None or filters.sirens is None
            or not 2 <= len(filters.sirens) <= MERGED_SIRENS):
        return (f"select * from transactions{where} order by id desc limit ? offset ?",
                [*params, limit, offset])
    parts: list[str] = []
    merged: list[Any] = []
    for siren in sorted(filters.sirens):
        one_where, one_params = _where(replace(filters, sirens=frozenset({siren})))
        parts.append(f"select * from (select id from transactions{one_where} order by id desc limit ?)")
        merged.extend([*one_params, min(offset + limit, SQLITE_MAX_INTEGER)])
    return (f"select * from transactions where id in ({' union all '.join(parts)})"
            " order by id desc limit ? offset ?", [*merged, limit, offset])


def _integrity(error: sqlite3.IntegrityError, new: NewTransaction) -> StoreError:
    text = str(error)
    if "transactions.siren, transactions.numero_interne" in text:
        return DuplicateActe(f"SIREN {new.siren} already has a live act numbered {new.numero_interne}")
    if "transactions.id_acte" in text:
        return DuplicateActe(f"IDActe {new.id_acte} already names another act")
    return StoreError(text)


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


Store = SqliteStore


class AsyncStore:
    """The store for aiohttp handlers: writes await the writer thread, reads a small pool.

    The event loop never blocks on SQLite or fsync. Same methods and errors as `SqliteStore`.
    """

    def __init__(self, store: SqliteStore, *, readers: int = 4) -> None:
        self.store = store
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")

    async def _write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.wrap_future(self.store.run_on_writer(fn, *args, **kwargs))

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a short engine step `fn(store, *args, **kwargs)` on the writer thread.

        Its reads and its write then form one serial step (e.g. `lifecycle.transition`), and
        the loop does not block. Keep `fn` quick and free of I/O other than the store: it
        holds up every other write while it runs.
        """
        return await asyncio.wrap_future(self.store.run_on_writer(fn, self.store, *args, **kwargs))

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

    def close(self) -> None:
        """Stop the reader pool; the wrapped store is closed by its owner."""
        self._readers.shutdown(wait=True)
