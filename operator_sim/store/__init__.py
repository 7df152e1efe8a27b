"""Persistence: the store's interface, its SQLite implementation, the blob store.

Owns durable state (rows in SQLite, bytes in a content-addressed folder). Knows nothing of
HTTP or of the transaction state machine (that is `engine.lifecycle`), and never reads the clock.

- `interface`: what callers may ask — records, errors, and the protocols `TransactionStore`,
  `CollectiviteStore`, `SimulationStore`, `IdentityStore`, `SimulatorStore` (all of them) and
  `AsyncSimulatorStore` (from the event loop). Every write is a named method; `atomic` makes
  several one commit. engine/ imports nothing else of the store but `blobs`.
- `database.SqliteStore`: the writer thread and connections (`writer`) joined with one mixin
  per table family: `transactions`, `collectivites`, `agents`, `rules`, `schedule`,
  `callbacks`, `request_journal`, `state`, `reset` (each also holds that family's SQL as plain
  functions of a connection; `rows` converts rows to records). `asyncstore.AsyncStore` is its
  asyncio front. `schema`: the migrations. `pilotage`, `identities`, `integrity`: the
  préfecture's pilotage rows, the cached identity directory, `operator-sim check`.
"""

from .asyncstore import AsyncStore
from .blobs import BlobCorrupted, BlobNotFound, BlobStore
from .database import SqliteStore, Store
from .interface import (
    Agent,
    AgentCertificate,
    AsyncSimulatorStore,
    Callback,
    Collectivite,
    CollectiviteStore,
    Convention,
    Delivery,
    DocumentRow,
    DuplicateActe,
    IdentityConflict,
    IdentityStore,
    JournalEvent,
    MessageRow,
    MissingBlob,
    NewAgent,
    NewCertificate,
    NewConvention,
    NewDocument,
    NewMessage,
    NewTransaction,
    NotFound,
    Page,
    ScheduledEvent,
    SimulationStore,
    SimulatorStore,
    StatusConflict,
    StoreBusy,
    StoredRule,
    StoreError,
    StoreFull,
    TransactionFilter,
    TransactionRow,
    TransactionStore,
    TransitionStep,
    WalkStep,
)
from .small_blobs import Blobs

__all__ = [
    "Agent",
    "AgentCertificate",
    "AsyncSimulatorStore",
    "AsyncStore",
    "BlobCorrupted",
    "BlobNotFound",
    "BlobStore",
    "Blobs",
    "Callback",
    "Collectivite",
    "CollectiviteStore",
    "Convention",
    "Delivery",
    "DocumentRow",
    "DuplicateActe",
    "IdentityConflict",
    "IdentityStore",
    "JournalEvent",
    "MessageRow",
    "MissingBlob",
    "NewAgent",
    "NewCertificate",
    "NewConvention",
    "NewDocument",
    "NewMessage",
    "NewTransaction",
    "NotFound",
    "Page",
    "ScheduledEvent",
    "SimulationStore",
    "SimulatorStore",
    "SqliteStore",
    "StatusConflict",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreFull",
    "StoredRule",
    "TransactionFilter",
    "TransactionRow",
    "TransactionStore",
    "TransitionStep",
    "WalkStep",
]
