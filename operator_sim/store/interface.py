"""What the engine may ask of storage: records, inputs, errors and the `TransactionStore` protocol.

Owns the storage vocabulary shared by every backend (SQLite now, PostgreSQL later). Holds no
SQL and does no I/O; records are frozen dataclasses so no caller ever touches a database row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ..protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType

# --- errors -------------------------------------------------------------------------------------


class StoreError(Exception):
    """A storage refusal; `code` is stable and maps to an API error."""

    code = "STORE"


class NotFound(StoreError, LookupError):
    code = "NOT_FOUND"


class DuplicateActe(StoreError):
    """A live type-1 transaction already uses this (SIREN, NumeroInterne)."""

    code = "DUPLICATE_ACTE"


class StatusConflict(StoreError):
    """Compare-and-set lost: the transaction is no longer in the expected status."""

    code = "STATUS_CONFLICT"

    def __init__(self, transaction_id: int, expected: TransactionStatus,
                 actual: TransactionStatus) -> None:
        super().__init__(f"transaction {transaction_id} is {actual.name}, not {expected.name}")
        self.transaction_id = transaction_id
        self.expected = expected
        self.actual = actual


class IdentityConflict(StoreError):
    """An enrolment contradicting the bindings already stored (other SIREN, duplicate login)."""

    code = "IDENTITY_CONFLICT"


class StoreBusy(StoreError):
    """Another process holds the database past the busy timeout: nothing was written, and the
    same request may succeed a little later."""

    code = "STORE_BUSY"


class StoreFull(StoreError):
    """The disk (or quota) holding the database is full: nothing was written."""

    code = "STORE_FULL"


class MissingBlob(StoreError):
    """A record refers to a blob that is not (durably) in the blob store."""

    code = "MISSING_BLOB"


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


class TransactionStore(Protocol):
    """Everything the engine needs from persistence. Every write is one atomic unit."""

    def create_transaction(self, new: NewTransaction, *, at: datetime, actor: str,
                           message: str = "") -> TransactionRow: ...

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


class IdentityStore(Protocol):
    """The identity directory: which certificate is which agent, acting for which SIRENs."""

    def enrol(self, certificates: Sequence[NewCertificate], *, at: datetime,
              keep_existing: bool = False) -> tuple[AgentCertificate, ...]: ...

    def agent_certificate(self, fingerprint: str) -> AgentCertificate | None: ...
