import hashlib
import io
import os
import tracemalloc

import pytest

from operator_sim.store import BlobNotFound, BlobStore


def test_same_content_gets_the_same_address_and_is_stored_once(tmp_path):
    blobs = BlobStore(tmp_path)
    first = blobs.put(b"<Acte/>")
    second = blobs.put(b"<Acte/>")
    assert first == second == hashlib.sha256(b"<Acte/>").hexdigest()
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert stored == [tmp_path / first[:2] / first[2:4] / first]
    assert blobs.read(first) == b"<Acte/>"


def test_bytes_file_objects_and_paths_are_all_accepted(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    source = tmp_path / "acte.pdf"
    source.write_bytes(b"%PDF-1.7 content")
    digests = {blobs.put(b"%PDF-1.7 content"), blobs.put(io.BytesIO(b"%PDF-1.7 content")),
               blobs.put(source), blobs.put(str(source)), blobs.put(memoryview(b"%PDF-1.7 content"))}
    assert len(digests) == 1
    (sha,) = digests
    assert blobs.exists(sha)
    assert blobs.path(sha).read_bytes() == b"%PDF-1.7 content"
    with blobs.open(sha) as handle:
        assert handle.read(4) == b"%PDF"


def test_stored_blob_verifies_and_cannot_be_overwritten_by_mistake(tmp_path):
    blobs = BlobStore(tmp_path)
    sha = blobs.put(b"annexe")
    assert blobs.verify(sha)
    assert not os.access(blobs.path(sha), os.W_OK) or os.geteuid() == 0


def test_unknown_or_malformed_digest_names_no_blob(tmp_path):
    blobs = BlobStore(tmp_path)
    (tmp_path / "secret").write_bytes(b"x")
    for bad in ("0" * 64, "../secret", "ABCDEF" + "0" * 58, "", "0" * 63):
        assert not blobs.exists(bad)
        with pytest.raises(BlobNotFound):
            blobs.read(bad)


def test_a_failed_upload_leaves_no_blob_and_no_temporary_file(tmp_path):
    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("client went away")
            return b"x" * 1000

    blobs = BlobStore(tmp_path)
    with pytest.raises(ConnectionResetError):
        blobs.put(Broken())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_streaming_a_20_mib_file_keeps_memory_low(tmp_path):
    big = tmp_path / "budget.xml"
    chunk = os.urandom(1024 * 1024)
    expected = hashlib.sha256()
    with big.open("wb") as out:
        for _ in range(20):
            out.write(chunk)
            expected.update(chunk)
    blobs = BlobStore(tmp_path / "blobs")
    tracemalloc.start()
    try:
        sha = blobs.put(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sha == expected.hexdigest()
    assert peak < 2 * 1024 * 1024, f"peak Python allocation {peak} bytes"
    assert blobs.path(sha).stat().st_size == 20 * 1024 * 1024
    assert blobs.verify(sha)


def test_bytes_already_stored_cost_no_temporary_file(tmp_path):
    blobs = BlobStore(tmp_path)
    sha = blobs.put(b"%PDF-1.7 annexe commune")
    before = blobs.temporary_dir.stat().st_mtime_ns
    os.utime(blobs.temporary_dir, ns=(before - 10**9, before - 10**9))  # any entry would bump it
    assert blobs.put(b"%PDF-1.7 annexe commune") == sha
    assert blobs.temporary_dir.stat().st_mtime_ns == before - 10**9
    assert blobs.read(sha) == b"%PDF-1.7 annexe commune"


def test_adopt_moves_the_file_into_place(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    upload = tmp_path / "upload.tar.gz"
    upload.write_bytes(b"\x1f\x8b archive")
    inode = upload.stat().st_ino
    sha = blobs.adopt(upload)
    assert sha == hashlib.sha256(b"\x1f\x8b archive").hexdigest()
    assert not upload.exists()
    assert blobs.path(sha).stat().st_ino == inode  # renamed, not copied
    assert blobs.verify(sha)
    assert not os.access(blobs.path(sha), os.W_OK) or os.geteuid() == 0


def test_adopting_content_already_stored_keeps_the_blob_and_drops_the_file(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    sha = blobs.put(b"same archive")
    upload = tmp_path / "upload.tar.gz"
    upload.write_bytes(b"same archive")
    assert blobs.adopt(upload) == sha
    assert not upload.exists()
    assert blobs.read(sha) == b"same archive"
