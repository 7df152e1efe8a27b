"""Small builders for store and engine tests: a seeded store, acts with real blobs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
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
from operator_sim.store.database import BLOBS_NAME, DATABASE_NAME

SIREN = "491011698"
OTHER_SIREN = "213401722"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _homes(where: SqliteStore | Path) -> tuple[Path, Path]:
    """(database file, blob folder) of an open store or of a data folder."""
    if isinstance(where, SqliteStore):
        return where.path, where.blobs.root
    return where / DATABASE_NAME, where / BLOBS_NAME


def flip_middle(data: bytes) -> bytes:
    """A disk fault or a hand edit: bytes in the middle flipped, the size kept."""
    altered = bytearray(data)
    middle = len(altered) // 2
    altered[middle:middle + 8] = bytes(b ^ 0xFF for b in altered[middle:middle + 8])
    return bytes(altered)


def alter_blob(where: SqliteStore | Path, sha256: str,
               damage: Callable[[bytes], bytes] = flip_middle) -> None:
    """Damage a stored blob in whichever home it has: its file, or its small blob row."""
    database, blobs = _homes(where)
    path = blobs / sha256[:2] / sha256[2:4] / sha256
    if path.is_file():
        os.chmod(path, 0o644)
        path.write_bytes(damage(path.read_bytes()))
        return
    with sqlite3.connect(database) as connection:
        (data,) = connection.execute("select data from small_blobs where sha256 = ?",
                                     [sha256]).fetchone()
        connection.execute("update small_blobs set data = ? where sha256 = ?",
                           [damage(bytes(data)), sha256])
    connection.close()


def remove_blob(where: SqliteStore | Path, sha256: str) -> None:
    """Lose a stored blob (a file deleted by hand, a row gone) in whichever home it has."""
    database, blobs = _homes(where)
    path = blobs / sha256[:2] / sha256[2:4] / sha256
    if path.is_file():
        path.unlink()
        return
    with sqlite3.connect(database) as connection:
        assert connection.execute("delete from small_blobs where sha256 = ?",
                                  [sha256]).rowcount == 1
    connection.close()


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
