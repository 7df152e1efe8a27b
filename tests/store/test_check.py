"""`operator-sim check`: the whole data folder verified (SQLite, every blob, every row's blobs),
run as the installed command on real folders altered the way disks and hands alter them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from operator_sim.store import BlobCorrupted, BlobStore
from operator_sim.store.database import DATABASE_NAME

from .factories import T0, alter_blob, new_acte, open_store, remove_blob

COMMAND = Path(sys.executable).parent / "operator-sim"


def check(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), "check", "--data-dir", str(folder), *options],
                          capture_output=True, text=True, timeout=120)


def report(folder: Path) -> tuple[int, dict]:
    done = check(folder, "--json")
    return done.returncode, json.loads(done.stdout)


def alter(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


@pytest.fixture
def folder(tmp_path):
    """A data folder with two acts (archive, 1-1 message, PDF each), closed cleanly."""
    folder = tmp_path / "data"
    with open_store(folder) as store:
        rows = [store.create_transaction(new_acte(store, n), at=T0, actor="a") for n in ("A1", "A2")]
    return folder, rows


def test_a_sound_folder_passes(folder):
    path, _ = folder
    done = check(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "integrity_check ok" in done.stdout and done.stdout.rstrip().endswith("sound")
    code, body = report(path)
    assert code == 0 and body["sound"] and body["blobs_checked"] == 6 and body["rows_checked"] == 6


def test_an_altered_blob_is_named_and_fails_the_check(folder):
    path, rows = folder
    alter_blob(path, rows[1].archive_sha256)
    code, body = report(path)
    assert code == 1 and not body["sound"]
    assert body["corrupted_count"] == 1
    assert body["corrupted"][0]["sha256"] == rows[1].archive_sha256
    assert body["corrupted"][0]["actual"] != rows[1].archive_sha256
    text = check(path).stdout
    assert f"corrupted {rows[1].archive_sha256}" in text and "NOT SOUND" in text


def test_a_row_whose_blob_is_gone_is_named(folder):
    path, rows = folder
    with open_store(path) as store:
        document = store.documents(rows[0].id)[0]
    remove_blob(path, document.sha256)
    code, body = report(path)
    assert code == 1 and body["missing_count"] == 1
    assert body["missing"][0] == {"table": "documents", "row_id": document.id,
                                  "column": "sha256", "sha256": document.sha256}


def test_a_damaged_database_file_fails_integrity_check(folder):
    path, _ = folder
    database = path / DATABASE_NAME
    data = bytearray(database.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[2 * page + 8: 3 * page] = os.urandom(page - 8)  # a B-tree page's cells, overwritten
    database.write_bytes(bytes(data))
    code, body = report(path)
    assert code == 1 and body["integrity_check"] != ["ok"], body


def test_no_database_is_exit_2(tmp_path):
    done = check(tmp_path / "nothing-here")
    assert done.returncode == 2 and "no simulator database" in done.stderr


def test_check_leaves_the_folder_as_it_was(folder):
    """Nothing written but SQLite's own shared-memory files of a WAL database read."""
    path, _ = folder
    shutil.rmtree(path / "blobs" / ".tmp")
    sqlite_files = {Path(f"{DATABASE_NAME}-wal"), Path(f"{DATABASE_NAME}-shm")}
    before = {p.relative_to(path) for p in path.rglob("*")} - sqlite_files
    assert check(path).returncode == 0
    assert {p.relative_to(path) for p in path.rglob("*")} - sqlite_files == before


def test_reads_refuse_altered_bytes(tmp_path):
    blobs = BlobStore(tmp_path)
    sha = blobs.put(b"ARActe" * 1000)
    assert blobs.read(sha) == b"ARActe" * 1000 and blobs.sound_path(sha) == blobs.path(sha)
    alter(blobs.path(sha))
    for read in (blobs.read, blobs.sound_path):
        with pytest.raises(BlobCorrupted) as caught:
            read(sha)
        assert caught.value.sha256 == sha and caught.value.actual != sha
