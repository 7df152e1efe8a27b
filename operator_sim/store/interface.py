"""What the engine may ask of storage: records, inputs, errors and the `TransactionStore` protocol.

Owns the storage vocabulary shared by every backend (SQLite now, PostgreSQL later). Holds no
SQL and does no I/O; records are frozen dataclasses so no caller ever touches a database row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import Kind, Refusal
from ..protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType

if TYPE_CHECKING:
    from .small_blobs import Blobs

T = TypeVar("T")
MAX_PAGE = 500
SQLITE_MAX_INTEGER = 2**63 - 1
"""Largest id a store names (SQLite's INTEGER): a bigger one names no row."""
SQLITE_MAX_INTEGER = 2**63 - 1
"""Largest id a store names (SQLite's INTEGER): a bigger one names no row."""
"""The most rows a `list` page holds, whatever `limit` asks."""

# --- errors -------------------------------------------------------------------------------------


class StoreError(Refusal):
    """A storage refusal; `code` is stable and maps to an API error. Raised with a detail in
    English (what `str()` gives; the messages are the class's); the base is a store that
    cannot serve (closed)."""

    kind = Kind.UNAVAILABLE
    code = "STORE"
    message_fr = "magasin indisponible"
    message_en = "store unavailable"

    def __init__(self, *args: object) -> None:
        super().__init__()
        self.args = args


class NotFound(StoreError, LookupError):
    kind = Kind.NOT_FOUND
    code = "NOT_FOUND"
    message_fr = "introuvable"
    message_en = "not found"


class DuplicateActe(StoreError):
    """A live type-1 transaction already uses this (SIREN, NumeroInterne)."""

    kind = Kind.CONFLICT
    code = "DUPLICATE_ACTE"
    message_fr = "numéro d'acte déjà utilisé"
    message_en = "act number already used"


class StatusConflict(StoreError):
    """Compare-and-set lost: the transaction is no longer in the expected status."""

    kind = Kind.CONFLICT
    code = "STATUS_CONFLICT"
    message_fr = "la transaction a changé de statut entre-temps"
    message_en = "the transaction changed status meanwhile"

    def __init__(self, transaction_id: int, expected: TransactionStatus,
                 actual: TransactionStatus) -> None:
        super().__init__(f"transaction {transaction_id} is {actual.name}, not {expected.name}")
        self.transaction_id = transaction_id
        self.expected = expected
        self.actual = actual


class IdentityConflict(StoreError):
    """An enrolment contradicting the bindings already stored (other SIREN, duplicate login)."""

    kind = Kind.CONFLICT
    code = "IDENTITY_CONFLICT"
    message_fr = "liaison de certificat contradictoire"
    message_en = "certificate binding contradicts the stored ones"


class StoreBusy(StoreError):
    """Another process holds the database past the busy timeout: nothing was written, and the
    same request may succeed a little later."""

    kind = Kind.UNAVAILABLE
    code = "STORE_BUSY"
    message_fr = "base de données occupée par un autre processus"
    message_en = "database held by another process"


class StoreFull(StoreError):
    """The disk (or quota) holding the database is full: nothing was written."""

    kind = Kind.NO_SPACE
    code = "STORE_FULL"
    message_fr = "disque plein"
    message_en = "disk full"


class MissingBlob(StoreError):
    """A record refers to a blob that is not (durably) in the blob store."""

    kind = Kind.GONE
    code = "MISSING_BLOB"
    message_fr = "fichier absent du magasin"
    message_en = "file missing from the store"


# --- records (what reads return) ----------------------------------------------------------------


@dataclass(frozen=True)
class Collectivite:
    siren: str
    departement: str
    arrondissement: str
    nature: str  # IDCL/@Nature, two digits (protocol.codes.COLLECTIVITE_NATURES)
    nom: str
    profil: str | None = None
    """Its platform profile, `strict` or `lenient`; None: the deployment's."""


@dataclass(frozen=True)
class NewConvention:
    """A convention to register: the collectivité (SIREN) transmits through `operateur`."""

    siren: str
    date_signature: date
    operateur: str  # the operator's trigram, e.g. SLO
    matieres: tuple[str, ...] = ()
    """Matière prefixes covered ("1", "7.1"); empty: every matière."""
    actes_budgetaires: bool = True


@dataclass(frozen=True)
class Convention(NewConvention):
    id: int = 0
    statut: str = "signee"  # signee | resiliee
    date_resiliation: date | None = None

    def in_force(self, day: date) -> bool:
        """Signed on or before `day` and not terminated by then."""
        return self.date_signature <= day and (
            self.date_resiliation is None or day < self.date_resiliation)

    def covers(self, matiere: str) -> bool:
        """True when the act's matière ("7.1.2") falls under one the convention lists."""
        return not self.matieres or any(matiere == m or matiere.startswith(m + ".")
                                        for m in self.matieres)


@dataclass(frozen=True)
class Agent:
    """One account behind a certificate; `login` is set only when the certificate is shared."""

    id: int
    certificate_fingerprint: str
    name: str
    roles: frozenset[str]
    sirens: frozenset[str]
    login: str | None = None
    password_hash: str | None = None


@dataclass(frozen=True)
class AgentCertificate:
    """A certificate agents authenticate with: the SIREN its subject must name, its accounts."""

    fingerprint: str  # SHA-256 of the DER, lower-case hex
    siren: str
    serial: str | None
    subject: str | None
    enrolled_at: datetime
    agents: tuple[Agent, ...]


@dataclass(frozen=True)
class TransactionRow:
    id: int
    type: TransactionType
    status: TransactionStatus
    siren: str
    related_transaction_id: int | None
    id_acte: str | None
    numero_interne: str | None
    nature: NatureActe | None
    matiere: str | None
    objet: str | None
    decision_date: date | None
    archive_name: str | None
    archive_sha256: str | None
    agent_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageRow:
    id: int
    transaction_id: int
    code: str
    direction: Sender
    file_name: str
    xml_sha256: str
    signature_sha256: str | None
    timestamp_token_sha256: str | None
    created_at: datetime


@dataclass(frozen=True)
class DocumentRow:
    id: int
    transaction_id: int
    role: str
    position: int
    file_name: str
    sha256: str
    mimetype: str
    size: int
    posted_name: str | None = None  # the name the client uploaded it under, if it did
    posted_signature: str | None = None  # the signature the client uploaded with it, if any


@dataclass(frozen=True)
class JournalEvent:
    id: int
    transaction_id: int
    at: datetime
    from_status: TransactionStatus | None  # None for the creation event
    to_status: TransactionStatus
    actor: str
    message: str
    message_id: int | None


@dataclass(frozen=True)
class Page:
    items: tuple[TransactionRow, ...]
    total: int
    limit: int
    offset: int



# --- the simulation's records ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRule:
    """One rule as stored: its JSON body, where it came from, how often it was used."""

    id: str
    origin: str  # "config" (seeded from the file) or "admin" (added through the API)
    body: dict[str, Any]
    hits: int


@dataclass(frozen=True)
class ScheduledEvent:
    id: int
    due_at: datetime
    kind: str
    transaction_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    fired_at: datetime | None
    outcome: str | None  # None while pending or running; done, skipped or failed
    result: str | None

    @property
    def state(self) -> str:
        if self.fired_at is None:
            return "pending"
        return self.outcome or "running"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "due_at": self.due_at.isoformat(), "kind": self.kind,
                "transaction_id": self.transaction_id, "payload": self.payload,
                "created_at": self.created_at.isoformat(),
                "fired_at": None if self.fired_at is None else self.fired_at.isoformat(),
                "state": self.state, "result": self.result}


@dataclass(frozen=True)
class Callback:
    """A URL registered by an agent for a SIREN's status changes and préfecture messages."""

    id: int
    siren: str
    url: str
    secret: str
    owner_fingerprint: str
    owner_name: str
    since_event: int
    created_at: datetime
    deleted_at: datetime | None

    def to_dict(self, *, secret: bool = False) -> dict[str, Any]:
        data = {"id": self.id, "siren": self.siren, "url": self.url,
                "owner": {"name": self.owner_name, "fingerprint": self.owner_fingerprint},
                "created_at": self.created_at.isoformat(),
                "deleted_at": None if self.deleted_at is None else self.deleted_at.isoformat()}
        if secret:
            data["secret"] = self.secret
        return data


@dataclass(frozen=True)
class Delivery:
    id: int
    callback_id: int
    siren: str
    url: str
    secret: str
    event_id: int
    payload: str  # the exact JSON text that is POSTed and signed
    attempts: int


# --- inputs (what writes take) ------------------------------------------------------------------

DOCUMENT_ROLES = ("main", "annexe", "piece")


@dataclass(frozen=True)
class NewMessage:
    """An exchanged XML whose blobs (xml, detached CMS, RFC 3161 token) are already stored."""

    code: str
    direction: Sender
    file_name: str
    xml_sha256: str
    signature_sha256: str | None = None
    timestamp_token_sha256: str | None = None


@dataclass(frozen=True)
class NewDocument:
    role: str  # "main" | "annexe" | "piece"
    position: int
    file_name: str
    sha256: str
    mimetype: str
    size: int
    posted_name: str | None = None  # the name the client uploaded it under (S²LOW's posted_filename)
    posted_signature: str | None = None  # the signature file's text posted with it (S²LOW's sign)


@dataclass(frozen=True)
class NewAgent:
    name: str
    roles: frozenset[str]
    sirens: frozenset[str]
    login: str | None = None  # with password_hash, on each account of a shared certificate
    password_hash: str | None = None


@dataclass(frozen=True)
class NewCertificate:
    """A certificate binding to enrol: created if new, else its agents are added to it."""

    fingerprint: str
    siren: str
    agents: tuple[NewAgent, ...]
    serial: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class NewTransaction:
    type: TransactionType
    status: TransactionStatus
    siren: str
    related_transaction_id: int | None = None
    id_acte: str | None = None
    numero_interne: str | None = None
    nature: NatureActe | None = None
    matiere: str | None = None
    objet: str | None = None
    decision_date: date | None = None
    archive_name: str | None = None
    archive_sha256: str | None = None
    agent_id: int | None = None
    messages: tuple[NewMessage, ...] = ()
    documents: tuple[NewDocument, ...] = ()


@dataclass(frozen=True)
class WalkStep:
    """A status a new transaction goes on to in the commit creating it (`create_transaction`),
    optionally recording the message that caused it."""

    to_status: TransactionStatus
    message: str = ""
    attach: NewMessage | None = None
    id_acte: str | None = None


@dataclass(frozen=True)
class TransitionStep:
    """One compare-and-set status change, optionally recording the message that caused it."""

    transaction_id: int
    expected_from: TransactionStatus
    to_status: TransactionStatus
    message: str = ""
    attach: NewMessage | None = None
    id_acte: str | None = None  # set with the AR (1-2): the IDActe becomes known then


@dataclass(frozen=True)
class TransactionFilter:
    siren: str | None = None
    status: TransactionStatus | None = None
    type: TransactionType | None = None
    nature: NatureActe | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    related_transaction_id: int | None = None
    sirens: frozenset[str] | None = None  # restrict to an agent's SIRENs
    types: frozenset[TransactionType] | None = None  # any of these types
    statuses: frozenset[TransactionStatus] | None = None  # any of these statuses
    unanswered: bool = False  # no transaction is related to it (a letter with no answer yet)
    unread: bool = False  # never marked as read (`mark_read`)


# --- the interface ------------------------------------------------------------------------------


READS_FIRST = "store_reads_first"
"""The attribute `reads_first` sets on a function."""
F = TypeVar("F", bound=Callable[..., Any])


def reads_first(fn: F) -> F:
    """Mark a step run on the writer thread (`AsyncSimulatorStore.call`) that only reads,
    or writes only rarely (through named write methods).

    Such a step still runs in the writer's order, but when it opens a group commit it runs
    before the group's write transaction, not inside it: a group of such steps alone opens
    no transaction and does not commit (nor fsync) the deferred writes waiting, which the
    next write carries. A write it does make is its own transaction, committed (durable)
    before it returns, as outside any group."""
    setattr(fn, READS_FIRST, True)
    return fn


class TransactionStore(Protocol):
    """Everything the engine needs from persistence. Every write is one atomic unit."""

    def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                           message: str = "", walk: Sequence[WalkStep] = (),
                           walk_by: str | None = None) -> TransactionRow: ...

    def get(self, transaction_id: int) -> TransactionRow: ...

    def find_by_id_acte(self, id_acte: str) -> TransactionRow | None: ...

    def list(self, filters: TransactionFilter | None = None, *, limit: int = 50,
             offset: int = 0) -> Page: ...

    def transition(self, transaction_id: int, to_status: TransactionStatus, *, at: datetime,
                   actor: str, expected_from: TransactionStatus, message: str = "",
                   attach: NewMessage | None = None,
                   id_acte: str | None = None) -> TransactionRow: ...

    def transition_many(self, steps: Sequence[TransitionStep], *, at: datetime,
                        actor: str) -> tuple[TransactionRow, ...]: ...

    def add_message(self, transaction_id: int, message: NewMessage, *,
                    at: datetime) -> MessageRow: ...

    def messages(self, transaction_id: int) -> tuple[MessageRow, ...]: ...

    def documents(self, transaction_id: int) -> tuple[DocumentRow, ...]: ...

    def journal(self, transaction_id: int) -> tuple[JournalEvent, ...]: ...

    def next_serial(self, name: str) -> int: ...

    def reserve_serial(self, name: str) -> int: ...

    def mark_read(self, transaction_id: int, *, at: datetime, actor: str) -> datetime: ...

    def read_at(self, transaction_id: int) -> datetime | None: ...

    def find_live_acte(self, siren: str, numero_interne: str) -> TransactionRow | None: ...

    def numero_interne_taken(self, siren: str, numero_interne: str) -> bool: ...

    def atomic(self, fn: Callable[[], T]) -> T:
        """Run `fn`, which calls named methods of this store, as one commit."""
        ...


class CollectiviteStore(Protocol):
    """The collectivités the platform knows and their conventions with an operator."""

    def get_collectivite(self, siren: str) -> Collectivite | None: ...

    def add_collectivite(self, collectivite: Collectivite) -> Collectivite: ...

    def collectivites(self) -> list[Collectivite]: ...

    def conventions(self, siren: str | None = None) -> list[Convention]: ...

    def add_convention(self, new: NewConvention) -> Convention: ...

    def get_convention(self, convention_id: int) -> Convention | None: ...

    def terminate_convention(self, convention_id: int, on: date) -> Convention: ...

    def convention_in_force(self, siren: str, day: date) -> Convention | None: ...


class SimulationStore(Protocol):
    """What the simulation machinery keeps: scenario rules, scheduled events, callbacks, the
    request journal, a small name → value state, and the reset."""

    def scenario_rules(self) -> list[StoredRule]: ...

    def replace_scenario_rules(self, stored: Sequence[StoredRule]) -> None: ...

    def take_rule_hit(self, rule_id: str, limit: int | None) -> bool: ...

    def record_application(self, transaction_id: int, rule_id: str, decision: dict[str, Any],
                           corrupt_return: bool) -> None: ...

    def corrupts_return(self, transaction_ids: Iterable[int]) -> bool: ...

    def application(self, transaction_id: int) -> dict[str, Any] | None: ...

    def schedule_event(self, *, due_at: datetime, kind: str, transaction_id: int | None,
                       payload: dict[str, Any], created_at: datetime) -> int: ...

    def next_due_event(self, until: datetime) -> ScheduledEvent | None: ...

    def pending_summary(self) -> tuple[int, datetime | None]: ...

    def claim_event(self, event_id: int, at: datetime) -> bool: ...

    def finish_event(self, event_id: int, outcome: str, result: str) -> None: ...

    def events(self, *, state: str | None = None, transaction_id: int | None = None,
               limit: int = 100) -> list[ScheduledEvent]: ...

    def clear_events(self) -> int: ...

    def add_callback(self, *, siren: str, url: str, secret: str, owner_fingerprint: str,
                     owner_name: str, created_at: datetime) -> Callback: ...

    def get_callback(self, callback_id: int) -> Callback | None: ...

    def callbacks(self, *, sirens: Iterable[str] | None = None,
                  include_deleted: bool = False) -> list[Callback]: ...

    def delete_callback(self, callback_id: int, at: datetime) -> None: ...

    def journal_after(self, after_id: int, limit: int) -> list[dict[str, Any]]: ...

    def last_journal_id(self) -> int: ...

    def add_delivery(self, *, callback_id: int, event_id: int, transaction_id: int,
                     payload: dict[str, Any], created_at: datetime) -> None: ...

    def due_deliveries(self, now: datetime, *, per_callback: int,
                       skip: Iterable[int] = ()) -> list[Delivery]: ...

    def rewind_deliveries(self, now: datetime) -> int: ...

    def record_attempt(self, delivery_id: int, *, at: datetime, real_at: datetime,
                       status: int | None, error: str | None, duration_ms: int, state: str,
                       next_attempt_at: datetime | None) -> None: ...

    def deliveries(self, *, callback_id: int | None = None, transaction_id: int | None = None,
                   state: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    def clear_callbacks(self) -> None: ...

    def record_request(self, entry: dict[str, Any]) -> int: ...

    def defer_request(self, entry: dict[str, Any]) -> None: ...

    def requests(self, *, fingerprint: str | None = None, status: int | None = None,
                 path: str | None = None, verdict: str | None = None,
                 since: datetime | None = None, after: int | None = None,
                 transaction_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    def state(self, name: str) -> str | None: ...

    def set_state(self, name: str, value: str) -> None: ...

    def save_virtual_clock(self, at: datetime) -> None: ...

    def saved_virtual_clock(self) -> datetime | None: ...

    def wipe_transactions(self) -> None: ...


class IdentityStore(Protocol):
    """The identity directory: which certificate is which agent, acting for which SIRENs."""

    def enrol(self, certificates: Sequence[NewCertificate], *, at: datetime,
              keep_existing: bool = False) -> tuple[AgentCertificate, ...]: ...

    def agent_certificate(self, fingerprint: str) -> AgentCertificate | None: ...


class SimulatorStore(TransactionStore, CollectiviteStore, SimulationStore, IdentityStore, Protocol):
    """The whole store as the engine sees it: named methods only, and the blob store."""

    @property
    def blobs(self) -> Blobs: ...


class AsyncSimulatorStore(Protocol):
    """The store from the event loop (`AsyncStore`): writes on the writer thread, reads on a
    pool; `call` runs a short step made of named store methods on the writer (`queue`: the
    same, queued now and awaited later), `query` a read made of named reads on the pool."""

    @property
    def store(self) -> SimulatorStore: ...

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    def queue(self, fn: Callable[..., T], /, *args: Any,
              **kwargs: Any) -> asyncio.Future[T]: ...

    async def query(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    async def put_blob(self, source: Any) -> str: ...

    async def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                                 message: str = "") -> TransactionRow: ...

    async def transition(self, transaction_id: int, to_status: TransactionStatus, *,
                         at: datetime, actor: str, expected_from: TransactionStatus,
                         message: str = "", attach: NewMessage | None = None,
                         id_acte: str | None = None) -> TransactionRow: ...

    async def next_serial(self, name: str) -> int: ...

    async def reserve_serial(self, name: str) -> int: ...

    async def mark_read(self, transaction_id: int, *, at: datetime, actor: str) -> datetime: ...

    async def read_at(self, transaction_id: int) -> datetime | None: ...

    async def get(self, transaction_id: int) -> TransactionRow: ...

    async def find_by_id_acte(self, id_acte: str) -> TransactionRow | None: ...

    async def list(self, filters: TransactionFilter | None = None, *, limit: int = 50,
                   offset: int = 0) -> Page: ...

    async def messages(self, transaction_id: int) -> tuple[MessageRow, ...]: ...

    async def documents(self, transaction_id: int) -> tuple[DocumentRow, ...]: ...

    async def journal(self, transaction_id: int) -> tuple[JournalEvent, ...]: ...

    async def agents_for_certificate(self, fingerprint: str) -> tuple[Agent, ...]: ...

    async def flush_deferred(self) -> None:
        """Commit the writes waiting for a commit (`defer_request`): durable and visible."""
        ...

    def close(self) -> None: ...
