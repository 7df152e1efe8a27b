"""Small builders for store and engine tests: a seeded store, acts with real blobs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from operator_sim.store import (
    Collectivite,
    NewDocument,
    NewMessage,
    NewTransaction,
    SqliteStore,
)

SIREN = "491011698"
OTHER_SIREN = "213401722"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def open_store(directory: Path) -> SqliteStore:
    """A store with two collectivités, ready for transactions."""
    store = SqliteStore.open(directory)
    store.add_collectivite(Collectivite(SIREN, "034", "1", "31", "Commune de Test"))
    store.add_collectivite(Collectivite(OTHER_SIREN, "034", "2", "31", "Autre commune"))
    return store


def message(store: SqliteStore, code: str, direction: Sender, name: str) -> NewMessage:
    """A message whose XML blob is really stored (so the store accepts it)."""
    sha = store.blobs.put(f"<{code} name='{name}'/>".encode())
    return NewMessage(code=code, direction=direction, file_name=name, xml_sha256=sha)


def new_acte(store: SqliteStore, numero: str, *, siren: str = SIREN,
             status: TransactionStatus = TransactionStatus.POSTE,
             documents: tuple[NewDocument, ...] | None = None) -> NewTransaction:
    """A type-1 act with its archive, its 1-1 message and a main PDF, all blobs stored."""
    archive = store.blobs.put(f"archive {siren} {numero}".encode())
    pdf = store.blobs.put(f"%PDF-1.7 {numero}".encode())
    if documents is None:
        documents = (NewDocument("main", 0, f"99_DE-{numero}.pdf", pdf, "application/pdf", 12),)
    return NewTransaction(
        type=TransactionType.ACTE, status=status, siren=siren, numero_interne=numero,
        nature=NatureActe.DE, matiere="7.1.2", objet=f"Délibération {numero}",
        decision_date=T0.date(), archive_name=f"EACT--{siren}--20250310-{numero}.tar.gz",
        archive_sha256=archive,
        messages=(message(store, "1-1", Sender.CL, f"034-{siren}-20250310-{numero}-DE-1-1_1.xml"),),
        documents=documents,
    )


def new_transaction(store: SqliteStore, type_: TransactionType, status: TransactionStatus, *,
                    related: int | None = None, numero: str = "R1") -> NewTransaction:
    """Any transaction type, created with the message that creates it."""
    if type_ == TransactionType.ACTE:
        return new_acte(store, numero, status=status)
    code = {TransactionStatus.DOCUMENT_RECU: f"{int(type_)}-1",
            TransactionStatus.DOCUMENT_RECU_PAS_D_AR: f"{int(type_)}-1"}.get(
        status, {2: "2-2", 3: "3-4", 4: "4-4", 6: "6-1", 7: "7-1"}.get(int(type_), "1-1"))
    direction = Sender.PREF if code.endswith("-1") and int(type_) in (2, 3, 4, 5) else Sender.CL
    return NewTransaction(type=type_, status=status, siren=SIREN, related_transaction_id=related,
                          messages=(message(store, code, direction, f"{code}_{numero}.xml"),))
