"""The bench helpers' own promises: the independent driver's envelopes are valid acts as the
validator judges them (so its 201s measure the real intake), and the power-loss replay flags
what a power cut would lose, on hand-written traces."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from pathlib import Path

from bench import _driver, power_loss
from operator_sim.validation.validator import ValidationPolicy, validate_archive

SIREN = "213400005"


def test_driver_envelopes_are_distinct_valid_acts(tmp_path):
    made = [_driver.envelope(SIREN, f"X{i:07d}", 1 + i) for i in range(3)]
    assert len({e.sha256 for e in made}) == 3
    for item in made:
        path = tmp_path / item.name
        path.write_bytes(item.data)
        report = validate_archive(path, ValidationPolicy(today=dt.date(2024, 3, 14)),
                                  name=item.name)
        assert report.valid, report.errors
        with tarfile.open(fileobj=io.BytesIO(item.data), mode="r:gz") as tar:
            assert len(tar.getnames()) == 4  # envelope, act, document, annex
    broken = _driver.envelope(SIREN, "X0000009", 9)
    path = tmp_path / broken.name
    path.write_bytes(broken.data.replace(b"\x1f\x8b", b"\x00\x00", 1))
    assert not validate_archive(path, ValidationPolicy(today=dt.date(2024, 3, 14)),
                                name=broken.name).valid


DATA = Path("/srv/data")
WAL = f"{DATA}/db.sqlite3-wal"
ANSWER = "9 {t} sendto(7<TCP:[127.0.0.1:8443->127.0.0.1:50000]>, \"\\x17\"..., 839, 0, NULL, 0) = 839"


def _frame(commit: bool, page: bytes) -> list[str]:
    header = b"\x37\x7f\x06\x82" + (b"\x00\x00\x00\x05" if commit else b"\x00" * 4) + b"\x00" * 16
    hexed = [("".join(f"\\x{b:02x}" for b in data), len(data)) for data in (header, page)]
    return [f"5 1.{i} pwrite64(4<{WAL}>, \"{h}\", {n}, 0) = {n}" for i, (h, n) in enumerate(hexed)]


def _trace(*, sync_log: bool = True, sync_blob: bool = True, sync_folder: bool = True) -> list[str]:
    page = b"row N0000001 " + b"\x00" * 100
    lines = [
        f'6 1.0 openat(AT_FDCWD</>, "{DATA}/blobs/ab/cd", O_RDWR|O_CREAT|O_EXCL, 0600) '
        f"= 8<{DATA}/blobs/ab/cd>",
        f'6 1.0 write(8<{DATA}/blobs/ab/cd>, "hello", 5) = 5',
    ]
    if sync_blob:
        lines.append(f"6 1.0 fsync(8<{DATA}/blobs/ab/cd>) = 0")
    if sync_folder:
        lines.append(f"6 1.0 fsync(9<{DATA}/blobs/ab>) = 0")
    lines += _frame(False, page) + _frame(True, page)
    if sync_log:
        lines += [f"5 2.0 fdatasync(4<{WAL}> <unfinished ...>", "5 2.1 <... fdatasync resumed>) = 0"]
    lines += [f"5 2.2 pwrite64(4<{WAL}>, \"\\x00\", 1, 0) = 1",  # the next commit, in flight
              ANSWER.format(t="3.0")]
    return lines


def test_replay_passes_a_synced_answer_and_flags_each_missing_sync():
    assert power_loss.replay(_trace(), DATA, 8443, ["N0000001"]).problems == []
    missing = {
        "log": power_loss.replay(_trace(sync_log=False), DATA, 8443, ["N0000001"]),
        "blob": power_loss.replay(_trace(sync_blob=False), DATA, 8443, ["N0000001"]),
        "folder": power_loss.replay(_trace(sync_folder=False), DATA, 8443, ["N0000001"]),
        "row": power_loss.replay(_trace(), DATA, 8443, ["N0000002"]),
    }
    assert "not synced before the answer" in missing["log"].problems[0]
    assert f"{DATA}/blobs/ab/cd (written" in missing["blob"].problems[0]
    assert "folder never synced" in missing["folder"].problems[0]
    assert "never reached the write-ahead log" in missing["row"].problems[0]
    assert all(len(v.problems) == 1 and v.answers == 1 for v in missing.values())
    # A sync that began before the commit frame was written does not cover it.
    early = _trace(sync_log=False)
    early.insert(2, f"5 0.5 fdatasync(4<{WAL}>) = 0")
    assert power_loss.replay(early, DATA, 8443, ["N0000001"]).problems


def test_replay_counts_an_open_with_o_creat_as_a_new_name_only_for_a_path_that_was_not_there():
    # A reader connection opened mid-run opens the database and its log with O_CREAT: both
    # existed when tracing began, so no new name waits for its folder's sync.
    reopen = [f'7 0.5 openat(AT_FDCWD</>, "{path}", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 11<{path}>'
              for path in (f"{DATA}/db.sqlite3", WAL)]
    lines = reopen + _trace()
    existing = [str(DATA), f"{DATA}/db.sqlite3", WAL, f"{DATA}/blobs", f"{DATA}/blobs/ab"]
    assert power_loss.replay(lines, DATA, 8443, ["N0000001"], existing=existing).problems == []
    # The same opens without that knowledge are names made and never synced.
    unknown = power_loss.replay(lines, DATA, 8443, ["N0000001"]).problems
    assert unknown and "folder never synced" in unknown[0]
