"""Small blobs as SQLite rows committed with their transaction; large ones and existing files."""

import hashlib
import io
import sqlite3

import pytest

from operator_sim.store import BlobCorrupted, BlobNotFound, BlobStore, StoreError
from operator_sim.store.database import BLOBS_NAME, DATABASE_NAME
from operator_sim.store.integrity import check_store
from operator_sim.store.small_blobs import SMALL_BLOB

from .factories import T0, alter_blob, new_acte, open_store, remove_blob


def files_in(folder):
    return sorted(p.name for p in (folder / BLOBS_NAME).glob("??/??/*"))


def rows_in(folder):
    with sqlite3.connect(folder / DATABASE_NAME) as connection:
        rows = dict(connection.execute("select sha256, data from small_blobs"))
    connection.close()
    return rows


def test_small_bytes_are_a_row_committed_with_the_transaction_not_a_file(tmp_path):
    store = open_store(tmp_path)
    try:
        new = new_acte(store, "S1")
        assert files_in(tmp_path) == []
        assert rows_in(tmp_path) == {}  # put, not yet committed: readable all the same
        assert store.blobs.read(new.archive_sha256) == f"archive {new.siren} S1".encode()
        row = store.create_transaction(new, at=T0, actor="t")
        stored = rows_in(tmp_path)
        assert row.archive_sha256 in stored and new.messages[0].xml_sha256 in stored
        assert all(hashlib.sha256(data).hexdigest() == sha for sha, data in stored.items())
        assert files_in(tmp_path) == []
    finally:
        store.close()


def test_a_rolled_back_transaction_keeps_its_small_blobs_for_the_next_commit(tmp_path):
    store = open_store(tmp_path)
    try:
        sha = store.blobs.put(b"<ARActe/>")

        def fail(db):
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            store.run_write(fail)
        assert store.blobs.read(sha) == b"<ARActe/>"
        store.flush_deferred()
        assert rows_in(tmp_path) == {sha: b"<ARActe/>"}
    finally:
        store.close()


def test_large_bytes_streams_and_paths_stay_files(tmp_path):
    store = open_store(tmp_path / "data")
    try:
        large = b"%PDF" + b"x" * SMALL_BLOB
        source = tmp_path / "small.pdf"
        source.write_bytes(b"%PDF small")
        shas = [store.blobs.put(large), store.blobs.put(io.BytesIO(b"%PDF stream")),
                store.blobs.put(source)]
        store.flush_deferred()
        assert files_in(tmp_path / "data") == sorted(shas)
        assert rows_in(tmp_path / "data") == {}
        assert store.blobs.read(shas[0]) == large and store.blobs.size(shas[0]) == len(large)
    finally:
        store.close()


def test_blobs_stored_as_files_before_stay_readable(tmp_path):
    files = BlobStore(tmp_path / BLOBS_NAME)
    old = files.put(b"<Acte/> of a folder written before small blobs")
    store = open_store(tmp_path)
    try:
        assert store.blobs.exists(old)
        assert store.blobs.read(old) == b"<Acte/> of a folder written before small blobs"
        assert store.blobs.sound(old) == files.path(old)
        alter_blob(store, old)
        with pytest.raises(BlobCorrupted):
            store.blobs.read(old)
    finally:
        store.close()


def test_an_altered_or_lost_small_blob_is_refused_on_read_and_by_the_check(tmp_path):
    store = open_store(tmp_path)
    row = store.create_transaction(new_acte(store, "S2"), at=T0, actor="t")
    sha = store.messages(row.id)[0].xml_sha256
    alter_blob(store, sha)
    for read in (store.blobs.read, store.blobs.sound):
        with pytest.raises(BlobCorrupted) as caught:
            read(sha)
        assert caught.value.sha256 == sha
    assert not store.blobs.verify(sha)
    store.close()
    report = check_store(tmp_path)
    assert not report.sound and [c.sha256 for c in report.corrupted] == [sha]
    remove_blob(tmp_path, sha)
    report = check_store(tmp_path)
    assert report.corrupted_count == 0 and [m.sha256 for m in report.missing] == [sha]
    with open_store(tmp_path) as again, pytest.raises(BlobNotFound):
        again.blobs.read(sha)


def test_a_closed_store_takes_no_small_blob(tmp_path):
    store = open_store(tmp_path)
    store.close()
    with pytest.raises(StoreError):
        store.blobs.put(b"<ARActe/>")


def test_missing_names_the_digests_no_home_holds_in_order(tmp_path):
    """`missing` answers `exists` for several digests at once, with one query and no bytes
    read: staged, committed and file blobs are there; unknown ones (and names no blob can
    have) are listed in the order given."""
    store = open_store(tmp_path)
    try:
        committed = store.blobs.put(b"committed small blob")
        store.flush_deferred()
        staged = store.blobs.put(b"staged small blob")
        on_disk = store.blobs.put(b"x" * (SMALL_BLOB + 1))
        unknown, other = "0" * 64, "f" * 64
        assert store.blobs.missing([committed, None, staged, on_disk]) == []
        assert store.blobs.missing([unknown, committed, "not-a-digest", staged, other]) == [
            unknown, "not-a-digest", other]
        assert [d for d in (committed, staged, on_disk, unknown) if store.blobs.exists(d)] == [
            committed, staged, on_disk]
        statements: list[str] = []  # one query for them all, reading no bytes
        store.run_read(lambda db: db.conn.set_trace_callback(statements.append))
        try:
            assert store.blobs.missing([unknown, committed, other]) == [unknown, other]
        finally:
            store.run_read(lambda db: db.conn.set_trace_callback(None))
        assert len(statements) == 1 and "data" not in statements[0], statements
    finally:
        store.close()


def test_the_blobs_staged_before_a_commit_are_written_by_one_insert(tmp_path):
    store = open_store(tmp_path)
    try:
        statements: list[str] = []
        store.run_write(lambda db: db.conn.set_trace_callback(statements.append))
        try:
            digests = [store.blobs.put(f"blob {n}".encode()) for n in range(5)]
            store.next_serial("carrier")
        finally:
            store.run_write(lambda db: db.conn.set_trace_callback(None))
        inserts = [s for s in statements if s.lower().startswith("insert into small_blobs")]
        assert len(inserts) == 1, statements
        assert sorted(rows_in(tmp_path)) == sorted(digests)
        later = store.blobs.put(b"staged after that commit")
        store.flush_deferred()
        assert later in rows_in(tmp_path)
        assert all(store.blobs.read(d) == f"blob {n}".encode() for n, d in enumerate(digests))
    finally:
        store.close()
