"""Persistence: the `TransactionStore` interface, its SQLite implementation, the blob store.

Owns durable state (rows in SQLite, bytes in a content-addressed folder). Knows nothing of
HTTP or of the transaction state machine (that is `engine.lifecycle`), and never reads the clock.
"""

from .asyncstore import AsyncStore
from .blobs import BlobCorrupted, BlobNotFound, BlobStore
from .database import SqliteStore, Store
from .interface import (
    Agent,
    AgentCertificate,
    Collectivite,
    Convention,
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
    StatusConflict,
    StoreBusy,
    StoreError,
    StoreFull,
    TransactionFilter,
    TransactionRow,
    TransactionStore,
    TransitionStep,
)

__all__ = [
    "Agent",
    "AgentCertificate",
    "AsyncStore",
    "BlobCorrupted",
    "BlobNotFound",
    "BlobStore",
    "Collectivite",
    "Convention",
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
    "SqliteStore",
    "StatusConflict",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreFull",
    "TransactionFilter",
    "TransactionRow",
    "TransactionStore",
    "TransitionStep",
]
