"""Serial numbers: unique within a run, across restarts, and across processes sharing a file."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from operator_sim.timestamp import FileSerials, MemorySerials, SerialSource, read_token

from .conftest import TsaMaterial


def test_memory_serials_are_unique_positive_and_fit_rfc3161() -> None:
    source = MemorySerials()
    assert isinstance(source, SerialSource)
    values = [source.next() for _ in range(1000)]
    assert len(set(values)) == 1000
    assert all(0 < v < 2**160 for v in values)


def test_file_serials_are_unique_across_simulated_restarts(tmp_path: Path) -> None:
    path = tmp_path / "tsa" / "serials.json"
    seen: list[int] = []
    for _run in range(5):  # each run takes a few numbers, then the process "dies"
        source = FileSerials(path, block=10)
        seen += [source.next() for _ in range(7)]
    source = FileSerials(path, block=10)
    seen += [source.next() for _ in range(1000)]
    assert len(set(seen)) == len(seen)
    assert len({v >> 64 for v in seen}) == 1, "the prefix survives restarts"


def test_reserved_block_is_on_disk_before_any_of_it_is_used(tmp_path: Path) -> None:
    path = tmp_path / "serials.json"
    first = FileSerials(path, block=100).next()
    stored = json.loads(path.read_text())
    assert stored["next"] == (first & (2**64 - 1)) + 100


def test_two_sources_sharing_a_file_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "serials.json"
    sources = [FileSerials(path, block=3), FileSerials(path, block=5)]
    results: list[list[int]] = [[], []]

    def take(index: int) -> None:
        results[index].extend(sources[index].next() for _ in range(500))

    threads = [threading.Thread(target=take, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results[0]) | set(results[1])) == 1000


def test_corrupt_counter_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serials.json"
    path.write_text('{"prefix": -1}')
    with pytest.raises(ValueError, match="not a serial counter file"):
        FileSerials(path).next()


def test_tokens_keep_unique_serials_across_a_tsa_restart(ec_tsa: TsaMaterial,
                                                         tmp_path: Path) -> None:
    path, digest = tmp_path / "serials.json", hashlib.sha256(b"x").digest()
    serials = []
    for _restart in range(3):
        tsa = ec_tsa.authority(serials=FileSerials(path, block=16))
        serials += [read_token(tsa.stamp_digest(digest)).serial_number for _ in range(20)]
    assert len(set(serials)) == 60
